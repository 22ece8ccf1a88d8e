"""Session plans: an ordered routine of activities with their settings, and the live schedule.

Plans ship as TOML in ``config/plans/`` (examples every client can use) and are saved per client
in the store. While a session runs, ``LiveSchedule`` is the routine as it actually happens: the
therapist skips, reorders or inserts steps, and every change is logged. A step whose activity is
not installed stays visible but is skipped with a notice, so a plan written for a fuller set of
activities still runs.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from prelude_play.config import capped, find_key_line, load_toml, using
from prelude_play.errors import ConfigError, brief
from prelude_play.store.eventlog import EventLog

PENDING, CURRENT, DONE, SKIPPED, MISSING = "pending", "current", "done", "skipped", "missing"


@dataclass
class PlanStep:
    """One step: an activity, its title and settings, and the client goals it works on.

    ``goals`` None means the step names none (a shipped example plan cannot know a client's
    goals): the therapist picks them on the rail, and the choice is remembered per activity.
    """

    activity: str
    title: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    goals: list[str] | None = None
    target_trials: int | None = None  # how many trials the therapist means to run in this step

    def label(self) -> str:
        return self.title or self.activity.replace("_", " ").capitalize()

    def as_dict(self) -> dict[str, Any]:
        d = {"activity": self.activity, "title": self.title, "settings": self.settings}
        if self.goals is not None:
            d["goals"] = list(self.goals)
        if self.target_trials:
            d["trials"] = self.target_trials
        return d


@dataclass
class Plan:
    id: str
    name: str
    steps: list[PlanStep]
    client_id: str | None = None
    source: str = "store"  # "store" or the TOML file it came from

    def as_steps(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.steps]


MAX_STEPS = 50


def parse_plan_file(path: Path) -> tuple[Plan | None, list[ConfigError]]:
    """One plan per file: ``name = "..."`` then ``[[steps]]`` tables with activity/title/settings.
    Never raises: a file that cannot be read is no plan, with its ConfigError."""
    try:
        data, text = load_toml(path)
    except ConfigError as exc:
        return None, [using(exc, "no plan from this file; the other plans are there")]
    problems: list[ConfigError] = []

    def line(key: str) -> int | None:
        return find_key_line(text, key)

    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(ConfigError("missing or empty", path=path, line=line("name"), key="name",
                                    hint=f'give the plan a name, e.g. name = "Monday group"; using {path.stem!r}'))
        name = path.stem
    steps: list[PlanStep] = []
    raw = data.get("steps", [])
    if not isinstance(raw, list) or not raw:
        problems.append(ConfigError("a plan needs at least one [[steps]] table", path=path, key="steps",
                                    line=line("steps"), hint='add [[steps]] with activity = "free_play"'))
        raw = []
    if len(raw) > MAX_STEPS:
        problems.append(ConfigError(f"{len(raw)} steps is more than a session holds", path=path, key="steps",
                                    line=line("steps"), hint=f"using the first {MAX_STEPS}"))
        raw = raw[:MAX_STEPS]
    for i, st in enumerate(raw):
        where = f"steps[{i}]"
        if not isinstance(st, dict) or not isinstance(st.get("activity"), str) or not st["activity"]:
            problems.append(ConfigError(f"step {i + 1} has no activity name", path=path, key=where,
                                        line=line(where) or line("steps"),
                                        hint='each [[steps]] needs activity = "<name>"; the step is left out'))
            continue
        settings = st.get("settings", {})
        if not isinstance(settings, dict):
            problems.append(ConfigError(f"settings must be a table, not {brief(settings)}", path=path,
                                        key=f"{where}.settings", line=line(f"{where}.settings") or line(where),
                                        hint="using the activity's own settings"))
            settings = {}
        goals = st.get("goals")
        if goals is not None and not (isinstance(goals, list) and all(isinstance(g, str) for g in goals)):
            problems.append(ConfigError("goals must be a list of client goal ids", path=path,
                                        key=f"{where}.goals", line=line(f"{where}.goals") or line(where),
                                        hint='e.g. goals = ["g1a2b3c"]; the therapist picks them on the rail'))
            goals = None
        trials = st.get("trials")
        if trials is not None and not (isinstance(trials, int) and not isinstance(trials, bool) and 1 <= trials <= 200):
            problems.append(ConfigError(f"trials = {brief(trials)}", path=path, key=f"{where}.trials",
                                        line=line(f"{where}.trials") or line(where),
                                        hint="a whole number of trials, 1–200; using no target"))
            trials = None
        title = st.get("title", "")
        if not isinstance(title, str):
            problems.append(ConfigError(f"title {brief(title)} must be text", path=path, key=f"{where}.title",
                                        line=line(f"{where}.title") or line(where), hint="using the activity's name"))
            title = ""
        steps.append(PlanStep(st["activity"], title, settings, goals, trials))
    plan_id = data.get("id")
    if plan_id is not None and not (isinstance(plan_id, str) and 0 < len(plan_id) <= 64):
        problems.append(ConfigError(f"id {brief(plan_id)} must be short text", path=path, key="id", line=line("id"),
                                    hint=f"using 'shipped:{path.stem}'"))
        plan_id = None
    return Plan(plan_id or f"shipped:{path.stem}", str(name), steps, None, str(path)), capped(problems, path)


def _step_activity_lines(text: str) -> list[int | None]:
    """The line of each ``[[steps]]`` table's ``activity =`` (its header line if it has none)."""
    lines: list[int | None] = []
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")
    activity = re.compile(r"^\s*[\"']?activity[\"']?\s*=")
    in_step = False
    for n, line in enumerate(text.splitlines(), start=1):
        m = header.match(line)
        if m:
            in_step = line.strip().startswith("[[") and m.group(1).strip() == "steps"
            if in_step:
                lines.append(n)
            continue
        if in_step and activity.match(line):
            lines[-1] = n
            in_step = False
    return lines


