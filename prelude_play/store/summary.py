"""A session in therapist words: per-goal figures from trials, notable moments, and the S/O/A/P note.

Every figure comes from ``store.trials`` (``read_trials`` then ``goal_figures``): the summary
screen, the note (``prelude-play note``), the HTML report and ``prelude-play summary --json``
all call ``summarize_session`` and print what it holds, so they cannot disagree.

Wording is English source text passed through ``t`` (the session's language); activity names and
trial nouns come from ``ActivityInfo`` so the note can be written from the log alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from prelude_play import l10n
from prelude_play.errors import StoreError
from prelude_play.store.eventlog import EventLog, StoredEvent
from prelude_play.store.trials import (MIN_TRIALS_FOR_LEVEL, NOT_SCORED, GoalFigures, Trial, consistency_level,
                                       goal_figures, read_trials)

LEVELS = ("Never", "Rarely", "Inconsistent", "Consistent")
__all__ = ["ActivityInfo", "SessionSummary", "consistency_level", "summarize_session", "soap_draft",
           "summary_json", "summary_text", "LEVELS"]


@dataclass
class ActivityInfo:
    """What a note says about an activity without running it: title, trial noun, extra phrases."""

    title: str
    noun: tuple[str, str] = ("trial", "trials")
    phrases: Callable[[list[Trial], Callable[[str], str]], list[str]] = lambda trials, t: []
    tables: Callable[[list[Trial], Callable[[str], str]], list[tuple[str, list[str], list[list[str]]]]] = \
        lambda trials, t: []
    """The activity's own tables for the progress report (``Activity.report_tables``)."""


def activity_info_from(registry: Any) -> Callable[[str], ActivityInfo]:
    """``ActivityInfo`` for each name from an activity registry (unknown names: the name itself)."""
    def info(name: str) -> ActivityInfo:
        entry = getattr(registry, "entries", {}).get(name) if registry is not None else None
        if entry is None:
            return ActivityInfo(name.replace("_", " ").capitalize())
        cls = entry.cls
        return ActivityInfo(cls.title or name, tuple(getattr(cls, "trial_noun", ("trial", "trials"))),  # type: ignore[arg-type]
                            cls.trial_phrases, getattr(cls, "report_tables", lambda trials, t: []))
    return info


@dataclass
class SessionSummary:
    session: dict[str, Any]
    client_label: str
    trials: list[Trial]
    goals: dict[str, GoalFigures]
    activities: list[str]
    notable: list[str]
    notes: list[str]
    duration_min: float | None
    corrections: int
    events: int
    targets: list[str] = field(default_factory=list)  # client goals some step worked on
    client_goals: list[str] = field(default_factory=list)  # every client goal, worked on or not
    min_trials: int = MIN_TRIALS_FOR_LEVEL
    independent_level: str = "independent"
    language: str = "en"

    @property
    def not_scored(self) -> int:
        return sum(1 for t in self.trials if not t.is_scored)

    def ordered_goals(self) -> list[str]:
        """The client's goals in the order of their profile, then goals since removed from it, then
        the activities' goal areas: the order of every table and list of goals."""
        rank = {tag: i for i, tag in enumerate(self.client_goals)}
        return sorted(self.goals, key=lambda tag: (goal_order(tag)[0], rank.get(tag, len(rank)), tag))


NOTABLE = {  # system / therapist events a note mentions, in therapist words
    "panic": "Silence-all pressed",
    "plan_insert": "Added {title} to the plan",
    "activity_error": "{activity} stopped after an error",
}


