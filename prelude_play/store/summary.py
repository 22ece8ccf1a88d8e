"""Per-goal figures from the event log: trials, % independent, IMTAP-style consistency.

Corrections are applied here and only here: an undone score does not count and an edited score
counts with its new outcome, while the raw log (and the raw exports) keep both events.

A *trial* is any event with an outcome (a therapist's score, an activity's judged response). It is
*independent* when it succeeded at the first prompt level ("independent"). The consistency level
follows the IMTAP's wording: Never (0%), Rarely (<50%), Inconsistent (50–79%), Consistent (80–100%).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from prelude_play.store.eventlog import StoredEvent

LEVELS = ("Never", "Rarely", "Inconsistent", "Consistent")
NO_DATA = "No data"
SYSTEM_ROUTINE = {"activity_start", "activity_stop", "plan_step", "plan_start", "plan_end", "session_pause",
                  "session_resume"}


def consistency_level(pct: float | None) -> str:
    """IMTAP-style level for a percentage (None: no trials)."""
    if pct is None:
        return NO_DATA
    if pct <= 0:
        return "Never"
    if pct < 50:
        return "Rarely"
    if pct < 80:
        return "Inconsistent"
    return "Consistent"


def apply_corrections(events: Iterable[StoredEvent]) -> list[StoredEvent]:
    """The events as they stand after every correction (undone ones dropped, edits applied).

    Walks corrections newest first: a correction that was itself undone has no effect (so
    undo-of-undo restores the original), and the newest edit of an event wins.
    """
    evs = list(events)
    corrections = [e for e in evs if e.kind == "correction" and e.corrects is not None]
    undone: set[int] = set()
    edits: dict[int, dict[str, Any]] = {}
    for c in sorted(corrections, key=lambda e: e.id, reverse=True):
        if c.id in undone:
            continue
        new = {k: c.data[k] for k in ("outcome", "prompt") if k in c.data}
        if c.data.get("action", "undo") == "undo" or not new:
            undone.add(int(c.corrects))  # type: ignore[arg-type]
        elif c.corrects not in edits:
            edits[int(c.corrects)] = new  # type: ignore[arg-type]
    out = []
    for e in evs:
        if e.kind == "correction" or e.id in undone:
            continue
        if e.id in edits:
            d = dict(e.__dict__)
            d.update(edits[e.id])
            e = StoredEvent(**d)
        out.append(e)
    return out


@dataclass
class GoalStats:
    tag: str
    trials: int = 0
    success: int = 0
    independent: int = 0
    outcomes: Counter = field(default_factory=Counter)
    prompts: Counter = field(default_factory=Counter)
    activities: Counter = field(default_factory=Counter)

    def add(self, e: StoredEvent, independent_level: str) -> None:
        self.trials += 1
        self.outcomes[e.outcome] += 1
        self.prompts[e.prompt or independent_level] += 1
        self.activities[e.activity] += 1
        if e.outcome == "success":
            self.success += 1
            if (e.prompt or independent_level) == independent_level:
                self.independent += 1

    @property
    def pct_independent(self) -> float | None:
        return 100.0 * self.independent / self.trials if self.trials else None

    @property
    def pct_success(self) -> float | None:
        return 100.0 * self.success / self.trials if self.trials else None

    @property
    def level(self) -> str:
        return consistency_level(self.pct_independent)


def is_trial(e: StoredEvent) -> bool:
    return e.outcome is not None and e.kind != "correction"


def goal_stats(events: Iterable[StoredEvent], *, independent_level: str = "independent",
               corrected: bool = False) -> dict[str, GoalStats]:
    """Per goal tag, over the given events (corrections applied unless ``corrected`` says done)."""
    evs = list(events) if corrected else apply_corrections(events)
    stats: dict[str, GoalStats] = {}
    for e in evs:
        if not is_trial(e):
            continue
        for tag in e.goals:
            g = stats.get(tag)
            if g is None:
                g = stats[tag] = GoalStats(tag)
            g.add(e, independent_level)
    return stats


@dataclass
class SessionSummary:
    session: dict[str, Any]
    client_label: str
    goals: dict[str, GoalStats]
    activities: list[str]
    notable: list[str]
    notes: list[str]
    duration_min: float | None
    corrections: int
    events: int
    corrected: list[StoredEvent] = field(default_factory=list, repr=False)  # the events after corrections


def _minutes(start: str, end: str | None) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 60 if end else None
    except ValueError:
        return None


def summarize_session(session: dict[str, Any], events: Iterable[StoredEvent], client_label: str,
                      *, independent_level: str = "independent") -> SessionSummary:
    raw = list(events)
    evs = apply_corrections(raw)
    activities: list[str] = []
    notable: list[str] = []
    notes: list[str] = []
    filtered: Counter = Counter()
    for e in evs:
        if e.kind == "activity_start" and (not activities or activities[-1] != e.activity):
            activities.append(e.activity)
        elif e.kind == "note":
            notes.append(str(e.data.get("note", "")))
        elif e.kind in ("filtered_touch", "filtered_hit"):
            filtered[(e.kind, e.data.get("reason", "?"))] += 1
        elif e.kind == "panic":
            notable.append(f"{_clock(e.t_ms)} silence-all pressed")
        elif e.kind == "activity_error":
            notable.append(f"{_clock(e.t_ms)} {e.activity} stopped after an error ({e.data.get('stage')})")
        elif e.kind == "plan_skip":
            notable.append(f"{_clock(e.t_ms)} skipped {e.data.get('activity')} ({e.data.get('reason')})")
        elif e.kind == "plan_insert":
            notable.append(f"{_clock(e.t_ms)} added {e.data.get('title') or e.data.get('activity')}")
        elif e.actor == "system" and e.kind not in SYSTEM_ROUTINE:
            notable.append(f"{_clock(e.t_ms)} {e.data.get('message') or e.kind}")
    for (kind, reason), n in sorted(filtered.items()):
        what = "touches" if kind == "filtered_touch" else "hits"
        notable.append(f"{n} {what} filtered ({reason})")
    if session.get("notes"):
        notes.append(session["notes"])
    return SessionSummary(
        session=session, client_label=client_label,
        goals=goal_stats(evs, independent_level=independent_level, corrected=True),
        activities=activities, notable=notable, notes=[n for n in notes if n.strip()],
        duration_min=_minutes(session["started"], session.get("ended")),
        corrections=sum(1 for e in raw if e.kind == "correction"), events=len(raw), corrected=evs)


def _clock(t_ms: float) -> str:
    s = int(t_ms // 1000)
    return f"{s // 60:02d}:{s % 60:02d}"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f}%"


def summary_text(s: SessionSummary, goal_title: Callable[[str], str],
                 t: Callable[[str], str] = lambda x: x, activity_title: Callable[[str], str] = lambda x: x) -> str:
    """Plain text ready to paste into a SOAP note (S from notes, O from data, A from levels)."""
    when = s.session["started"][:16].replace("T", " ")
    dur = f", {s.duration_min:.0f} min" if s.duration_min is not None else ""
    lines = [f"{t('Session')} {when}{dur} — {s.client_label}"]
    lines.append("S: " + (" / ".join(s.notes) if s.notes else t("(no notes)")))
    acts = ", ".join(activity_title(a) for a in s.activities) or t("none")
    lines.append(f"O: {t('Activities')}: {acts}.")
    for tag, g in sorted(s.goals.items(), key=lambda kv: (not kv[0].startswith("client:"), kv[0])):
        prompts = ", ".join(f"{t(p.capitalize())} {n}" for p, n in g.prompts.most_common())
        lines.append(f"   - {goal_title(tag)}: {g.success}/{g.trials} {t('successful')}, "
                     f"{_pct(g.pct_independent)} {t('independent')} ({prompts})")
    if not s.goals:
        lines.append("   " + t("No scored trials."))
    for n in s.notable:
        lines.append(f"   * {n}")
    if s.corrections:
        lines.append(f"   ({s.corrections} {t('scoring corrections applied')})")
    assess = "; ".join(f"{goal_title(tag)} {t(g.level).lower()}" for tag, g in sorted(s.goals.items())
                       if g.trials)
    lines.append(f"A: {assess or t('No scored trials.')}")
    lines.append("P: ")
    return "\n".join(lines)
