"""The same hit makes the same sound on each of the three fast paths, for every activity's table:

* Python, in the app's process: a real MidiHub (virtual backend) → ``HitPath`` → the engine;
* the separate real-time process: the child's hub and its ``HitPath``, told the table by
  ``RemoteHits`` (``audio.process = "separate"``);
* the C core: the table compiled per device (``hits.compiled``) into what the JACK MIDI callback
  plays (``tests/rt/test_native_fast_path.py`` checks the callback plays its table, on JACK).

Every device of the shipped instrument map × channels 1 and 10 × all 128 notes. The engines
are real (null backend, the same sound bank), so a sound the bank does not have is silent on
all three alike.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from prelude_play.clock import FakeClock, MonotonicClock
from prelude_play.config import AppConfig
from prelude_play.hits import HitPath
from prelude_play.hits.compiled import compile_fast_table
from prelude_play.midi.hub import MidiConfig, MidiHub
from prelude_play.midi.instruments import Sensitivity, load_instruments
from prelude_play.midi.virtual import VirtualBackend
from prelude_play.shell.pilot import run_test
from tests.activities.choice_helpers import board_app
from tests.fakes import RecordingAudio

INSTRUMENTS = Path(__file__).resolve().parents[2] / "config" / "instruments.toml"
DEVICES = ("USB drum pad", "Keystation 49", "therapist keys")
CHANNELS = (0, 9)
HITS = list(itertools.product(DEVICES, CHANNELS, range(128)))
SENS = Sensitivity()  # the shipped map's: nothing filtered at velocity 100


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Each activity's table, as the running activity gives it."""
    out = {}
    for name in ("free_play", "drum_turns", "scarf_moves", "vowel_match"):
        with run_test(data_dir=tmp_path_factory.mktemp(name), audio=RecordingAudio(), client="c1",
                      activity=name) as pilot:
            out[name] = pilot.app.activity.fast_sound_table()
    with board_app(tmp_path_factory.mktemp("board"), access={"method": "play"}) as (pilot, _):
        out["choice_board"] = pilot.app.activity.fast_sound_table()
    out["no table"] = None
    return out


def stamp(i: int, round_: int) -> int:
    """Hits 6 ms apart: under the hub's note limit (200/s per device), never a tremor retrigger."""
    return 10**12 + (round_ * len(HITS) + i) * 6_000_000


def by_stamp(events, round_: int) -> dict:
    key = {stamp(i, round_): h for i, h in enumerate(HITS)}
    return {key[e.t_ns]: e.data.get("sounded") for e in events if e.kind == "note_on" and e.t_ns in key}


def python_path(tables) -> dict:
    from prelude_play.audio import SoundBank, open_engine

    clock = FakeClock()
    engine = open_engine("null", clock=MonotonicClock(), rate=48000, blocksize=128, bank=SoundBank(48000))
    backend = VirtualBackend(clock=clock)
    for d in DEVICES:
        backend.add_device(d)
    hub = MidiHub(backend, clock=clock, instruments=load_instruments(INSTRUMENTS),
                  config=MidiConfig(backend="virtual", api="virtual"))
    hub.poll()
    hits = HitPath(engine, hub, steady=False)
    got: list = []
    hits.connect(got.append)
    out = {}
    try:
        for r, (name, table) in enumerate(tables.items()):
            hits.set_activity(True, table, SENS)
            for i, (device, channel, note) in enumerate(HITS):
                backend.inject(device, [0x90 | channel, note, 100], t_ns=stamp(i, r))
            out[name] = by_stamp(got, r)
        compiled = {name: c_path(table, engine) for name, table in tables.items()}
    finally:
        hub.stop()
        engine.close()
    return out, compiled


def c_path(table, engine) -> dict:
    instruments = load_instruments(INSTRUMENTS)
    out = {}
    for device in DEVICES:
        fast = compile_fast_table(device, instruments=instruments, table=table, sensitivity=SENS,
                                  sound_index=engine.index_of)
        for channel, note in itertools.product(CHANNELS, range(128)):
            idx = int(fast.sounds[channel * 128 + note])
            out[(device, channel, note)] = fast.names[idx] if idx >= 0 else None
    return out


def separate_path(tables) -> dict:
    from prelude_play.rt.proxy import start_rt

    cfg = AppConfig()
    cfg.audio.input_enabled = False
    cfg.audio.fast_path = "asap"
    rt = start_rt(cfg, audio_backend="null", midi_api="virtual", status_interval_s=0.05)
    got: list = []
    rt.hits.connect(got.append)
    out = {}
    try:
        for d in DEVICES:
            rt.midi.virtual("add_device", d)
        for r, (name, table) in enumerate(tables.items()):
            rt.hits.set_activity(True, table, SENS)
            for i, (device, channel, note) in enumerate(HITS):  # in order, without waiting for each
                rt.rt.send("virtual", "inject", (device, bytes([0x90 | channel, note, 100]), stamp(i, r)))
            last = stamp(len(HITS) - 1, r)
            deadline = time.monotonic() + 20
            while not any(e.t_ns == last for e in got) and time.monotonic() < deadline:
                time.sleep(0.01)
            out[name] = by_stamp(got, r)
    finally:
        rt.audio.close()
    return out


def test_python_separate_process_and_c_core_make_the_same_sound_for_every_hit(tables):
    python, compiled = python_path(tables)
    separate = separate_path(tables)
    for name in tables:
        assert len(python[name]) == len(separate[name]) == len(HITS), name
        sounding = 0
        for h in HITS:
            assert python[name][h] == separate[name][h] == compiled[name][h], (name, h)
            sounding += python[name][h] is not None
        assert 0 < sounding < len(HITS), name  # both kinds of hit are compared
