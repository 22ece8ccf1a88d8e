"""A golden session: logged the trial-model way with a known truth, so every figure a therapist
reads (summary, note, report, ``summary --json``) can be checked against it.

Robin has three goals. The drum step targets two of them (two goals on every drum trial); the
choice step targets one; the vowel goal is on no step (not worked on). The drum trials cover a
therapist score after an automatic judgement, an undo, an undo of an undo, an edit, a trial with
no response and no score, and a therapist-made trial whose score is undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prelude_play.clock import FakeClock
from prelude_play.store.clients import ClientBook
from prelude_play.store.demo import ACTIVITIES, SessionWriter, provenance
from prelude_play.store.eventlog import EventLog

TURN, MORE, VOWEL = "Waits for own turn on the drum", "Requests \"more\" with sign + vocalization", \
    "Matches 3 vowel sounds"


@dataclass
class Golden:
    log: EventLog
    session_id: str
    goals: dict[str, str]  # "turn" / "more" / "vowel" -> tag
    trial_ids: dict[str, str]


# The truth, per goal tag key: (trials scored, successes, independent, not scored, prompts of scored trials)
TRUTH = {
    "turn": (5, 4, 2, 1, {"independent": 3, "gestural": 1, "verbal": 1}),
    "more": (7, 6, 4, 1, {"independent": 5, "gestural": 1, "verbal": 1}),
    "vowel": (0, 0, 0, 0, {}),
}
LEVELS = {"turn": "Rarely", "more": "Inconsistent", "vowel": None}  # 2/5 = 40 %, 4/7 = 57 %


def make_golden(path: Path, *, language: str = "en", notes: str = "Robin led the pulse today.") -> Golden:
    clock = FakeClock()
    log = EventLog(path, clock)
    book = ClientBook(log)
    cid = book.create("Robin Real-Name", client_id="robin", code="C-ROB")
    goals = {"turn": f"client:{book.add_goal(cid, TURN, 'turn_taking', '80% of trials over 3 sessions')}",
             "more": f"client:{book.add_goal(cid, MORE, 'functional_communication', '')}",
             "vowel": f"client:{book.add_goal(cid, VOWEL, 'speech_communication', '')}"}
    s = log.start_session(cid, provenance(language), plan="Hello to goodbye")
    w = SessionWriter(log, s, clock)
    ids: dict[str, str] = {}

    w.start("drum_turns", ACTIVITIES["drum_turns"], (goals["turn"], goals["more"]))
    t1 = ids["t1"] = w.open("model_played")                      # success, judged: counts as it is
    w.respond(t1, "copy", {"hits": 4})
    w.judge(t1, "success", "independent")
    w.close(t1)
    t2 = ids["t2"] = w.open("model_played")                      # judged not yet, the therapist saw success +G
    w.respond(t2, "copy", {"hits": 2})
    w.judge(t2, "not_yet", "independent")
    w.close(t2)
    w.score(t2, "success", "gestural", landed="recent")
    t3 = ids["t3"] = w.open("model_played")                      # score undone: the judgement counts again
    w.respond(t3, "copy", {"hits": 4})
    w.judge(t3, "success", "independent")
    w.close(t3)
    sc3 = w.score(t3, "partial", "independent", landed="recent")
    w.undo(sc3, t3)
    t4 = ids["t4"] = w.open("model_played")                      # no response, no score: not scored
    w.close(t4, "timeout", ms=8000)
    t5 = ids["t5"] = w.open("model_played")                      # scored not yet, edited to success +V
    w.respond(t5, "copy", {"hits": 3})
    w.judge(t5, "partial", "independent")
    w.close(t5)
    sc5 = w.score(t5, "not_yet", "independent", landed="recent")
    w.edit(sc5, t5, "success", "verbal")
    t6, sc6 = w.therapist_trial("success", "independent")        # the therapist's own trial, then undone: gone
    ids["t6"] = t6
    w.undo(sc6, t6)
    t7 = ids["t7"] = w.open("model_played")                      # undo of an undo: the score not yet stands
    w.respond(t7, "copy", {"hits": 1})
    w.judge(t7, "success", "independent")
    w.close(t7)
    sc7 = w.score(t7, "not_yet", "independent", landed="recent")
    c7 = w.undo(sc7, t7)
    w.undo(c7, t7)
    w.hit(note=38, velocity=90)
    w.filtered("repeat")
    w.stop()

    w.start("choice_board", ACTIVITIES["choice_board"], (goals["more"],))
    for k in ("c1", "c2"):
        tid = ids[k] = w.open("board_shown")
        w.respond(tid, "choice", {"card": "more"})
        w.judge(tid, "success", "independent")
        w.close(tid)
    w.stop()
    if notes:
        w.note(notes)
    log.end_session(s)
    return Golden(log, s.id, goals, ids)
