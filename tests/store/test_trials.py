"""Trials read back from the log: one trial counts once, with the outcome that stands.

In-memory events for each rule, then the golden session through the store, then stores written by
older versions (format 2): read by the legacy rule, and migrated with every event and reference kept.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

from prelude_play.clock import FakeClock
from prelude_play.store.eventlog import SCHEMA_VERSION, EventLog
from prelude_play.store.summary import soap_draft, summarize_session, summarize_stored
from prelude_play.store.trials import NOT_SCORED, goal_figures, read_trials
from tests.store.golden import LEVELS, TRUTH, make_golden
from tests.store.old_formats import make_store


@dataclass
class Ev:
    seq: int
    id: str
    kind: str
    actor: str = "system"
    activity: str = "drum_turns"
    t_ms: float = 0.0
    goals: tuple[str, ...] = ("turn_taking",)
    prompt: str | None = None
    outcome: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    corrects: str | None = None
    trial_id: str | None = None


class Log:
    """Events in the shape the live session and the store give ``read_trials``."""

    def __init__(self) -> None:
        self.events: list[Ev] = []

    def add(self, kind: str, trial: str | None = None, **kw: Any) -> str:
        eid = f"e{len(self.events) + 1}"
        self.events.append(Ev(len(self.events) + 1, eid, kind, t_ms=100.0 * len(self.events), trial_id=trial, **kw))
        return eid

    def trial(self, tid: str, goals: tuple[str, ...] = ("turn_taking",), judged: tuple[str, str] | None = None,
              opportunity: str = "model_played") -> str:
        self.add("trial_open", tid, goals=goals, data={"opportunity": opportunity})
        self.add("copy", tid, actor="client", goals=goals, data={"hits": 3})
        if judged:
            self.add("judgement", tid, goals=goals, outcome=judged[0], prompt=judged[1])
        self.add("trial_close", tid, goals=goals, data={"reason": "response"})
        return tid

    def score(self, tid: str, outcome: str, prompt: str = "independent", goals: tuple[str, ...] = ("turn_taking",)) -> str:
        return self.add("score", tid, actor="therapist", goals=goals, outcome=outcome, prompt=prompt)

    def undo(self, eid: str, tid: str | None = None) -> str:
        return self.add("correction", tid, actor="therapist", corrects=eid, data={"action": "undo"})

    def edit(self, eid: str, tid: str, outcome: str, prompt: str) -> str:
        return self.add("correction", tid, actor="therapist", corrects=eid, outcome=outcome, prompt=prompt,
                        data={"action": "edit", "outcome": outcome, "prompt": prompt})


def test_a_score_after_a_judgement_counts_once_with_the_therapists_outcome():
    log = Log()
    log.trial("t1", judged=("not_yet", "independent"))
    log.score("t1", "success", "gestural")
    (t,) = read_trials(log.events)
    assert (t.outcome, t.prompt, t.scored_by) == ("success", "gestural", "therapist")
    assert t.judgement == ("not_yet", "independent")  # both stay; the score supersedes
    g = goal_figures([t])["turn_taking"]
    assert (g.trials, g.successes, g.independent, dict(g.prompts)) == (1, 1, 0, {"gestural": 1})


def test_undo_gives_the_trial_back_its_judgement_and_undo_of_undo_restores_the_score():
    log = Log()
    log.trial("t1", judged=("success", "independent"))
    s = log.score("t1", "not_yet")
    c = log.undo(s, "t1")
    (t,) = read_trials(log.events)
    assert (t.outcome, t.scored_by) == ("success", "activity")
    log.undo(c, "t1")
    (t,) = read_trials(log.events)
    assert (t.outcome, t.scored_by) == ("not_yet", "therapist")


def test_an_edit_changes_outcome_and_prompt_and_the_newest_edit_wins():
    log = Log()
    log.trial("t1", judged=("partial", "independent"))
    s = log.score("t1", "not_yet")
    log.edit(s, "t1", "success", "verbal")
    (t,) = read_trials(log.events)
    assert (t.outcome, t.prompt) == ("success", "verbal") and t.scores[0].edited
    log.edit(s, "t1", "partial", "model")
    (t,) = read_trials(log.events)
    assert (t.outcome, t.prompt) == ("partial", "model")


def test_a_trial_with_no_score_is_not_scored_and_outside_every_percentage():
    log = Log()
    log.trial("t1", judged=("success", "independent"))
    log.trial("t2")  # no judgement, no score
    trials = read_trials(log.events)
    assert [t.outcome for t in trials] == ["success", NOT_SCORED]
    g = goal_figures(trials)["turn_taking"]
    assert (g.trials, g.not_scored, g.pct_independent, g.pct_success) == (1, 1, 100.0, 100.0)
    assert g.as_json()["trials"] == 1 and g.as_json()["not_scored"] == 1


def test_a_therapist_trial_whose_score_is_undone_disappears():
    log = Log()
    log.add("trial_open", "t9", actor="therapist", data={"opportunity": "therapist"})
    s = log.score("t9", "success")
    log.add("trial_close", "t9", actor="therapist", data={"reason": "scored"})
    assert len(read_trials(log.events)) == 1
    log.undo(s, "t9")
    assert read_trials(log.events) == []
    assert goal_figures(read_trials(log.events)) == {}


def test_two_goals_on_one_trial_count_once_for_each_goal_and_live_goal_changes_apply():
    log = Log()
    two = ("client:a", "client:b", "turn_taking")
    log.trial("t1", goals=two, judged=("success", "independent"))
    log.add("trial_open", "t2", goals=("turn_taking",), data={"opportunity": "model_played"})
    log.add("trial_goals", "t2", actor="therapist", goals=("client:a", "turn_taking"))
    log.add("judgement", "t2", outcome="partial", prompt="independent")
    figs = goal_figures(read_trials(log.events))
    assert {k: g.trials for k, g in figs.items()} == {"client:a": 2, "client:b": 1, "turn_taking": 2}
    assert figs["client:b"].successes == 1 and figs["client:a"].successes == 1


def test_a_client_goal_on_no_step_shows_as_not_worked_on():
    log = Log()
    log.trial("t1", goals=("client:a",), judged=("success", "independent"))
    session = {"id": "s", "started": "2026-12-02T10:00:00-05:00", "provenance": {}}
    sm = summarize_session(session, log.events, "C-1", client_goals=["client:a", "client:idle"])
    assert sm.goals["client:idle"].trials == 0 and sm.goals["client:idle"].not_scored == 0
    draft = soap_draft(sm, {"client:a": "Waits", "client:idle": "Sings"}.get)
    assert "Sings: not worked on this session" in draft["O"]
    assert draft["P"] == "Continue: Waits. Not worked on this session: Sings."


def test_the_golden_session_gives_exactly_the_truth(tmp_path):
    g = make_golden(tmp_path / "prelude.db")
    st = summarize_stored(g.log, g.session_id)
    for key, (trials, ok, ind, ns, prompts) in TRUTH.items():
        fig = st.summary.goals[g.goals[key]]
        assert (fig.trials, fig.successes, fig.independent, fig.not_scored, dict(fig.prompts)) == \
            (trials, ok, ind, ns, prompts), key
        assert fig.level(st.summary.min_trials) == LEVELS[key]
    by_id = {t.id: t for t in st.summary.trials}
    ids = g.trial_ids
    assert ids["t6"] not in by_id  # the therapist's own trial, undone
    assert [by_id[ids[k]].outcome for k in ("t1", "t2", "t3", "t4", "t5", "t7", "c1", "c2")] == \
        ["success", "success", "success", NOT_SCORED, "success", "not_yet", "success", "success"]
    assert [by_id[ids[k]].scored_by for k in ("t1", "t2", "t3", "t5", "t7")] == \
        ["activity", "therapist", "activity", "therapist", "therapist"]
    assert st.summary.goals[g.goals["turn"]].as_json()["level"] == "Rarely"
    g.log.close()


# ---- stores written before trials existed (format 2) ------------------------------------------

def _format2_store(path) -> None:
    """A store as Prelude Play wrote it before trials: integer ids, a therapist score naming the
    choice it judged, a score undone by a correction pointing at its integer id."""
    con = make_store(path, 2)
    con.execute("INSERT INTO clients(id, code, display_name, created) VALUES ('k','C-K','Kai','2025-01-01T10:00:00+00:00')")
    con.execute("INSERT INTO sessions(id, client_id, started, ended, notes) VALUES "
                "('s1','k','2025-01-06T10:00:00.000-05:00','2025-01-06T10:40:00.000-05:00','old note')")
    rows = [  # id, activity, kind, actor, goals, prompt, outcome, data, corrects
        (1, "choice_board", "activity_start", "system", [], None, None, {}, None),
        (2, "choice_board", "choice", "client", ["functional_communication"], "independent", "success", {"card": "more"}, None),
        (3, "choice_board", "score", "therapist", ["functional_communication"], "verbal", "success", {"choice_event": 2}, None),
        (4, "drum_turns", "score", "therapist", ["turn_taking"], "independent", "not_yet", {}, None),
        (5, "drum_turns", "correction", "therapist", ["turn_taking"], None, None, {"action": "undo"}, 4),
        (6, "drum_turns", "score", "therapist", ["turn_taking"], "independent", "success", {}, None),
        (7, "drum_turns", "hit", "client", ["turn_taking"], None, None, {"note": 38}, None),
    ]
    for i, act, kind, actor, goals, prompt, outcome, data, corrects in rows:
        con.execute("INSERT INTO events(id, session_id, client_id, activity, kind, actor, source, device, t_ms, wall,"
                    " goals, prompt, outcome, data, corrects) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (i, "s1", "k", act, kind, actor, "touch", "", 1000.0 * i, f"2025-01-06T10:00:0{i}.000-05:00",
                     json.dumps(goals), prompt, outcome, json.dumps(data), corrects))
    con.commit()
    con.close()


def test_a_format2_store_opens_as_format3_with_every_event_and_a_backup(tmp_path):
    p = tmp_path / "prelude.db"
    _format2_store(p)
    old = sqlite3.connect(p)
    before = old.execute("SELECT id, kind, data FROM events ORDER BY id").fetchall()
    old.close()
    log = EventLog(p, FakeClock())
    assert log.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    (backup,) = tmp_path.glob("prelude.db.format2-*")
    assert str(backup) in log.notices[0]
    kept = sqlite3.connect(backup)
    assert kept.execute("PRAGMA user_version").fetchone()[0] == 2
    assert kept.execute("SELECT id, kind, data FROM events ORDER BY id").fetchall() == before
    kept.close()
    events = list(log.events())
    assert [(e.seq, e.kind, json.dumps(e.data)) for e in events] == before  # seq = the old id, nothing lost
    for e in events:
        u = uuid.UUID(e.id)
        assert u.version == 7 and e.trial_id is None
    assert len({e.id for e in events}) == len(events)
    (corr,) = [e for e in events if e.kind == "correction"]
    assert corr.corrects == next(e.id for e in events if e.seq == 4)  # mapped to the new id of event 4
    # Read by the legacy rule: the choice and the score naming it are one trial; the undone score is gone.
    trials = read_trials(events)
    assert all(t.legacy for t in trials)
    assert [(t.activity, t.outcome, t.prompt, t.scored_by) for t in trials] == [
        ("choice_board", "success", "verbal", "therapist"), ("drum_turns", "success", "independent", "therapist")]
    st = summarize_stored(log, "s1")
    assert st.summary.goals["functional_communication"].trials == 1  # not 2
    assert st.summary.duration_min == 40.0  # format 2 kept no monotonic length: the wall clock's, as a label
    log.close()
    again = EventLog(p, FakeClock())  # already current: no second backup
    assert again.notices == [] and len(list(tmp_path.glob("prelude.db.format2-*"))) == 1
    again.close()


def test_legacy_rule_unscored_cue_undo_and_undo_of_undo():
    ev = [Ev(1, "x1", "cue_end", activity="scarf_moves", goals=("gross_motor",), outcome="not_scored"),
          Ev(2, "x2", "score", actor="therapist", goals=("musical",), outcome="success", prompt="independent"),
          Ev(3, "x3", "correction", actor="therapist", corrects="x2", data={"action": "undo"}),
          Ev(4, "x4", "turn", actor="client", goals=("musical",), outcome="partial", prompt="independent")]
    trials = read_trials(ev)
    assert all(t.legacy for t in trials)
    assert [(t.activity, t.outcome) for t in trials] == [("scarf_moves", NOT_SCORED), ("drum_turns", "partial")]
    assert goal_figures(trials)["gross_motor"].not_scored == 1
    ev.append(Ev(5, "x5", "correction", actor="therapist", corrects="x3", data={"action": "undo"}))
    assert [t.outcome for t in read_trials(ev)] == [NOT_SCORED, "success", "partial"]
