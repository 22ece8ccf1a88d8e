"""The jackclient backend on a real JACK dummy server: the hub finds a probe's port by itself,
stamps each event at its own frame (intervals match the frames they were sent at), follows the
port going and coming back while a Python audio callback runs on the same server in this
process (python-rtmidi's deadlock scenario), and sends MIDI out through a queue.

What is asserted on timing (loose enough for a loaded CI machine; the tight figures are in
bench/bench_midi.py): over tagged note-ons sent 20–60 ms apart at odd frame offsets,
|logged interval − sent interval| p95 ≤ 0.5 ms and max ≤ 2 ms on a burst during which JACK
reported no xrun (up to three bursts are tried), at most one note lost, and on every burst a
median ≤ 0.25 ms (per-period stamping, as rtmidi's, gives ≈ 0.8–1 ms). With xruns (an
overloaded machine: late callbacks, the dummy driver stalling) single events can be a period or
a stall off, on the probe's side as well as ours.
"""

import threading
import time

import mido
import pytest
from tests.core import require_core

from prelude_play.clock import MonotonicClock
from prelude_play.errors import DeviceError
from prelude_play.midi.hub import MidiConfig, MidiHub
from prelude_play.midi.instruments import load_instruments
from tests.midi.conftest import INSTRUMENTS
from tests.midi.jack_probe import ProbeProcess

from tests.midi.jack_probe import ThreadSink

pytestmark = pytest.mark.realstack


@pytest.fixture(params=["c", "python"])
def hub(jack_server, request):
    """The hub on the jackclient backend, with its process callback in C (ppcore.c) and in
    Python: every test here runs on both."""
    from prelude_play.midi.jack_backend import JackClientBackend

    if request.param == "c":
        require_core()
    clock = MonotonicClock()
    sink = ThreadSink()
    backend = JackClientBackend(clock=clock, api="jack", client_name="pp-jc",
                                core="native" if request.param == "c" else "python")
    assert backend.native == (request.param == "c")
    h = MidiHub(backend, clock=clock, sink=sink,
                config=MidiConfig(backend="jackclient", api="jack", poll_interval_s=0.5,
                                  max_messages_per_s=10_000),
                instruments=load_instruments(INSTRUMENTS))
    h.start()
    yield h, sink, clock
    h.stop()


def tag(i):
    return 36 + i // 100, 1 + i % 100


