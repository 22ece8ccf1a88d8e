"""Sing and tap through the headless app: the pilot presses Sing, feeds a synthetic child's sung
answer through the offline microphone in step with the fake clock, plays the drums over the MIDI
hit path at exact times, and reads what was logged."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from bench.bench_sing_tap import child_vowel_fn
from prelude_play.clock import FakeClock
from prelude_play.shell.pilot import run_test
from prelude_play.store.trials import read_trials
from tests.activities.offline_mic import RATE, Mic
from tests.fakes import RecordingAudio
from tests.screens import publish

from prelude_play.activities.sing_and_tap.logic import midi_to_hz
from prelude_play.activities.sing_and_tap.voice import SungSyllable, sing

ART = Path(__file__).resolve().parents[1] / "_artifacts"
MS = 1_000_000
HIGH, LOW = 67, 64  # the default pads' notes (the high and the low drum)


@dataclass
class LightsOut:
    """A MIDI output that records the pad lights."""

    sent: list = field(default_factory=list)
    connected = True

    def note_on(self, note, velocity=80, channel=0):
        self.sent.append(("on", note, velocity))
        return True

    def note_off(self, note, channel=0):
        self.sent.append(("off", note))
        return True

    def send(self, msg):
        return True

    def panic(self):
        pass

    def close(self):
        pass

    def describe(self):
        return None


def events(pilot, kind=None):
    pilot.app.store.flush()
    return [e for e in pilot.app.store.events() if kind is None or e.kind == kind]


def trials(pilot):
    return [t for t in read_trials(events(pilot)) if t.activity == "sing_and_tap"]


def start(pilot, **settings):
    app = pilot.app
    app.store.ensure_client("ari")
    app.store.set_client_profile("ari", {"activities": {"sing_and_tap": {"feedback_ms": 800, "between_ms": 400, "auto_next": False,
                                                                         **settings}}})
    app.select_client("ari")
    app.start_activity("sing_and_tap")
    assert app.activity_name == "sing_and_tap", app.notices
    return app.activity


def sing_press(pilot):
    if not pilot.app.lock.unlocked:
        pilot.unlock()
    pilot.tap("rail:primary")


def child_answer(act, seed: int = 5, key: float = 0.4, gap: float = 0.15, vowels=None, f0s=None):
    """The current target sung by a synthetic child (not the app's model voice); (signal, vowel onsets s)."""
    t = act.target
    rng = np.random.default_rng(seed)
    f0s = f0s or [midi_to_hz(act.s.note(p) + key) for p in t.pitches]
    vs = vowels or [v or "ah" for v in t.vowels]
    syl = [SungSyllable(x, v, f, 0.42) for x, v, f in zip(t.syllables, vs, f0s)]
    r = sing(syl, child_vowel_fn(1.0, rng, 0.03), RATE, gap_s=gap, peak=0.4)
    return r.samples, list(r.onsets)


def perform(pilot, mic: Mic, x: np.ndarray, taps: list[tuple[float, int]] = ()) -> int:
    """Feed ``x`` from now, 20 ms a block, running frames as its time passes; each (s from the
    start of ``x``, MIDI note) tap is played over the hit path at its exact time. Returns the
    clock time of x's first sample."""
    mic.catch_up()
    cap = mic.cap
    start = cap.frame_to_ns(cap.frames_captured)
    blk = RATE // 50
    todo = sorted(taps)
    for i in range(0, len(x), blk):
        cap.feed(x[i:i + blk])
        end = start + int((i + blk) * 1e9 / RATE)
        while todo and start + int(todo[0][0] * 1e9) <= end:
            s, note = todo.pop(0)
            pilot.clock.set(start + int(s * 1e9))
            pilot.midi(note=note, velocity=90, channel=9, role="client", step=False)
        pilot.clock.set(end)
        pilot.app.step()
    return start


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def mic(clock):
    return Mic(clock)


def wait_model(pilot, mic, act):
    p = act.machine.current
    mic.silence(pilot, (p.model_end_ns - pilot.clock.now_ns()) / MS + 10)


def test_alone_a_sung_answer_is_judged_by_syllable_with_tap_asynchronies_then_the_therapist_score_supersedes(
        tmp_path, clock, mic):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, mic_factory=mic.factory) as pilot:
        act = start(pilot, stage="alone")
        assert act.target.word == "hello" and act.target.drums(3) == ("high", "low")
        sing_press(pilot)
        p = act.machine.current
        assert p.sound and audio.calls[-1]["name"] == p.sound and audio.calls[-1]["at_ns"] == p.start_ns
        wait_model(pilot, mic, act)
        assert act.machine.phase == "response"
        mic.silence(pilot, 300)
        x, onsets = child_answer(act)
        offsets = [-0.040, 0.025]  # the child taps 40 ms before "hel", 25 ms after "lo"
        t0 = perform(pilot, mic, x, [(onsets[0] + offsets[0], HIGH), (onsets[1] + offsets[1], LOW)])
        mic.silence(pilot, 4500)
        [trial] = trials(pilot)
        assert (trial.outcome, trial.scored_by, trial.close_reason) == ("success", "activity", "response")
        d = trial.judgement_data
        assert d["stage"] == "alone" and d["judged_on"] == "voice" and trial.data["stage"] == "alone"
        assert (d["syllables_target"], d["syllables_heard"], d["count_exact"], d["approx_correct"]) == (2, 2, True, 2)
        assert d["pct_approx_correct"] == 100.0 and d["drums_correct"] == 2
        rows = d["per_syllable"]
        for k, row in enumerate(rows):
            assert abs(row["onset_ns"] - (t0 + onsets[k] * 1e9)) < 12 * MS  # the mic's time map, one clock
            assert row["tap"]["to"] == "voice" and abs(row["tap"]["async_ms"] - offsets[k] * 1000) < 12
            assert row["pitch_ok"] is True and abs(row["cents_off"] - 40) < 30
            assert row["not_sure"] or row["vowel_ok"] is True  # a vowel it names is the right one
        assert set(trial.goals) >= {"speech_communication", "musical", "motor"}
        [ans] = events(pilot, "sing_tap_answer")
        assert ans.trial_id == trial.id and ans.actor == "client" and len(ans.data["taps"]) == 2
        assert [tp["t_ns"] for tp in ans.data["taps"]] == [t0 + int((onsets[k] + offsets[k]) * 1e9) for k in (0, 1)]
        assert "chimes:84" in audio.names()
        pilot.score("-")  # the therapist heard "ello", not "hello": their score counts
        [trial] = trials(pilot)
        assert (trial.outcome, trial.scored_by) == ("not_yet", "therapist")
        assert trial.judgement[0] == "success" and len(events(pilot, "judgement")) == 1


