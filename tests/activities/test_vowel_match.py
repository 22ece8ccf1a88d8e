"""Whole vowel exchanges through the headless app: the pilot plays a call, feeds a sung answer
(synthesised vowels, or espeak-ng speech) through the offline capture in step with the fake
clock, and reads what was logged."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from prelude_play.audio.analysis import Calibration, read_wav, resample, synth
from prelude_play.clock import FakeClock
from prelude_play.shell.pilot import run_test
from prelude_play.store.trials import goal_figures, read_trials
from tests.fakes import RecordingAudio
from tests.activities.offline_mic import RATE, Mic

ART = Path(__file__).resolve().parents[1] / "_artifacts"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MS = 1_000_000
# Children's formants (Peterson & Barney 1952 means, Hz), used only to make test voices.
CHILD = {"ah": (1030, 1370, 3170), "ee": (370, 3200, 3730), "oo": (430, 1170, 3260),
         "oh": (600, 1100, 3050), "eh": (690, 2610, 3570)}


def sung(vowel: str, f0: float, dur: float = 0.8, seed: int = 3, formants=None) -> np.ndarray:
    """A sung vowel made at 16 kHz (speech band) and played into a 48 kHz mic."""
    x = synth.vowel(formants or CHILD[vowel], f0, 16000, dur, rng=np.random.default_rng(seed))
    return resample(x, 16000, RATE).astype(np.float32)


def start(pilot, mic_on: bool = True, **settings):
    app = pilot.app
    app.store.ensure_client("ari")
    profile = {"activities": {"vowel_match": {"feedback_ms": 800, "between_ms": 400, **settings}}}
    if profile["activities"]["vowel_match"].pop("low", False):
        profile["low_stimulation"] = True
    cal = profile["activities"]["vowel_match"].pop("calibration", None)
    if cal is not None:
        profile["vowel_calibration"] = cal
    app.store.set_client_profile("ari", profile)
    app.select_client("ari")
    app.start_activity("vowel_match")
    assert app.activity_name == "vowel_match", app.notices
    return app.activity


def events(pilot, kind=None):
    pilot.app.store.flush()
    return [e for e in pilot.app.store.events() if kind is None or e.kind == kind]


def calls(pilot):
    """The vowel calls' trials (functional-communication presses are trials of their own)."""
    return [t for t in read_trials(events(pilot)) if t.opportunity == "call"]


def attempt(pilot, trial):
    [att] = [e for e in events(pilot, "vowel_attempt") if e.trial_id == trial.id]
    return att


def assert_outcomes_only_on_trials(pilot):
    assert [(e.kind, e.outcome) for e in events(pilot) if e.outcome is not None and e.trial_id is None] == []


def call(pilot):
    """The therapist's Call: the rail's primary action (unlocking once, as a therapist does)."""
    if not pilot.app.lock.unlocked:
        pilot.unlock()
    pilot.tap("rail:primary")


def model_call(pilot, mic: Mic, act) -> int:
    """Call and let the model play out; returns the call's end on the clock."""
    call(pilot)
    c = act.machine.call
    assert c is not None and c.source == "model"
    mic.silence(pilot, (c.end_ns - pilot.clock.now_ns()) / MS + 20)
    assert act.machine.phase == "response"
    return c.end_ns


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def mic(clock):
    return Mic(clock)


def test_matching_answer_reaches_the_top_rung_with_latency_from_the_call_end(tmp_path, clock, mic):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=5, model_pitch=64)
        end = model_call(pilot, mic, act)
        model = [c for c in audio.calls if c["name"].startswith("vowel:ah:")]
        assert model and model[-1]["name"] == "vowel:ah:329.63hz:1.2s"
        assert end == model[-1]["at_ns"] + 1200 * MS  # the call ends when the model does
        mic.silence(pilot, 380)
        t_sing = mic.sing(pilot, sung("ah", 330.0))
        pilot.wait(300)
        mic.silence(pilot, 600)
        [trial] = calls(pilot)  # the call is the opportunity, the answer the response, judged
        att = attempt(pilot, trial)
        d = att.data
        assert (trial.outcome, trial.prompt, trial.scored_by, trial.close_reason) == \
            ("success", "independent", "activity", "response")
        assert d["ladder_level"] == 5 and d["ladder_rung"] == "target_vowel_on_pitch"
        assert trial.judgement_data["level_reached"] == 5 and trial.judgement_data["goal_level"] == 5
        assert att.outcome is None and att.actor == "client" and trial.responses[0]["kind"] == "vowel_attempt"
        assert abs(d["latency_ms"] - (t_sing - end) / MS) < 30  # the audio's time, not a frame's
        assert abs(d["duration_ms"] - 800) < 80
        assert d["target_vowel"] == "ah" and d["detected_vowel"] == "ah" and d["confidence"] >= 0.45
        assert abs(d["f0"] - 330) < 3 and abs(d["cents_off"]) < 15 and abs(d["target_f0"] - 329.63) < 0.01
        assert 800 < d["f1"] < 1200 and 1100 < d["f2"] < 1600
        assert set(trial.goals) >= {"speech_communication", "musical"}  # pitch matters on rung 5
        assert trial.data["source"] == "model" and trial.data["vowel"] == "ah" and d["judged_by"] == "auto"
        assert "chimes:84" in audio.names()  # a small reward (not in low-stimulation mode)
        assert_outcomes_only_on_trials(pilot)
        ART.mkdir(exist_ok=True)
        pilot.screenshot(ART / "vowel_matched.png")


