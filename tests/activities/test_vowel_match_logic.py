"""Vowel match logic without a display: the ladder, the call/response machine, the energy gate."""

from __future__ import annotations

import numpy as np
import pytest

from prelude_play.activities.vowel_match.logic import (
    EnergyGate, MatchMachine, MatchSettings, VoiceSeg, fold_to, judge, outcome_for,
)
from prelude_play.errors import ConfigError

MS = 1_000_000
S = MatchSettings()


def seg(start_ms, end_ms, vowel="ah", conf=0.9, f0=330.0, post=None):
    return VoiceSeg(start_ms * MS, end_ms * MS, f0, 1000.0, 1400.0, 3100.0, vowel, conf, -20.0,
                    post or {vowel: conf})


@pytest.mark.parametrize("segments,sound_ms,level", [
    ([], 0, 0),
    ([], 50, 0),  # a click is not a vocalization
    ([], 300, 1),  # breathy, unvoiced
    ([seg(0, 300, vowel="")], 300, 2),  # voiced, no vowel
    ([seg(0, 300, vowel="ee")], 300, 2),  # voiced, far from ah
    ([seg(0, 300, vowel="oh")], 300, 3),  # a neighbour of ah
    ([seg(0, 300, vowel="ee", post={"ee": 0.7, "ah": 0.3})], 300, 3),  # leaning towards ah
    ([seg(0, 300, conf=0.2)], 300, 3),  # ah, but unsure
    ([seg(0, 300, f0=250.0)], 300, 4),  # ah, off pitch (~480 cents)
    ([seg(0, 300, f0=660.0)], 300, 5),  # ah an octave up: on pitch, folded
])
def test_ladder_rungs(segments, sound_ms, level):
    j = judge("ah", 330.0, 4, sound_ms, segments, S)
    assert j.level_reached == level
    assert j.outcome == outcome_for(level, 4)


def test_outcomes_relative_to_the_clients_rung():
    assert [outcome_for(n, 3) for n in range(6)] == ["no_response", "not_yet", "partial", "success",
                                                     "success", "success"]


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="target_vowel"):
        MatchSettings.from_config({"target_vowel": "uh"})
    with pytest.raises(ConfigError, match="ladder_level"):
        MatchSettings.from_config({"ladder_level": 6})
    with pytest.raises(ConfigError, match="call_source"):
        MatchSettings.from_config({"call_source": "radio"})
    assert MatchSettings.from_config({"response_window_ms": 3000}).response_window_ms == 3000


def test_model_call_window_and_latency():
    m = MatchMachine(S)
    m.begin_call(0, end_ns=1200 * MS, f0=330.0)
    m.update(1100 * MS)
    assert m.phase == "calling"
    m.voice_onset(1150 * MS)  # the model's own sound: ignored
    m.update(1200 * MS)
    assert m.phase == "response"
    m.sound_on(1300 * MS)  # inside the echo guard: the model's tail
    assert m.phase == "response"
    m.sound_on(1700 * MS)
    m.voice_onset(1710 * MS)
    m.voice_offset(seg(1710, 2300))
    m.sound_off(1700 * MS, 2350 * MS)
    m.update(2400 * MS)
    assert m.phase == "attempt"  # waits for late results
    m.update(2700 * MS)
    [a] = m.take_finished()
    assert a.latency_ms == 500 and a.duration_ms == 650 and a.judgement.level_reached == 5


def test_live_call_merges_a_short_breath_and_ends_after_silence():
    m = MatchMachine(S)
    m.begin_call(0, source="live")
    m.voice_offset(seg(100, 900, f0=220.0))
    m.voice_offset(seg(1000, 1500, f0=220.0))  # a breath inside the call
    m.update(1500 * MS + 400 * MS)
    assert m.phase == "call_ending"
    m.update(1500 * MS + 500 * MS)
    assert m.phase == "response" and m.call.end_ns == 1500 * MS and abs(m.target_f0() - 220) < 1e-6


def test_no_mic_waits_for_the_therapist():
    m = MatchMachine(S, mic=False)
    m.begin_call(0, end_ns=1000 * MS)
    m.update(1000 * MS)
    m.update(6000 * MS)
    [a] = m.take_finished()
    assert a.judgement is None and m.phase == "feedback"
    m.update(20000 * MS)
    assert m.phase == "feedback"  # no auto-advance until scored
    assert m.score_last("success", 20000 * MS) is a and a.outcome == "success"


def test_energy_gate_finds_a_breath_and_not_silence():
    rate = 48000
    x = np.zeros(rate, np.float32)
    x[12000:24000] = np.random.default_rng(1).standard_normal(12000) * 0.02
    gate = EnergyGate(rate)
    ev = []
    for i in range(0, len(x), 960):
        ev += gate.feed(x[i:i + 960], 10**9 + i * 10**9 // rate)
    assert [e[0] for e in ev] == ["on", "off"]
    assert abs(ev[0][1] - (10**9 + 250 * MS)) <= 10 * MS and abs(ev[1][2] - (10**9 + 500 * MS)) <= 10 * MS


def test_fold_to():
    assert fold_to(660.0, 330.0) == pytest.approx(330.0)
    assert fold_to(160.0, 330.0) == pytest.approx(320.0)