def test_unison_is_judged_on_the_taps_against_the_model_and_the_pads_light_on_its_beats(tmp_path, clock, mic):
    lights = LightsOut()
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory,
                  midi_out=lights) as pilot:
        act = start(pilot, stage="unison")
        sing_press(pilot)
        p = act.machine.current
        beats = p.beats_ns
        for k, (b, note) in enumerate(zip(beats, (HIGH, LOW))):
            mic.silence(pilot, max(0.0, (b - pilot.clock.now_ns()) / MS - 30))
            clock.set(b + (20 + 10 * k) * MS)
            assert act.lit_drums(clock.now_ns()) == {("high", "low")[k]}  # on screen, on the beat
            pilot.midi(note=note, velocity=100, channel=9, role="client")
        mic.silence(pilot, 2500)
        [trial] = trials(pilot)
        d = trial.judgement_data
        assert trial.outcome == "success" and d["judged_on"] == "taps" and d["syllables_heard"] is None
        assert [r["tap"]["to"] for r in d["per_syllable"]] == ["model", "model"]
        assert [r["tap"]["async_ms"] for r in d["per_syllable"]] == [20.0, 30.0]  # exact: both on the one clock
        assert ("on", HIGH, 127) in lights.sent and ("on", LOW, 127) in lights.sent and ("off", LOW) in lights.sent