def test_wrong_vowel_is_judged_below_the_rung_and_the_therapist_score_supersedes_it(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4)
        model_call(pilot, mic, act)
        mic.silence(pilot, 500)
        mic.sing(pilot, sung("ee", 300.0, seed=4))
        mic.silence(pilot, 700)
        [trial] = calls(pilot)
        assert trial.judgement_data["detected_vowel"] == "ee"
        assert trial.judgement_data["level_reached"] == 2 and trial.outcome == "not_yet"  # voiced, far from "ah"
        assert "musical" not in trial.goals  # rung 4: pitch does not matter
        assert pilot.app.live.score_target().trial.id == trial.id  # the rail says where the score lands
        pilot.score("+I")  # the therapist heard an "ah" attempt: one touch on the rail
        [trial] = calls(pilot)
        assert (trial.outcome, trial.prompt, trial.scored_by) == ("success", "independent", "therapist")
        assert trial.judgement == ("not_yet", "independent")  # the automatic judgement is kept ...
        [j] = events(pilot, "judgement")
        [sc] = events(pilot, "score")
        assert j.trial_id == sc.trial_id == trial.id and j.outcome == "not_yet" and sc.actor == "therapist"
        fig = goal_figures(calls(pilot))["speech_communication"]
        assert (fig.trials, fig.successes, fig.by_therapist) == (1, 1, 1)  # ... and the trial counts once
        assert act.machine.last.outcome == "success"  # the client's screen shows the therapist's result
        assert_outcomes_only_on_trials(pilot)


def test_a_score_lands_on_the_unanswered_call_and_undo_restores_the_judgement(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4)
        model_call(pilot, mic, act)
        pilot.wait(6000)  # nobody answers
        [trial] = calls(pilot)
        assert trial.outcome == "no_response" and attempt(pilot, trial).data["latency_ms"] is None
        assert attempt(pilot, trial).actor == "system"  # nothing was heard: not a client event
        pilot.press("f1")  # the therapist's scoring key: success (the client signed)
        [trial] = calls(pilot)
        assert trial.outcome == "success" and trial.scored_by == "therapist"
        pilot.app.actions.undo()  # the rail's Undo
        [trial] = calls(pilot)
        assert (trial.outcome, trial.scored_by) == ("no_response", "activity")
        assert len(events(pilot, "correction")) == 1 and len(events(pilot, "score")) == 1


def test_a_score_while_the_window_is_open_ends_it(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4)
        model_call(pilot, mic, act)
        mic.silence(pilot, 300)
        assert act.machine.phase == "response"
        pilot.score("+V")  # the client signed "ah" with a verbal prompt: the therapist need not wait
        assert act.machine.phase == "feedback" and act.machine.last.outcome == "success"
        [trial] = calls(pilot)
        assert (trial.outcome, trial.prompt, trial.scored_by) == ("success", "verbal", "therapist")
        assert trial.closed_ms is not None and trial.judgement[0] == "no_response"  # the app heard nothing
        mic.silence(pilot, 2000)  # feedback, then the next call comes by itself
        assert len(calls(pilot)) == 2 and calls(pilot)[1].closed_ms is None


def test_live_call_ends_where_the_therapist_stops_and_sets_the_pitch(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, call_source="live", ladder_level=5)
        call(pilot)
        assert act.machine.phase == "calling"
        mic.silence(pilot, 300)
        therapist = sung("ah", 220.0, 1.0, seed=7, formants=(760, 1180, 2700))
        t_call = mic.sing(pilot, therapist)
        call_end = t_call + len(therapist) * 1e9 / RATE
        mic.silence(pilot, 700)
        assert act.machine.phase == "response"
        c = act.machine.call
        assert abs(c.end_ns - call_end) < 40 * MS and abs(c.f0 - 220) < 3
        t_sing = mic.sing(pilot, sung("ah", 440.0, seed=8))  # an octave up: on pitch, folded
        mic.silence(pilot, 700)
        [trial] = calls(pilot)
        d = attempt(pilot, trial).data
        assert trial.data["source"] == "live" and d["call"]["source"] == "live" and abs(d["target_f0"] - 220) < 3
        assert abs(d["latency_ms"] - (t_sing - c.end_ns) / MS) < 30
        assert abs(d["cents_off"]) < 20 and d["ladder_level"] == 5 and trial.outcome == "success"


def test_a_live_call_never_heard_ends_its_trial_unjudged(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, call_source="live", live_call_timeout_ms=2000)
        call(pilot)
        mic.silence(pilot, 2500)
        assert act.machine.phase == "idle" and any("No call heard" in n for n in pilot.app.notices)
        [trial] = calls(pilot)
        assert trial.close_reason == "no_call" and not trial.is_scored


def test_any_sound_counts_on_the_first_rung(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=1)
        model_call(pilot, mic, act)
        mic.silence(pilot, 400)
        breath = (np.random.default_rng(5).standard_normal(int(0.4 * RATE)) * 0.03).astype(np.float32)
        mic.sing(pilot, breath)  # a breathy, unvoiced sound
        mic.silence(pilot, 700)
        [trial] = calls(pilot)
        d = attempt(pilot, trial).data
        assert d["ladder_level"] == 1 and d["detected_vowel"] is None
        assert trial.outcome == "success" and 350 < d["duration_ms"] < 600


