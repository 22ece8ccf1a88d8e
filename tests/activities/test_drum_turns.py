"""Whole drum exchanges through the headless app: the pilot plays the therapist's pad, the
client's pad, the screen and the keyboard at exact times on the FakeClock and reads the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.screens import publish

from prelude_play.shell.pilot import run_test
from prelude_play.store.trials import goal_figures, read_trials
from tests.fakes import RecordingAudio

ART = Path(__file__).resolve().parents[1] / "_artifacts"
MS = 1_000_000


def events(pilot, kind=None):
    pilot.app.store.flush()
    return [e for e in pilot.app.store.events() if kind is None or e.kind == kind]


def trials(pilot):
    return read_trials(events(pilot))


def assert_outcomes_only_on_trials(pilot):
    assert [(e.kind, e.outcome) for e in events(pilot) if e.outcome is not None and e.trial_id is None] == []


def start(pilot, **settings):
    app = pilot.app
    app.store.ensure_client("ari")
    profile = {"activities": {"drum_turns": {"count_in_beats": 0, "bpm": 60, **settings}}}
    if settings.pop("low", False) or profile["activities"]["drum_turns"].pop("low", False):
        profile["low_stimulation"] = True
    app.store.set_client_profile("ari", profile)
    app.select_client("ari")
    app.start_activity("drum_turns")
    assert app.activity_name == "drum_turns", app.notices
    return app.activity


def at(pilot, t_ns):
    """Move the fake clock to an exact time (between frames) without running a frame."""
    pilot.clock.set(t_ns)


@pytest.fixture
def audio():
    return RecordingAudio()


def test_pattern_exchange_plays_the_model_at_exact_times_and_judges_the_copy(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        act = start(pilot, level=2, pattern_sound="drum:50")
        pilot.step()  # the exchange starts: model "three" (beats 0, 1, 2 at 60 BPM) 100 ms from now
        start_ns = act.state.model_start_ns
        assert start_ns == pilot.clock.now_ns() + 100 * MS
        pilot.wait(2500)
        model = [c for c in audio.calls if c["name"] == "drum:50"]
        assert [c["at_ns"] - start_ns for c in model] == [0, 1000 * MS, 2000 * MS]  # exact, ahead of time
        assert act.state.phase == "client"
        base = start_ns + 2900 * MS
        for dt in (0, 1010, 1980):  # client pad, between frames
            at(pilot, base + dt * MS + 123_456)
            pilot.midi(note=38, velocity=100, device="usb pad", role="client", data={"sound": "drum:38"})
        assert act.state.phase == "feedback"
        session_t0 = pilot.app.session.t0_ns
        hits = [e for e in events(pilot, "hit") if e.actor == "client"]
        assert [e.t_ms for e in hits] == [round((base + dt * MS + 123_456 - session_t0) / 1e6, 2)
                                          for dt in (0, 1010, 1980)]  # the MIDI stamp, not the frame
        assert all(e.data["role"] == "copy" and e.data["waited"] for e in hits)
        assert set(hits[0].goals) >= {"turn_taking", "musical", "motor"}
        turn = [e for e in events(pilot, "turn") if e.actor == "client"][-1]
        j = turn.data["judgement"]
        assert j["copy_iois_ms"] == [1010.0, 970.0] and j["ioi_errors_ms"] == [10.0, -30.0]
        assert j["response_latency_ms"] == 900.123 and j["outcome"] == "success" and turn.outcome is None
        assert turn.data["pattern"]["name"] == "three" and turn.data["waited"] is True
        assert set(turn.goals) >= {"turn_taking", "social", "attention_executive", "musical", "motor"}
        assert [h["t_ns"] for h in turn.data["hits"]] == [base + dt * MS + 123_456 for dt in (0, 1010, 1980)]
        model_turn = [e for e in events(pilot, "turn") if e.actor == "therapist"][-1]
        assert [h["t_ns"] - start_ns for h in model_turn.data["model"]] == [0, 1000 * MS, 2000 * MS]
        # one exchange, one trial: opened when the model started, judged when the copy ended
        (t,) = trials(pilot)
        assert t.opportunity == "model" and t.opened_ms == round((start_ns - session_t0) / 1e6, 2)
        assert (t.outcome, t.prompt, t.scored_by, t.close_reason) == ("success", "independent", "activity", "response")
        assert t.closed_ms == hits[-1].t_ms  # the copy ended with its last (counted) stroke
        assert t.judgement_data["waited"] is True and t.judgement_data["response_latency_ms"] == 900.123
        assert {e.trial_id for e in hits} == {t.id} and model_turn.trial_id == turn.trial_id == t.id
        assert [r["kind"] for r in t.responses] == ["hit", "hit", "hit", "turn"]
        assert set(t.goals) >= {"turn_taking", "social", "attention_executive", "musical", "motor"}
        assert_outcomes_only_on_trials(pilot)


def test_hits_during_the_model_are_waiting_failures_not_noise(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        act = start(pilot, level=2)
        pilot.step()
        pilot.wait(600)
        assert act.state.phase == "therapist"
        pilot.midi(note=38, velocity=70, role="client")
        fail = [e for e in events(pilot, "hit") if e.actor == "client"][-1]
        assert fail.data["waiting_failure"] is True and fail.data["role"] == "waiting_failure"
        assert fail.outcome is None and "attention_executive" in fail.goals  # no outcome of its own
        (t,) = trials(pilot)
        assert fail.trial_id == t.id and t.closed_ms is None
        pilot.wait(2200)
        pilot.tap("drum:client")
        pilot.wait(900)
        pilot.press("space")
        pilot.wait(900)
        pilot.press("j")
        turn = [e for e in events(pilot, "turn") if e.actor == "client"][-1]
        assert turn.data["waited"] is False and len(turn.data["waiting_failures"]) == 1
        assert [h["source"] for h in turn.data["hits"]] == ["touch", "key", "key"]
        assert "drum:45" in audio.names()  # the on-screen drum and keys sound at once
        (t,) = trials(pilot)  # one trial: the copy's outcome, and it says the client did not wait
        assert t.is_scored and t.judgement_data["waited"] is False and t.judgement_data["waiting_failures"] == 1
        assert [r["role"] for r in t.responses if r["kind"] == "hit"] == ["waiting_failure", "copy", "copy", "copy"]
        from prelude_play.activities.drum_turns import DrumTurns

        assert DrumTurns.trial_phrases(trials(pilot), lambda s: s) == ["did not wait for the turn"]
        assert_outcomes_only_on_trials(pilot)


def test_therapist_pad_models_then_touch_and_a_therapist_hit_takes_the_turn_back(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        act = start(pilot, model_source="therapist", therapist_silence_ms=600)
        pilot.step()
        assert act.state.phase == "therapist"
        t = pilot.clock.now_ns()
        for dt in (0, 400, 800):
            at(pilot, t + dt * MS)
            pilot.midi(note=38, velocity=110 - dt // 20, device="therapist pad", role="therapist")
        assert [c["name"] for c in audio.calls[-3:]] == ["drum:38"] * 3  # the fast path, therapist sound
        pilot.wait(700)
        assert act.state.phase == "client"
        for dt in (1500, 1900):
            at(pilot, t + dt * MS)
            pilot.midi(note=38, velocity=90, role="client")
        at(pilot, t + 2500 * MS)
        pilot.midi(note=38, velocity=100, device="therapist pad", role="therapist")  # takes the turn back
        turns = events(pilot, "turn")
        model, copy = turns[-2], turns[-1]
        assert model.actor == "therapist" and model.data["model_source"] == "therapist"
        assert [h["t_ns"] - t for h in model.data["model"]] == [0, 400 * MS, 800 * MS]
        assert [h["velocity"] for h in model.data["model"]] == [110, 90, 70]
        assert copy.data["end_reason"] == "therapist_hit"
        j = copy.data["judgement"]
        assert j["copy_iois_ms"] == [400.0] and j["response_latency_ms"] == 700.0 and not j["count_ok"]
        assert act.state.phase == "therapist" and act.state.model[0].t_ns == t + 2500 * MS


def test_therapist_controls_hand_over_end_turn_pulse_and_lock(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        act = start(pilot, model_source="therapist", therapist_silence_ms=5000, bpm=100,
                    client_silence_ms=20000, response_timeout_ms=60000)
        pilot.step()
        pilot.midi(note=38, role="therapist")
        pilot.wait(100)
        pilot.midi(note=38, role="therapist")
        pilot.unlock()
        assert pilot.app.find_button("rail:primary").label == "Your turn"  # the turn is on the rail
        pilot.tap("rail:primary")
        assert act.state.phase == "client"
        assert events(pilot, "turn")[-1].data["end_reason"] == "therapist"
        pilot.tap("rail:more")
        pilot.tap("act:lock")
        assert act.state.level.locked and events(pilot, "level_lock")
        pilot.tap("act:pulse")
        assert act.state.pulse_on
        pilot.tap("close")
        pilot.wait(2000)
        pulses = [c["at_ns"] for c in audio.calls if c["name"] == "drum:42"]
        assert len(pulses) >= 3 and {b - a for a, b in zip(pulses, pulses[1:])} == {600 * MS}
        pilot.midi(note=38, role="client")
        pilot.step()
        assert pilot.app.find_button("rail:primary").label == "End turn"
        pilot.tap("rail:primary")
        last = events(pilot, "turn")[-1]
        assert last.actor == "client" and last.data["end_reason"] == "therapist"
        assert last.data["level_locked"] is True
        (t,) = trials(pilot)
        assert t.judgement is not None and t.judgement_data["end_reason"] == "therapist"
        assert "Level" in act.status_text() and "BPM" in act.status_text()


def test_a_therapist_score_supersedes_the_judged_copy_and_counts_once(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        act = start(pilot, level=2, feedback_ms=8000)
        pilot.unlock()
        pilot.step()
        pilot.wait(2500)
        st = act.state
        assert st.phase == "client"
        pilot.midi(note=38, role="client")  # one stroke of three: judged not yet
        pilot.wait(1600)  # the client's silence ends the turn
        (t,) = trials(pilot)
        assert t.outcome == "not_yet" and t.scored_by == "activity" and t.closed_ms is not None
        pilot.score("±")  # the therapist counts the attempt as partly there
        (t,) = trials(pilot)
        assert (t.outcome, t.prompt, t.scored_by) == ("partial", "independent", "therapist")
        assert t.judgement[0] == "not_yet"  # kept
        assert [e.trial_id for e in events(pilot, "judgement")] == [t.id] == [e.trial_id for e in events(pilot, "score")]
        fig = goal_figures(trials(pilot))["turn_taking"]
        assert (fig.trials, fig.successes, dict(fig.outcomes)) == (1, 0, {"partial": 1})
        assert [(x.outcome, x.scored_by) for x in pilot.app.live.trials()] == [("partial", "therapist")]
        pilot.tap("rail:undo")  # the automatic judgement counts again
        assert [(x.outcome, x.scored_by) for x in trials(pilot)] == [("not_yet", "activity")]


def test_leaving_mid_turn_ends_the_trial_unjudged_and_phrases_count_waiting(tmp_path, audio):
    from prelude_play.activities.drum_turns import DrumTurns

    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        act = start(pilot, level=1, feedback_ms=200, pattern_sound="drum:50", bpm=120)
        pilot.step()
        for early in (False, True, False):
            while act.state.phase != "therapist":
                pilot.step()
            if early:
                pilot.midi(note=38, role="client")  # too soon: a waiting failure
            while act.state.phase != "client":
                pilot.step()
            pilot.midi(note=38, role="client")
            pilot.step(3)
        while act.state.phase != "client":
            pilot.step()
        pilot.app.go_home()  # leaves during the fourth copy
        ts = trials(pilot)
        assert [x.close_reason for x in ts] == ["response"] * 3 + ["ended"]
        assert [x.is_scored for x in ts] == [True, True, True, False]
        assert DrumTurns.trial_phrases([x for x in ts if x.is_scored], lambda s: s) == ["waited in 2 of 3 turns"]
        assert_outcomes_only_on_trials(pilot)


def test_level_rises_with_success_and_patterns_get_longer(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        act = start(pilot, level=1, up_after=2, feedback_ms=200, pattern_sound="drum:50", bpm=120)
        pilot.step()
        for _ in range(2):
            while act.state.phase != "client":
                pilot.step()
            st = act.state
            times = [st.client_start_ns + (h.t_ns - st.model_start_ns) for h in st.model]
            for t in times:
                at(pilot, max(t, pilot.clock.now_ns()))
                pilot.midi(note=38, role="client", step=False)
            pilot.step()
        assert act.state.level.level == 2
        change = events(pilot, "level_change")
        assert change and change[0].data == {"from": 1, "to": 2, "after_turn": 4}
        while act.state.phase != "therapist":
            pilot.step()
        assert act.state.pattern.level == 2 and len(act.state.pattern.onsets) >= 2


def test_together_with_pulse_judges_against_the_beat(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        act = start(pilot, mode="together", together_beats=4, bpm=120, level=3)
        pilot.step()
        st = act.state
        assert st.phase == "together" and st.pulse_on
        beats = list(st.expected_ns)
        for b, off in zip(beats, (5, -12, 70, 0)):
            at(pilot, max(b + off * MS, pilot.clock.now_ns()))
            pilot.midi(note=38, role="client", step=False)
            pilot.step()
        pilot.wait(800)
        turn = [e for e in events(pilot, "turn") if e.data["whose"] == "together"][-1]
        offs = [o["offset_ms"] for o in turn.data["judgement"]["beat_offsets"]]
        assert offs[:2] == [5.0, -12.0] and turn.data["judgement"]["late"] == 1


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_screenshots_therapist_turn_client_turn_feedback(tmp_path, audio, size):
    w, h = size
    names = []
    with run_test(data_dir=tmp_path, audio=audio, size=size) as pilot:
        act = start(pilot, level=3, pulse=True, bpm=90, pattern_sound="drum:50")
        pilot.step()
        while act.state.phase != "therapist":
            pilot.step()
        st = act.state
        while pilot.clock.now_ns() < st.model[2].t_ns + 40 * MS:
            pilot.step()
        names.append(pilot.screenshot(ART / f"drum_turns_therapist_{w}x{h}.png"))
        while st.phase != "client":
            pilot.step()
        exp = list(st.expected_ns)
        assert len(exp) == 3
        for e, off in zip(exp[:2], (10, 30)):
            at(pilot, max(e + off * MS, pilot.clock.now_ns()))
            pilot.midi(note=38, velocity=100, role="client")
        assert st.phase == "client"
        names.append(pilot.screenshot(ART / f"drum_turns_client_{w}x{h}.png"))
        at(pilot, max(exp[-1] + 75 * MS, pilot.clock.now_ns()))
        pilot.midi(note=38, velocity=100, role="client")
        pilot.step(20)
        assert st.phase == "feedback"
        names.append(pilot.screenshot(ART / f"drum_turns_feedback_{w}x{h}.png"))
        for who in ("drum:client", "drum:therapist"):
            r = act.find_target(who)
            assert r.width >= 96 * pilot.app.theme.scale
    import pygame

    for shot in names:
        img = pygame.image.load(str(shot))
        assert img.get_size() == size
    if size == (1280, 800):
        for shot in names:
            publish(shot, shot.name.replace("_1280x800", ""))


def test_low_stimulation_screenshot(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        app = pilot.app
        app.store.ensure_client("ari")
        app.store.set_client_profile("ari", {"low_stimulation": True,
                                             "activities": {"drum_turns": {"count_in_beats": 0}}})
        app.select_client("ari")
        app.start_activity("drum_turns")
        act = app.activity
        while act.state.phase != "client":
            pilot.step()
        pilot.midi(note=38, role="client")
        assert act.theme.low_stimulation
        shot = pilot.screenshot(ART / "drum_turns_lowstim_1280x800.png")
        assert shot.exists()