def summarize_session(session: dict[str, Any], events: Iterable[StoredEvent], client_label: str, *,
                      independent_level: str = "independent", client_goals: Iterable[str] = (),
                      min_trials: int = MIN_TRIALS_FOR_LEVEL,
                      t: Callable[[str], str] = lambda s: s,
                      title: Callable[[str], str] = lambda a: a.replace("_", " ").capitalize()) -> SessionSummary:
    """The figures and notable moments of one session, from its events."""
    raw = list(events)
    trials = read_trials(raw)
    own = list(dict.fromkeys(client_goals))
    targets: list[str] = []
    activities: list[str] = []
    notable: list[str] = []
    notes: list[str] = []
    filtered: Counter = Counter()
    for e in raw:
        if e.kind == "activity_start":
            if not activities or activities[-1] != e.activity:
                activities.append(e.activity)
            targets += [g for g in e.data.get("targets", []) if g not in targets]
        elif e.kind == "goals_targeted":
            targets += [g for g in e.data.get("targets", []) if g not in targets]
        elif e.kind == "note":
            notes.append(str(e.data.get("note", "")))
        elif e.kind in ("filtered_touch", "filtered_hit"):
            filtered[(e.kind, e.data.get("reason", "?"))] += 1
        elif e.kind == "panic":
            notable.append(f"{_clock(e.t_ms)} {t(NOTABLE['panic'])}")
        elif e.kind == "activity_error":
            notable.append(f"{_clock(e.t_ms)} " + t(NOTABLE["activity_error"]).format(activity=t(title(e.activity))))
        elif e.kind == "plan_skip":
            what = t(title(str(e.data.get("activity", ""))))
            why = t("not installed") if e.data.get("reason") == "not installed" else t("skipped by the therapist")
            notable.append(f"{_clock(e.t_ms)} " + t("Skipped {activity} ({reason})").format(activity=what, reason=why))
        elif e.kind == "plan_insert":
            notable.append(f"{_clock(e.t_ms)} " + t(NOTABLE["plan_insert"]).format(
                title=t(str(e.data.get("title") or title(str(e.data.get("activity", "")))))))
        elif e.kind in ("device_removed", "audio_device") and e.data.get("message"):
            notable.append(f"{_clock(e.t_ms)} {e.data['message']}")
    for (kind, reason), n in sorted(filtered.items()):
        if kind == "filtered_touch":
            what = t("touch") if n == 1 else t("touches")
        else:
            what = t("pad hit") if n == 1 else t("pad hits")
        notable.append(t("{n} {what} not counted ({reason})").format(n=n, what=what, reason=t(reason.replace("_", " "))))
    if session.get("notes"):
        notes.append(session["notes"])
    figures = goal_figures(trials, independent_level=independent_level, goals=own)
    duration = session.get("duration_ms")
    if duration is None:
        duration = _wall_duration_ms(session)
    return SessionSummary(
        session=session, client_label=client_label, trials=trials, goals=figures, activities=activities,
        notable=notable, notes=[n for n in notes if n.strip()],
        duration_min=duration / 60000 if duration is not None else None,
        corrections=sum(1 for e in raw if e.kind == "correction"), events=len(raw),
        targets=targets, client_goals=own, min_trials=min_trials, independent_level=independent_level,
        language=session_language(session))


def session_language(session: dict[str, Any]) -> str:
    """The language the session ran in (the app updates it when the therapist switches)."""
    lang = str((session.get("provenance") or {}).get("language") or "en")
    return "fr_CA" if l10n.is_french(lang) else "en"


def scoring_settings(session: dict[str, Any]) -> tuple[str, int]:
    """(independent prompt level, scored trials needed for a level) as the session ran with them:
    its provenance keeps the app's config, so a note written later counts as the screen did."""
    config = (session.get("provenance") or {}).get("config")
    scoring = config.get("scoring") if isinstance(config, dict) else None
    scoring = scoring if isinstance(scoring, dict) else {}
    levels = scoring.get("prompt_levels")
    independent = str(levels[0]) if isinstance(levels, list) and levels else "independent"
    min_trials = scoring.get("min_trials_for_level")
    return independent, int(min_trials) if isinstance(min_trials, int) and min_trials > 0 else MIN_TRIALS_FOR_LEVEL


def _wall_duration_ms(session: dict[str, Any]) -> float | None:
    """Sessions logged before the monotonic length was kept (format 2): ended - started, a label."""
    from datetime import datetime

    try:
        ms = (datetime.fromisoformat(session["ended"]) - datetime.fromisoformat(session["started"])).total_seconds() * 1000
    except (KeyError, TypeError, ValueError):
        return None
    return ms if ms >= 0 else None