def test_without_a_microphone_the_therapist_scores_and_unscored_calls_stay_not_scored(tmp_path, clock):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, mic_factory=None) as pilot:
        act = start(pilot)
        assert act.mic is None
        assert any("No microphone" in n for n in pilot.app.notices)
        call(pilot)
        pilot.wait(1300 + 5000 + 100)
        [trial] = calls(pilot)  # nothing judged automatically: the window ran out
        assert (trial.close_reason, trial.is_scored, trial.judgement) == ("timeout", False, None)
        ART.mkdir(exist_ok=True)
        pilot.screenshot(ART / "vowel_nomic.png")
        pilot.score("+I")  # the therapist heard it: one touch, on the call that just closed
        [trial] = calls(pilot)
        assert (trial.outcome, trial.scored_by) == ("success", "therapist")
        att = attempt(pilot, trial)
        assert att.data["judged_by"] == "therapist" and att.data["detected_vowel"] is None
        assert att.data["ladder_level"] is None and att.outcome is None
        pilot.wait(1500)  # auto-next: the next model call, then an unscored window
        pilot.wait(1300 + 5000 + 100)
        pilot.tap("rail:primary")  # the therapist moves on without scoring: kept, not scored
        first, second, third = calls(pilot)
        assert (second.close_reason, second.is_scored) == ("timeout", False) and third.closed_ms is None
        assert goal_figures(calls(pilot))["speech_communication"].not_scored == 2  # the open one too
        assert sum(c["name"].startswith("vowel:ah") for c in audio.calls) == 3
        assert_outcomes_only_on_trials(pilot)


def _client_area_grid(pilot, cols=9, rows=6):
    r = pilot.app.host_rect()
    return [(r.x + (i + 0.5) * r.width / cols, r.y + (j + 0.5) * r.height / rows)
            for j in range(rows) for i in range(cols)]


SETTINGS_AND_SCORES = ("judgement", "score", "correction", "target_change", "call_source", "ladder_change",
                       "calibration_start", "functional_communication", "goals_targeted", "trial_goals",
                       "model_recorded", "prompt")


@pytest.mark.parametrize("mic_on", [False, True])
def test_a_childs_taps_anywhere_on_the_screen_never_score_or_change_a_setting(tmp_path, clock, mic, mic_on):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(),
                  mic_factory=mic.factory if mic_on else None) as pilot:
        act = start(pilot, ladder_level=4)
        m = act.machine
        before = (m.target_vowel, m.pitch, m.source, m.ladder_level)
        grid = _client_area_grid(pilot)
        assert pilot.app.host_rect().height > 600  # the whole client area (the rail is not shown)
        for pos in grid:  # idle: no tap starts a call
            pilot.tap(pos)
            pilot.wait(300)
        assert m.phase == "idle" and calls(pilot) == []
        pilot.press("f6")  # the therapist's Call (the scoring keys' "primary")
        if mic_on:
            mic.catch_up()
        pilot.wait(1300)
        assert m.phase == "response"
        for pos in grid[::2]:  # during the answer window: no tap scores or ends it
            pilot.tap(pos)
            pilot.step(2)
        if mic_on:
            mic.catch_up()
        assert m.phase == "response" and m.last is None
        assert (m.target_vowel, m.pitch, m.source, m.ladder_level) == before
        kinds = {e.kind for e in events(pilot)}
        assert not kinds & set(SETTINGS_AND_SCORES), kinds & set(SETTINGS_AND_SCORES)
        [trial] = calls(pilot)
        assert trial.closed_ms is None and trial.responses == [] and not trial.is_scored
        assert pilot.app.activity.find_target("btn:yes") is None and pilot.app.activity.find_target("btn:call") is None


def test_call_and_settings_are_on_the_therapist_side(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, pitch_choices=[60, 64], model_pitch=60)
        pilot.unlock()
        assert pilot.app.find_button("rail:primary").label == "Call"
        pilot.tap("rail:more")
        pilot.screenshot(ART / "vowel_panel_1280x800.png")
        ids = [b.id for b in pilot.app.overlay.buttons if b.id.startswith("act:")]
        assert ids == ["act:vowel", "act:pitch", "act:source", "act:ladder", "act:calibrate", "act:keep",
                       "act:fc_both", "act:fc_voice", "act:fc_sign"]
        for b in pilot.app.overlay.buttons:
            assert pilot.app.surface.get_rect().contains(b.rect)
        # every label whole ("Keep answer as calibration" was cut to "Keep answer as ca…"), in
        # both languages; the French labels are the longer ones
        theme = pilot.app.theme
        assert [b.id for b in pilot.app.overlay.buttons if not b.shows_whole(theme)] == []
        pilot.tap("language")
        assert pilot.app.find_button("act:keep").label != "Keep answer as calibration"
        pilot.screenshot(ART / "vowel_panel_fr_1280x800.png")
        assert [b.id for b in pilot.app.overlay.buttons if not b.shows_whole(theme)] == []
        pilot.tap("language")
        pilot.tap("act:vowel")
        pilot.tap("act:pitch")
        pilot.tap("act:ladder")
        assert (act.machine.target_vowel, act.machine.pitch, act.machine.ladder_level) == ("ee", 64, 5)
        assert pilot.app.find_button("act:vowel").label == "Vowel: ee"
        assert [e.data for e in events(pilot, "target_change")] == \
            [{"target_vowel": "ee"}, {"model_pitch": 64, "hz": 329.63}]
        assert events(pilot, "ladder_change")[0].actor == "therapist"
        pilot.tap("act:source")
        assert act.machine.source == "recorded" and pilot.app.find_button("act:record") is not None
        pilot.tap("close")
        pilot.step(6)
        assert pilot.app.find_button("rail:primary").label == "Record model"