def test_fading_model_sings_the_first_syllable_and_the_child_finishes_the_word(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, stage="fading")
        sing_press(pilot)
        p = act.machine.current
        assert p.sung == (True, False) and p.voice_from == 1 and ":fading:" in p.sound
        assert p.voice_start_ns == p.ends_ns[0] + 120 * MS  # after the model's syllable (its echo)
        mic.silence(pilot, (p.beats_ns[1] - pilot.clock.now_ns()) / MS - 60)
        x, onsets = child_answer(act, seed=6)
        lo = x[int((onsets[1] - 0.06) * RATE):]  # the child sings "lo" on the second beat
        perform(pilot, mic, lo, [(0.06 + 0.01, LOW)])
        mic.silence(pilot, 2000)
        [trial] = trials(pilot)
        d = trial.judgement_data
        assert trial.outcome == "success" and d["syllables_judged"] == 1 and d["syllables_heard"] == 1
        assert d["per_syllable"][0]["judged"] is False and d["per_syllable"][1]["approx_correct"] is True
        assert d["per_syllable"][1]["tap"]["drum_ok"] is True


def test_a_microphone_that_stops_delivering_leaves_the_trial_to_the_therapist(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, stage="alone")
        sing_press(pilot)
        pilot.wait(1900 + 120 + 3500 + 150 + 3200)  # the clock runs, the microphone delivers nothing
        [trial] = trials(pilot)
        assert (trial.close_reason, trial.is_scored) == ("no_audio", False)
        assert any("microphone stopped" in n for n in pilot.app.notices)
        pilot.score("+I")
        assert trials(pilot)[0].outcome == "success"


def test_listen_trials_are_left_to_the_therapist_and_the_rule_moves_up_after_two(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, stage="listen", listen_trials=2, auto_next=False)
        for _ in range(2):
            sing_press(pilot)
            wait_model(pilot, mic, act)
            mic.silence(pilot, 900)
        ts = trials(pilot)
        assert [(t.close_reason, t.is_scored, t.data["stage"]) for t in ts] == [("listened", False, "listen")] * 2
        assert act.ladder.stage == "unison"
        [ch] = events(pilot, "stage_change")
        assert ch.data["from"] == "listen" and ch.data["to"] == "unison" and ch.data["by"] == "rule"
        sing_press(pilot)
        assert trials(pilot)[-1].data["stage"] == "unison"  # the stage is on every trial


def test_no_drums_judges_the_voice_only_and_the_pads_stay_dark(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, stage="no_drums")
        sing_press(pilot)
        p = act.machine.current
        clock.set(p.beats_ns[0] + 10 * MS)
        assert act.lit_drums(clock.now_ns()) == set()
        wait_model(pilot, mic, act)
        mic.silence(pilot, 300)
        x, _ = child_answer(act, seed=8)
        perform(pilot, mic, x)
        mic.silence(pilot, 4500)
        [trial] = trials(pilot)
        assert trial.outcome == "success" and trial.judgement_data["taps"] == 0
        assert "motor" not in trial.goals and trial.data["stage"] == "no_drums"


def test_without_a_microphone_the_therapist_scores_and_the_step_rule_counts_the_scores(tmp_path, clock):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio()) as pilot:
        act = start(pilot, stage="alone", up_after=2, down_after=2, auto_next=False)
        assert act.mic is None and any("No microphone" in n for n in pilot.app.notices)
        for code in ("+I", "+I"):
            sing_press(pilot)
            pilot.wait(1000)
            pilot.score(code)  # a score during the window ends it
            pilot.wait(1200)
        assert act.ladder.stage == "no_drums"
        for _ in range(2):
            sing_press(pilot)
            pilot.wait(6000)  # nobody scores: not scored, not a miss
        assert act.ladder.stage == "no_drums"
        assert [t.is_scored for t in trials(pilot)] == [True, True, False, False]
        for code in ("-", "NR"):
            sing_press(pilot)
            pilot.wait(800)
            pilot.score(code)
            pilot.wait(1200)
        assert act.ladder.stage == "alone"
        moves = [(e.data["from"], e.data["to"]) for e in events(pilot, "stage_change")]
        assert moves == [("alone", "no_drums"), ("no_drums", "alone")]
        assert [t.data["stage"] for t in trials(pilot)] == ["alone"] * 2 + ["no_drums"] * 4


