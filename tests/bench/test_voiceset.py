"""A slice of the recorded-voice dev set (bench/voiceset.py), regenerated, with per-vowel floors.

Three festival diphone voices built from recordings (Finnish woman and man, Hindi man) say
each vowel alone and after p/m/b; the tokens are also shifted towards a child's F0 and formants
(``child-psola``). The shipped envelope model was fitted on these voices among others, so this
is a regression check of the whole chain (render, analyzer, pooled classifier), not a
held-out figure: those are in docs/bench/voice.md.

Needs festival, the three voices, sox and rubberband-cli (see .ci/run): skipped with the reason
where they are missing, which CI (CI=true) counts as a failure, like every realstack test.
"""

from __future__ import annotations

import pytest

from bench import voiceset
from bench.bench_voiceset import Judged, calibration_for, fold_model, judge, session_classifier, taught
from prelude_play.audio.analysis import VowelClassifier
from prelude_play.audio.analysis.envelope import default_model
from prelude_play.audio.analysis.vowels import VOWELS

pytestmark = pytest.mark.realstack

VOICES = ("lj", "mv", "nsk-hi")
CONDITIONS = ("clean", "child-psola")
# floors a little under what the slice gives today (see the test's output with -s)
# (2026-12-02 uncalibrated: ah .96 ee 1 oo .54 oh .67 eh .88, 0.8 % confidently wrong;
#  calibrated: ah 1 ee 1 oo .79 oh .96 eh 1; with the envelope on every 2nd frame, same day:
#  uncalibrated ah .96 ee 1 oo .54 oh .71 eh .92, 0.8 %; calibrated unchanged)
FLOOR_SHOWN_RIGHT = {"ah": 0.85, "ee": 0.9, "oo": 0.4, "oh": 0.5, "eh": 0.7}
FLOOR_CALIBRATED = {"ah": 0.9, "ee": 0.9, "oo": 0.65, "oh": 0.85, "eh": 0.85}
# no calibration, after 8 earlier unlabelled tokens of the same voice and room (2026-12-02:
# ah 1 ee 1 oo .33 oh .83 eh .92, 2.5 % confidently wrong; envelope every 2nd frame: oo .42
# oh .79 eh .88: the session adaptation helps "oh"
# and costs "oo" on these voices; on the whole set, leave-one-speaker-out, see voice.md)
FLOOR_SESSION = {"ah": 0.9, "ee": 0.9, "oo": 0.25, "oh": 0.7, "eh": 0.8}
MAX_CONFIDENTLY_WRONG = 0.06


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    missing = voiceset.missing_tools(VOICES)
    if missing:
        pytest.skip("voiceset needs: " + ", ".join(missing) + " (apt-get install them; .ci/run lists them)")
    d = tmp_path_factory.mktemp("voiceset")
    tokens = voiceset.build(d, VOICES, conditions=CONDITIONS)
    assert len(tokens) == len(VOICES) * len(CONDITIONS) * len(VOWELS) * 4
    return voiceset.observe(d, tokens)


def _per_vowel(js: list[Judged]) -> dict[str, float]:
    return {v: sum(j.correct for j in js if j.truth == v) / max(1, sum(j.truth == v for j in js)) for v in VOWELS}


def test_every_token_is_heard(observed):
    assert all(o.segment is not None and o.envelope is not None for o in observed)


def test_per_vowel_floors_uncalibrated(observed):
    clf = VowelClassifier()
    js = [judge(o, clf) for o in observed]
    got = _per_vowel(js)
    print("shown and right, per vowel:", {v: round(a, 2) for v, a in got.items()})
    wrong = sum(j.wrong for j in js) / len(js)
    print(f"confidently wrong {wrong:.2%}, abstained {sum(j.abstained for j in js) / len(js):.2%}")
    assert all(got[v] >= FLOOR_SHOWN_RIGHT[v] for v in VOWELS), got
    assert wrong <= MAX_CONFIDENTLY_WRONG


def test_per_vowel_floors_calibrated(observed):
    """Calibrated from the same voice and condition, one token per vowel of another context."""
    js = [judge(o, VowelClassifier(calibration_for(o, observed, 1))) for o in observed]
    got = _per_vowel(js)
    print("calibrated, shown and right, per vowel:", {v: round(a, 2) for v, a in got.items()})
    assert all(got[v] >= FLOOR_CALIBRATED[v] for v in VOWELS), got
    assert sum(j.wrong for j in js) / len(js) <= MAX_CONFIDENTLY_WRONG


def test_per_vowel_floors_session_adapted(observed):
    """No calibration; each token judged as the live analyzer would after hearing 8 other
    tokens of the same voice and condition (vowels.SessionAdaptation, unlabelled)."""
    general, guesses = VowelClassifier(), {}
    js = [judge(o, session_classifier(o, observed, 8, default_model(), general, guesses)) for o in observed]
    got = _per_vowel(js)
    print("session-adapted, shown and right, per vowel:", {v: round(a, 2) for v, a in got.items()})
    assert all(got[v] >= FLOOR_SESSION[v] for v in VOWELS), got
    assert sum(j.wrong for j in js) / len(js) <= MAX_CONFIDENTLY_WRONG