def test_functional_communication_presses_are_trials_of_their_own(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot)
        call(pilot)  # a vowel call is open while the therapist enters what the client signed
        pilot.tap("rail:more")
        pilot.tap("act:fc_both")
        pilot.tap("act:fc_sign")
        pilot.tap("close")
        fc = [t for t in read_trials(events(pilot)) if t.opportunity == "functional_communication"]
        assert [(t.outcome, t.scored_by, t.data["mode"]) for t in fc] == \
            [("success", "activity", "sign_and_voice"), ("partial", "activity", "sign_only")]
        for t in fc:
            assert t.goals == ("functional_communication",) and t.data["entered_by"] == "therapist"
            assert [r["kind"] for r in t.responses] == ["functional_communication"] and t.closed_ms is not None
            assert t.judgement_data["rule"] == "fc_outcomes"
        [vowel_call] = calls(pilot)
        assert vowel_call.closed_ms is None and fc[0].data["call_trial"] == vowel_call.id  # left alone
        assert pilot.app.live.score_target().trial.id == vowel_call.id  # the rail still scores the call
        fig = goal_figures(read_trials(events(pilot)))["functional_communication"]
        assert (fig.trials, fig.successes) == (2, 1)
        assert_outcomes_only_on_trials(pilot)


def test_calibration_collects_tokens_and_logs_them_for_the_profile(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, calibration_tokens=1, model_duration_ms=600)
        [(_, _, calibrate)] = [a for a in act.therapist_actions() if a[0] == "calibrate"]
        calibrate()
        for i, v in enumerate(("ah", "ee", "oo", "oh", "eh")):
            mic.silence(pilot, 450)  # between_ms, then the model
            call = act.machine.call
            assert call is not None and call.vowel == v
            mic.silence(pilot, (call.end_ns - clock.now_ns()) / MS + 300)
            mic.sing(pilot, sung(v, 280.0, 0.6, seed=20 + i))
            mic.silence(pilot, 1200)
        [cal_ev] = events(pilot, "calibration")
        cal = Calibration.from_dict(cal_ev.data)
        assert cal.counts() == {v: 1 for v in ("ah", "ee", "oo", "oh", "eh")} and cal_ev.data["complete"]
        assert cal_ev.data["profile_key"] == "vowel_calibration"
        assert len(events(pilot, "calibration_token")) == 5 and events(pilot, "vowel_attempt") == []
        assert read_trials(events(pilot)) == []  # calibration calls collect tokens: they are not trials
        assert act.calibration is not None and act.calibration.counts() == cal.counts()
        assert act.machine.cal is None and act.analyzer._classifier.calibration is act.calibration


def test_a_stored_calibration_is_used(tmp_path, clock, mic):
    cal = Calibration()
    for v, (f1, f2, f3) in CHILD.items():
        cal.add(v, 280.0, f1, f2, f3)
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, calibration=cal.to_dict())
        assert act.calibration is not None and len(act.calibration.tokens) == 5
        assert act.analyzer._classifier.calibration is act.calibration
        assert events(pilot, "vowel_setup")[0].data["calibrated"] is True


class LoadingAudio(RecordingAudio):
    rate = 48000

    def __init__(self) -> None:
        super().__init__()
        self.loaded: dict[str, np.ndarray] = {}

    def load(self, name, samples, **kw) -> None:
        self.loaded[name] = np.asarray(samples)


def test_recorded_model_is_kept_and_played_as_the_call(tmp_path, clock, mic):
    audio = LoadingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, mic_factory=mic.factory) as pilot:
        act = start(pilot, call_source="recorded")
        pilot.unlock()
        assert pilot.app.find_button("rail:primary").label == "Record model"
        pilot.tap("rail:primary")  # no recording yet: Call records the model first
        assert act.machine.phase == "recording" and calls(pilot) == []  # recording is not a trial
        mic.silence(pilot, 200)
        therapist = sung("ah", 262.0, 0.9, seed=9)
        mic.sing(pilot, therapist)
        mic.silence(pilot, 300)
        [rec] = events(pilot, "model_recorded")
        assert rec.data["vowel"] == "ah" and abs(rec.data["f0"] - 262) < 3
        clip = audio.loaded["vowel_match:recorded:ah"]
        assert abs(len(clip) / RATE - 0.9) < 0.12 and np.max(np.abs(clip)) > 0.05
        pilot.step(6)
        assert pilot.app.find_button("rail:primary").label == "Call"
        pilot.tap("rail:primary")
        assert audio.calls[-1]["name"] == "vowel_match:recorded:ah"
        c = act.machine.call
        assert c.source == "recorded" and c.end_ns == audio.calls[-1]["at_ns"] + int(len(clip) / RATE * 1e9)
        [trial] = calls(pilot)
        assert trial.data["source"] == "recorded" and c.trial_id == trial.id


