"""The jackclient backend's pure parts, without a JACK server: the frame→app-clock map, the
ignore filter, input stamping/bounding in the process callback, output queueing, and how the
app picks a backend for ``midi.api``."""

import sys

import mido
import pytest
from tests.core import require_core

from prelude_play.errors import ConfigError, DeviceError
from prelude_play.midi.backend import BUILTIN_BACKENDS
from prelude_play.midi.jack_backend import FrameTimeMap, JackIn, JackOut, keep_event

RATE = 48_000
P = 128  # frames per cycle
NS_PER_FRAME = 1e9 / RATE


def run_cycles(tm, start_frame, start_ns, n, late_ns=lambda i: 0, frames=P):
    """Observe ``n`` regular cycles; cycle i starts at start_ns + i·period, woken late_ns(i) late."""
    for i in range(n):
        f = (start_frame + i * frames) & 0xFFFF_FFFF
        tm.observe(f, start_ns + round(i * frames * NS_PER_FRAME) + late_ns(i), frames)
    return (start_frame + n * frames) & 0xFFFF_FFFF


# --- FrameTimeMap (the Python one and its C port in ppcore.c, same tests) -------------------
def _native_ftm(*args, **kw):
    from prelude_play import native

    require_core()
    return native.NativeFrameTimeMap(*args, **kw)


@pytest.fixture(params=["python", "c"])
def ftm_cls(request):
    return FrameTimeMap if request.param == "python" else _native_ftm


def test_c_frame_time_map_matches_python_on_a_random_run():
    import random

    rng = random.Random(5)
    py, c = FrameTimeMap(RATE), _native_ftm(RATE)
    f, t = 0xFFFF_0000, 3_000_000_000
    for i in range(3000):
        step = P if rng.random() > 0.02 else rng.choice([0, 2 * P, 5 * P, -P, 300_000])
        f = (f + step) & 0xFFFF_FFFF
        t += round(P * NS_PER_FRAME) + (rng.randrange(0, 8_000_000) if rng.random() < 0.01 else 0)
        late = rng.randrange(0, 3_000_000) if rng.random() < 0.5 else 0
        if rng.random() < 0.005:
            py.xrun()
            c.xrun()
        frames = None if rng.random() < 0.1 else P
        assert py.observe(f, t + late, frames) == c.observe(f, t + late, frames)
        for off in (0, 77, P - 1, -P, 3 * P):
            assert py.to_ns(f + off) == c.to_ns(f + off), (i, off)
    assert (py.reanchors, py.irregular) == (c.reanchors, c.irregular)
    assert py.reanchors > 0 and py.irregular > 0


def test_frames_map_at_the_nominal_rate_with_offset_of_the_least_late_wakeup(ftm_cls):
    tm = ftm_cls(RATE)
    # wake-ups 0.3-3 ms late (GIL, scheduler), one on time at cycle 7
    run_cycles(tm, 1000, 10_000_000_000, 20, late_ns=lambda i: 0 if i == 7 else 300_000 + (i * 137_000) % 2_700_000)
    # the on-time wake-up wins; since then the offset may only creep by 200 ppm of 12 periods
    assert 0 <= tm.to_ns(1000) - 10_000_000_000 <= 200e-6 * 12 * P * NS_PER_FRAME + 1
    # intervals are exact frame intervals, whatever the wake-up delays were
    assert tm.to_ns(1000 + 4800) - tm.to_ns(1000) == 100_000_000
    assert tm.to_ns(1000 + 20 * P + 77) - tm.to_ns(1000 + 20 * P) == round(77 * NS_PER_FRAME)


def test_a_late_callback_does_not_move_stamps(ftm_cls):
    tm = ftm_cls(RATE)
    f = run_cycles(tm, 0, 5_000_000_000, 50)
    before = tm.to_ns(f + 64)
    tm.observe(f, 5_000_000_000 + round(f * NS_PER_FRAME) + 4_000_000, P)  # 4 ms late
    assert abs(tm.to_ns(f + 64) - before) <= 1_000  # only the drift allowance (≤ 200 ppm)


def test_offset_creeps_up_no_faster_than_the_drift_allowance(ftm_cls):
    tm = ftm_cls(RATE, drift_ppm=200, reanchor_ms=1000)
    f = run_cycles(tm, 0, 0, 10)
    t0 = tm.to_ns(f)
    # every later wake-up is 1 ms late: the map may follow only by 200 ppm of elapsed time
    f2 = run_cycles(tm, f, round(f * NS_PER_FRAME), 375, late_ns=lambda i: 1_000_000)  # 1 s
    assert 0 < tm.to_ns(f2) - round(375 * P * NS_PER_FRAME) - t0 <= 200_000 + 1_000


def test_sustained_jump_reanchors_after_a_window(ftm_cls):
    tm = ftm_cls(RATE, window=64, reanchor_ms=1.0)
    f = run_cycles(tm, 0, 0, 100)
    # the frame clock stalls 5 ms against the app clock (xrun) and then runs on
    f2 = run_cycles(tm, f, round(f * NS_PER_FRAME) + 5_000_000, 200)
    assert tm.reanchors >= 1
    assert tm.to_ns(f2) == pytest.approx(round(f2 * NS_PER_FRAME) + 5_000_000, abs=100_000)


