"""The live session without pygame: where a score lands, undo, edit, targets, one count per trial."""

from __future__ import annotations

from typing import Any

import pytest

from prelude_play.activity import Activity, ActivityEntry, Registry
from prelude_play.clock import FakeClock
from prelude_play.config import AppConfig
from prelude_play.session.live import LiveSession
from prelude_play.store.clients import ClientBook
from prelude_play.store.eventlog import EventLog
from prelude_play.store.trials import goal_figures, read_trials


class Calls(Activity):
    """A tiny activity: ``present()`` opens a trial, ``answer(outcome)`` judges it."""

    name = "calls"
    title = "Calls"
    goals = ("speech_communication",)

    def prepare(self, ctx: Any) -> None:
        super().prepare(ctx)
        self.trial: str | None = None
        self.scored: list[tuple[str, str]] = []

    def present(self) -> str:
        assert self.ctx is not None
        self.trial = self.ctx.open_trial("call")
        return self.trial

    def answer(self, outcome: str | None) -> None:
        assert self.ctx is not None and self.trial is not None
        self.ctx.log("attempt", actor="client", trial=self.trial, data={"heard": "ah"})
        if outcome is None:
            self.ctx.close_trial(self.trial, "timeout")
        else:
            self.ctx.judge(self.trial, outcome)

    def on_scored(self, trial_id: str, outcome: str, prompt: str | None) -> None:
        self.scored.append((trial_id, outcome))


@pytest.fixture
def live(tmp_path):
    clock = FakeClock()
    store = EventLog(tmp_path / "s.db", clock)
    reg = Registry({"calls": ActivityEntry("calls", Calls, "tests")})
    s = LiveSession(store=store, registry=reg, clock=clock, cfg=AppConfig())
    book = ClientBook(store)
    cid = book.create("Kai", client_id="kai")
    s.goal_ids = [book.add_goal(cid, "Matches vowels", "speech_communication"),  # type: ignore[attr-defined]
                  book.add_goal(cid, "Requests more", "functional_communication"),
                  book.add_goal(cid, "Waits for a turn", "turn_taking")]
    s.select_client(cid)
    yield s, clock
    store.close()


def stored(live: LiveSession):
    return read_trials(live.store.events())


def test_score_lands_on_the_open_trial_and_supersedes_the_judgement(live):
    s, clock = live
    g1, g2, _ = s.goal_ids
    assert s.start_activity("calls", goals=[g1, g2])
    act = s.activity
    act.present()
    assert s.score_target().how == "open"
    act.answer("not_yet")
    clock.advance(ms=1500)
    t = s.score_target()
    assert t.how == "recent" and t.trial.id == act.trial and 1400 <= t.age_ms <= 1600
    done = s.score("+G")
    assert done.trial_id == act.trial and done.how == "recent" and act.scored == [(act.trial, "success")]
    (trial,) = stored(s)
    assert (trial.outcome, trial.prompt, trial.scored_by) == ("success", "gestural", "therapist")
    assert trial.judgement == ("not_yet", "independent")  # kept in the log, superseded
    figs = goal_figures([trial])
    assert set(figs) == {f"client:{g1}", f"client:{g2}", "speech_communication"}
    assert all((f.trials, f.successes, f.independent) == (1, 1, 0) for f in figs.values())


def test_a_second_score_makes_a_new_trial_never_a_second_count(live):
    s, clock = live
    s.start_activity("calls")
    s.activity.present()
    s.score("+I")
    assert s.score_target().how == "new"  # the open trial has its score: the next one is new
    s.score("-")
    trials = stored(s)
    assert [(t.outcome, t.opportunity) for t in trials] == [("success", "call"), ("not_yet", "therapist")]


def test_the_window_closes_and_then_a_score_makes_its_own_trial(live):
    s, clock = live
    s.start_activity("calls")
    s.activity.present()
    s.activity.answer(None)  # timed out, nobody scored it yet
    clock.advance(ms=s.cfg.scoring.score_window_s * 1000 + 1)
    assert s.score_target().how == "new"
    s.score("NR")
    trials = stored(s)
    assert [t.outcome for t in trials] == ["not_scored", "no_response"]
    f = goal_figures(trials)["speech_communication"]
    assert (f.trials, f.not_scored, f.pct_success) == (1, 1, 0.0)  # not scored: apart, not in %


def test_undo_then_edit(live):
    s, clock = live
    s.start_activity("calls")
    for outcome in ("success", "partial"):
        s.activity.present()
        s.activity.answer(outcome)
        s.score("+V")
        clock.advance(ms=10_000)
    s.undo()  # the second trial's score: its automatic judgement counts again
    trials = stored(s)
    assert [(t.outcome, t.prompt, t.scored_by) for t in trials] == \
        [("success", "verbal", "therapist"), ("partial", "independent", "activity")]
    s.score("±", trial_id=trials[0].id)  # an edit of the first trial's score: a correction
    trials = stored(s)
    assert [(t.outcome, t.scored_by) for t in trials] == [("partial", "therapist"), ("partial", "activity")]
    kinds = [e.kind for e in s.store.events() if e.kind in ("score", "correction")]
    assert kinds == ["score", "score", "correction", "correction"]  # nothing overwritten
    assert s.undo() is not None  # undo takes back the next standing score (the first one's)
    assert [t.scored_by for t in stored(s)] == ["activity", "activity"]
    assert s.undo() is None


def test_an_undone_therapist_trial_disappears(live):
    s, _ = live
    s.start_activity("calls")
    s.score("+I")
    s.undo()
    assert stored(s) == [] and s.trials() == []


def test_targets_are_chosen_never_inferred_and_follow_live_changes(live):
    s, clock = live
    g1, g2, g3 = s.goal_ids
    s.start_activity("calls")  # no plan step, nothing remembered: no client goal
    assert s.targets == ()
    s.activity.present()
    s.toggle_target(f"client:{g3}")  # the open trial follows the change
    s.activity.answer("success")
    s.activity.present()
    s.toggle_target(f"client:{g3}")
    s.activity.answer("success")
    a, b = stored(s)
    assert f"client:{g3}" in a.goals and f"client:{g3}" not in b.goals
    assert f"client:{g1}" not in a.goals  # an area match is never a target
    # the choice is remembered for this activity and client
    s.toggle_target(f"client:{g2}")
    s.stop_activity()
    s.start_activity("calls")
    assert s.targets == (f"client:{g2}",)
    s.start_activity("calls", goals=[g1])  # a plan step's own goals win
    assert s.targets == (f"client:{g1}",)


def test_live_tally_is_the_same_function_as_the_stored_figures(live):
    s, clock = live
    g1, _, _ = s.goal_ids
    s.start_activity("calls", goals=[g1])
    for outcome, code in (("success", None), ("not_yet", "+P"), ("partial", None), (None, None)):
        s.activity.present()
        s.activity.answer(outcome)
        if code:
            s.score(code)
        clock.advance(ms=8000)
    live_f = s.tally()[f"client:{g1}"]
    stored_f = goal_figures(stored(s))[f"client:{g1}"]
    assert live_f.as_json() == stored_f.as_json()
    assert (live_f.trials, live_f.successes, live_f.independent, live_f.not_scored) == (3, 2, 1, 1)


def test_stopping_the_activity_closes_its_open_trials(live):
    s, _ = live
    s.start_activity("calls")
    s.activity.present()
    s.stop_activity()
    (t,) = stored(s)
    assert t.closed_ms is not None and t.close_reason == "ended" and t.outcome == "not_scored"
