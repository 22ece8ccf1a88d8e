"""Trials, read back from the log, and the one function every figure a therapist reads comes from.

A *trial* is one opportunity for the client to respond: an activity opens it (a board shown, a
call sung, a model played, a cue given) or the therapist's score makes one. It is closed by the
client's response, a timeout or the end of the activity; judged automatically where the activity
can; scored by the therapist where they choose. Its events share one ``trial_id``:

    trial_open   the opportunity; its goals are the trial's goals (step targets + activity areas)
    trial_goals  the therapist changed the targeted goals while the trial was open
    (responses)  whatever the activity logs about the client's answer, with the trial's id
    judgement    the activity's automatic outcome + prompt (may come more than once: the last counts)
    score        the therapist's outcome + prompt: supersedes every judgement of the trial
    correction   undo or edit of a score (``corrects`` = the score's id); nothing is overwritten
    trial_close  closed, with the reason ("withdrawn": the activity took the opportunity away
                 before the client could use it — no trial unless answered or scored)

One trial counts once, with its *effective* outcome: the last standing therapist score, else the
last judgement, else none — "not scored", shown apart and never in a percentage. Per-goal figures
(``goal_figures``) count only trials; summary screen, note, report and ``summary --json`` all call
it, so they cannot disagree.

Sessions logged before trials existed (store format 2) have no trial ids; ``read_trials`` reads
them by the old rule (each event with an outcome is one trial, a therapist score replacing the
automatic judgement it names) and marks those trials ``legacy``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

TRIAL_OPEN, TRIAL_GOALS, TRIAL_CLOSE = "trial_open", "trial_goals", "trial_close"
JUDGEMENT, SCORE, CORRECTION = "judgement", "score", "correction"
TRIAL_KINDS = frozenset({TRIAL_OPEN, TRIAL_GOALS, TRIAL_CLOSE, JUDGEMENT, SCORE, CORRECTION})
NOT_SCORED = "not_scored"
LEVELS = ("Never", "Rarely", "Inconsistent", "Consistent")
MIN_TRIALS_FOR_LEVEL = 5


class EventLike(Protocol):
    """What trial reading needs of an event (``StoredEvent`` has it; so do the live session's)."""

    seq: int
    id: str
    kind: str
    actor: str
    activity: str
    t_ms: float
    goals: tuple[str, ...]
    prompt: str | None
    outcome: str | None
    data: dict[str, Any]
    corrects: str | None
    trial_id: str | None


@dataclass
class ScoreMark:
    """One therapist score of a trial, with what corrections did to it."""

    event_id: str
    seq: int
    outcome: str
    prompt: str | None
    t_ms: float
    source: str = ""
    undone: bool = False
    edited: bool = False


@dataclass
class Trial:
    id: str
    activity: str
    opened_ms: float
    opportunity: str = ""
    goals: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    closed_ms: float | None = None
    close_reason: str | None = None
    judgement: tuple[str, str | None] | None = None  # (outcome, prompt)
    judgement_data: dict[str, Any] = field(default_factory=dict)
    scores: list[ScoreMark] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # kind + data of client events
    legacy: bool = False
    order: int = 0  # position in the session (1-based), for "trial 3"

    @property
    def score(self) -> ScoreMark | None:
        """The therapist score that stands (the last one not undone)."""
        live = [s for s in self.scores if not s.undone]
        return live[-1] if live else None

    @property
    def outcome(self) -> str:
        s = self.score
        if s is not None:
            return s.outcome
        return self.judgement[0] if self.judgement else NOT_SCORED

    @property
    def prompt(self) -> str | None:
        s = self.score
        if s is not None:
            return s.prompt
        return self.judgement[1] if self.judgement else None

    @property
    def scored_by(self) -> str:
        """"therapist", "activity" or "" (not scored): who the counted outcome comes from."""
        if self.score is not None:
            return "therapist"
        return "activity" if self.judgement else ""

    @property
    def is_scored(self) -> bool:
        return self.outcome != NOT_SCORED


def read_trials(events: Iterable[EventLike]) -> list[Trial]:
    """Every trial in ``events`` (one session's, or several in log order), corrections applied."""
    evs = sorted(events, key=lambda e: e.seq)
    trials: dict[str, Trial] = {}
    scores: dict[str, tuple[Trial, ScoreMark]] = {}
    corrections: list[EventLike] = []
    legacy: list[EventLike] = []
    for e in evs:
        tid = e.trial_id
        if tid is None:
            if e.kind == CORRECTION or e.outcome is not None:
                legacy.append(e)
            continue
        t = trials.get(tid)
        if t is None:
            t = trials[tid] = Trial(tid, e.activity, e.t_ms, goals=e.goals)
        if e.kind == TRIAL_OPEN:
            t.opened_ms, t.activity, t.goals = e.t_ms, e.activity, tuple(e.goals)
            t.opportunity = str(e.data.get("opportunity", ""))
            t.data = dict(e.data)
        elif e.kind == TRIAL_GOALS:
            t.goals = tuple(e.goals)
        elif e.kind == TRIAL_CLOSE:
            t.closed_ms, t.close_reason = e.t_ms, str(e.data.get("reason", ""))
        elif e.kind == JUDGEMENT:
            if e.outcome is not None:
                t.judgement = (e.outcome, e.prompt)
                t.judgement_data = dict(e.data)
        elif e.kind == SCORE:
            if e.outcome is not None:
                mark = ScoreMark(e.id, e.seq, e.outcome, e.prompt, e.t_ms, str(e.data.get("source", "")))
                t.scores.append(mark)
                scores[e.id] = (t, mark)
        elif e.kind == CORRECTION:
            corrections.append(e)
        elif e.actor == "client":
            t.responses.append({"kind": e.kind, **e.data})
    _apply_corrections(corrections, scores)
    # A trial the therapist's score made exists only through that score: undone, it is gone
    # (it was never an opportunity the client missed, so it is not "not scored" either).
    # Likewise an opportunity the activity withdrew before the client could use it (a board the
    # therapist switched away from) is no trial unless the client answered in it or it was scored.
    out = sorted((t for t in trials.values()
                  if t.is_scored or (t.opportunity != "therapist"
                                     and not (t.close_reason == "withdrawn" and not t.responses))),
                 key=lambda t: (t.opened_ms, t.id))
    if legacy:
        out = sorted(out + _legacy_trials(legacy), key=lambda t: (t.opened_ms, t.id))
    for i, t in enumerate(out, start=1):
        t.order = i
    return out


def _apply_corrections(corrections: list[EventLike], scores: dict[str, tuple[Trial, ScoreMark]]) -> None:
    """Newest first: an undone correction has no effect (undo of an undo restores), the newest
    edit of a score wins."""
    undone_corrections: set[str] = set()
    edited: set[str] = set()
    for c in sorted(corrections, key=lambda e: e.seq, reverse=True):
        if c.id in undone_corrections or c.corrects is None:
            continue
        action = c.data.get("action", "undo")
        if c.corrects in scores:
            _, mark = scores[c.corrects]
            if action == "undo":
                mark.undone = True
            elif action == "edit" and c.corrects not in edited:
                edited.add(c.corrects)
                mark.outcome = str(c.data.get("outcome", c.outcome or mark.outcome))
                mark.prompt = c.data.get("prompt", c.prompt if c.prompt is not None else mark.prompt)
                mark.edited = True
        elif action == "undo":
            undone_corrections.add(c.corrects)


def _legacy_trials(events: list[EventLike]) -> list[Trial]:
    """Format-2 sessions: each event with an outcome is a trial; a therapist score that names the
    automatic event it judged (``choice_event``, ``turn_event``, a vowel override, a scarf cue's
    ``score_event``) replaces that judgement instead of counting again."""
    trials: dict[str, Trial] = {}
    by_id: dict[str, Trial] = {}
    # Format 2 named events by their integer id inside ``data`` (choice_event, turn_event,
    # score_event); the migration kept that id as ``seq`` and gave the event a global id.
    seq_ids = {str(e.seq): e.id for e in events}

    def ref(value: Any) -> str:
        return seq_ids.get(str(value), str(value))

    scarf_scores: set[str] = set()
    for e in events:
        if e.kind == "cue_end" and e.data.get("score_event"):
            scarf_scores.add(ref(e.data["score_event"]))
    corrections = []
    for e in events:
        if e.kind == CORRECTION:
            corrections.append(e)
            continue
        if e.id in scarf_scores or (e.kind == SCORE and e.data.get("cue_index") is not None):
            continue  # folded into the cue's cue_end
        target = e.data.get("choice_event") or e.data.get("turn_event")
        if e.kind == SCORE and target is not None and ref(target) in by_id:
            t = by_id[ref(target)]
            t.scores.append(ScoreMark(e.id, e.seq, e.outcome or "", e.prompt, e.t_ms))
            by_id[e.id] = t
            continue
        t = Trial(e.id, e.activity, e.t_ms, opportunity=e.kind, goals=tuple(e.goals), legacy=True)
        if e.outcome == NOT_SCORED:
            pass
        elif e.actor == "therapist" or e.kind == SCORE:
            t.scores.append(ScoreMark(e.id, e.seq, e.outcome or "", e.prompt, e.t_ms))
        else:
            t.judgement = (e.outcome or "", e.prompt)
        trials[e.id] = by_id[e.id] = t
    # Newest first, find the corrections that were themselves undone (an undo of an undo restores);
    # then apply the others oldest first, so the newest edit or override stands.
    cancelled: set[str] = set()
    for c in sorted(corrections, key=lambda e: e.seq, reverse=True):
        if c.id not in cancelled and c.corrects is not None and c.corrects not in by_id \
                and c.data.get("action", "undo") == "undo":
            cancelled.add(c.corrects)
    gone: set[str] = set()  # trials whose own event was undone: as if never logged (format 2's rule)
    for c in sorted(corrections, key=lambda e: e.seq):
        t = by_id.get(str(c.corrects)) if c.corrects is not None else None
        if t is None or c.id in cancelled:
            continue
        action = c.data.get("action", "undo")
        if action == "override" and c.outcome:
            t.scores.append(ScoreMark(c.id, c.seq, c.outcome, c.prompt, c.t_ms))
        elif action == "undo":
            for sm in t.scores:
                if sm.event_id == c.corrects:
                    sm.undone = True
            if t.id == c.corrects:
                gone.add(t.id)
        elif c.data.get("outcome"):
            for sm in t.scores:
                if sm.event_id == c.corrects:
                    sm.outcome, sm.prompt = str(c.data["outcome"]), c.data.get("prompt", sm.prompt)
                    sm.edited = True
    return [t for t in trials.values() if t.id not in gone or t.score is not None]


# ---- figures ----------------------------------------------------------------------------------

def consistency_level(pct: float | None, trials: int = MIN_TRIALS_FOR_LEVEL,
                      min_trials: int = MIN_TRIALS_FOR_LEVEL) -> str | None:
    """IMTAP-style level (Never 0 %, Rarely < 50 %, Inconsistent 50–79 %, Consistent ≥ 80 %),
    or None below ``min_trials`` scored trials: a level from two trials says nothing."""
    if pct is None or trials < min_trials:
        return None
    if pct <= 0:
        return "Never"
    if pct < 50:
        return "Rarely"
    if pct < 80:
        return "Inconsistent"
    return "Consistent"


@dataclass
class GoalFigures:
    """One goal's figures over a set of trials. ``trials`` counts scored trials only."""

    tag: str
    trials: int = 0
    successes: int = 0
    independent: int = 0
    not_scored: int = 0
    prompts: Counter = field(default_factory=Counter)  # scored trials by prompt level
    outcomes: Counter = field(default_factory=Counter)
    success_prompts: Counter = field(default_factory=Counter)  # successful trials by prompt level
    activities: Counter = field(default_factory=Counter)
    by_therapist: int = 0
    items: list[Trial] = field(default_factory=list, repr=False)  # scored and not, in order

    def add(self, t: Trial, independent_level: str) -> None:
        self.items.append(t)
        self.activities[t.activity] += 1
        if not t.is_scored:
            self.not_scored += 1
            return
        prompt = t.prompt or independent_level
        self.trials += 1
        self.outcomes[t.outcome] += 1
        self.prompts[prompt] += 1
        if t.scored_by == "therapist":
            self.by_therapist += 1
        if t.outcome == "success":
            self.successes += 1
            self.success_prompts[prompt] += 1
            if prompt == independent_level:
                self.independent += 1

    @property
    def pct_independent(self) -> float | None:
        return 100.0 * self.independent / self.trials if self.trials else None

    @property
    def pct_success(self) -> float | None:
        return 100.0 * self.successes / self.trials if self.trials else None

    def level(self, min_trials: int = MIN_TRIALS_FOR_LEVEL) -> str | None:
        return consistency_level(self.pct_independent, self.trials, min_trials)

    def as_json(self, title: str = "", min_trials: int = MIN_TRIALS_FOR_LEVEL) -> dict[str, Any]:
        pct = self.pct_independent
        return {"goal": self.tag, "title": title, "trials": self.trials, "successes": self.successes,
                "independent": self.independent, "not_scored": self.not_scored,
                "prompts": dict(sorted(self.prompts.items())), "outcomes": dict(sorted(self.outcomes.items())),
                "successes_by_prompt": dict(sorted(self.success_prompts.items())),
                "scored_by_therapist": self.by_therapist,
                "pct_independent": None if pct is None else round(pct, 1),
                "pct_success": None if self.pct_success is None else round(self.pct_success, 1),
                "level": self.level(min_trials), "min_trials_for_level": min_trials}


def goal_figures(trials: Iterable[Trial], *, independent_level: str = "independent",
                 goals: Iterable[str] = ()) -> dict[str, GoalFigures]:
    """Per goal tag, the figures over ``trials`` (each trial counts once per goal it carries).

    ``goals`` adds goals that must appear even with no trial (a client goal no step worked on).
    """
    out: dict[str, GoalFigures] = {g: GoalFigures(g) for g in goals}
    for t in trials:
        for tag in dict.fromkeys(t.goals):
            g = out.get(tag)
            if g is None:
                g = out[tag] = GoalFigures(tag)
            g.add(t, independent_level)
    return out


def merge_figures(parts: Iterable[dict[str, GoalFigures]]) -> dict[str, GoalFigures]:
    """Figures over several sessions from each session's figures (a report's totals)."""
    total: dict[str, GoalFigures] = {}
    for part in parts:
        for tag, g in part.items():
            t = total.setdefault(tag, GoalFigures(tag))
            t.trials += g.trials
            t.successes += g.successes
            t.independent += g.independent
            t.not_scored += g.not_scored
            t.by_therapist += g.by_therapist
            t.prompts.update(g.prompts)
            t.outcomes.update(g.outcomes)
            t.success_prompts.update(g.success_prompts)
            t.activities.update(g.activities)
            t.items.extend(g.items)
    return total