def test_irregular_cycles_do_not_move_the_offset(ftm_cls):
    tm = ftm_cls(RATE)
    f = run_cycles(tm, 0, 0, 20)  # the next cycle starts at frame f
    expect = tm.to_ns(f + 2 * P)
    # after an xrun a late callback reads the *next* cycle's frame time right after that cycle
    # began: it would look like a perfectly punctual wake-up for frame f + P
    assert tm.observe(f + P, round(f * NS_PER_FRAME), P) == f + P
    assert tm.irregular == 1
    assert abs(tm.to_ns(f + 2 * P) - expect) <= 2_000  # drift allowance only
    assert tm.observe(f + 2 * P, round((f + 2 * P) * NS_PER_FRAME) + 30_000, P) == f + 2 * P
    assert tm.irregular == 1  # following on again


def test_32_bit_frame_time_wraps(ftm_cls):
    tm = ftm_cls(RATE)
    start = 0xFFFF_FFFF - 3 * P + 1
    f = run_cycles(tm, start, 7_000_000_000, 10)
    assert f < start  # wrapped
    assert tm.to_ns(f) - tm.to_ns((f - 10 * P) & 0xFFFF_FFFF) == pytest.approx(10 * P * NS_PER_FRAME, abs=1)
    assert tm.to_ns(f) == pytest.approx(7_000_000_000 + 10 * P * NS_PER_FRAME, abs=1_000)


def test_to_ns_before_observe_and_bad_rate(ftm_cls):
    with pytest.raises(RuntimeError):
        ftm_cls(RATE).to_ns(0)
    with pytest.raises(ValueError):
        ftm_cls(0)


# --- the ignore filter ----------------------------------------------------------------------
def test_keep_event_flags():
    flags = dict(ignore_sysex=True, ignore_timing=True, ignore_active_sense=True)
    assert keep_event(b"\x99\x26\x64", **flags)
    assert not keep_event(b"\xf8", **flags)
    assert not keep_event(b"\xf1\x10", **flags)
    assert not keep_event(b"\xfe", **flags)
    assert not keep_event(b"\xf0\x7e\xf7", **flags)
    assert not keep_event(b"", **flags)
    allow = dict(ignore_sysex=False, ignore_timing=False, ignore_active_sense=False)
    assert all(keep_event(d, **allow) for d in (b"\xf8", b"\xf1\x10", b"\xfe", b"\xf0\x7e\xf7"))


# --- input ports in the process callback -------------------------------------------------------
class Calls:
    def __init__(self, fail_on=None):
        self.calls = []
        self.fail_on = fail_on

    def __call__(self, data, t):
        if self.fail_on is not None and data[1] == self.fail_on:
            raise ValueError("sink fault")
        self.calls.append((bytes(data), t))


def make_in(handler, **kw):
    return JackIn("dev", handler, source="dev:out", jack_port=None, backend=None, **kw)


def test_each_event_is_stamped_at_its_own_frame_and_copied():
    got = Calls()
    port = make_in(got)
    buf = bytearray(b"\x99\x24\x50")
    events = [(5, buf), (90, bytearray(b"\xf8")), (120, bytearray(b"\x89\x24\x00"))]

    def gen():
        for off, b in events:
            yield off, b
            b[:] = bytes(len(b))  # JACK reuses the buffer after each event
    port.process(1000, gen(), lambda frame: frame * 10)
    assert got.calls == [(b"\x99\x24\x50", 10_050), (b"\x89\x24\x00", 11_200)]  # clock filtered out
    assert port.received == 2


def test_work_per_cycle_is_bounded_and_order_kept():
    got = Calls()
    port = make_in(got, max_per_cycle=2, max_backlog=3)
    events = [(i, bytes([0x90, 60 + i, 100])) for i in range(6)]
    port.process(0, iter(events), lambda f: f)
    assert [c[1] for c in got.calls] == [0, 1]
    assert len(port.backlog) == 3 and port.dropped == 1  # the 6th did not fit
    port.process(128, iter([(0, b"\x90\x50\x64")]), lambda f: f)
    # the backlog goes first, with the stamps of the frames the notes came at
    assert [c[1] for c in got.calls] == [0, 1, 2, 3]
    port.process(256, iter([]), lambda f: f)
    assert [c[1] for c in got.calls] == [0, 1, 2, 3, 4, 128]


def test_a_failing_handler_is_counted_not_raised():
    got = Calls(fail_on=61)
    port = make_in(got)
    port.process(0, iter([(0, b"\x90\x3d\x64"), (1, b"\x90\x3e\x64")]), lambda f: f)
    assert port.errors == 1 and got.calls == [(b"\x90\x3e\x64", 1)]