def check_plan_file(path: Path, installed: Iterable[str] | None = None) -> list[ConfigError]:
    """Every problem in a plan file; with ``installed`` (the activity names this app has) also
    each step naming an activity that is not installed: a shipped plan must run as written."""
    plan, problems = parse_plan_file(path)
    if plan is None or installed is None:
        return problems
    names = sorted(set(installed))
    try:
        data, text = load_toml(path)
    except ConfigError:
        return problems
    raw = data.get("steps", [])
    lines = _step_activity_lines(text)
    for i, st in enumerate(raw if isinstance(raw, list) else []):
        name = st.get("activity") if isinstance(st, dict) else None
        if isinstance(name, str) and name not in names:
            title = f" ({st['title']})" if isinstance(st.get("title"), str) and st["title"] else ""
            problems.append(ConfigError(
                f"step {i + 1}{title} names activity {name!r}, which is not installed", path=path,
                line=lines[i] if i < len(lines) else None, key=f"steps[{i}].activity",
                hint="installed activities: " + ", ".join(names)))
    return problems


def shipped_plans(folder: Path) -> tuple[list[Plan], list[ConfigError]]:
    plans, problems = [], []
    for f in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        plan, errs = parse_plan_file(f)
        problems += errs
        if plan is not None and plan.steps:
            plans.append(plan)
    return plans, problems


class PlanBook:
    """Plans available to a client: shipped examples plus the ones saved in the store."""

    def __init__(self, store: EventLog, shipped_dirs: Iterable[Path] = ()) -> None:
        self.store = store
        self.shipped: list[Plan] = []
        self.problems: list[ConfigError] = []
        for d in shipped_dirs:
            p, e = shipped_plans(Path(d))
            self.shipped += p
            self.problems += e

    def for_client(self, client_id: str | None) -> list[Plan]:
        stored = [Plan(r["id"], r["name"], [PlanStep(s["activity"], s.get("title", ""), s.get("settings", {}),
                                                     s.get("goals"), s.get("trials"))
                                            for s in r["steps"]], r["client_id"])
                  for r in self.store.stored_plans(client_id)]
        return stored + self.shipped

    def get(self, plan_id: str, client_id: str | None = None) -> Plan | None:
        return next((p for p in self.for_client(client_id) if p.id == plan_id), None)

    def save(self, plan: Plan, client_id: str | None) -> Plan:
        """Save (a copy of a shipped plan becomes the client's own)."""
        pid = plan.id if plan.source == "store" and not plan.id.startswith("shipped:") else uuid.uuid4().hex[:10]
        self.store.save_plan(pid, plan.name, plan.as_steps(), client_id)
        return Plan(pid, plan.name, list(plan.steps), client_id)


@dataclass
class ScheduleStep:
    step: PlanStep
    state: str = PENDING