@pytest.mark.timeout(60)
def test_probe_found_and_intervals_match_frames(hub):
    h, sink, clock = hub
    t0 = time.monotonic()
    probe = ProbeProcess("jc-probe")
    try:
        assert sink.wait_for(lambda e: e.kind == "device_added" and e.device == probe.port_name)
        assert time.monotonic() - t0 <= 2.0 + 1.0  # the child's start-up is most of it
        assert h.inputs == [probe.port_name]  # never the app's own ports
        assert not any(n.startswith("pp-jc") for n in h.backend.output_names())
        time.sleep(0.3)

        n = 30
        offsets, at = [], 0
        for i in range(n):
            offsets.append(at)
            at += 960 + (i * 997) % 1920 + (i * 37) % 128  # 20–60 ms, every frame offset
        best: tuple[int, list[float]] | None = None
        for attempt in range(5):  # a burst with JACK xruns (machine overloaded) is tried again
            sink.events.clear()
            xruns0 = h.backend.xruns
            before = clock.now_ns()
            sent = probe.send([(o, bytes([0x99, *tag(i)])) for i, o in enumerate(offsets)])
            time.sleep(0.2)
            after = clock.now_ns()
            xruns = h.backend.xruns - xruns0
            hits = {(e.note, e.velocity): e for e in sink.events if e.kind == "note_on"}
            assert len(sent) == n and len(hits) >= n - 2, h.stats()
            assert all(before <= e.t_ns <= after + 3_000_000 for e in hits.values())
            errors = sorted(
                abs((hits[tag(i)].t_ns - hits[tag(i - 1)].t_ns) / 1e6 - (sent[i] - sent[i - 1]) * 1000 / probe.rate)
                for i in range(1, n) if tag(i) in hits and tag(i - 1) in hits)
            if best is None or xruns < best[0]:
                best = (xruns, errors)
            if xruns == 0:
                break
        assert best is not None
        xruns, errors = best
        if xruns > 20:
            pytest.skip(f"JACK server overloaded: {xruns} xruns in every burst (machine busy)")
        # frame-exact stamping: the median stays far below rtmidi's per-period stamping
        # (≈ 0.8–1 ms median on the same server)
        assert errors[len(errors) // 2] <= 0.25, (errors, xruns)
        if xruns == 0:
            assert errors[int(0.95 * (len(errors) - 1))] <= 0.5, errors
            assert errors[-1] <= 2.0, errors
        assert h.backend.callback_errors == 0
    finally:
        probe.close()


def _open_python_audio_stream():
    """A PortAudio output stream on the JACK host API with a Python callback (what the audio
    engine runs), counting its callbacks."""
    import numpy as np
    import sounddevice as sd

    from prelude_play.audio.backends.portaudio import pick_device, pick_hostapi

    sd._terminate()
    sd._initialize()  # re-scan now that our server runs
    api = pick_hostapi(sd, "JACK")
    calls = [0]

    def callback(outdata, frames, time_info, status):
        outdata[:] = 0.0
        outdata[:, 0] = np.sin(np.arange(frames) * 0.05) * 0.01  # some Python work per period
        calls[0] += 1

    stream = sd.OutputStream(device=pick_device(sd, None, api, "output"), samplerate=48000,
                             channels=2, dtype="float32", callback=callback)
    stream.start()
    return stream, calls


@pytest.mark.timeout(60)
def test_hot_plug_while_a_python_audio_callback_runs(hub):
    """python-rtmidi holds the GIL while it waits on the JACK server, so opening/closing its
    ports can deadlock against a Python JACK callback in the same process; this backend's
    JACK calls release the GIL, so the whole add → remove → re-add cycle runs through."""
    h, sink, _ = hub
    stream, calls = _open_python_audio_stream()
    try:
        time.sleep(0.2)
        assert calls[0] > 0, "the audio callback never ran"
        probe = ProbeProcess("jc-plug")
        assert sink.wait_for(lambda e: e.kind == "device_added" and e.device == probe.port_name, 4)
        time.sleep(0.2)
        probe.send([(0, bytes([0x99, 38, 100]))])
        assert sink.wait_for(lambda e: e.kind == "note_on" and e.note == 38)

        n_audio = calls[0]
        t1 = time.monotonic()
        probe.close()  # the device goes, with its note still held
        assert sink.wait_for(lambda e: e.kind == "device_removed" and e.device == probe.port_name, 4)
        assert time.monotonic() - t1 <= 2.0 + 0.5
        released = sink.wait_for(lambda e: e.kind == "note_off" and e.data.get("synthetic"))
        assert [(e.note, e.data["reason"]) for e in released] == [(38, "device_removed")]
        assert h.inputs == []

        probe = ProbeProcess("jc-plug")
        try:
            again = sink.wait_for(lambda e: e.kind == "device_added" and e.data.get("reopened"), 4)
            assert again and again[0].device == probe.port_name
            time.sleep(0.2)
            probe.send([(0, bytes([0x99, 36, 90]))])
            assert sink.wait_for(lambda e: e.kind == "note_on" and e.note == 36)
        finally:
            probe.close()
        assert calls[0] > n_audio  # audio kept running all along
        assert stream.active
    finally:
        stream.stop()
        stream.close()


@pytest.mark.timeout(60)
def test_repeated_hot_plug_of_an_in_process_python_jack_client(jack_server):
    """The harsher form: the device is a JACK-Client with a Python process callback in this
    very process, plus the Python audio stream. With python-rtmidi's JACK API this hangs
    within a few rounds (its client open holds the GIL); here every round completes."""
    from prelude_play.midi.jack_backend import JackClientBackend
    from tests.midi.jack_probe import FrameProbe

    clock = MonotonicClock()
    sink = ThreadSink()
    h = MidiHub(JackClientBackend(clock=clock, client_name="pp-jc"), clock=clock, sink=sink,
                config=MidiConfig(backend="jackclient", api="jack", poll_interval_s=0.1))
    stream, calls = _open_python_audio_stream()
    h.start()
    try:
        for r in range(6):
            probe = FrameProbe("jc-inproc")
            try:
                assert sink.wait_for(lambda e: sum(x.kind == "device_added" for x in sink.events) > r, 5), r
                # a note can be lost in an xrun on a busy machine: what must never happen is a hang
                for _ in range(3):
                    probe.send_at([(0, bytes([0x99, 38, 100]))], lead_s=0.01)
                    assert probe.done.wait(5)
                    if sink.wait_for(lambda e: sum(x.kind == "note_on" for x in sink.events) > r, 2):
                        break
                else:
                    raise AssertionError(f"round {r}: no note arrived in 3 tries")
            finally:
                probe.close()
            assert sink.wait_for(lambda e: sum(x.kind == "device_removed" for x in sink.events) > r, 5), r
        n_audio = calls[0]
        time.sleep(0.1)
        assert calls[0] > n_audio
    finally:
        h.stop()
        stream.stop()
        stream.close()


@pytest.mark.timeout(60)
def test_output_reaches_a_jack_port_and_close_silences(jack_server):
    """MIDI out: send() only queues; the process callback writes; closing the port sends
    note-offs for held notes and All Notes Off before the port goes."""
    import jack

    from prelude_play.midi.jack_backend import JackClientBackend

    received = []
    rec = jack.Client("jc-recorder", no_start_server=True)
    inport = rec.midi_inports.register("in")

    @rec.set_process_callback
    def process(frames):
        for _, data in inport.incoming_midi_events():
            received.append(bytes(data))

    rec.activate()
    backend = JackClientBackend(clock=MonotonicClock(), client_name="pp-jc-out")
    try:
        assert inport.name in backend.output_names()
        assert not any(n.startswith("pp-jc-out") for n in backend.input_names())
        out = backend.open_output(inport.name)
        out.send(mido.Message("note_on", channel=0, note=60, velocity=90))
        deadline = time.monotonic() + 2
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received == [b"\x90\x3c\x5a"]
        out.close()
        time.sleep(0.05)
        assert received[1] == b"\x80\x3c\x00"
        assert b"\xbf\x7b\x00" in received  # All Notes Off reached channel 16 too
        assert not any(p.name.startswith(backend.jack_client_name) for p in rec.get_ports(is_midi=True))
        backend.close()
        with pytest.raises(DeviceError):
            backend.input_names()  # closed stays closed (no new JACK client behind our back)
        assert not any(p.name.startswith("pp-jc-out") for p in rec.get_ports())
    finally:
        backend.close()
        rec.deactivate()
        rec.close()