def test_low_stimulation_plays_no_reward(tmp_path, clock, mic):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, mic_factory=mic.factory) as pilot:
        act = start(pilot, low=True)
        assert act._low()
        model_call(pilot, mic, act)
        mic.silence(pilot, 300)
        mic.sing(pilot, sung("ah", 330.0))
        mic.silence(pilot, 700)
        assert calls(pilot)[0].outcome == "success"
        assert "chimes:84" not in audio.names()


def _espeak(tmp: Path, voice: str, phoneme: str) -> np.ndarray:
    raw = tmp / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-p", "60", "-s", "70", "-w", str(raw), f"[[{phoneme}]]"],
                   check=True, capture_output=True)
    x, r = read_wav(raw)
    return resample(x, r, RATE).astype(np.float32)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_voice_answer(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, target_vowel="ee", ladder_level=4)
        model_call(pilot, mic, act)
        mic.silence(pilot, 400)
        mic.sing(pilot, _espeak(tmp_path, "en-us+f2", "i:"))
        mic.silence(pilot, 800)
        [trial] = calls(pilot)
        d = attempt(pilot, trial).data
        assert d["detected_vowel"] == "ee" and d["ladder_level"] >= 4, d
        assert trial.outcome == "success"


def test_screenshots(tmp_path, clock, mic):
    """Listening (mid-answer), matched and no-mic at 1280x800 with the rail shown; then the child's
    whole screen with the rail locked: no control anywhere on it."""
    ART.mkdir(exist_ok=True)
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, target_vowel="ee", model_pitch=64)
        model_call(pilot, mic, act)
        mic.silence(pilot, 300)
        mic.sing(pilot, sung("ee", 330.0, 0.6, seed=2)[: int(0.45 * RATE)])
        pilot.screenshot(ART / "vowel_listening.png")
        assert act.machine.phase == "attempt"
        mic.sing(pilot, sung("ee", 330.0, 0.6, seed=2)[int(0.45 * RATE):])
        mic.silence(pilot, 600)
        pilot.screenshot(ART / "vowel_matched.png")
        pilot.tap("rail:lock")
        pilot.step()
        pilot.screenshot(ART / "vowel_client_only.png")
    with run_test(data_dir=tmp_path / "nomic", clock=FakeClock(), audio=RecordingAudio()) as pilot:
        start(pilot, target_vowel="oh")
        call(pilot)
        pilot.wait(1500)
        pilot.screenshot(ART / "vowel_nomic.png")
    for name in ("vowel_listening", "vowel_matched", "vowel_nomic", "vowel_client_only"):
        assert (ART / f"{name}.png").stat().st_size > 10_000


def _unsure(act) -> None:
    """Make the live analyzer say "not sure" of every vowel (as it does on a weak, ambiguous answer)."""
    import dataclasses

    feed = act.analyzer.feed
    act.analyzer.feed = lambda x, t0: [dataclasses.replace(e, abstained=True) for e in feed(x, t0)]


def test_not_sure_is_never_shown_as_a_vowel_and_the_therapist_judges(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, feedback_ms=800)
        _unsure(act)
        model_call(pilot, mic, act)
        mic.silence(pilot, 500)
        mic.sing(pilot, sung("oo", 300.0, seed=4))
        assert act.live.get("abstained") is True
        from prelude_play.activities.vowel_match.view import _shown_vowel, banner_text

        assert _shown_vowel(act, clock.now_ns())[0] == "ah"  # the mouth shows the target, never a guess
        mic.silence(pilot, 700)
        assert act.segments and act.trace  # the pitch plot draws the answer, but names no vowel
        assert {v for *_, v in act.segments} == {""} and {v for *_, v in act.trace} == {""}
        [trial] = calls(pilot)
        assert trial.judgement is None and trial.close_reason == "not_sure" and not trial.is_scored
        att = attempt(pilot, trial)
        assert att.data["not_sure"] is True and att.data["detected_vowel"] is None
        title, sub, _ = banner_text(act, clock.now_ns(), lambda s: s)
        assert title == "I'm not sure" and "heard" not in sub  # honest, and no vowel named to the child
        assert any("Not sure which vowel" in n for n in pilot.app.notices)
        assert pilot.app.live.score_target().trial.id == trial.id  # the rail's next score lands on it
        pilot.score("+I")
        [trial] = calls(pilot)
        assert (trial.outcome, trial.scored_by) == ("success", "therapist")


def test_the_analyzer_is_told_the_called_vowel_while_an_answer_is_awaited_and_only_then(tmp_path, clock, mic):
    """``VoiceAnalyzer.expect``: the called vowel during the response window (so the answer
    names it sooner and another vowel only when sure: test_vowel_calibration), nothing during
    the call itself, the feedback or a calibration (whose tokens are not answers)."""
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, feedback_ms=800, target_vowel="oo")
        told: list[str | None] = []
        expect = act.analyzer.expect
        act.analyzer.expect = lambda v, near=(): (told.append(v), expect(v, near))[1]
        call(pilot)
        mic.silence(pilot, 300)
        assert act.machine.phase == "calling" and told == [] and act.analyzer._expect[0] is None
        mic.silence(pilot, (act.machine.call.end_ns - clock.now_ns()) / MS + 20)
        assert act.machine.phase == "response" and told == ["oo"] and act.analyzer._expect[0] == "oo"
        mic.silence(pilot, 500)
        mic.sing(pilot, sung("oo", 300.0, seed=8))
        mic.silence(pilot, 700)
        assert act.machine.phase != "response" and told == ["oo", None]
        [trial] = calls(pilot)
        assert attempt(pilot, trial).data["segments"]  # the answer was heard while "oo" was expected
        mic.silence(pilot, 2500)  # the feedback ends
        pilot.panel()
        pilot.tap("act:calibrate")
        pilot.tap("close")
        for _ in range(40):  # the calibration's first call, then its answer window
            mic.silence(pilot, 100)
            if act.machine.phase == "response":
                break
        assert act.machine.cal is not None and act.machine.phase == "response"
        assert told[-1] is None and act.analyzer._expect[0] is None  # a calibration token is not an answer