def _clock(t_ms: float) -> str:
    s = int(t_ms // 1000)
    return f"{s // 60:02d}:{s % 60:02d}"


def _pct(v: float | None, lang: str = "en") -> str:
    return l10n.percent(v, lang)


def goal_order(tag: str) -> tuple[int, str]:
    return (0 if tag.startswith("client:") else 1, tag)


def _noun(trials: list[Trial], info: Callable[[str], ActivityInfo], t: Callable[[str], str], n: int) -> str:
    acts = {x.activity for x in trials}
    noun = info(next(iter(acts))).noun if len(acts) == 1 else ("trial", "trials")
    return t(noun[0] if n == 1 else noun[1])


def goal_line(tag: str, g: GoalFigures, goal_title: Callable[[str], str], t: Callable[[str], str],
              info: Callable[[str], ActivityInfo], independent_level: str = "independent") -> str:
    """One goal in therapist words: "Takes turns: 3 of 4 turns successful, 2 independent (…)"."""
    name = goal_title(tag)
    if g.trials == 0 and g.not_scored == 0:
        return t("{goal}: not worked on this session").format(goal=name)
    scored = [x for x in g.items if x.is_scored]
    parts = [t("{goal}: {ok} of {n} {noun} successful").format(
        goal=name, ok=g.successes, n=g.trials, noun=_noun(scored or g.items, info, t, g.trials))]
    if g.trials:
        parts.append(t("{n} independent").format(n=g.independent))
        prompted = {p: k for p, k in g.success_prompts.items() if p != independent_level}
        if prompted:
            parts.append(t("with prompts") + ": " + ", ".join(
                f"{t(p)} {k}" for p, k in sorted(prompted.items(), key=lambda kv: -kv[1])))
        fails = {o: k for o, k in g.outcomes.items() if o != "success"}
        if fails:
            parts.append(", ".join(f"{t(o.replace('_', ' '))} {k}" for o, k in fails.items()))
    if g.not_scored:
        parts.append(t("{n} not scored").format(n=g.not_scored))
    by_act: dict[str, list[Trial]] = {}
    for x in scored:
        by_act.setdefault(x.activity, []).append(x)
    for act, trials in by_act.items():
        parts += info(act).phrases(trials, t)
    return "; ".join(parts) + "."


def soap_draft(s: SessionSummary, goal_title: Callable[[str], str], t: Callable[[str], str] = lambda x: x,
               info: Callable[[str], ActivityInfo] = lambda a: ActivityInfo(a),
               lang: str | None = None) -> dict[str, str]:
    """The note as the app would write it: S from the notes, O from the trials, A from the levels
    (only where a goal has ``min_trials`` scored trials), P from the goals worked on. Numbers and
    typography in ``lang`` (default: the session's language)."""
    lang = lang or s.language
    subjective = " / ".join(s.notes)
    obs = [t("Activities") + ": " + (", ".join(t(info(a).title) for a in s.activities) or t("none")) + "."]
    tags = s.ordered_goals()
    for tag in tags:
        obs.append("- " + goal_line(tag, s.goals[tag], goal_title, t, info, s.independent_level))
    if not any(g.trials or g.not_scored for g in s.goals.values()):
        obs.append(t("No trials were recorded."))
    if s.notable:
        obs.append(t("Also") + ": " + "; ".join(s.notable) + ".")
    if s.corrections:
        obs.append(t("{n} scoring corrections applied.").format(n=s.corrections))
    assess = []
    for tag in tags:
        g = s.goals[tag]
        if not g.trials:
            continue
        level = g.level(s.min_trials)
        if level is None:
            assess.append(t("{goal}: too few scored trials for a level ({n} of {min})").format(
                goal=goal_title(tag), n=g.trials, min=s.min_trials))
        else:
            assess.append(t("{goal}: {level} ({pct} independent over {n} trials)").format(
                goal=goal_title(tag), level=t(level).lower(), pct=_pct(g.pct_independent, lang), n=g.trials))
    worked = [tag for tag in tags if tag.startswith("client:") and (s.goals[tag].trials or s.goals[tag].not_scored)]
    idle = [tag for tag in s.client_goals if tag not in worked]
    plan = []
    if worked:
        plan.append(t("Continue") + ": " + "; ".join(goal_title(g) for g in worked) + ".")
    if idle:
        plan.append(t("Not worked on this session") + ": " + "; ".join(goal_title(g) for g in idle) + ".")
    draft = {"S": subjective, "O": "\n".join(obs), "A": "\n".join(assess), "P": " ".join(plan)}
    return {k: l10n.typo(v, lang) for k, v in draft.items()}


def summary_text(s: SessionSummary, goal_title: Callable[[str], str], t: Callable[[str], str] = lambda x: x,
                 activity_title: Callable[[str], str] | None = None,
                 info: Callable[[str], ActivityInfo] | None = None, soap: dict[str, str] | None = None) -> str:
    """The whole note as plain text: a header line, then S, O, A and P (the therapist's edits
    where given in ``soap``, the app's draft otherwise)."""
    if info is None:
        info = (lambda a: ActivityInfo(activity_title(a))) if activity_title else (lambda a: ActivityInfo(a))
    draft = soap_draft(s, goal_title, t, info)
    fields = {k: (soap or {}).get(k) or draft[k] for k in "SOAP"}
    when = s.session["started"][:16].replace("T", " ")
    dur = f", {s.duration_min:.0f} min" if s.duration_min is not None else ""
    lines = [f"{t('Session')} {when}{dur} — {s.client_label}"]
    for k in "SOAP":
        text = fields[k] or "–"
        first, *rest = text.splitlines() or [""]
        lines.append(f"{k}: {first}")
        lines += [f"   {r}" for r in rest]
    return l10n.typo("\n".join(lines), s.language)


def summary_json(s: SessionSummary, goal_title: Callable[[str], str]) -> dict[str, Any]:
    """What ``prelude-play summary --json`` prints: exactly the figures the screen, note and report show."""
    return {
        "session": s.session["id"], "client": s.client_label, "started": s.session["started"],
        "duration_min": None if s.duration_min is None else round(s.duration_min, 1),
        "language": s.language, "activities": s.activities,
        "trials": len(s.trials), "scored": sum(1 for x in s.trials if x.is_scored), "not_scored": s.not_scored,
        "min_trials_for_level": s.min_trials, "independent_level": s.independent_level,
        "goals": {tag: s.goals[tag].as_json(goal_title(tag), s.min_trials) for tag in s.ordered_goals()},
        "trial_list": [{"trial_id": x.id, "n": x.order, "activity": x.activity, "opportunity": x.opportunity,
                        "goals": list(x.goals), "outcome": x.outcome, "prompt": x.prompt, "scored_by": x.scored_by,
                        "legacy": x.legacy} for x in s.trials],
    }


# ---- a stored session, summarized with the words it needs ----------------------------------------

def area_titles() -> dict[str, str]:
    """Goal-area titles from the shipped goals.toml (English source text; keys fall back to themselves)."""
    try:
        from prelude_play.config import resource_dir
        from prelude_play.goals import parse_goals

        goals, _ = parse_goals(resource_dir("config") / "goals.toml")
        return {k: a.title for k, a in goals.areas.items()}
    except Exception:
        return {}


def goal_titler(areas: dict[str, str], clients: Iterable[dict[str, Any]],
                t: Callable[[str], str] = lambda s: s) -> Callable[[str], str]:
    """A goal tag's title: the client's own goal text as written, else the area's title in ``t``'s language."""
    own = {f"client:{g['id']}": g.get("text", g["id"]) for c in clients
           for g in c.get("profile", {}).get("goals", []) if isinstance(g, dict) and "id" in g}

    def title(tag: str) -> str:
        if tag in own:
            return own[tag]
        if tag in areas:
            return t(areas[tag])
        return tag.replace("_", " ").capitalize()

    return title


def find_session(store: EventLog, id_or_prefix: str) -> dict[str, Any]:
    """One session by its id or the first characters of it; a ``StoreError`` that says what to do
    when none or several match."""
    key = (id_or_prefix or "").strip()
    sessions = store.sessions()
    exact = [s for s in sessions if s["id"] == key]
    if exact:
        return exact[0]
    match = [s for s in sessions if key and s["id"].startswith(key)]
    if len(match) == 1:
        return match[0]
    if not sessions:
        raise StoreError(f"{store.path}: the store has no sessions yet")
    if not match:
        latest = ", ".join(f"{s['id'][:13]} ({s['started'][:16].replace('T', ' ')})" for s in sessions[-3:][::-1])
        raise StoreError(f"no session {key!r} in {store.path}; the latest are {latest}. "
                         "Give a session id or its first characters")
    some = ", ".join(f"{s['id'][:13]} ({s['started'][:16].replace('T', ' ')})" for s in match[:5])
    raise StoreError(f"{key!r} is the start of {len(match)} sessions ({some}{', ...' if len(match) > 5 else ''}); "
                     "give more characters of the id")


@dataclass
class Wording:
    """The words of one language for notes and reports: gettext, activity titles, area titles.
    Made once per document (loading a catalog is the slow part)."""

    language: str
    t: Callable[[str], str]
    info: Callable[[str], ActivityInfo]
    areas: dict[str, str]

    @classmethod
    def of(cls, language: str, registry: Any = None) -> "Wording":
        from prelude_play.i18n import translator

        lang = "fr_CA" if l10n.is_french(language) else "en"
        t = translator(lang)
        info_of = activity_info_from(registry)

        def info(name: str) -> ActivityInfo:
            i = info_of(name)
            return ActivityInfo(t(i.title), i.noun, i.phrases, i.tables)

        return cls(lang, t, info, area_titles())

    def goal_title(self, client: dict[str, Any]) -> Callable[[str], str]:
        return goal_titler(self.areas, [client], self.t)


@dataclass
class StoredSummary:
    """A stored session summarized in its own language, with everything needed to word it."""

    summary: SessionSummary
    session: dict[str, Any]
    client: dict[str, Any]
    wording: Wording

    @property
    def language(self) -> str:
        return self.wording.language

    @property
    def t(self) -> Callable[[str], str]:
        return self.wording.t

    @property
    def info(self) -> Callable[[str], ActivityInfo]:
        return self.wording.info

    @property
    def goal_title(self) -> Callable[[str], str]:
        return self.wording.goal_title(self.client)

    def draft(self) -> dict[str, str]:
        return soap_draft(self.summary, self.goal_title, self.t, self.info, self.language)

    def soap(self) -> tuple[dict[str, str], set[str]]:
        """S, O, A and P as they stand: the therapist's edits (``sessions.soap``) where present, the
        app's draft elsewhere; and which fields the therapist wrote."""
        draft = self.draft()
        edits = {k: str(v) for k, v in (self.session.get("soap") or {}).items() if k in "SOAP" and str(v).strip()}
        return {k: edits.get(k) or draft[k] for k in "SOAP"}, set(edits)

    def json(self) -> dict[str, Any]:
        """``summary_json`` of this session: the figures ``prelude-play summary --json`` prints."""
        return summary_json(self.summary, self.goal_title)


def summarize_stored(store: EventLog, session: str | dict[str, Any], *, registry: Any = None,
                     language: str | None = None, names: bool = False,
                     events: Iterable[StoredEvent] | None = None, wording: Wording | None = None) -> StoredSummary:
    """``summarize_session`` for a session in ``store`` (by id, first characters of it, or its row):
    its client's goals, the scoring settings it ran with, words in its language (or ``language``,
    or ``wording``'s). The note, ``prelude-play summary`` and the report all start here; the
    report hands in the events it already read (``events``) and one ``wording`` for all sessions."""
    row = find_session(store, session) if isinstance(session, str) else session
    client = store.client(row["client_id"]) or {"id": row["client_id"], "code": "?", "display_name": "?",
                                                 "profile": {}}
    if wording is None:
        wording = Wording.of(language or session_language(row), registry)
    own = [f"client:{g['id']}" for g in client.get("profile", {}).get("goals", []) if isinstance(g, dict) and "id" in g]
    independent, min_trials = scoring_settings(row)
    label = client["display_name"] if names else client["code"]
    sm = summarize_session(row, store.events(session_id=row["id"]) if events is None else events, label,
                           independent_level=independent, client_goals=own, min_trials=min_trials, t=wording.t,
                           title=lambda a: wording.info(a).title)
    sm.language = wording.language
    return StoredSummary(sm, row, client, wording)


__all__ += ["NOT_SCORED", "goal_line", "goal_order", "activity_info_from", "area_titles", "goal_titler",
            "find_session", "summarize_stored", "StoredSummary", "Wording", "scoring_settings", "session_language"]
