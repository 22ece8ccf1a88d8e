"""A whole vowel-match session with a recorded human voice as the client: KLettres' Spanish
speaker (Debian's klettres-data; never trained or tuned on: bench/voiceset.py's check voices,
though this session, run with a 0.95 bar, is what made the calibrated bar for another vowel 0.99),
clean and shifted to a child's F0 and formants.
The therapist calls each vowel with the model voice, the recording answers through the offline
microphone in step with the fake clock, and the therapist scores every answer the app was not
sure of -- as she would -- which teaches the analyzer (``learn_from_scores``)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from bench import voiceset
from prelude_play.audio.analysis import Calibration, read_wav, resample
from prelude_play.audio.analysis.vowels import VOWELS
from prelude_play.clock import FakeClock
from prelude_play.shell.pilot import run_test
from prelude_play.store.trials import read_trials
from tests.activities.offline_mic import RATE, Mic
from tests.fakes import RecordingAudio

pytestmark = pytest.mark.realstack

VOICE = "kl-es"
MS = 1_000_000


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> list[tuple[voiceset.Token, np.ndarray]]:
    missing = voiceset.missing_tools((VOICE,))
    if missing:
        pytest.skip("the KLettres voice needs: " + ", ".join(missing) + " (apt-get install them; .ci/run lists them)")
    d = tmp_path_factory.mktemp("kl")
    tokens = voiceset.build(d, (VOICE,), conditions=("clean", "child-psola"))
    out = []
    for t in tokens:
        x, rate = read_wav(d / t.path)
        out.append((t, resample(np.asarray(x, dtype=np.float32), rate, RATE).astype(np.float32)))
    return out


@pytest.mark.parametrize("condition", ["clean", "child-psola"])
def test_a_session_with_a_recorded_voice_shows_no_vowel_it_is_not_sure_of_and_learns(tmp_path, answers, condition):
    clock = FakeClock()
    mic = Mic(clock)
    mine = [ta for ta in answers if ta[0].condition == condition]  # one client: one voice, one room
    order = sorted(mine, key=lambda ta: zlib.crc32(ta[0].id.encode()))  # a fixed, mixed order
    shown_wrong = shown_right = not_sure = 0
    auto: list[bool] = []
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        app = pilot.app
        app.store.ensure_client("ana")
        app.store.set_client_profile("ana", {"activities": {"vowel_match": {
            "feedback_ms": 800, "between_ms": 400, "ladder_level": 4, "auto_next": False}}})
        app.select_client("ana")
        app.start_activity("vowel_match")
        act = app.activity
        pilot.unlock()
        for t, x in order:
            if act.machine.target_vowel != t.vowel:
                act.set_vowel(t.vowel)
            pilot.tap("rail:primary")  # Call: the model sings the vowel
            c = act.machine.call
            mic.silence(pilot, (c.end_ns - clock.now_ns()) / MS + 400)
            mic.sing(pilot, x)
            mic.silence(pilot, 900)
            trial = [tr for tr in read_trials(_events(pilot)) if tr.opportunity == "call"][-1]
            a = act.machine.last
            assert a is not None and a.call.trial_id == trial.id, t.id
            if trial.close_reason == "not_sure":
                not_sure += 1
                auto.append(False)
                data = [e for e in _events(pilot) if e.kind == "vowel_attempt" and e.trial_id == trial.id][-1].data
                assert data["not_sure"] and data["detected_vowel"] is None  # no vowel named to the client
                pilot.score("+I")  # the therapist heard the vowel called: her score teaches
            else:
                auto.append(True)
                j = a.judgement
                heard = j.detected_vowel if j is not None else None
                if a.outcome == "success":
                    shown_right += 1
                elif heard and heard != t.vowel:
                    shown_wrong += 1  # "Good try! I heard ..." -- a vowel the client did not sing
                    print("shown wrong:", t.id, heard, [(g.vowel, round(g.confidence, 3)) for g in a.segments])
                    pilot.score("+I")  # the therapist heard the vowel called: she corrects it, which teaches
            mic.silence(pilot, 1500)
        cal = Calibration.from_dict(app.store.client_profile("ana")["vowel_calibration"])
    n = len(order)
    half = n // 2
    print(f"{condition}: {n} answers: shown right {shown_right}, shown wrong {shown_wrong}, not sure {not_sure}; "
          f"judged by the app {sum(auto[:half])}/{half} -> {sum(auto[half:])}/{n - half}; calibration {cal.counts()}")
    assert n == 30 and shown_right + shown_wrong + not_sure == n
    # floors and a ceiling a little beyond today's (2026-12-02: clean 16 right / 2 wrong / 12 not
    # sure, child-psola 10 / 1 / 19; the bench's figures for this voice, any answer and no
    # calibration: 42 % right, 15 % wrong): a recorded voice the analyzer never saw
    assert shown_wrong <= 3
    assert shown_right >= 8
    assert sum(n > 0 for n in cal.counts().values()) >= 4  # her scores taught most vowels


def _events(pilot):
    pilot.app.store.flush()
    return pilot.app.store.events()