def test_a_client_whose_rung_accepts_an_approximation_has_the_neighbours_named_at_the_usual_bar(
        tmp_path, clock, mic):
    """At rung 3 ("vowel approximation") a neighbour of the called vowel is a success: the
    analyzer is told it counts (named from 0.8, as before the answer rule), not held to the
    0.99 that another vowel needs; at rung 4 the neighbour is another vowel."""
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=3, feedback_ms=800, target_vowel="oo")
        model_call(pilot, mic, act)
        assert act.analyzer._expect == ("oo", frozenset({"oh"}))
        assert act.analyzer._classifier.bar("oh", "oo", near=frozenset({"oh"})) == 0.8
        assert act.analyzer._classifier.bar("eh", "oo", near=frozenset({"oh"})) == 0.99
        mic.silence(pilot, 3000)
        act.machine.ladder_level = 4
        model_call(pilot, mic, act)
        assert act.analyzer._expect == ("oo", frozenset())


def test_a_calibration_is_kept_in_the_profile_and_used_by_the_next_session(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, feedback_ms=800)
        model_call(pilot, mic, act)
        mic.silence(pilot, 500)
        mic.sing(pilot, sung("ah", 300.0, seed=7))
        mic.silence(pilot, 700)
        pilot.panel()
        pilot.tap("act:keep")  # one tap: that good answer is the client's own "ah"
        kept = pilot.app.store.client_profile("ari")["vowel_calibration"]
        assert Calibration.from_dict(kept).counts()["ah"] == 1
        assert act.analyzer._classifier.calibration is act.calibration  # used at once
        [ev] = events(pilot, "calibration")
        assert ev.data["how"] == "kept_answer" and ev.data["vowel"] == "ah"
        pilot.tap("home")
        pilot.app.start_activity("vowel_match")  # a later activity (or session) starts calibrated
        again = pilot.app.activity
        assert again.calibration is not None and again.calibration.counts()["ah"] == 1
        assert again.analyzer._classifier.calibration is again.calibration


def test_a_calibration_only_logged_by_an_older_version_is_used(tmp_path, clock, mic):
    cal = Calibration()
    for v, (f1, f2, f3) in CHILD.items():
        cal.add(v, 280.0, f1, f2, f3)
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        app = pilot.app
        app.store.ensure_client("ari")
        from prelude_play.events import LogEvent

        old = app.store.start_session("ari", {})
        app.store.log(old, LogEvent("calibration", actor="therapist", data=cal.to_dict()))
        app.store.end_session(old)
        act = start(pilot)
        assert act.calibration is not None and len(act.calibration.tokens) == 5
        assert "calibrated" in act.status_text() and "/5" not in act.status_text()  # every vowel heard


def test_a_calibration_from_the_recorded_vowels_in_under_a_minute(tmp_path, clock, mic):
    audio = LoadingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, mic_factory=mic.factory) as pilot:
        act = start(pilot, call_source="recorded")
        t0 = clock.now_ns()
        for i, v in enumerate(("ah", "ee", "oo", "oh", "eh")):
            act.set_vowel(v)
            act.record_action()  # the therapist holds the tablet to the client's best "ah", "ee", ...
            mic.silence(pilot, 200)
            mic.sing(pilot, sung(v, 290.0, 0.8, seed=30 + i))
            mic.silence(pilot, 400)
        assert sorted(act.recorded_clips) == sorted(("ah", "ee", "oo", "oh", "eh"))
        pilot.panel()
        pilot.tap("act:cal_recordings")
        assert (clock.now_ns() - t0) / 1e9 < 60
        cal = Calibration.from_dict(pilot.app.store.client_profile("ari")["vowel_calibration"])
        assert sum(cal.counts().values()) >= 4 and act.calibration is not None
        [ev] = events(pilot, "calibration")
        assert ev.data["how"] == "recordings"


def test_the_clients_answers_and_only_they_adapt_the_analyzer_to_the_voice(tmp_path, clock, mic):
    """Without a calibration the analyzer adapts through the session, from the answers in the
    response window (the client's voice), never from a live call (the therapist's)."""
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, call_source="live")
        learned = []
        real = act.analyzer.learn_speaker
        act.analyzer.learn_speaker = lambda *a: (learned.append(a), real(*a))
        call(pilot)  # a live call: the therapist sings it
        mic.silence(pilot, 100)
        mic.sing(pilot, sung("ah", 220.0, seed=5))
        mic.silence(pilot, 900)
        assert act.machine.phase in ("response", "attempt") and learned == []  # the call taught nothing
        mic.sing(pilot, sung("ah", 300.0, seed=6))
        mic.silence(pilot, 700)
        assert len(learned) == 1 and abs(learned[0][0] - 300) < 5 and len(learned[0][4]) > 0
        mic.silence(pilot, 100)  # the worker takes the answer in with its next block
        assert act.analyzer.session_tokens == 1