class LiveSchedule:
    """The plan as it runs. Pure logic: the shell starts activities; this says which and logs why."""

    def __init__(self, plan: Plan, available: Callable[[str], bool],
                 log: Callable[[str, dict[str, Any]], Any] = lambda kind, data: None,
                 notify: Callable[[str], None] = lambda text: None,
                 translate: Callable[[str], str] = lambda s: s) -> None:
        self.plan = plan
        self.t = translate  # the therapist's notices are in the app's language
        self.available = available
        self._log = log
        self._notify = notify
        self.steps = [ScheduleStep(s) for s in plan.steps]
        self.index = -1  # nothing started yet
        self.paused = False

    # ---- what the client sees -----------------------------------------------------------------

    def titles(self) -> list[str]:
        return [s.step.label() for s in self.steps if s.state != SKIPPED]

    def visible_index(self) -> int:
        """Index of the current step among the titles (skipped steps are hidden from the client)."""
        shown = [i for i, s in enumerate(self.steps) if s.state != SKIPPED]
        return shown.index(self.index) if self.index in shown else len(shown) if self.finished else 0

    @property
    def current(self) -> PlanStep | None:
        return self.steps[self.index].step if 0 <= self.index < len(self.steps) else None

    @property
    def finished(self) -> bool:
        return self.index >= len(self.steps)

    def marks(self) -> list[str]:
        """How each of ``titles()`` is shown: "done", "current", "pending", or "skipped" — a step
        that did not run (its activity is not installed) is skipped, never done."""
        shown = {DONE: "done", CURRENT: "current", PENDING: "pending", MISSING: "skipped"}
        return [shown[s.state] for s in self.steps if s.state != SKIPPED]

    def next_label(self) -> str | None:
        for s in self.steps[self.index + 1:]:
            if s.state == PENDING:
                return s.step.label()
        return None

    # ---- moving along ------------------------------------------------------------------------

    def advance(self) -> PlanStep | None:
        """Finish the current step and move to the next runnable one (None at the end)."""
        if 0 <= self.index < len(self.steps) and self.steps[self.index].state == CURRENT:
            self.steps[self.index].state = DONE
        i = self.index + 1
        while i < len(self.steps):
            s = self.steps[i]
            if s.state == PENDING:
                if self.available(s.step.activity):
                    s.state = CURRENT
                    self.index = i
                    self._log("plan_step", {"index": i, "activity": s.step.activity, "title": s.step.label()})
                    return s.step
                s.state = MISSING
                self._notify(self.t("{step}: the activity \"{activity}\" is not installed, skipped").format(
                    step=self.t(s.step.label()), activity=s.step.activity))
                self._log("plan_skip", {"index": i, "activity": s.step.activity, "reason": "not installed"})
            i += 1
        self.index = len(self.steps)
        return None

    def skip(self, i: int) -> None:
        """Skip a step that has not run yet (the current step: use advance)."""
        if 0 <= i < len(self.steps) and self.steps[i].state == PENDING:
            self.steps[i].state = SKIPPED
            self._log("plan_skip", {"index": i, "activity": self.steps[i].step.activity, "reason": "therapist"})

    def move(self, i: int, delta: int) -> bool:
        """Move a pending step earlier/later among the pending steps after the current one."""
        j = i + delta
        lo = self.index + 1
        if not (lo <= i < len(self.steps) and lo <= j < len(self.steps)):
            return False
        if self.steps[i].state not in (PENDING, SKIPPED) or self.steps[j].state not in (PENDING, SKIPPED):
            return False
        self.steps[i], self.steps[j] = self.steps[j], self.steps[i]
        self._log("plan_reorder", {"from": i, "to": j, "activity": self.steps[j].step.activity})
        return True

    def insert(self, step: PlanStep, at: int | None = None) -> int:
        """Insert a step (default: right after the current one)."""
        pos = self.index + 1 if at is None else max(self.index + 1, min(at, len(self.steps)))
        self.steps.insert(pos, ScheduleStep(step))
        self._log("plan_insert", {"index": pos, "activity": step.activity, "title": step.label()})
        return pos

    def jump(self, i: int) -> PlanStep | None:
        """Start step ``i`` now (the ones in between stay pending)."""
        if not (0 <= i < len(self.steps)) or self.steps[i].state != PENDING:
            return None
        if not self.available(self.steps[i].step.activity):
            self.steps[i].state = MISSING
            self._notify(self.t("{step}: the activity \"{activity}\" is not installed").format(
                step=self.t(self.steps[i].step.label()), activity=self.steps[i].step.activity))
            return None
        if 0 <= self.index < len(self.steps) and self.steps[self.index].state == CURRENT:
            self.steps[self.index].state = DONE
        # Move step i to right after the current index so the order shown stays true.
        s = self.steps.pop(i)
        pos = min(self.index + 1, len(self.steps)) if i > self.index else i
        self.steps.insert(pos, s)
        s.state = CURRENT
        self.index = pos
        self._log("plan_step", {"index": pos, "activity": s.step.activity, "title": s.step.label()})
        return s.step

    def settings_for(self, step: PlanStep) -> dict[str, Any]:
        """The step's settings. The visual schedule is the shell's one strip, not the activity's:
        a second strip on the client's screen is one too many."""
        return dict(step.settings)

    def record(self) -> list[dict[str, Any]]:
        """What happened to each step (kept with the session)."""
        return [{"activity": s.step.activity, "title": s.step.label(), "state": s.state} for s in self.steps]
