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
from prelude_play.audio.capture import open_capture
from prelude_play.clock import FakeClock
from prelude_play.shell.pilot import run_test
from prelude_play.store.summary import apply_corrections
from tests.fakes import RecordingAudio

ART = Path(__file__).resolve().parents[1] / "_artifacts"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MS = 1_000_000
RATE = 48000
# Children's formants (Peterson & Barney 1952 means, Hz), used only to make test voices.
CHILD = {"ah": (1030, 1370, 3170), "ee": (370, 3200, 3730), "oo": (430, 1170, 3260),
         "oh": (600, 1100, 3050), "eh": (690, 2610, 3570)}


def sung(vowel: str, f0: float, dur: float = 0.8, seed: int = 3, formants=None) -> np.ndarray:
    """A sung vowel made at 16 kHz (speech band) and played into a 48 kHz mic."""
    x = synth.vowel(formants or CHILD[vowel], f0, 16000, dur, rng=np.random.default_rng(seed))
    return resample(x, 16000, RATE).astype(np.float32)


class Mic:
    """The offline capture, kept in step with the fake clock: audio time = session time."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.cap = None

    def factory(self):
        self.cap = open_capture("offline", rate=RATE, clock=self.clock)
        return self.cap

    def catch_up(self) -> None:
        cap = self.cap
        need = int((self.clock.now_ns() - cap.frame_to_ns(0)) * RATE / 1e9) - cap.frames_captured
        if need > 0:
            cap.feed(np.zeros(need, np.float32))

    def sing(self, pilot, x: np.ndarray) -> int:
        """Feed ``x`` starting now, 20 ms at a time, running frames as its time passes."""
        self.catch_up()
        start = self.cap.frame_to_ns(self.cap.frames_captured)
        blk = RATE // 50
        for i in range(0, len(x), blk):
            self.cap.feed(x[i:i + blk])
            pilot.clock.set(start + int((i + blk) * 1e9 / RATE))
            pilot.app.step()
        return start

    def silence(self, pilot, ms: float) -> None:
        self.sing(pilot, np.zeros(int(ms * RATE / 1000), np.float32))


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


def model_call(pilot, mic: Mic, act) -> int:
    """Tap Call and let the model play out; returns the call's end on the clock."""
    pilot.tap("btn:call")
    call = act.machine.call
    assert call is not None and call.source == "model"
    mic.silence(pilot, (call.end_ns - pilot.clock.now_ns()) / MS + 20)
    assert act.machine.phase == "response"
    return call.end_ns


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
        [att] = events(pilot, "vowel_attempt")
        d = att.data
        assert att.outcome == "success" and d["ladder_level"] == 5 and d["ladder_rung"] == "target_vowel_on_pitch"
        assert abs(d["latency_ms"] - (t_sing - end) / MS) < 30  # the audio's time, not a frame's
        assert abs(d["duration_ms"] - 800) < 80
        assert d["target_vowel"] == "ah" and d["detected_vowel"] == "ah" and d["confidence"] >= 0.45
        assert abs(d["f0"] - 330) < 3 and abs(d["cents_off"]) < 15 and abs(d["target_f0"] - 329.63) < 0.01
        assert 800 < d["f1"] < 1200 and 1100 < d["f2"] < 1600
        assert set(att.goals) >= {"speech_communication", "musical"}  # pitch matters on rung 5
        assert att.prompt == "independent" and d["overridden"] is False and d["judged_by"] == "auto"
        assert "chimes:84" in audio.names()  # a small reward (not in low-stimulation mode)
        ART.mkdir(exist_ok=True)
        pilot.screenshot(ART / "vowel_matched.png")


def test_wrong_vowel_is_not_judged_at_the_target_rung_and_one_tap_overrides(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4)
        model_call(pilot, mic, act)
        mic.silence(pilot, 500)
        mic.sing(pilot, sung("ee", 300.0, seed=4))
        mic.silence(pilot, 700)
        [att] = events(pilot, "vowel_attempt")
        assert att.data["detected_vowel"] == "ee"
        assert att.data["ladder_level"] == 2 and att.outcome == "not_yet"  # voiced, far from "ah"
        assert "musical" not in att.goals  # rung 4: pitch does not matter
        pilot.tap("btn:yes")  # the therapist heard an "ah" attempt: one tap
        [corr] = events(pilot, "correction")
        assert corr.corrects == att.id and corr.outcome == "success" and corr.actor == "therapist"
        assert corr.data["action"] == "override" and corr.data["automatic_outcome"] == "not_yet"
        assert corr.data["automatic"]["detected_vowel"] == "ee" and corr.data["automatic"]["level_reached"] == 2
        counted = {e.id: e for e in apply_corrections(events(pilot))}
        assert counted[att.id].outcome == "success"  # the override is what counts
        [raw] = events(pilot, "vowel_attempt")
        assert raw.outcome == "not_yet"  # and the automatic one is kept


def test_overlay_score_overrides_the_last_attempt_and_undo_restores_it(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=4)
        model_call(pilot, mic, act)
        pilot.wait(6000)  # nobody answers
        [att] = events(pilot, "vowel_attempt")
        assert att.outcome == "no_response" and att.data["latency_ms"] is None
        pilot.press("f1")  # the therapist's scoring key: success (the client signed)
        [corr] = events(pilot, "correction")
        assert corr.corrects == att.id and corr.outcome == "success"
        pilot.app.undo()  # the overlay's "Undo last score"
        counted = {e.id: e for e in apply_corrections(events(pilot))}
        assert counted[att.id].outcome == "no_response"


