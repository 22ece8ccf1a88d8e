"""Drum turn-taking logic with exact numbers: judging, levels, the turn machine, the library."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelude_play.activities.drum_turns.logic import (
    AdaptiveLevel,
    Hit,
    LevelSpec,
    TurnMachine,
    TurnSettings,
    judge,
    load_library,
    match_beats,
    parse_library,
)
from prelude_play.errors import ConfigError

MS = 1_000_000
LIB = load_library(Path(__file__).resolve().parents[2] / "activities" / "drum_turns" / "patterns.toml")
SPEC = LevelSpec(3, 60.0, 15.0)


def hits(ms_list, vels=None, actor="client"):
    vels = vels or [100] * len(ms_list)
    return [Hit(round(t * MS), v, actor) for t, v in zip(ms_list, vels)]


# -- judging -------------------------------------------------------------------------------------

def test_iois_errors_tempo_and_latency_without_pulse():
    model = hits([0, 500, 1000, 1500])
    copy = hits([2300, 2850, 3400, 3900])
    j = judge(model, copy, model_end_ns=1500 * MS, spec=SPEC)
    assert j.model_iois_ms == (500.0, 500.0, 500.0)
    assert j.copy_iois_ms == (550.0, 550.0, 500.0)
    assert j.ioi_errors_ms == (50.0, 50.0, 0.0)
    assert j.ioi_errors_pct == (10.0, 10.0, 0.0)
    assert j.mean_abs_ioi_error_ms == pytest.approx(33.333, abs=1e-3)
    assert j.tempo_ratio == pytest.approx(1600 / 1500, abs=1e-4)
    # ratios 1.1, 1.1, 1.0: least-squares slope -0.05 per interval = -5 %
    assert j.tempo_drift_pct == pytest.approx(-5.0)
    assert j.response_latency_ms == 800.0
    assert j.count_ok and j.score == 1.0 and j.outcome == "success" and j.cue == "great"
    assert j.beat_offsets == () and j.mean_offset_ms is None


def test_interval_outside_tolerance_lowers_score_and_cue_says_slower():
    model = hits([0, 500, 1000])
    copy = hits([2000, 2600, 3300])  # +20 %, +40 %
    j = judge(model, copy, model_end_ns=1000 * MS, spec=SPEC)
    assert j.ioi_errors_pct == (20.0, 40.0)
    assert j.score == 0.0 and j.outcome == "not_yet"
    assert j.tempo_ratio == 1.3 and j.cue == "slower"


def test_wrong_count_is_partial_and_cue_counts():
    model = hits([0, 500, 1000, 1500])
    copy = hits([2000, 2500, 3000])
    j = judge(model, copy, model_end_ns=1500 * MS, spec=SPEC)
    assert not j.count_ok and j.expected_hits == 4 and j.hits == 3
    # count 3/4, both compared intervals within tolerance, out of 3 model intervals
    assert j.score == pytest.approx(0.75 * 2 / 3, abs=1e-4)
    assert j.outcome == "partial" and j.cue == "count"


def test_no_hits_is_no_response():
    j = judge(hits([0, 500]), [], model_end_ns=500 * MS, spec=SPEC)
    assert j.outcome == "no_response" and j.score == 0.0 and j.response_latency_ms is None
    assert j.cue == "try_again"


def test_velocity_contour_and_ratio():
    model = hits([0, 500, 1000, 1500], [60, 80, 100, 125])  # rising
    same = hits([2000, 2500, 3000, 3500], [50, 70, 95, 120])
    flat = hits([2000, 2500, 3000, 3500], [90, 92, 90, 91])
    assert judge(model, same, model_end_ns=0, spec=SPEC).contour_match == 1.0
    assert judge(model, flat, model_end_ns=0, spec=SPEC).contour_match == 0.0
    assert judge(model, same, model_end_ns=0, spec=SPEC).velocity_ratio == pytest.approx(335 / 365, abs=1e-3)


def test_beat_offsets_windows_early_late_missed_extra():
    expected = [10_000 * MS, 10_750 * MS, 11_500 * MS, 12_250 * MS]
    copy = hits([9_970, 10_812, 11_300, 11_520])  # -30, +62, (11_300: extra), +20; last missed
    model = hits([0, 750, 1500, 2250])
    j = judge(model, copy, model_end_ns=2250 * MS, spec=SPEC, expected_ns=expected, period_ns=750 * MS)
    assert [o.offset_ms for o in j.beat_offsets] == [-30.0, 62.0, 20.0, None]
    assert [o.verdict for o in j.beat_offsets] == ["on_time", "late", "on_time", "missed"]
    assert (j.on_time, j.early, j.late, j.missed, j.extra_hits) == (2, 0, 1, 1, 1)
    assert j.mean_offset_ms == pytest.approx(52 / 3, abs=1e-3)
    assert j.score == pytest.approx(2 / 5)
    assert j.outcome == "partial" and j.cue == "on_time"


def test_window_tightens_with_level():
    expected = [1000 * MS]
    copy = hits([1040])
    loose = judge(hits([0]), copy, model_end_ns=0, spec=LIB.spec(1), expected_ns=expected, period_ns=750 * MS)
    tight = judge(hits([0]), copy, model_end_ns=0, spec=LIB.spec(6), expected_ns=expected, period_ns=750 * MS)
    assert loose.beat_offsets[0].verdict == "on_time" and loose.outcome == "success"
    assert tight.beat_offsets[0].verdict == "late" and tight.outcome == "not_yet" and tight.cue == "late"


def test_match_beats_never_uses_one_hit_twice():
    offs, extra = match_beats([1000, 2000], [1490], reach_ns=500, window_ms=1)
    assert [o.hit_ns for o in offs] == [1490, None] and extra == 0


# -- adaptive level ------------------------------------------------------------------------------

def test_level_moves_up_after_three_and_down_after_two_and_lock_holds():
    lv = AdaptiveLevel(2, 1, 6)
    assert [lv.record("success") for _ in range(3)] == [0, 0, 1] and lv.level == 3
    assert lv.record("not_yet") == 0 and lv.record("partial") == 0 and lv.record("no_response") == 0
    assert lv.record("not_yet") == -1 and lv.level == 2
    lv.locked = True
    assert [lv.record("success") for _ in range(5)] == [0] * 5 and lv.level == 2
    lv.locked = False
    assert lv.record("success") == 1 and lv.level == 3  # the run counted while locked
    top = AdaptiveLevel(6, 1, 6)
    assert [top.record("success") for _ in range(4)] == [0, 0, 0, 0] and top.level == 6


# -- library -------------------------------------------------------------------------------------

def test_library_spans_one_beat_to_two_bars_and_windows_tighten():
    assert LIB.lowest == 1 and LIB.highest == 6
    assert min(p.beats for p in LIB.patterns[1]) == 1 and max(p.beats for p in LIB.patterns[6]) == 8
    wins = [LIB.spec(lv).window_ms for lv in range(1, 7)]
    assert wins == sorted(wins, reverse=True) and wins[0] == 100 and wins[-1] == 20
    assert LIB.pick(1, 0).name == "one" and LIB.pick(1, 2).name == "one"  # cycles
    assert LIB.pick(99, 0).level == 6  # clamped


@pytest.mark.parametrize("bad, words", [
    ({"level": [{"level": 1, "window_ms": 50}], "pattern": [{"name": "x", "level": 1, "beats": 2,
                                                             "onsets": [1, 0]}]}, "onsets"),
    ({"level": [{"level": 1, "window_ms": 50}], "pattern": [{"name": "x", "level": 2, "beats": 2,
                                                             "onsets": [0]}]}, "level 2"),
    ({"level": [{"level": 1, "window_ms": 5000}]}, "out of range"),
    ({"level": [{"level": 1, "window_ms": 50}], "pattern": [{"name": "x", "level": 1, "beats": 2,
                                                             "onsets": [0, 1], "velocities": [1]}]}, "velocities"),
    ({"level": [{"level": 1, "window_ms": 50}], "pattern": []}, "no patterns"),
])
def test_bad_library_names_the_problem(bad, words):
    with pytest.raises(ConfigError, match=words):
        parse_library(bad, "p.toml")


def test_settings_reject_tempo_out_of_range():
    c = {"mode": "echo", "model_source": "pattern", "bpm": 200, "beats_per_bar": 4, "count_in_beats": 4,
         "therapist_beats": 4, "therapist_silence_ms": 1000, "client_silence_ms": 1500,
         "response_timeout_ms": 6000, "handover_ms": 300, "feedback_ms": 1000, "together_beats": 8,
         "grid_subdivision": 2}
    with pytest.raises(ConfigError, match="bpm"):
        TurnSettings.from_config(c)
    c["bpm"] = 40
    assert TurnSettings.from_config(c).period_ns == 1_500_000_000


# -- the turn machine ----------------------------------------------------------------------------

def machine(**kw) -> TurnMachine:
    s = TurnSettings(**{"count_in_beats": 0, "bpm": 60, "feedback_ms": 1000, **kw})
    return TurnMachine(s, LIB, AdaptiveLevel(kw.pop("level", 2) if "level" in kw else 2, 1, 6))


def test_pattern_exchange_without_pulse():
    m = machine()
    m.start(0)  # first model at 100 ms; level 2 pattern "three": beats 0,1,2 at 60 BPM
    sounds = m.due_sounds(0)
    assert [(x.t_ns, x.sound, x.kind) for x in sounds] == [(100 * MS, "drum:38", "pattern")]
    assert [x.t_ns for x in m.due_sounds(1000 * MS)] == [1100 * MS]
    assert m.phase == "therapist" and m.whose_turn() == "therapist"
    info = m.hit(Hit(1500 * MS, 90, "client"))  # during the model: did not wait
    assert info.role == "waiting_failure"
    m.advance(2399 * MS)
    assert m.phase == "therapist"
    m.advance(2400 * MS)  # last onset 2100 + 300 handover
    assert m.phase == "client" and m.model_end_ns == 2100 * MS
    model_rec = m.take_finished()[0]
    assert model_rec.whose == "therapist" and model_rec.end_reason == "time" and len(model_rec.model) == 3
    for t in (2700, 3710, 4690):
        last = m.hit(Hit(t * MS, 100, "client"))
    assert last.ends_turn and m.phase == "feedback"
    (rec,) = m.take_finished()
    j = rec.judgement
    assert rec.whose == "client" and rec.end_reason == "count" and not rec.waited
    assert [h.t_ns for h in rec.waiting_failures] == [1500 * MS]
    assert j.ioi_errors_ms == (10.0, -20.0) and j.response_latency_ms == 600.0 and j.outcome == "success"
    assert rec.turn == 2 and model_rec.turn == 1 and rec.exchange == 1
    m.advance(4690 * MS + 1000 * MS)  # feedback over: the next model
    assert m.phase == "therapist" and m.turn == 3 and m.pattern.name == "four"


def test_pulse_turns_are_on_the_grid_and_copy_is_judged_against_the_beat():
    m = machine(pulse=True, bpm=120)  # period 500 ms
    m.start(0)
    assert m.grid_t0_ns == 100 * MS and m.pattern.name == "three"
    pulses = [x.t_ns for x in m.due_sounds(1000 * MS) if x.kind == "pulse"]
    assert pulses == [100 * MS, 600 * MS, 1100 * MS]
    m.advance(1500 * MS)  # 3-beat model: 100 .. 1600
    assert m.phase == "therapist"
    assert m.hit(Hit(1500 * MS)).role == "waiting_failure"  # 100 ms ahead: too soon
    assert m.hit(Hit(1540 * MS)).role == "copy"  # 60 ms ahead of the turn, within level 2's 80 ms
    m.hit(Hit(2190 * MS))
    m.hit(Hit(2640 * MS))
    (_, rec) = m.take_finished()
    assert m.expected_ns == [1600 * MS, 2100 * MS, 2600 * MS] and len(rec.waiting_failures) == 1
    j = rec.judgement
    assert [o.offset_ms for o in j.beat_offsets] == [-60.0, 90.0, 40.0]
    assert [o.verdict for o in j.beat_offsets] == ["on_time", "late", "on_time"]
    assert j.score == pytest.approx(2 / 3, abs=1e-4) and j.outcome == "partial"
    # next model on the first downbeat after feedback (2640 + 1000 + 50 -> bar at 4100)
    assert m.phase == "feedback" and m.phase_end_ns == 4100 * MS


def test_client_turn_ends_by_silence_and_by_timeout():
    m = machine(therapist_hits=0, client_silence_ms=800, response_timeout_ms=2000)
    m.start(0)
    m.advance(2400 * MS)
    m.hit(Hit(2600 * MS))
    m.advance(3399 * MS)
    assert m.phase == "client"
    m.advance(3400 * MS)
    rec = m.take_finished()[-1]
    assert rec.end_reason == "silence" and rec.end_ns == 3400 * MS and rec.judgement.hits == 1
    m.advance(4400 * MS)  # next model at 4400 ("four": 4 beats, last at 7400, client from 7700)
    m.advance(7700 * MS)
    m.advance(9700 * MS)
    rec = m.take_finished()[-1]
    assert rec.end_reason == "timeout" and rec.judgement.outcome == "no_response"


def test_live_therapist_model_ends_by_silence_then_a_therapist_hit_takes_the_turn_back():
    m = machine(model_source="therapist", therapist_silence_ms=700)
    m.start(0)
    assert m.phase == "therapist"
    for t in (500, 900, 1300):
        assert m.hit(Hit(t * MS, 100, "therapist", "midi")).role == "model"
    assert m.hit(Hit(1700 * MS, 100, "client")).role == "waiting_failure"
    assert m.hit(Hit(2100 * MS, 100, "client")).role == "copy"  # 1300 + 700: the turn is the client's
    assert m.client_start_ns == 2000 * MS
    m.hit(Hit(2480 * MS, 100, "client"))
    info = m.hit(Hit(2700 * MS, 100, "therapist"))  # the therapist plays: the client's turn ends
    assert info.ends_turn and m.phase == "therapist" and m.model[0].t_ns == 2700 * MS
    recs = m.take_finished()
    assert [r.whose for r in recs] == ["therapist", "client"]
    assert recs[1].end_reason == "therapist_hit" and recs[1].judgement.copy_iois_ms == (380.0,)
    assert recs[1].judgement.response_latency_ms == 800.0
    assert [h.t_ns for h in recs[0].model] == [500 * MS, 900 * MS, 1300 * MS]


def test_hit_stamped_before_a_boundary_but_seen_late_is_classified_by_its_own_time():
    m = machine()
    m.start(0)
    m.update(2500 * MS)  # frame time: 2470 after the guard, past the 2400 handover
    assert m.phase == "client"
    info = m.hit(Hit(2390 * MS))  # played before the client's turn began
    assert info.role == "waiting_failure"


def test_therapist_tap_hands_over_and_ends_the_turn():
    m = machine(model_source="therapist")
    m.start(0)
    m.hit(Hit(500 * MS, 100, "therapist"))
    m.hit(Hit(550 * MS, 100, "therapist"))
    m.end_turn(600 * MS)
    assert m.phase == "client" and m.take_finished()[0].end_reason == "therapist"
    m.hit(Hit(900 * MS))
    m.end_turn(1000 * MS)
    assert m.phase == "feedback" and m.take_finished()[0].end_reason == "therapist"


def test_together_turn_judges_client_against_the_steady_beat():
    m = machine(mode="together", together_beats=4, bpm=120)
    m.start(0)
    assert m.phase == "together" and m.pulse_on and m.expected_ns == [100 * MS, 600 * MS, 1100 * MS, 1600 * MS]
    for t in (105, 590, 1130, 1600):
        assert m.hit(Hit(t * MS)).role == "together"
    assert m.hit(Hit(700 * MS, 90, "therapist")).role == "support"
    m.advance(2100 * MS)
    (rec,) = m.take_finished()
    assert rec.whose == "together" and rec.judgement.on_time == 4 and rec.judgement.outcome == "success"
    assert [h.t_ns for h in rec.support] == [700 * MS]


def test_count_in_then_model_and_client_hits_during_count_in_are_waiting_failures():
    m = TurnMachine(TurnSettings(count_in_beats=4, bpm=60), LIB, AdaptiveLevel(1, 1, 6))
    m.start(0)
    counts = [x.t_ns for x in m.due_sounds(5000 * MS) if x.kind == "count"]
    assert counts == [100 * MS, 1100 * MS, 2100 * MS, 3100 * MS]
    assert m.whose_turn() == "ready"
    assert m.hit(Hit(1500 * MS)).role == "waiting_failure"
    m.advance(4100 * MS)
    assert m.phase == "therapist" and m.model[0].t_ns == 4100 * MS


def test_adaptive_level_changes_pattern_length():
    m = machine(feedback_ms=0)
    m.level = AdaptiveLevel(1, 1, 6, up_after=1)
    m.start(0)  # level 1 "one" at 100 ms; client from 400 ms
    m.advance(400 * MS)
    m.hit(Hit(450 * MS))
    assert m.level.level == 2 and m.take_finished()[-1].level_change == 1
    m.advance(460 * MS)  # next model: a level-2 pattern
    assert m.pattern.level == 2
