"""Sing and tap without a display: targets and their files, the step rule, the judgement of an
answer, the model voice's consonants and the syllable segmenter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelude_play.audio.analysis import synth as asynth
from prelude_play.audio.analysis.syllables import SyllableAnalyzer
from prelude_play.config import resource_dir
from prelude_play.errors import ConfigError
from prelude_play.i18n import translator

from prelude_play.activities.sing_and_tap.logic import (
    MS,
    STAGES,
    Heard,
    SingSettings,
    StageLadder,
    Tap,
    Target,
    judge,
    load_targets,
    own_target,
    parse_targets,
    pitch_class,
)
from prelude_play.activities.sing_and_tap.voice import onset_of

HERE = Path(__file__).resolve().parents[2] / "activities" / "sing_and_tap"
S = SingSettings()
HELLO = Target("hello", "hello", ("hel", "lo"), ("eh", "oh"), (3, 0))


def heard(ms: float, vowel: str = "eh", f0: float = 392.0, abstained: bool = False) -> Heard:
    return Heard(int(ms * MS), int((ms + 400) * MS), f0, vowel, abstained, 0.9)


@pytest.mark.parametrize("name", ["targets.en.toml", "targets.fr_CA.toml"])
def test_the_shipped_targets_load_with_pictures_from_two_syllables_up(name):
    ts = load_targets(HERE / name, 3)
    sizes = [t.size for t in ts]
    assert sizes == sorted(sizes) and sizes[0] == 2 and {2, 3, 4} <= set(sizes)
    images = resource_dir("assets") / "images"
    for t in ts:
        assert (images / f"{t.picture}.png").is_file(), t
        assert len(t.vowels) == len(t.pitches) == t.size
    assert any(set(t.pitches) - {0, 3} for t in ts)  # a melody (not only high and low) among them


def test_each_language_has_its_own_targets_file():
    assert translator("fr_CA")("targets.en.toml") == "targets.fr_CA.toml"
    assert translator("en")("targets.en.toml") == "targets.en.toml"
    fr = {t.word for t in load_targets(HERE / "targets.fr_CA.toml", 3)}
    assert "bonjour" in fr and "hello" not in fr


def test_a_bad_target_names_the_file_and_the_line(tmp_path):
    text = '[[target]]\nword = "hi"\nsyllables = ["hi", "ya"]\n\n[[target]]\nword = "yo"\nsyllables = ["yo"]\nvowels = ["uh"]\n'
    with pytest.raises(ConfigError) as err:
        parse_targets(text, tmp_path / "mine.toml", 3)
    assert "mine.toml" in str(err.value) and "line 5" in str(err.value) and "vowels" in str(err.value)
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_targets("[[target]\n", tmp_path / "bad.toml", 3)
    with pytest.raises(ConfigError, match="twice"):
        parse_targets('[[target]]\nword = "a"\nsyllables = ["a"]\n[[target]]\nword = "a"\nsyllables = ["a"]\n', "x", 3)
    with pytest.raises(ConfigError, match="pitches"):
        parse_targets('[[target]]\nword = "a"\nsyllables = ["a"]\npitches = ["up"]\n', "x", 3)


def test_own_words_split_at_dashes_or_spaces_with_vowels_guessed():
    a = own_target("all done", 3, "all_done")
    assert (a.word, a.syllables, a.vowels, a.pitches, a.own) == ("all done", ("all", "done"), ("ah", "oh"), (3, 0), True)
    m = own_target("Ma-ya", 3)
    assert (m.word, m.syllables, m.vowels) == ("Maya", ("Ma", "ya"), ("ah", "ah"))
    with pytest.raises(ValueError):
        own_target(" - ", 3)


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="stage"):
        SingSettings.from_config({"stage": "sing"})
    with pytest.raises(ConfigError, match="up_after"):
        SingSettings.from_config({"up_after": 0})
    assert SingSettings.from_config({}).stage == "listen"


def test_the_step_rule_moves_up_after_n_successes_and_down_after_m_misses():
    lad = StageLadder("unison", "auto", up_after=3, down_after=2)
    for i, o in enumerate(["success", "success", "partial", "success", "success"]):
        lad.presented(f"t{i}")
        assert lad.record(f"t{i}", o) == 0
    lad.presented("t5")
    assert lad.record("t5", "success") == 1 and lad.stage == "fading" and lad.runs == []
    assert lad.record("t4", "not_yet") == 0  # a late correction of a trial before the change: no second step
    for i in (6, 7):
        lad.presented(f"t{i}")
        step = lad.record(f"t{i}", "no_response")
    assert step == -1 and lad.stage == "unison"


def test_a_therapist_score_replaces_the_judgement_in_the_rule_and_manual_never_moves():
    lad = StageLadder("alone", "auto", up_after=2, down_after=2)
    lad.presented("a")
    lad.record("a", "not_yet")
    lad.presented("b")
    lad.record("b", "success")
    assert lad.record("a", "success") == 1 and lad.stage == "no_drums"  # the score made it two in a row
    man = StageLadder("alone", "manual", up_after=1)
    man.presented("x")
    assert man.record("x", "success") == 0 and man.stage == "alone"
    top = StageLadder("no_drums", "auto", up_after=1)
    top.presented("y")
    assert top.record("y", "success") == 0 and top.stage == STAGES[-1]
    lis = StageLadder("listen", "auto", listen_trials=2)
    lis.presented("l1")
    assert lis.evaluate() == 0
    lis.presented("l2")
    assert lis.evaluate() == 1 and lis.stage == "unison"


def test_a_vowel_the_analyzer_is_not_sure_of_is_never_named_nor_held_against_the_child():
    j = judge(HELLO, "alone", S, [heard(0, "ee", abstained=True), heard(700, "oh", f0=330)],
              [Tap(-30 * MS, "high"), Tap(720 * MS, "low")], ())
    assert j is not None and j.outcome == "success"
    first, second = j.syllables
    assert first["vowel"] is None and first["not_sure"] and first["vowel_ok"] is None and first["approx_correct"]
    assert second["vowel"] == "oh" and second["vowel_ok"] is True
    f = j.figures
    assert (f["vowels_judged"], f["vowels_correct"], f["vowels_not_sure"]) == (1, 1, 1)
    assert [r["tap"]["async_ms"] for r in j.syllables] == [-30.0, 20.0] and f["mean_abs_async_ms"] == 25.0


def test_a_sure_far_vowel_is_not_approximately_correct_and_an_extra_syllable_is_not_exact():
    j = judge(HELLO, "alone", S, [heard(0, "oo"), heard(700, "oh", f0=330)], [], ())
    assert j.outcome == "partial" and j.figures["approx_correct"] == 1 and j.syllables[0]["approx_correct"] is False
    near = judge(HELLO, "alone", S, [heard(0, "ah"), heard(700, "oh", f0=330)], [], ())
    assert near.outcome == "success" and near.syllables[0]["vowel_ok"] is False  # a neighbour: approximately right
    extra = judge(HELLO, "alone", S, [heard(0), heard(700, "oh"), heard(1400, "oh")], [], ())
    assert extra.figures["count_exact"] is False and extra.figures["extra_syllables"] == 1 and extra.outcome == "partial"
    assert judge(HELLO, "alone", S, [], [], ()).outcome == "no_response"
    assert judge(HELLO, "alone", S, None, [], ()) is None  # no microphone: the therapist judges
    assert judge(HELLO, "listen", S, [], [], ()) is None


def test_unison_is_judged_on_the_drums_against_the_model_beats():
    beats = (1000 * MS, 1700 * MS)
    j = judge(HELLO, "unison", S, [heard(1000)], [Tap(1010 * MS, "high"), Tap(1690 * MS, "high")], beats)
    assert j.judged_on == "taps" and j.outcome == "partial"  # the second tap on the wrong drum
    assert [r["tap"]["drum_ok"] for r in j.syllables] == [True, False]
    assert [r["tap"]["to"] for r in j.syllables] == ["model", "model"]  # the voice is mixed with the model's
    assert j.figures["syllables_heard"] is None
    far = judge(HELLO, "unison", S, None, [Tap(3000 * MS, "high")], beats)
    assert far.outcome == "not_yet" and far.figures["taps_matched"] == 0


def test_pitch_is_read_against_the_targets_notes_with_octaves_folded():
    notes = {0: 329.63, 3: 392.0}
    assert pitch_class(392.0, notes)[0] == 3 and pitch_class(329.63 / 2, notes)[0] == 0
    p, c = pitch_class(392.0 * 2 * 2 ** (40 / 1200), notes)
    assert p == 3 and abs(c - 40) < 0.5


def test_the_model_voice_reads_each_consonant_from_the_spelling():
    assert onset_of("hel") == ("fricative", "h") and onset_of("hel", "fr") == ("none", "")
    assert [onset_of(s)[0] for s in ("ba", "ma", "la", "sun", "a", "é", "chat")] == \
        ["plosive", "nasal", "liquid", "fricative", "none", "none", "fricative"]


def _sung(f0s, gap=0.1, rate=16000):
    parts = []
    for f in f0s:
        parts.append(asynth.vowel((700, 1800, 2900), f, rate, 0.4, attack=0.03, release=0.05))
        parts.append(np.zeros(int(gap * rate), np.float32))
    return np.concatenate([np.zeros(3200, np.float32)] + parts)


def test_the_segmenter_counts_syllables_by_dips_and_by_pitch_steps():
    an = SyllableAnalyzer()
    assert an.analyse(np.zeros(16000, np.float32), 16000) == []
    two = an.analyse(_sung([392, 330]), 16000)
    assert len(two) == 2 and abs(two[0].onset - 0.2) < 0.012 and abs(two[1].onset - 0.7) < 0.012
    assert two[0].f0 > two[1].f0 and two[1].split_by == "dip"
    legato = an.analyse(_sung([392, 330], gap=0.0), 16000)  # no gap: only the pitch step tells them apart
    assert len(legato) == 2 and abs(legato[1].onset - 0.6) < 0.03
    one = an.analyse(_sung([392]), 16000)
    assert len(one) == 1 and one[0].to_dict()["vowel"] in (None, "eh", "ee", "ah")