def _grid(pilot, cols=9, rows=6):
    r = pilot.app.host_rect()
    return [(r.x + (i + 0.5) * r.width / cols, r.y + (j + 0.5) * r.height / rows) for j in range(rows) for i in range(cols)]


SETTINGS_AND_SCORES = ("judgement", "score", "correction", "stage_change", "stage_rule", "target_change",
                       "model_source", "words_saved", "trial_open", "goals_targeted", "prompt")


@pytest.mark.parametrize("stage", ["listen", "unison", "fading", "alone", "no_drums"])
def test_a_childs_taps_anywhere_never_score_or_change_a_setting(tmp_path, clock, mic, stage):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, stage=stage)
        before = (act.ladder.stage, act.ladder.rule, act.target.id, act.s.model_source)
        grid = _grid(pilot)
        assert pilot.app.host_rect().height > 600  # the whole client area (the rail is not shown)
        for pos in grid:
            pilot.tap(pos)
            mic.catch_up()
        kinds = {e.kind for e in events(pilot)}
        assert not kinds & set(SETTINGS_AND_SCORES), kinds & set(SETTINGS_AND_SCORES)
        assert trials(pilot) == [] and act.machine.phase == "idle"
        drum_taps = events(pilot, "tap")  # the two drums are the child's instruments: played, logged
        assert drum_taps and all(e.trial_id is None and e.outcome is None for e in drum_taps)
        assert (act.ladder.stage, act.ladder.rule, act.target.id, act.s.model_source) == before
        assert all(act.find_target(n) is None for n in ("btn:sing", "rail:primary", "act:stage"))
        pilot.press("f6")  # the therapist's Sing (the scoring keys' "primary"): a trial opens
        mic.catch_up()
        [trial] = trials(pilot)
        for pos in grid[::3]:  # during the model and the window: no tap scores, ends or changes anything
            pilot.tap(pos)
            mic.catch_up()
        kinds = {e.kind for e in events(pilot)}
        assert not kinds & {"judgement", "score", "correction", "stage_change", "stage_rule", "target_change",
                            "model_source", "words_saved"}, kinds
        assert trials(pilot)[0].closed_ms is None and act.machine.current is not None
        assert (act.ladder.stage, act.ladder.rule, act.target.id, act.s.model_source) == before


def test_words_and_stage_are_on_the_therapist_side_and_own_words_are_kept(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot)
        pilot.unlock()
        assert pilot.app.find_button("rail:primary").label == "Sing"
        pilot.tap("rail:more")
        ids = [b.id for b in pilot.app.overlay.buttons if b.id.startswith("act:")]
        assert ids == ["act:stage", "act:rule", "act:word", "act:set", "act:source", "act:edit"]
        pilot.tap("act:stage")
        pilot.tap("act:word")
        pilot.tap("act:rule")
        assert (act.ladder.stage, act.target.word, act.ladder.rule) == ("unison", "all done", "manual")
        assert events(pilot, "stage_change")[0].data["by"] == "therapist"
        pilot.tap("act:edit")
        pilot.tap("close")
        pilot.step(3)
        assert act.therapist_mode
        pilot.screenshot(ART / "sing_tap_editor.png")
        for key in "ma-ya":
            pilot.press(key)
        pilot.tap("edit:add")
        kept = pilot.app.store.client_profile("ari")["sing_and_tap_words"]
        assert [(w["word"], w["syllables"], w["vowels"]) for w in kept] == [("maya", ["ma", "ya"], ["ah", "ah"])]
        pilot.tap("edit:done")
        assert not act.therapist_mode
        act.add_word("all done", "all_done")
        act.cycle_set()
        while act.set_key != "own":
            act.cycle_set()
        assert [t.word for t in act.targets()] == ["maya", "all done"]
        pilot.panel()
        pilot.tap("home")
        pilot.app.start_activity("sing_and_tap")
        again = pilot.app.activity
        assert [t.word for t in again.own] == ["maya", "all done"] and again.own[0].own