def test_sessions_taught_by_the_therapists_scores_grow_surer(observed):
    """No calibration at the start, and each voice judged by templates fitted without it (a new
    client); the answers the app was not sure of (or got wrong) are scored by the therapist and
    become calibration tokens (the activity's learn_from_scores). The second half of each
    session is "not sure" less often and right more often than the first, and stays under the
    confidently-wrong ceiling. (2026-12-02, this slice: abstained 30.0 -> 16.7 %, right 67.2 ->
    78.3 %, confidently wrong 2.8 -> 5.0 %: on voices the general model already reads well a
    few scored answers can add a wrong one; on the whole dev set wrong falls, see voice.md.
    Judged as answers to a call, as vowel_match hears them since (another vowel named only from
    0.99): see the test's output.)"""
    speakers = {o.token.speaker for o in observed}
    out = taught(observed, {sp: fold_model(observed, sp) for sp in speakers})
    first = [j for i, j in out if i < 10]
    second = [j for i, j in out if i >= 10]
    assert len(out) == 3 * len(observed) and first and second

    def rate(js, what):
        return sum(getattr(j, what) for j in js) / len(js)

    print(f"abstained {rate(first, 'abstained'):.1%} -> {rate(second, 'abstained'):.1%}, right "
          f"{rate(first, 'correct'):.1%} -> {rate(second, 'correct'):.1%}, wrong "
          f"{rate(first, 'wrong'):.1%} -> {rate(second, 'wrong'):.1%}")
    assert rate(second, "abstained") < 0.7 * rate(first, "abstained")
    assert rate(second, "correct") > rate(first, "correct") + 0.05
    assert rate(second, "wrong") <= MAX_CONFIDENTLY_WRONG


def test_answers_to_a_call_name_another_vowel_only_when_sure(observed):
    """Each voice judged by templates fitted without it (a new client), every token as the answer
    to a call of the vowel sung (vowel_match's ``classify(..., expected=)``): at least half of
    the confidently wrong answers become "not sure", and every answer that was right stays right
    (the rule only ever withholds another vowel than the one called)."""
    plain: list[Judged] = []
    answered: list[Judged] = []
    for sp in sorted({o.token.speaker for o in observed}):
        clf = VowelClassifier(envelope_model=fold_model(observed, sp))
        for o in (o for o in observed if o.token.speaker == sp):
            plain.append(judge(o, clf))
            answered.append(judge(o, clf, expected=o.token.vowel))

    def rate(js, what):
        return sum(getattr(j, what) for j in js) / len(js)

    print(f"wrong {rate(plain, 'wrong'):.1%} -> {rate(answered, 'wrong'):.1%}, abstained "
          f"{rate(plain, 'abstained'):.1%} -> {rate(answered, 'abstained'):.1%}, right "
          f"{rate(plain, 'correct'):.1%} -> {rate(answered, 'correct'):.1%}")
    assert rate(plain, "wrong") > 0.03  # templates without the voice: a new client's errors to withhold
    assert rate(answered, "wrong") <= 0.5 * rate(plain, "wrong")
    assert [a.correct for a in answered] == [p.correct for p in plain]


def test_the_klettres_check_stays_out_of_the_dev_set():
    """The KLettres voices are a check the model was never fitted or tuned on: the dev set's
    default build (what tools/train_vowel_model.py fits on) does not include them, they are not
    counted as dev-set recorded voices, and none of them comes from the languages of the
    reserved outside check (Czech, Italian)."""
    kl = set(voiceset.KLETTRES_VOICES)
    assert len(kl) == 13 and not kl & set(voiceset.DEV_VOICES) and not kl & set(voiceset.RECORDED)
    for name in kl:
        v = voiceset.VOICES[name]
        lang = v.select.rsplit("/", 1)[-1]
        assert lang not in ("cs", "it") and v.engine == "recording"
        assert all(vw in VOWELS for vw in v.vowels)


def test_klettres_recordings_render_and_are_heard(tmp_path):
    """One KLettres voice, clean and shifted to a child's range: every listed file exists in
    the package, renders, and the analyzer finds a voiced segment in it."""
    missing = voiceset.missing_tools(["kl-uk"])
    if missing:
        pytest.skip("voiceset needs: " + ", ".join(missing) + " (apt-get install them; .ci/run lists them)")
    tokens = voiceset.build(tmp_path, ["kl-uk"], conditions=("clean", "child-psola"))
    files = sum(len(f.split()) for f in voiceset.VOICES["kl-uk"].vowels.values())
    assert len(tokens) == 2 * files
    obs = voiceset.observe(tmp_path, tokens)
    assert all(o.segment is not None and o.envelope is not None for o in obs)
