"""Golden sessions: a whole plan, every activity, driven through the pilot as a therapist would,
with a known truth — and every figure a therapist reads (the summary screen, the note in txt /
json / pdf, the HTML report and ``prelude-play summary --json``) must give exactly that truth.

Kai has five goals. The plan's steps name them: the choice step one goal, the vowel step one, the
drum step *two* (every drum trial counts for both), the scarf step one; "Sings hello" is on no
step. The script covers a therapist score after an automatic judgement (choice, drums), an undo
(choice, free play), an edit (drums), trials nobody scored (vowels, scarves), a score that lands
on a trial that just closed, a therapist-made trial whose score is undone, and it runs once in
English and once in French (Canada).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prelude_play.cli import main
from prelude_play.config import AppConfig
from prelude_play.shell.pilot import run_test
from prelude_play.store.clients import ClientBook
from prelude_play.store.note import write_note
from prelude_play.store.report import build_html
from prelude_play.store.trials import read_trials
from tests.fakes import RecordingAudio
from tests.store.test_note import pdf_text, report_figures, words

GOALS = {"choose": ("Chooses between two songs", "functional_communication"),
         "vowel": ("Matches vowel sounds", "speech_communication"),
         "wait": ("Waits for a turn on the drum", "turn_taking"),
         "move": ("Follows movement cues", "gross_motor"),
         "hello": ("Sings hello", "self_expression")}

# per goal: (scored trials, successes, independent, not scored, scored trials by prompt)
TRUTH = {
    # T1 choice judged success, the therapist scores +G (supersedes); T2 success independent;
    # T3 success judged, scored "-" then undone: the judgement counts again
    "choose": (3, 3, 2, 0, {"gestural": 1, "independent": 2}),
    # T4 call nobody scored; T5 +V while the window was open; T6 NR just after the window closed
    "vowel": (2, 1, 0, 1, {"verbal": 1, "independent": 1}),
    # T7 copy judged not yet, scored ± then edited to +P; T8 no response, judged
    "wait": (2, 1, 0, 0, {"physical": 1, "independent": 1}),
    # drums T7, T8 (two goals on that step) + scarves: T9 wave scored +I, T10 freeze not scored
    "move": (3, 2, 1, 1, {"physical": 1, "independent": 2}),
    "hello": (0, 0, 0, 0, {}),  # on no step: not worked on
}
AREAS = {"turn_taking": (2, 1, 0, 0), "speech_communication": (2, 1, 0, 1)}
PLAN = "Golden plan"


def plan_steps(g: dict[str, str]) -> list[dict]:
    return [
        {"activity": "choice_board", "title": "Choose a song", "goals": [g["choose"]],
         "settings": {"board": "yes_no", "boards": ["yes_no"]}},
        {"activity": "vowel_match", "title": "Sing back", "goals": [g["vowel"]],
         "settings": {"autostart": False, "auto_next": False, "between_ms": 400, "feedback_ms": 800}},
        {"activity": "drum_turns", "title": "Drum turns", "goals": [g["wait"], g["move"]],
         "settings": {"count_in_beats": 0, "bpm": 60, "level": 2, "auto_next": False, "feedback_ms": 1000,
                      "response_timeout_ms": 3000}},
        {"activity": "scarf_moves", "title": "Scarves", "goals": [g["move"]], "settings": {"mode": "live"}},
        {"activity": "free_play", "title": "Free play", "settings": {"pulse_bpm": 0}},
    ]


def trials_of(app) -> list:
    app.store.flush()
    return read_trials(app.store.events())


def run_golden_session(pilot) -> tuple[str, dict[str, str]]:
    app = pilot.app
    book = ClientBook(app.store)
    cid = book.create("Kai Real-Name", client_id="kai", code="C-KAI")
    g = {k: f"client:{book.add_goal(cid, text, area)}" for k, (text, area) in GOALS.items()}
    app.store.save_plan("p-golden", PLAN, plan_steps(g), cid)
    app.select_client(cid)
    app.therapist.start_plan(app.therapist.plans.get("p-golden", cid))
    pilot.step()
    window_ms = app.cfg.scoring.score_window_s * 1000

    # 1. choice board (targets "choose")
    assert app.activity_name == "choice_board" and app.live.targets == (g["choose"],)
    pilot.unlock()
    pilot.tap("card:0")                     # T1: judged success, independent
    pilot.wait(1000)
    pilot.score("+G")                       # ...the therapist had pointed: supersedes
    pilot.wait(window_ms + 200)
    pilot.tap("card:1")                     # T2: success, independent
    pilot.wait(window_ms + 200)
    pilot.tap("card:0")                     # T3: success...
    pilot.wait(500)
    pilot.score("-")                        # ...the therapist disagrees
    pilot.tap("rail:undo")                  # ...then takes it back: the judgement counts again
    pilot.wait(window_ms + 200)
    next_step(pilot)

    # 2. vowel match, no microphone (targets "vowel"): the therapist scores
    assert app.activity_name == "vowel_match" and app.live.targets == (g["vowel"],)
    pilot.tap("rail:primary")               # T4: the call; nobody scores it
    pilot.wait(1300 + 5000 + window_ms + 300)
    pilot.tap("rail:primary")               # T5: the call; the client signs and sings with a verbal prompt
    pilot.wait(1600)
    pilot.score("+V")
    pilot.wait(1000)
    pilot.tap("rail:primary")               # T6: the call; nothing comes
    pilot.wait(1300 + 5000 + 300)
    pilot.score("NR")                       # lands on the call that just closed
    next_step(pilot)

    # 3. drum turns (targets "wait" and "move")
    assert app.activity_name == "drum_turns" and app.live.targets == (g["wait"], g["move"])
    act = app.activity
    pilot.wait(2500)
    assert act.state.phase == "client"
    pilot.midi(note=38, role="client")      # T7: one stroke of three: judged not yet
    pilot.wait(1600)
    pilot.score("±")                        # the therapist counts it as partly there...
    t7 = [t for t in app.live.trials() if t.opportunity == "model"][-1]
    pilot.tap(f"trial:{t7.order}")          # ...then edits: it was a success with physical help
    pilot.score("+P")
    pilot.tap("rail:primary")               # Next turn
    pilot.wait(2500 + 3000 + 500)           # T8: the model, then no response: judged
    pilot.wait(window_ms + 200)
    next_step(pilot)

    # 4. scarves (targets "move")
    assert app.activity_name == "scarf_moves" and app.live.targets == (g["move"],)
    wait_for(pilot, lambda: app.activity.runner.current is not None)
    pilot.wait(800)
    pilot.score("+I")                       # T9: followed the wave
    pilot.tap("rail:primary")               # Freeze: T10, never scored
    pilot.wait(1500)
    next_step(pilot)

    # 5. free play (names no goal): a therapist-made trial, then taken back
    assert app.activity_name == "free_play" and app.live.targets == ()
    pilot.tap("pad:1")
    pilot.score("+I")
    pilot.tap("rail:undo")
    sid = app.session.id
    pilot.tap("rail:more")
    pilot.tap("schedule")
    pilot.tap("sched:end")
    assert app.screen == "summary" and app.session is None
    return sid, g


def next_step(pilot) -> None:
    pilot.tap("rail:more")
    pilot.tap("plan_next")
    pilot.step()
    if not pilot.app.lock.unlocked:
        pilot.unlock()


def wait_for(pilot, cond, limit_ms: int = 10_000) -> None:
    for _ in range(limit_ms // 50):
        if cond():
            return
        pilot.wait(50)
    raise AssertionError("condition never met")


def truth_of(fig: dict) -> tuple:
    return fig["trials"], fig["successes"], fig["independent"], fig["not_scored"], fig["prompts"]


@pytest.mark.parametrize("language", ["en", "fr_CA"])
def test_golden_session_through_every_activity(tmp_path, language):
    cfg = AppConfig()
    cfg.ui.language = language
    with run_test(cfg, data_dir=tmp_path, audio=RecordingAudio(), mic_factory=None) as pilot:
        sid, g = run_golden_session(pilot)
        app = pilot.app
        # the summary screen, as the therapist sees it
        screen = app.therapist.summary.summary
        for key, truth in TRUTH.items():
            fig = screen.goals[g[key]]
            assert (fig.trials, fig.successes, fig.independent, fig.not_scored, dict(fig.prompts)) == truth, key
        for area, (n, ok, ind, ns) in AREAS.items():
            fig = screen.goals[area]
            assert (fig.trials, fig.successes, fig.independent, fig.not_scored) == (n, ok, ind, ns), area
        trials = trials_of(app)
        assert len(trials) == 10 and sum(not t.is_scored for t in trials) == 2  # T1–T10; the free play one undone
        assert not any(t.opportunity == "therapist" for t in trials)
        # every event that belongs to a trial carries its id
        for e in app.store.events():
            if e.kind in ("trial_open", "trial_close", "judgement", "score", "correction", "choice", "vowel_attempt"):
                assert e.trial_id, e.kind
        shot = pilot.screenshot(tmp_path / f"summary_{language}.png")
        text = app.therapist.summary.text
    assert shot.exists()
    # summary --json, the note (json, txt, pdf) and the report: the same truth
    d = str(tmp_path)
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["--data-dir", d, "summary", "--session", sid, "--json"]) == 0
    summary = json.loads(buf.getvalue())
    for key, truth in TRUTH.items():
        assert truth_of(summary["goals"][g[key]]) == truth, key
    from prelude_play.clock import FakeClock
    from prelude_play.store.eventlog import EventLog

    log = EventLog(tmp_path / "prelude.db", FakeClock())
    try:
        note_json = write_note(log, sid, tmp_path / "note.json", fmt="json")
        note_txt = write_note(log, sid, tmp_path / "note.txt", fmt="txt")
        note_pdf = write_note(log, sid, tmp_path / "note.pdf", fmt="pdf")
        report = build_html(log)
    finally:
        log.close()
    note = json.loads(note_json.read_text(encoding="utf-8"))
    assert note["goals"] == summary["goals"]
    shown = report_figures(report, sid)
    from prelude_play.i18n import translator

    t = translator(language)  # the report shows prompt levels in the session's language
    for key, (n, ok, ind, ns, prompts) in TRUTH.items():
        prompts = {t(p): k for p, k in prompts.items()}
        if n == 0 and ns == 0:
            assert g[key] not in shown
            continue
        row = shown[g[key]]
        assert (row["trials"], row["successes"], row["independent"], row["not_scored"], row["prompts"]) == \
            (n, ok, ind, ns, prompts), key
    pages, pdf = pdf_text(note_pdf)
    flat = words(pdf)
    txt = note_txt.read_text(encoding="utf-8")
    assert "Kai Real-Name" not in flat + txt + report  # pseudonymous by default
    if language == "en":
        assert "Session note" in flat and "Sings hello: not worked on this session" in words(note["note"]["soap"]["O"])
        assert re.search(r"Waits for a turn on the drum: 1 of 2 turns successful", words(text))
        assert "Chooses between two songs: 3 of 3 choices successful; 2 independent" in words(text)
        assert "<html lang=\"en\"" in report
    else:
        assert "Note de séance" in flat and "\u00a0:" in txt  # fr-CA: a no-break space before the colon
        assert "Attend son tour" not in txt  # the client's own goal text is never translated
        assert "Waits for a turn on the drum" in txt
        assert "<html lang=\"fr-CA\"" in report or "<html lang=\"fr\"" in report
