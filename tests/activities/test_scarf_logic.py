"""Scarf moves, pure parts: the music grid, cue records, sequences and live MIDI triggers."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pytest

from prelude_play.activities.scarf_moves.logic import (NOT_SCORED, CueRunner, MidiCueMap, RandomSequence,
                                          load_preset, parse_cues)
from prelude_play.activities.scarf_moves.music import STEPS_PER_BAR, STEPS_PER_BEAT, MusicGenerator, MusicState
from prelude_play.errors import ConfigError

FOLDER = Path(__file__).resolve().parents[2] / "activities" / "scarf_moves"
MS = 1_000_000


def cues():
    with (FOLDER / "defaults.toml").open("rb") as fh:
        return parse_cues(tomllib.load(fh)["cues"])


def beat_ns(bpm: float) -> float:
    return 60e9 / bpm


# ---- music ------------------------------------------------------------------------------------

def run(gen: MusicGenerator, t0: int, t1: int, frame_ms: float = 1000 / 60, look_ms: float = 120):
    notes, t = [], t0
    while t < t1:
        notes += gen.due(t + int(look_ms * MS))
        t += int(frame_ms * MS)
    return notes, t


def test_tempo_change_lands_on_the_next_unscheduled_beat_and_keeps_the_pulse():
    gen = MusicGenerator(MusicState(bpm=96), lead_ns=40 * MS)
    start = gen.start(0)
    notes, now = run(gen, 0, 1_300 * MS)
    last_sent = max(n.t_ns for n in notes)
    onset = gen.change(MusicState(bpm=144), now)
    # on the old grid, a whole number of beats after the start, after everything already sent
    beats = (onset - start) / beat_ns(96)
    assert abs(beats - round(beats)) < 1e-6
    assert onset > last_sent and onset - last_sent <= beat_ns(96) + 1
    more, _ = run(gen, now, now + 3_000 * MS)
    times = sorted({n.t_ns for n in more if n.part != "gesture"})
    assert onset in times
    after = [t for t in times if t >= onset]
    gaps = {round(b - a) for a, b in zip(after, after[1:])}
    assert gaps <= {int(beat_ns(144) / STEPS_PER_BEAT), int(beat_ns(144) / STEPS_PER_BEAT) + 1}
    before = [t for t in times if t < onset]
    assert all(round(b - a) in (round(beat_ns(96) / 2), round(beat_ns(96) / 2) + 1) for a, b in zip(before, before[1:]))


def test_register_and_dynamics_change_the_notes():
    def first_bar(state):
        g = MusicGenerator(state, lead_ns=0)
        g.start(0)
        return g.due(int(beat_ns(state.bpm) * 4) - 1)

    base = first_bar(MusicState())
    high = first_bar(MusicState(register=12, melody="chimes"))
    small = first_bar(MusicState(dynamics=0.2, texture="thin"))
    mel = lambda ns: [n.midi_note for n in ns if n.part == "melody"]  # noqa: E731
    assert [m + 12 for m in mel(base)] == mel(high)
    assert all(n.sound.startswith("chimes:") for n in high if n.part == "melody")
    assert max(n.velocity for n in small) < min(n.velocity for n in base if n.part != "drum")
    assert len(mel(small)) == len(mel(base)) // 2
    assert not [n for n in small if n.part == "drum"]


def test_generator_is_deterministic():
    a = MusicGenerator(MusicState(), lead_ns=0)
    b = MusicGenerator(MusicState(), lead_ns=0)
    a.start(5)
    b.start(5)
    assert a.due(4_000 * MS) == b.due(4_000 * MS)


def test_freeze_emits_nothing_from_the_stop_and_resumes_at_a_bar():
    gen = MusicGenerator(MusicState(), lead_ns=40 * MS)
    gen.start(0)
    _, now = run(gen, 0, 1_000 * MS)
    stop = gen.change(MusicState(playing=False), now, immediate_stop=True)
    assert stop == now + 40 * MS and gen.frozen
    assert gen.due(now + 5_000 * MS) == []
    go = gen.change(MusicState(), now + 2_000 * MS)
    assert go == now + 2_040 * MS
    assert gen.next_step % STEPS_PER_BAR == 0
    notes = gen.due(go + 10 * MS)
    assert notes and min(n.t_ns for n in notes) == go


def test_sequenced_freeze_stops_on_a_beat():
    gen = MusicGenerator(MusicState(bpm=120), lead_ns=40 * MS)
    start = gen.start(0)
    _, now = run(gen, 0, 1_100 * MS)
    stop = gen.change(MusicState(playing=False), now)
    assert ((stop - start) / beat_ns(120)) % 1 == pytest.approx(0, abs=1e-9)


def test_throw_gesture_is_a_rising_glissando_then_a_cymbal():
    gen = MusicGenerator(MusicState(), lead_ns=0)
    gen.start(0)
    gen.due(100 * MS)
    onset = gen.change(MusicState(gesture="throw", dynamics=0.8), 100 * MS)
    notes = [n for n in gen.due(onset + int(beat_ns(96) * 2)) if n.part == "gesture"]
    gliss = [n for n in notes if n.sound.startswith("chimes:")]
    assert len(gliss) >= 8 and gliss[0].t_ns == onset
    assert [n.midi_note for n in gliss] == sorted(n.midi_note for n in gliss)
    crash = [n for n in notes if n.sound == "drum:49"]
    assert crash and crash[0].t_ns == onset + int(beat_ns(96))


def test_sound_names_cover_every_cue():
    cs = cues()
    gen = MusicGenerator(MusicState())
    names = set(gen.sound_names([c.music(MusicState()) for c in cs.values()]))
    for c in cs.values():
        st = c.music(MusicState())
        g = MusicGenerator(st, lead_ns=0)
        g.start(0)
        if st.gesture:
            g._gesture_step = 0
        for n in g.due(int(beat_ns(st.bpm) * 16)):
            assert n.sound in names


# ---- cue records ---------------------------------------------------------------------------

def test_each_cue_shown_then_ended_with_no_outcome_and_scores_recorded_for_the_status():
    r = CueRunner(cues())
    r.request("wave", 0, 100, "preset", 5.0, {})
    assert r.tick(50) == []
    shown = r.tick(100)
    assert [x.kind for x in shown] == ["cue"] and shown[0].data["cue"] == "wave" and shown[0].shown is r.current
    wave = r.current
    wave.trial_id = "t-wave"
    r.request("freeze", 1_000, 1_040, "preset", 3.0, {})
    recs = r.tick(1_040)
    assert [x.kind for x in recs] == ["cue_end", "cue"]  # the old cue's trial closes before the new opens
    end = recs[0]
    assert end.shown is wave and end.data["cue"] == "wave" and not hasattr(end, "outcome")
    assert wave.outcome == NOT_SCORED  # nobody scored it: never followed
    r.current.trial_id = "t-freeze"
    # client confirms the freeze 300 ms after it began
    conf = r.confirm(1_040 + 300 * MS, "touch")
    assert conf.data["first"] and conf.data["latency_ms"] == 300.0 and conf.shown is r.current
    # the session scored the freeze's trial, then an older cue's: each lands on its own cue
    assert r.scored("t-freeze", "partial", "verbal") is r.current and r.current.outcome == "partial"
    assert r.scored("t-wave", "success", "independent") is wave and wave.prompt == "independent"
    assert r.scored("t-unknown", "success", None) is None
    end2 = r.end(5_000 * MS)[0]
    assert end2.data["latency_ms"] == 300.0 and end2.data["cue"] == "freeze"


def test_confirmation_only_counts_on_a_cue_that_expects_it():
    r = CueRunner(cues())
    r.request("high", 0, 0, "live", None, {})
    r.tick(0)
    rec = r.confirm(200 * MS, "midi")
    assert rec.data["expected"] is False and rec.data["first"] is False
    assert r.current.confirm_ns is None


# ---- sequences ----------------------------------------------------------------------------

def test_presets_load_and_name_bad_cues(tmp_path):
    cs = cues()
    for p in (FOLDER / "presets").glob("*.toml"):
        seq = load_preset(p, cs)
        assert seq.steps
    bad = tmp_path / "bad.toml"
    bad.write_text('[[cue]]\ncue = "jump"\nseconds = 3\n')
    with pytest.raises(ConfigError, match="jump"):
        load_preset(bad, cs)
    bad.write_text('[[cue]]\ncue = "wave"\n')
    with pytest.raises(ConfigError, match="seconds"):
        load_preset(bad, cs)


def test_random_sequence_stays_in_range_and_never_repeats():
    seq = RandomSequence(["wave", "high", "freeze"], {"wave": (4, 8), "high": (4, 8), "freeze": (2, 5)})
    rng = random.Random(3)
    picks = [seq.next(rng) for _ in range(300)]
    for (a, _), (b, _) in zip(picks, picks[1:]):
        assert a != b
    for cue, dur in picks:
        lo, hi = seq.ranges[cue]
        assert lo <= dur <= hi
    freeze = [d for c, d in picks if c == "freeze"]
    assert max(freeze) - min(freeze) > 1.5  # the freeze length varies: a surprise


def test_bad_cue_settings_are_config_errors():
    with pytest.raises(ConfigError, match="texture"):
        parse_cues({"wave": {"texture": "thick"}})
    with pytest.raises(ConfigError, match="picture"):
        parse_cues({"jump": {}})
    with pytest.raises(ConfigError, match="bpm"):
        parse_cues({"wave": {"bpm": 500}})


# ---- live MIDI triggers ---------------------------------------------------------------------

def test_midi_low_high_named_and_chord():
    m = MidiCueMap(notes={62: "fast"})
    m.note_on(40, 0)
    assert m.due(50 * MS) == []  # still waiting: could be a chord
    assert m.due(81 * MS) == [("low", 0)]
    m.note_on(90, 100 * MS)
    assert m.due(200 * MS) == [("high", 100 * MS)]
    m.note_on(62, 300 * MS)
    assert m.due(400 * MS) == [("fast", 300 * MS)]
    m.note_on(60, 500 * MS)
    m.note_on(64, 520 * MS)
    m.note_on(67, 540 * MS)
    assert m.due(545 * MS) == [("freeze", 500 * MS)]
    assert m.due(700 * MS) == []
    m.note_on(66, 800 * MS)  # a middle note with no cue does nothing
    assert m.due(900 * MS) == []