def _answer_not_sure(pilot, mic, act, vowel: str = "oo", f0: float = 300.0, seed: int = 4):
    """One call, an answer the analyzer is not sure of; returns its trial."""
    model_call(pilot, mic, act)
    mic.silence(pilot, 500)
    mic.sing(pilot, sung(vowel, f0, seed=seed))
    mic.silence(pilot, 700)
    trial = calls(pilot)[-1]
    assert trial.close_reason == "not_sure" and not trial.is_scored
    return trial


def test_the_therapists_success_score_teaches_the_analyzer_the_clients_vowel_and_undo_takes_it_back(
        tmp_path, clock, mic):
    """The score the therapist gives a "not sure" answer anyway makes that answer the client's own
    token of the called vowel: used at once, kept for the next session, taken back by Undo."""
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, target_vowel="oo", feedback_ms=800)
        _unsure(act)
        assert act.calibration is None
        trial = _answer_not_sure(pilot, mic, act)
        pilot.score("+I")
        cal = Calibration.from_dict(pilot.app.store.client_profile("ari")["vowel_calibration"])
        assert cal.counts() == {"ah": 0, "ee": 0, "oo": 1, "oh": 0, "eh": 0}
        [tok] = cal.tokens
        assert abs(tok.f0 - 300) < 5 and len(tok.envelope) > 0  # the answer's own voice
        assert act.analyzer._classifier.calibration is act.calibration  # used from the next answer on
        assert not act.analyzer._classifier.calibration.complete  # one vowel heard of five
        [ev] = events(pilot, "calibration_learnt")
        assert ev.data["vowel"] == "oo" and ev.data["trial"] == trial.id and ev.data["abstained"] is True
        assert Calibration.from_dict(ev.data).tokens == cal.tokens  # the log has the whole calibration
        assert ev.trial_id is None and calls(pilot)[-1].responses[-1]["kind"] == "vowel_attempt"  # not a response
        assert "calibrated 1/5" in act.status_text()
        assert sum("Learning from your scores" in n for n in pilot.app.notices) == 1  # told once
        pilot.app.actions.undo()  # the score was a slip: the token goes with it
        assert Calibration.from_dict(pilot.app.store.client_profile("ari")["vowel_calibration"]).tokens == []
        assert act.calibration is None and act.analyzer._classifier.calibration is None
        [un] = events(pilot, "calibration_unlearnt")
        assert un.data["vowel"] == "oo" and un.data["tokens"] == []


def test_a_score_edited_after_leaving_and_coming_back_still_takes_the_learnt_token_back(tmp_path, clock, mic):
    """Undo and the rail's edits act on the running activity's trials, but a score of an earlier
    visit can still be corrected through the session (``live.score(trial_id=...)``): the token
    that score taught goes with it, though the activity that learnt it has been left and
    started again (the profile keeps which tokens scores taught)."""
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, target_vowel="oo", feedback_ms=800)
        _unsure(act)
        _answer_not_sure(pilot, mic, act, f0=260.0, seed=41)
        pilot.score("+I")  # kept: taught an "oo"
        slip = _answer_not_sure(pilot, mic, act, f0=340.0, seed=42)
        pilot.score("+I")  # the slip, taught a second "oo"
        assert [round(t.f0 / 20) for t in act.calibration.tokens] == [13, 17]
        kept = pilot.app.store.client_profile("ari")["vowel_calibration"]
        assert [i for _, i in kept["learnt"]] == [0, 1]
        pilot.app.go_home()
        pilot.app.start_activity("vowel_match")
        again = pilot.app.activity
        assert again is not act and len(again.calibration.tokens) == 2
        assert pilot.app.actions.undo() is None  # a new visit: nothing of its own to undo
        pilot.app.live.score("±", trial_id=slip.id)  # "that was not an oo after all"
        left = Calibration.from_dict(pilot.app.store.client_profile("ari")["vowel_calibration"])
        assert [round(t.f0 / 20) for t in left.tokens] == [13]  # the slip's token went, the other stayed
        assert [round(t.f0 / 20) for t in again.calibration.tokens] == [13]
        assert again.analyzer._classifier.calibration is again.calibration
        [un] = events(pilot, "calibration_unlearnt")
        assert un.data["vowel"] == "oo" and un.data["trial"] == slip.id and len(un.data["tokens"]) == 1
        assert [i for _, i in pilot.app.store.client_profile("ari")["vowel_calibration"]["learnt"]] == [0]


def test_a_calibration_made_since_is_not_touched_when_a_score_that_taught_is_taken_back(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, target_vowel="oo", feedback_ms=800)
        _unsure(act)
        _answer_not_sure(pilot, mic, act, f0=260.0, seed=43)
        pilot.score("+I")
        fresh = Calibration()
        fresh.add("ah", 300.0, 1000.0, 1500.0, 3000.0)
        act._apply_calibration(fresh, "guided")  # the therapist calibrated again: a new set
        pilot.app.actions.undo()
        assert act.calibration.tokens == fresh.tokens and events(pilot, "calibration_unlearnt") == []
        assert Calibration.from_dict(pilot.app.store.client_profile("ari")["vowel_calibration"]).tokens == fresh.tokens