# --- output ports --------------------------------------------------------------------------
class FakeJackPort:
    def __init__(self, room=100):
        self.buffer = []
        self.cleared = 0
        self.room = room

    def clear_buffer(self):
        self.buffer = []
        self.cleared += 1

    def write_midi_event(self, offset, data):
        if len(self.buffer) >= self.room:
            raise RuntimeError("buffer full")
        self.buffer.append((offset, bytes(data)))


class FakeBackend:
    def __init__(self):
        self.running = True
        self.released = []

    def _drain(self, port):
        while port.queue:
            port.flush()

    def _release(self, port):
        self.released.append(port)


def test_output_send_queues_and_the_process_callback_writes():
    jp, be = FakeJackPort(room=2), FakeBackend()
    out = JackOut("keys", destination="keys:in", jack_port=jp, backend=be, max_queue=4)
    for n in (60, 62, 64):
        out.send(mido.Message("note_on", note=n, velocity=90))
    assert jp.buffer == [] and len(out.queue) == 3  # send never touches JACK
    out.flush()
    assert [d for _, d in jp.buffer] == [b"\x90\x3c\x5a", b"\x90\x3e\x5a"]  # port full: rest waits
    assert out.errors == 1 and len(out.queue) == 1
    out.flush()
    assert jp.cleared == 2 and [d for _, d in jp.buffer] == [b"\x90\x40\x5a"]
    out.flush()
    assert jp.buffer == []  # cleared every cycle, nothing replayed


def test_output_queue_full_and_dead_client_raise_device_error():
    be = FakeBackend()
    out = JackOut("keys", destination="keys:in", jack_port=FakeJackPort(), backend=be, max_queue=2)
    out.send(mido.Message("note_on", note=60))
    out.send(mido.Message("note_on", note=61))
    with pytest.raises(DeviceError):
        out.send(mido.Message("note_on", note=62))
    be.running = False
    out.queue.clear()
    with pytest.raises(DeviceError):
        out.send(mido.Message("note_on", note=63))


def test_output_close_silences_through_the_queue_then_releases():
    jp, be = FakeJackPort(room=1000), FakeBackend()
    out = JackOut("keys", destination="keys:in", jack_port=jp, backend=be)
    out.send(mido.Message("note_on", note=60, velocity=90))
    out.flush()
    written = []
    orig = jp.write_midi_event
    jp.write_midi_event = lambda off, d: (written.append(bytes(d)), orig(off, d))
    out.close()
    assert written[0] == b"\x80\x3c\x00"  # the held note first
    assert b"\xb0\x7b\x00" in written and len(written) == 1 + 32
    assert be.released == [out]
    out.close()
    assert be.released == [out]  # safe twice


# --- choosing the backend ----------------------------------------------------------------------
def test_jackclient_is_a_builtin_backend():
    assert BUILTIN_BACKENDS["jackclient"] == "prelude_play.midi.jack_backend:JackClientBackend"


def test_jackclient_refuses_other_apis():
    from prelude_play.clock import FakeClock
    from prelude_play.midi.jack_backend import JackClientBackend

    with pytest.raises(ConfigError):
        JackClientBackend(clock=FakeClock(), api="alsa")


def test_midi_api_picks_the_backend(monkeypatch):
    from prelude_play.devices.build import midi_backend_for

    pytest.importorskip("jack")
    assert midi_backend_for("jack") == ("jackclient", "jack")
    assert midi_backend_for("rtmidi-jack") == ("rtmidi", "jack")
    assert midi_backend_for("alsa") == ("rtmidi", "alsa")
    assert midi_backend_for("auto") == ("rtmidi", "auto")
    assert midi_backend_for("virtual") == ("virtual", "auto")
    monkeypatch.setitem(sys.modules, "jack", None)  # JACK-Client missing: rtmidi's JACK API
    assert midi_backend_for("jack") == ("rtmidi", "jack")


def test_rtmidi_jack_is_an_allowed_midi_api():
    from prelude_play.cli import build_parser
    from prelude_play.config import MidiConfig

    assert build_parser().parse_args(["--midi-api", "rtmidi-jack"]).midi_api == "rtmidi-jack"
    assert "rtmidi-jack" in MidiConfig.__dataclass_fields__["api"].metadata.get("choices", ())


def test_an_xrun_reanchors_at_the_next_regular_cycle():
    tm = FrameTimeMap(RATE, window=10_000)  # no window re-anchor: only the xrun may move it
    f = run_cycles(tm, 0, 0, 50)
    # the driver was 3 ms late and restarted its schedule: frame time lost 3 ms for good
    tm.xrun()
    f = run_cycles(tm, f, round(f * NS_PER_FRAME) + 3_000_000, 1, late_ns=lambda i: 40_000)
    assert tm.to_ns(f) == pytest.approx(round(f * NS_PER_FRAME) + 3_040_000, abs=1_000)
    # and the min-filter goes on from there: a punctual wake-up pulls the 40 µs out
    f = run_cycles(tm, f, round(f * NS_PER_FRAME) + 3_000_000, 5)
    assert tm.to_ns(f) == pytest.approx(round(f * NS_PER_FRAME) + 3_000_000, abs=5_000)