def test_the_note_and_the_report_table_per_word_and_stage(tmp_path, clock, mic):
    from prelude_play.activities.sing_and_tap import SingAndTap

    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        act = start(pilot, stage="alone", auto_next=False)
        sing_press(pilot)
        wait_model(pilot, mic, act)
        mic.silence(pilot, 300)
        x, onsets = child_answer(act)
        perform(pilot, mic, x, [(onsets[0] - 0.03, HIGH), (onsets[1] + 0.03, LOW)])
        mic.silence(pilot, 4500)
        ts = trials(pilot)
        [phrase] = SingAndTap.trial_phrases(ts, lambda s: s)
        assert phrase.startswith("“hello” (Your turn): 2 of 2 syllables approximately correct") and "taps 3" in phrase
        [(title, heads, rows)] = SingAndTap.report_tables(ts, lambda s: s)
        assert heads[4] == "Syllables approximately correct"
        assert rows[0][:5] == ["hello", "Your turn", "1", "1", "2/2 (100%)"] and 20 <= int(rows[0][6]) <= 40
        from prelude_play.store.report import build_html
        from prelude_play.store.summary import summarize_stored, summary_text

        page = build_html(pilot.app.store, registry=pilot.app.registry)  # the progress report, from the log
        assert 'data-activity="sing_and_tap"' in page and "Syllables approximately correct" in page
        assert "<td>2/2 (100%)</td>" in page
        st = summarize_stored(pilot.app.store, pilot.app.session.id, registry=pilot.app.registry)
        assert "2 of 2 syllables approximately correct" in summary_text(st.summary, st.goal_title, st.t, info=st.info)


def test_screenshots_of_each_stage(tmp_path, clock, mic):
    """Each stage at 1280x800 with the rail locked (the child's whole screen), mid-model or mid-answer."""
    ART.mkdir(exist_ok=True)
    shots = []
    for stage in ("listen", "unison", "fading", "alone", "no_drums"):
        clock = FakeClock()
        mic = Mic(clock)
        with run_test(data_dir=tmp_path / stage, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
            act = start(pilot, stage=stage, auto_next=False, feedback_ms=8000)
            sing_press(pilot)
            pilot.tap("rail:lock")
            p = act.machine.current
            if stage in ("alone", "no_drums"):
                wait_model(pilot, mic, act)
                mic.silence(pilot, 300)
                x, onsets = child_answer(act)
                taps = [(onsets[0], HIGH), (onsets[1], LOW)] if stage == "alone" else []
                perform(pilot, mic, x, taps)
                mic.silence(pilot, 4400)
                assert act.machine.phase == "feedback"
            else:
                mic.silence(pilot, (p.beats_ns[1] - clock.now_ns()) / MS + 100)
            shot = ART / f"sing_tap_{stage}.png"
            pilot.screenshot(shot)
            shots.append(shot)
    for shot in shots:
        assert shot.stat().st_size > 10_000
        publish(shot)


def test_the_therapist_can_model_live_the_pads_light_and_nothing_is_played(tmp_path, clock, mic):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, mic_factory=mic.factory) as pilot:
        act = start(pilot, stage="unison", model_source="live")
        sing_press(pilot)
        assert pilot.app.find_button("rail:primary").label == "Sing (live)"
        p = act.machine.current
        assert p.source == "live" and p.sound is None
        assert not any(c["name"].startswith("sing_and_tap:") for c in audio.calls)
        clock.set(p.beats_ns[0] + 5 * MS)
        assert act.lit_drums(clock.now_ns()) == {"high"}  # the therapist sings with the lights
        assert trials(pilot)[0].data["source"] == "live"


def test_in_french_the_words_and_the_screen_are_french(tmp_path, clock, mic):
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic.factory) as pilot:
        pilot.app.actions.toggle_language()
        act = start(pilot, stage="unison")
        assert act.target.word == "bonjour" and act.targets_path.name == "targets.fr_CA.toml"
        sing_press(pilot)
        pilot.tap("rail:lock")
        mic.silence(pilot, 600)
        from prelude_play.activities.sing_and_tap.view import banner_text

        assert banner_text(act, act.ctx.t)[0] == "Chante avec moi"
        ART.mkdir(exist_ok=True)
        publish(pilot.screenshot(ART / "sing_tap_fr_CA.png"))