def _advice(pilot) -> list[str]:
    return [n for n in pilot.app.notices if "of the last 6 answers" in n]


def test_the_therapist_is_told_once_when_calibrating_would_help(tmp_path, clock, mic):
    """Not sure of half the last six answers: the panel says Calibrate helps (the "not sure"
    notices alone say to score, not what would stop them), once a visit; with a complete
    calibration it says to calibrate again in this room."""
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, feedback_ms=800, learn_from_scores=False)
        _unsure(act)
        for i in range(5):
            _answer_not_sure(pilot, mic, act, seed=51 + i)
        assert _advice(pilot) == []  # five answers say too little
        _answer_not_sure(pilot, mic, act, seed=56)
        assert _advice(pilot) == ["Not sure of 6 of the last 6 answers: Calibrate (about a minute) helps"]
        for i in range(3):
            _answer_not_sure(pilot, mic, act, seed=57 + i)
        assert len(_advice(pilot)) == 1  # not at every answer
    full = Calibration()
    for v, (f1, f2, f3) in CHILD.items():
        full.add(v, 300.0, f1, f2, f3)
    with run_test(data_dir=tmp_path / "b", clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, feedback_ms=800, learn_from_scores=False, calibration=full.to_dict())
        _unsure(act)
        for i in range(6):
            _answer_not_sure(pilot, mic, act, seed=61 + i)
        assert _advice(pilot) == ["Not sure of 6 of the last 6 answers: calibrating again here may help"]


def test_the_advice_comes_at_three_not_sure_of_the_last_six(tmp_path, clock, mic):
    import dataclasses

    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, feedback_ms=800, target_vowel="ee", learn_from_scores=False)
        unsure = [False]
        feed = act.analyzer.feed
        act.analyzer.feed = lambda x, t0: [dataclasses.replace(e, abstained=True) if unsure[0] else e
                                           for e in feed(x, t0)]
        for i, doubt in enumerate([False, False, False, False, True, True, True]):
            unsure[0] = doubt
            model_call(pilot, mic, act)
            mic.silence(pilot, 500)
            mic.sing(pilot, sung("ee", 300.0, seed=81 + i))
            mic.silence(pilot, 700)
            assert _advice(pilot) == ([] if i < 6 else ["Not sure of 3 of the last 6 answers: Calibrate (about a minute) helps"]), i
            mic.silence(pilot, 1500)


def test_answers_the_analyzer_is_sure_of_bring_no_advice(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, feedback_ms=800, target_vowel="ee")
        for i in range(8):
            model_call(pilot, mic, act)
            mic.silence(pilot, 500)
            mic.sing(pilot, sung("ee", 300.0, seed=71 + i))
            mic.silence(pilot, 700)
        seen = [t.close_reason for t in calls(pilot)]
        assert len(seen) == 8 and "not_sure" not in seen, seen
        assert _advice(pilot) == []


def test_only_a_success_on_the_vowel_rungs_without_a_sung_model_teaches(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, feedback_ms=800)
        _unsure(act)
        _answer_not_sure(pilot, mic, act, seed=11)
        pilot.score("+M")  # success at the "model" prompt: the therapist may have sung along
        _answer_not_sure(pilot, mic, act, seed=12)
        pilot.score("±")  # partial: not the target vowel
        assert act.calibration is None and events(pilot, "calibration_learnt") == []
        act.machine.ladder_level = 3  # rung 3, "vowel approximation": a success names no vowel
        _answer_not_sure(pilot, mic, act, seed=13)
        pilot.score("+I")
        assert act.calibration is None and events(pilot, "calibration_learnt") == []
        act.machine.ladder_level = 4
        _answer_not_sure(pilot, mic, act, seed=14)
        pilot.score("+G")  # a gestural prompt: the voice is the client's alone
        assert act.calibration is not None and act.calibration.counts()["ah"] == 1


def test_learning_from_scores_can_be_turned_off_and_fills_a_vowel_up_to_its_count(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, feedback_ms=800, learn_from_scores=False)
        _unsure(act)
        _answer_not_sure(pilot, mic, act, seed=21)
        pilot.score("+I")
        assert act.calibration is None and "vowel_calibration" not in pilot.app.store.client_profile("ari")
    with run_test(data_dir=tmp_path / "b", clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4, feedback_ms=800, learn_up_to=2)
        _unsure(act)
        f0s = (260.0, 300.0, 340.0)
        for i, f0 in enumerate(f0s):
            _answer_not_sure(pilot, mic, act, f0=f0, seed=31 + i)
            pilot.score("+I")
        got = sorted(t.f0 for t in act.calibration.tokens)
        assert len(got) == 2 and abs(got[0] - 260) < 5 and abs(got[1] - 300) < 5  # none replaced
        assert len(events(pilot, "calibration_learnt")) == 2
        assert sum("Learning from your scores" in n for n in pilot.app.notices) == 1  # not at every score


def test_a_misspelt_learning_prompt_is_refused_with_the_prompts_that_exist(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        app = pilot.app
        app.store.ensure_client("ari")
        app.store.set_client_profile("ari", {"activities": {"vowel_match": {"learn_prompts": ["independant"]}}})
        app.select_client("ari")
        app.start_activity("vowel_match")
        assert app.activity_name != "vowel_match"
        msg = " ".join(app.notices)
        assert "learn_prompts" in msg and "'independant'" in msg and "independent, gestural" in msg