def test_live_call_ends_where_the_therapist_stops_and_sets_the_pitch(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, call_source="live", ladder_level=5)
        pilot.tap("btn:call")
        assert act.machine.phase == "calling"
        mic.silence(pilot, 300)
        therapist = sung("ah", 220.0, 1.0, seed=7, formants=(760, 1180, 2700))
        t_call = mic.sing(pilot, therapist)
        call_end = t_call + len(therapist) * 1e9 / RATE
        mic.silence(pilot, 700)
        assert act.machine.phase == "response"
        call = act.machine.call
        assert abs(call.end_ns - call_end) < 40 * MS and abs(call.f0 - 220) < 3
        t_sing = mic.sing(pilot, sung("ah", 440.0, seed=8))  # an octave up: on pitch, folded
        mic.silence(pilot, 700)
        [att] = events(pilot, "vowel_attempt")
        d = att.data
        assert d["call"]["source"] == "live" and abs(d["target_f0"] - 220) < 3
        assert abs(d["latency_ms"] - (t_sing - call.end_ns) / MS) < 30
        assert abs(d["cents_off"]) < 20 and d["ladder_level"] == 5 and att.outcome == "success"


def test_any_sound_counts_on_the_first_rung(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, ladder_level=1)
        model_call(pilot, mic, act)
        mic.silence(pilot, 400)
        breath = (np.random.default_rng(5).standard_normal(int(0.4 * RATE)) * 0.03).astype(np.float32)
        mic.sing(pilot, breath)  # a breathy, unvoiced sound
        mic.silence(pilot, 700)
        [att] = events(pilot, "vowel_attempt")
        assert att.data["ladder_level"] == 1 and att.data["detected_vowel"] is None
        assert att.outcome == "success" and 350 < att.data["duration_ms"] < 600


def test_without_a_microphone_the_therapist_scores_and_the_screen_says_so(tmp_path, clock):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, mic_factory=None) as pilot:
        act = start(pilot)
        assert act.mic is None
        assert any("No microphone" in n for n in pilot.app.notices)
        pilot.tap("btn:call")
        pilot.wait(1300 + 5000 + 100)
        assert events(pilot, "vowel_attempt") == []  # nothing judged automatically
        ART.mkdir(exist_ok=True)
        pilot.screenshot(ART / "vowel_nomic.png")
        pilot.tap("btn:yes")
        [att] = events(pilot, "vowel_attempt")
        assert att.outcome == "success" and att.data["judged_by"] == "therapist"
        assert att.data["detected_vowel"] is None and att.data["ladder_level"] is None
        pilot.wait(1500)  # auto-next: the next model call, then an unscored window
        pilot.wait(1300 + 5000 + 100)
        pilot.tap("btn:call")  # the therapist moves on without scoring: kept, marked unscored
        atts = events(pilot, "vowel_attempt")
        assert len(atts) == 2 and atts[1].outcome is None and atts[1].data["scored"] is False
        assert sum(c["name"].startswith("vowel:ah") for c in audio.calls) == 3


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
        pilot.tap("btn:call")  # no recording yet: Call records the model first
        assert act.machine.phase == "recording"
        mic.silence(pilot, 200)
        therapist = sung("ah", 262.0, 0.9, seed=9)
        mic.sing(pilot, therapist)
        mic.silence(pilot, 300)
        [rec] = events(pilot, "model_recorded")
        assert rec.data["vowel"] == "ah" and abs(rec.data["f0"] - 262) < 3
        clip = audio.loaded["vowel_match:recorded:ah"]
        assert abs(len(clip) / RATE - 0.9) < 0.12 and np.max(np.abs(clip)) > 0.05
        pilot.tap("btn:call")
        assert audio.calls[-1]["name"] == "vowel_match:recorded:ah"
        call = act.machine.call
        assert call.source == "recorded" and call.end_ns == audio.calls[-1]["at_ns"] + int(len(clip) / RATE * 1e9)


def test_functional_communication_scoring_from_the_overlay(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        start(pilot)
        pilot.unlock()
        pilot.tap("act:fc_both")
        pilot.tap("act:fc_sign")
        fc = events(pilot, "functional_communication")
        assert [e.data["mode"] for e in fc] == ["sign_and_voice", "sign_only"]
        assert [e.outcome for e in fc] == ["success", "partial"]
        assert all("functional_communication" in e.goals for e in fc)


def test_low_stimulation_plays_no_reward(tmp_path, clock, mic):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, mic_factory=mic.factory) as pilot:
        act = start(pilot, low=True)
        assert act._low()
        model_call(pilot, mic, act)
        mic.silence(pilot, 300)
        mic.sing(pilot, sung("ah", 330.0))
        mic.silence(pilot, 700)
        assert events(pilot, "vowel_attempt")[0].outcome == "success"
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
        [att] = events(pilot, "vowel_attempt")
        assert att.data["detected_vowel"] == "ee" and att.data["ladder_level"] >= 4, att.data
        assert att.outcome == "success"


def test_screenshots(tmp_path, clock, mic):
    """Listening (mid-answer), matched and no-mic at 1280x800, copied to docs/ when reviewed."""
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
    with run_test(data_dir=tmp_path / "nomic", clock=FakeClock(), audio=RecordingAudio()) as pilot:
        start(pilot, target_vowel="oh")
        pilot.tap("btn:call")
        pilot.wait(1500)
        pilot.screenshot(ART / "vowel_nomic.png")
    for name in ("vowel_listening", "vowel_matched", "vowel_nomic"):
        assert (ART / f"{name}.png").stat().st_size > 10_000
