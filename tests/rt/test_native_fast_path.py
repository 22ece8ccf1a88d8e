"""The C MIDI fast path (ppcore.c via hits.compiled and jack_backend): compiled tables give the
sound the Python rule (``hits.sound_for``) gives, the hit path records what C played instead of
playing it again, and on a real JACK server a pad hit's voice starts exactly at its stamp + the
constant delay."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from tests.core import require_core

from prelude_play.events import InputEvent
from prelude_play.hits import sound_for
from prelude_play.hits.compiled import compile_fast_table
from prelude_play.midi.instruments import Sensitivity, load_instruments
from prelude_play.shell.pilot import run_test
from tests.activities.choice_helpers import board_app
from tests.fakes import RecordingAudio

INSTRUMENTS = Path(__file__).resolve().parents[2] / "config" / "instruments.toml"
DEVICES = ("USB drum pad", "Keystation 49", "therapist keys")


class Index:
    """sound name -> index, as AudioEngine.index_of gives them."""

    def __init__(self, unknown=()):
        self.names: dict[str, int] = {}
        self.unknown = set(unknown)

    def __call__(self, name):
        if name in self.unknown:
            return None
        return self.names.setdefault(name, len(self.names))


def assert_compiled_is_the_rule(table) -> int:
    """Every device × channel × note of the shipped instrument map: the compiled cell sounds
    what ``sound_for`` gives the hit the hub would make there (the pedal never sounds)."""
    instruments = load_instruments(INSTRUMENTS)
    sounding = 0
    for device in DEVICES:
        fast = compile_fast_table(device, instruments=instruments, table=table,
                                  sensitivity=Sensitivity(min_velocity=20, tremor_ms=50), sound_index=Index())
        assert fast.min_velocity == 20 and fast.tremor_ns == 50_000_000
        for channel, note in itertools.product(range(16), range(128)):
            res = instruments.resolve(device, channel, note)
            ev = InputEvent(1, "midi", "note_on", device=device, note=note, velocity=90, channel=channel,
                            role=res.role, data={"sound": res.sound})
            want = None if res.role == "pedal" else (sound_for(table, ev) or None)
            i = channel * 128 + note
            got = fast.names[int(fast.sounds[i])] if fast.sounds[i] >= 0 else None
            assert got == want, (device, channel, note)
            assert bool(fast.client[i]) == (res.role == "client")
            sounding += got is not None
    return sounding


@pytest.mark.parametrize("name", ["free_play", "drum_turns", "scarf_moves", "vowel_match"])
def test_compiled_table_gives_the_python_rule(tmp_path, name):
    pytest.importorskip("numpy")
    with run_test(data_dir=tmp_path, audio=RecordingAudio(), client="c1", activity=name) as pilot:
        assert assert_compiled_is_the_rule(pilot.app.activity.fast_sound_table()) > 0


@pytest.mark.parametrize("method", ["play", "tap", "scan"])
def test_compiled_choice_board_table_gives_the_python_rule(tmp_path, method):
    access = {"method": method, "select_notes": [40], "move_notes": [41]}
    with board_app(tmp_path, access=access) as (pilot, _audio):
        assert assert_compiled_is_the_rule(pilot.app.activity.fast_sound_table()) > 0


def test_unknown_sounds_are_silent_and_no_table_is_the_instrument_map():
    instruments = load_instruments(INSTRUMENTS)
    fast = compile_fast_table("USB drum pad", instruments=instruments, table=None,
                              sensitivity=Sensitivity(), sound_index=Index(unknown={"drum:38"}))
    assert fast.sounds[9 * 128 + 38] == -1 and fast.sounds[9 * 128 + 36] >= 0
    assert fast.names[int(fast.sounds[9 * 128 + 36])] == instruments.resolve("USB drum pad", 9, 36).sound


def test_hit_path_records_what_c_played_and_does_not_play_it_again(tmp_path):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, audio=audio, client="c1", activity="free_play") as pilot:
        hits = pilot.app.hits
        played = InputEvent(5, "midi", "note_on", device="pad", note=38, velocity=90, channel=9,
                            role="client", data={"sound": "drum:38", "fast": "drum:38"})
        silent = InputEvent(6, "midi", "note_on", device="pad", note=38, velocity=5, channel=9,
                            role="client", data={"sound": "drum:38", "fast": "", "filtered": "below_threshold"})
        python = InputEvent(7, "midi", "note_on", device="pad", note=38, velocity=90, channel=9,
                            role="client", data={"sound": "drum:38"})
        passed = [hits.sink(ev) for ev in (played, silent, python)]
        assert passed[0].data == {"sound": "drum:38", "sounded": "drum:38"}
        assert "sounded" not in passed[1].data and "fast" not in passed[1].data
        assert audio.names() == ["drum:38"]  # only the event C had no table for
        assert passed[2].data["sounded"] == "drum:38"
        # the hub's events are never changed: the path passes new ones on
        assert played.data["fast"] == "drum:38" and "sounded" not in python.data


# --------------------------------------------------------------------------- real JACK server
@pytest.mark.realstack
@pytest.mark.timeout(90)
def test_c_fast_path_starts_each_hit_at_its_stamp_plus_the_delay(jack_server):
    """Probe → JACK → C process callback → C mixer, with no Python on the way: every hit's voice
    starts at exactly its logged stamp + the delay (to the frame); a hit below the client's
    minimum velocity is logged as filtered and makes no sound, and so is a tremor retrigger."""
    require_core()
    from prelude_play.audio import SoundBank, open_engine
    from prelude_play.clock import MonotonicClock
    from prelude_play.midi.hub import MidiConfig, MidiHub
    from prelude_play.midi.jack_backend import JackClientBackend
    from tests.midi.jack_probe import ProbeProcess, ThreadSink

    clock = MonotonicClock()
    engine = open_engine("offline", clock=clock, rate=48000, blocksize=128, core="native",
                         bank=SoundBank(48000), start_ns=clock.now_ns() + 50_000_000)
    assert engine.native is not None
    sink = ThreadSink()
    backend = JackClientBackend(clock=clock, api="jack", client_name="pp-cfast", core="native")
    hub = MidiHub(backend, clock=clock, sink=sink, instruments=load_instruments(INSTRUMENTS),
                  config=MidiConfig(backend="jackclient", api="jack", poll_interval_s=0.3,
                                    max_messages_per_s=10_000))
    sens = Sensitivity(min_velocity=20, tremor_ms=40)
    hub.set_sensitivity(sens)
    delay = 4_000_000
    backend.attach_mixer(engine.native, delay)
    hub.set_fast_path(lambda device: compile_fast_table(
        device, instruments=hub.instruments, table=None, sensitivity=sens, sound_index=engine.index_of))
    hub.start()
    probe = ProbeProcess("drum-pad-probe")
    try:
        assert sink.wait_for(lambda e: e.kind == "device_added" and e.device == probe.port_name, 5)
        time.sleep(0.3)
        # channel 10 = GM drums: snare, kick, a soft snare (filtered), a snare retrigger 10 ms
        # after the first (tremor), then a hi-hat
        events = [(0, bytes([0x99, 38, 100])), (4800, bytes([0x99, 36, 90])),
                  (9600, bytes([0x99, 38, 10])), (14400, bytes([0x99, 42, 80])),
                  (14880, bytes([0x99, 42, 80])), (24000, bytes([0x99, 49, 127]))]
        sent = probe.send(events)
        assert len(sent) == len(events)
        hits = sink.wait_for(lambda e: e.kind == "note_on" and e.note == 49, 3) and \
            [e for e in sink.events if e.kind == "note_on"]
        assert [(e.note, e.velocity) for e in hits] == [(38, 100), (36, 90), (38, 10), (42, 80), (42, 80), (49, 127)]
        fast = [e.data.get("fast") for e in hits]
        assert fast == ["drum:38", "drum:36", "", "drum:42", "", "drum:49"], fast
        assert hits[2].data["filtered"] == "below_threshold" and hits[4].data["filtered"] == "tremor"
        # the C callback stamps at the event's frame: intervals equal the sent ones — except across
        # a JACK xrun, where the frame clock slips against the app clock by the stall (the map
        # re-anchors; docs/bench/midi.md): on a loaded 2-vCPU VM that happens mid-burst
        xr = list(backend.xrun_times)
        clean = [(a, b, fa, fb) for a, b, fa, fb in zip(hits, hits[1:], sent, sent[1:])
                 if not any(a.t_ns - 20_000_000 <= x <= b.t_ns + 20_000_000 for x in xr)]
        for a, b, fa, fb in clean:
            assert abs((b.t_ns - a.t_ns) - (fb - fa) * 1e9 / 48000) < 100_000
        assert clean or xr, "no interval was checked"
        # render the offline engine past the last hit: the voices C started are in its log
        need = engine.ns_to_frame(hits[-1].t_ns + delay) + 256 - engine.frames_rendered
        engine.backend.render(max(need, 128))
        _, starts = engine.voice_starts(0)
        assert len(starts) == 4, starts  # the filtered and the tremor hit made no sound
        assert all(h < 0 for h, _, _ in starts)  # started by C, not by Python's handles
        sounding = [e for e in hits if e.data.get("fast")]
        for ev, (_, frame, dac_ns) in zip(sounding, starts):
            assert abs(dac_ns - (ev.t_ns + delay)) <= 1e9 / 48000 + 1, (dac_ns - ev.t_ns - delay)
        st = backend.native_stats()
        assert st["fast_hits"] == 4 and st["dropped"] == 0
    finally:
        probe.close()
        hub.stop()
        engine.close()


def test_c_core_clock_is_the_app_clock():
    """ppcore.c stamps with pp_platform.h's clock (CLOCK_MONOTONIC on Linux) and the app with
    time.perf_counter_ns(): the whole fast path (stamps from C, schedules from Python) assumes
    they are one clock."""
    require_core()
    from prelude_play import native

    lib = native.lib()
    gaps = []
    for _ in range(50):
        a = time.perf_counter_ns()
        c = lib.pp_now_ns()
        b = time.perf_counter_ns()
        gaps.append(min(abs(c - a), abs(c - b)) if not a <= c <= b else 0)
    assert sorted(gaps)[len(gaps) // 2] == 0, gaps  # C's reading falls between the two Python ones
