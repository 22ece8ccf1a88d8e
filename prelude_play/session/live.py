"""The live session: client, session record, plan, activity lifecycle, trials, scores, log.

Everything a therapist signs comes from here, so it is testable without pygame: the shell feeds
it input and draws what it says; activities reach it only through their ``ActivityContext``.

Scoring rule (shown on the rail as "next score →"): a therapist's score lands on the trial the
activity has open, if it has no therapist score yet; else on the trial of this activity run that
closed most recently, within ``scoring.score_window_s``, if unscored by the therapist; else it
makes a new trial of its own (free play, or a response the activity did not see). One touch is
one trial's score: to change a score, undo it or edit the trial, never score it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prelude_play.activity import Activity, ActivityContext, Registry
from prelude_play.clock import Clock, ms_since
from prelude_play.config import AppConfig
from prelude_play.errors import ActivityError, PreludeError
from prelude_play.events import InputEvent, LogEvent
from prelude_play.ids import uuid7
from prelude_play.session.scoring import ScoreCode, score_codes
from prelude_play.store.eventlog import EventLog, Session
from prelude_play.store.plans import PENDING, LiveSchedule, Plan, PlanStep
from prelude_play.store.trials import (CORRECTION, SCORE, TRIAL_CLOSE, TRIAL_GOALS, TRIAL_OPEN, GoalFigures,
                                       Trial, goal_figures, read_trials)


@dataclass
class Services:
    """What the shell hands every activity: devices and the input queue (stand-ins by default)."""

    audio: Any = None
    midi_out: Any = None
    post: Callable[[InputEvent], None] = lambda ev: None
    open_mic: Callable[[], Any] = lambda: None
    assets_dir: Path | None = None
    area: Callable[[], tuple[int, int]] = lambda: (1280, 728)
    """The activity's area on screen now (the shell's, beside the rail when it is shown)."""
    bar_height: int = 72


@dataclass
class MemEvent:
    """A trial event as the live session keeps it, the shape ``store.trials.read_trials`` reads."""

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
class ScoreTarget:
    """Where the next score lands: on ``trial`` ("open" or "recent"), or a new trial ("new")."""

    how: str
    trial: Trial | None = None
    age_ms: float = 0.0


@dataclass
class Scored:
    event_id: str
    trial_id: str
    outcome: str
    prompt: str
    how: str


@dataclass
class StepGoals:
    """The client goals a step works on, chosen by the plan or the therapist (never inferred)."""

    tags: list[str] = field(default_factory=list)


class LiveSession:
    """One client's session as it happens. One per app; ``record`` is None between sessions."""

    def __init__(self, *, store: EventLog, registry: Registry, clock: Clock, cfg: AppConfig,
                 services: Services | None = None, data_dir: Path | None = None,
                 translate: Callable[[str], str] = lambda s: s, notify: Callable[[str], None] = lambda s: None,
                 provenance: Callable[[], dict[str, Any]] = dict,
                 on_change: Callable[[str], None] = lambda what: None,
                 language: Callable[[], str] = lambda: "en") -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.cfg = cfg
        self.services = services or Services()
        self.data_dir = data_dir
        self.t = translate
        self.notify = notify
        self.provenance = provenance
        self.on_change = on_change
        self.language = language
        self.client_id: str | None = None
        self.record: Session | None = None
        self.activity: Activity | None = None
        self.activity_name: str | None = None
        self.ctx: ActivityContext | None = None
        self.schedule: LiveSchedule | None = None
        self.last_activity: str | None = None
        self.prompt_level = cfg.scoring.prompt_levels[0]
        self.targets: tuple[str, ...] = ()
        self.codes: dict[str, ScoreCode] = score_codes(cfg.scoring.prompt_levels, cfg.scoring.outcomes)
        self._mem: list[MemEvent] = []
        self._seq = 0
        self._run_start = 0  # seq where the current activity run began (the score window stays inside it)
        self._countdown: tuple[int, int] | None = None  # "n more turns" the therapist announced: (n, closed then)
        self._run_trials = 0
        self._scores: list[tuple[str, str]] = []  # (score event id, trial id) undo can take back
        self._trials_cache: list[Trial] | None = None

    # ---- clients ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.record is not None

    def select_client(self, client_id: str, create: bool = False) -> dict[str, Any] | None:
        """Make ``client_id`` current; None (and a notice) while another client's session runs."""
        if self.record is not None and self.record.client_id != client_id:
            self.notify(self.t("End the session before switching clients"))
            return None
        if create:
            self.store.ensure_client(client_id)
        self.client_id = client_id
        return self.store.client_profile(client_id)

    def client_goals(self) -> list[dict[str, Any]]:
        if self.client_id is None:
            return []
        return [g for g in self.store.client_profile(self.client_id).get("goals", []) if isinstance(g, dict)]

    # ---- the session ------------------------------------------------------------------------

    def ensure_started(self, plan: str | None = None) -> Session:
        if self.record is None:
            assert self.client_id is not None
            self.record = self.store.start_session(self.client_id, self.provenance(), plan=plan)
            self._mem.clear()
            self._scores.clear()
            self._trials_cache = None
        elif plan is not None:
            self.store.set_session_plan(self.record.id, plan)
        return self.record

    def elapsed_ms(self) -> float:
        return ms_since(self.record.t0_ns, self.clock.now_ns()) if self.record else 0.0

    def end(self) -> str | None:
        """Stop the activity, close the plan and the session; returns the session's id."""
        self.stop_activity()
        self.end_plan()
        if self.record is None:
            return None
        sid = self.record.id
        self.store.end_session(self.record)
        self.record = None
        self.on_change("ended")
        return sid

    def log(self, ev: LogEvent) -> str | None:
        """Append to the session's log; trial events are also kept for the live tally."""
        if self.record is None:
            return None
        if ev.id is None:
            ev.id = uuid7()
        if ev.trial is not None:
            t_ns = ev.t_ns if ev.t_ns is not None else self.clock.now_ns()
            self._seq += 1
            self._mem.append(MemEvent(self._seq, ev.id, ev.kind, ev.actor, self.record.activity,
                                      ms_since(self.record.t0_ns, t_ns), tuple(ev.goals), ev.prompt, ev.outcome,
                                      dict(ev.data), ev.corrects, ev.trial))
            self._trials_cache = None
        return self.store.log(self.record, ev)

    # ---- plans ------------------------------------------------------------------------------

    def start_plan(self, plan: Plan) -> None:
        if self.client_id is None:
            return
        self.schedule = LiveSchedule(plan, lambda a: a in self.registry.entries,
                                     lambda kind, data: self.log(LogEvent(kind, actor="therapist", data=data)),
                                     self.notify, self.t)
        self.ensure_started(plan=plan.name)
        self.log(LogEvent("plan_start", actor="therapist", data={"plan": plan.name, "id": plan.id,
                                                                 "steps": plan.as_steps()}))
        self.next_step()

    def next_step(self) -> None:
        sch = self.schedule
        if sch is None:
            return
        step = sch.advance()
        if step is None:
            self.log(LogEvent("plan_end", actor="therapist", data={"steps": sch.record()}))
            self.notify(self.t("The plan is finished"))
            self.pause()
            self.on_change("plan_finished")
            return
        self.run_step(step)

    def run_step(self, step: PlanStep) -> None:
        assert self.schedule is not None
        self.start_activity(step.activity, settings=self.schedule.settings_for(step), goals=step.goals)

    def end_plan(self) -> None:
        if self.schedule is not None:
            self.log(LogEvent("plan_end", actor="therapist", data={"steps": self.schedule.record()}))
        self.schedule = None

    def choose_next(self, activity: str, title: str = "") -> str:
        """The client chose what comes next (a "What next?" card): ``activity`` becomes the plan's
        next step — its own pending step brought forward (keeping the step's settings and goals),
        else a new step inserted after the current one. Logged as ``next_chosen`` with how it
        went; the therapist still decides when the step starts."""
        sch = self.schedule
        index: int | None = None
        if sch is None or sch.current is None:
            how = "no_plan"
        elif activity not in self.registry.entries:
            how = "not_installed"
        else:
            mine = next((i for i in range(sch.index + 1, len(sch.steps))
                         if sch.steps[i].state == PENDING and sch.steps[i].step.activity == activity), None)
            if mine is not None and mine == self._next_pending(sch):
                how, index = "already_next", mine
            else:
                j = mine
                while j is not None and j > sch.index + 1 and sch.move(j, -1):  # the schedule logs each swap
                    j -= 1
                if j is not None and self._next_pending(sch) == j:
                    how, index = "moved", j
                else:  # not in the plan (or held behind a step that cannot move): a step of its own
                    how, index = "inserted", sch.insert(PlanStep(activity, title or self.registry.entries[activity].title))
            self.refresh_schedule()
        self.log(LogEvent("next_chosen", actor="client",
                          data={"activity": activity, "title": title, "how": how, "index": index}))
        if how == "not_installed":
            self.notify(self.t("Chosen next, but not installed") + f": {activity}")
        elif sch is not None and index is not None:
            self.notify(self.t("Next") + f": {self.t(sch.steps[index].step.label())}")
        return how

    @staticmethod
    def _next_pending(sch: LiveSchedule) -> int | None:
        """The step ``advance`` will start next."""
        return next((i for i in range(sch.index + 1, len(sch.steps)) if sch.steps[i].state == PENDING), None)

    def refresh_schedule(self) -> None:
        """The schedule strip follows live edits (the shell draws it from ``schedule``)."""
        self.on_change("schedule")

    # ---- activities -------------------------------------------------------------------------

    def start_activity(self, name: str, settings: dict[str, Any] | None = None,
                       goals: list[str] | None = None) -> bool:
        """Start ``name`` for the current client (the session starts with it if needed).

        ``goals``: the client goals this step targets (a plan step's own list); None takes the
        ones the therapist chose for this activity with this client last time.
        """
        if self.client_id is None:
            self.notify(self.t("Pick a client first"))
            return False
        try:
            entry = self.registry.get(name)
        except ActivityError:
            self.notify(self.t("This activity is not installed: {name}").format(name=name))
            return False
        self.ensure_started()
        assert self.record is not None
        self.stop_activity()
        profile = self.store.client_profile(self.client_id)
        overrides = dict(profile.get("activities", {}).get(name, {}))
        overrides.pop("goals", None)
        overrides.update(settings or {})  # a plan step's settings (and the visual schedule)
        if self.data_dir is not None:  # where an activity may keep the therapist's own files
            for key, sub in (("user_boards_dir", "boards"), ("user_images_dir", "images")):
                if key in entry.defaults and not entry.defaults.get(key):
                    overrides.setdefault(key, str(self.data_dir / sub))
        self.targets = self._initial_targets(name, goals, profile)
        act = entry.create(overrides)
        sv = self.services
        from prelude_play.ui.theme import Theme

        size = sv.area()
        low = bool(self.cfg.ui.low_stimulation or profile.get("low_stimulation") or act.config.get("low_stimulation"))
        theme = Theme((size[0], size[1] + sv.bar_height), low)
        ctx = ActivityContext(
            clock=self.clock, activity_name=name, goals=entry.cls.goals, settings=act.config,
            log_sink=self.log, audio=sv.audio, midi_out=sv.midi_out, client={"id": self.client_id, **profile},
            translate=self.t, notify=self.notify, prompt_level=lambda: self.prompt_level,
            assets_dir=sv.assets_dir, prompt_levels=tuple(self.cfg.scoring.prompt_levels),
            outcomes=tuple(self.cfg.scoring.outcomes), post=sv.post, open_mic=sv.open_mic,
            targets=lambda: self.targets, score_window_s=self.cfg.scoring.score_window_s,
            theme=theme, size=size, keep=self._keep, recall=self._recall, choose_next=self.choose_next,
            language=self.language,
            client_name=str((self.store.client(self.client_id) or {}).get("display_name") or ""))
        self.record.activity = name
        self._run_start = self._seq  # before prepare: a trial the activity opens there is part of this run
        self._countdown = None
        try:
            act.prepare(ctx)
        except Exception as exc:
            self.notify(self.t("{activity} could not start: {err}").format(activity=self._title(name), err=exc))
            self.log(LogEvent("activity_error", actor="system", data={"stage": "prepare", "error": repr(exc)}))
            self.record.activity = "home"
            self.on_change("activity_failed")
            return False
        self.activity, self.activity_name, self.ctx = act, name, ctx
        self.last_activity = name
        self._scores.clear()
        self.log(LogEvent("activity_start", actor="system", goals=tuple(dict.fromkeys(self.targets + entry.cls.goals)),
                          data={"version": entry.cls.version, "settings": act.config,
                                "targets": list(self.targets)}))
        self.on_change("activity_started")
        return True

    def _keep(self, key: str, value: Any) -> None:
        """An activity keeps something in the client's profile (logged too, as every change is)."""
        if self.client_id is None:
            return
        profile = self.store.client_profile(self.client_id)
        profile[key] = value
        self.store.set_client_profile(self.client_id, profile)
        self.log(LogEvent("profile_kept", actor="system", data={"key": key}))

    def _recall(self, kind: str) -> dict[str, Any] | None:
        if self.client_id is None:
            return None
        return self.store.latest_event_data(self.client_id, kind)

    def _initial_targets(self, name: str, goals: list[str] | None, profile: dict[str, Any]) -> tuple[str, ...]:
        own = {f"client:{g['id']}" for g in profile.get("goals", []) if isinstance(g, dict) and "id" in g}
        if goals is None:
            goals = profile.get("activities", {}).get(name, {}).get("goals", [])
        tags = [g if g.startswith("client:") else f"client:{g}" for g in goals or []]
        return tuple(t for t in dict.fromkeys(tags) if t in own)

    def _title(self, name: str) -> str:
        """An activity's title in the app's language (its name when it is not installed)."""
        entry = self.registry.entries.get(name)
        return self.t(entry.title) if entry is not None else name

    def stop_activity(self) -> None:
        act = self.activity
        if act is None:
            return
        try:
            act.stop()
        except Exception as exc:
            self.notify(self.t("{activity} did not stop cleanly: {err}").format(
                activity=self._title(self.activity_name or "?"), err=exc))
        if self.ctx is not None:
            self.ctx.close_all_trials("ended")
        self.log(LogEvent("activity_stop", actor="system"))
        self.activity, self.activity_name, self.ctx = None, None, None
        if self.record is not None:
            self.record.activity = "home"
        self.on_change("activity_stopped")

    def activity_failed(self, stage: str, exc: Exception) -> None:
        """An activity crashed: keep the session and the log, back to home with a notice."""
        name = self.activity_name or "?"
        self.notify(self.t("{activity} stopped after an error ({stage}: {err}); the session and its log are kept")
                    .format(activity=self._title(name), stage=stage, err=f"{type(exc).__name__}: {exc}"))
        self.log(LogEvent("activity_error", actor="system", data={"stage": stage, "error": repr(exc)}))
        if self.ctx is not None:
            self.ctx.close_all_trials("error")
        self.activity, self.activity_name, self.ctx = None, None, None
        if self.record is not None:
            self.record.activity = "home"
        self.on_change("activity_failed")

    def pause(self) -> None:
        """Leave the activity (the session stays open to resume)."""
        self.last_activity = self.activity_name or self.last_activity
        self.stop_activity()

    def resume(self) -> None:
        sch = self.schedule
        if sch is not None and sch.current is not None:  # back into the plan's step, with its settings
            self.run_step(sch.current)
            return
        if self.last_activity:
            self.start_activity(self.last_activity)

    def call(self, stage: str, fn: Callable[[], Any]) -> Any:
        """Run an activity hook; a crash ends the activity (never the session)."""
        try:
            return fn()
        except Exception as exc:
            self.activity_failed(stage, exc)
            return None

    # ---- goals ------------------------------------------------------------------------------

    def set_targets(self, tags: tuple[str, ...] | list[str], *, remember: bool = True) -> None:
        """The therapist changed the goals this step works on: from now on, and for the open trial."""
        own = {f"client:{g['id']}" for g in self.client_goals() if "id" in g}
        new = tuple(t for t in dict.fromkeys(tags) if t in own)
        if new == self.targets:
            return
        self.targets = new
        self.log(LogEvent("goals_targeted", actor="therapist", goals=new, data={"targets": list(new)}))
        if self.ctx is not None:
            for tid in self.ctx.open_trials:
                self.log(LogEvent(TRIAL_GOALS, actor="therapist", goals=self.ctx.trial_goals(tid), trial=tid))
        if remember and self.activity_name and self.client_id:
            from prelude_play.store.clients import ClientBook

            try:
                ClientBook(self.store).remember_targets(self.client_id, self.activity_name, list(new))
            except PreludeError as exc:
                self.notify(str(exc))

    def toggle_target(self, tag: str) -> None:
        cur = list(self.targets)
        self.set_targets([t for t in cur if t != tag] if tag in cur else cur + [tag])

    # ---- trials and scores ------------------------------------------------------------------

    def trials(self) -> list[Trial]:
        """This session's trials so far (the same reading the summary and reports use)."""
        if self._trials_cache is None:
            self._trials_cache = read_trials(self._mem)
        return self._trials_cache

    def run_trials(self) -> list[Trial]:
        """Trials of the activity that is running now."""
        ids = {e.trial_id for e in self._mem if e.seq > self._run_start and e.kind == TRIAL_OPEN}
        return [t for t in self.trials() if t.id in ids]

    def _closed_in_run(self) -> int:
        """Turns taken in this run: trials closed or already scored (a score ends a turn for the child)."""
        return sum(1 for x in self.run_trials() if x.closed_ms is not None or x.is_scored)

    def warn_turns(self, n: int = 2) -> None:
        """The therapist says "two more turns": the child's schedule counts them down from now."""
        if self.activity is None:
            return
        self._countdown = (n, self._closed_in_run())
        self.log(LogEvent("transition_warning", actor="therapist", data={"turns": n}))
        self.on_change("schedule")

    def turns_left(self) -> int | None:
        """Turns before this step ends, for the child's schedule: the therapist's countdown, else
        the plan step's number of trials; None when nobody said."""
        if self._countdown is not None:
            n, base = self._countdown
            return max(0, n - (self._closed_in_run() - base))
        sch = self.schedule
        target = sch.current.target_trials if sch is not None and sch.current is not None else None
        if not target or self.activity is None:
            return None
        return max(0, target - self._closed_in_run())

    def tally(self) -> dict[str, GoalFigures]:
        return goal_figures(self.trials(), independent_level=self.cfg.scoring.prompt_levels[0],
                            goals=self.targets)

    def score_target(self, now_ns: int | None = None) -> ScoreTarget:
        now_ms = ms_since(self.record.t0_ns, now_ns if now_ns is not None else self.clock.now_ns()) \
            if self.record else 0.0
        mine = [t for t in self.run_trials() if t.opportunity != "therapist"]
        open_ = [t for t in mine if t.closed_ms is None and t.score is None]
        if open_:
            return ScoreTarget("open", open_[-1])
        window = self.cfg.scoring.score_window_s * 1000
        recent = [t for t in mine if t.closed_ms is not None and t.score is None and now_ms - t.closed_ms <= window]
        if recent:
            t = max(recent, key=lambda t: (t.closed_ms or 0.0, t.order))
            return ScoreTarget("recent", t, now_ms - (t.closed_ms if t.closed_ms is not None else now_ms))
        return ScoreTarget("new")

    def resolve(self, code: str) -> tuple[str, str] | None:
        """(outcome, prompt) for a score code or outcome name; None if it is not one."""
        c = self.codes.get(code)
        if c is None:
            return None
        return c.outcome, c.prompt or self.prompt_level

    def score(self, code: str, *, source: str = "touch", device: str = "", t_ns: int | None = None,
              trial_id: str | None = None) -> Scored | None:
        """The therapist's one-touch score (``+I``, ``-``, ``success``...), on the trial the rule picks
        (or on ``trial_id``: an edit of that trial). Resets the armed prompt level."""
        res = self.resolve(code)
        if res is None or self.record is None or self.activity is None:
            return None
        outcome, prompt = res
        t = t_ns if t_ns is not None else self.clock.now_ns()
        if trial_id is not None:
            trial = next((x for x in self.trials() if x.id == trial_id), None)
            if trial is None:
                return None
            if trial.score is not None:  # an edit of a standing score: a correction, never an overwrite
                eid = self.log(LogEvent(CORRECTION, actor="therapist", source=source, device=device, t_ns=t,
                                        goals=trial.goals, prompt=prompt, outcome=outcome,
                                        corrects=trial.score.event_id, trial=trial.id,
                                        data={"action": "edit", "outcome": outcome, "prompt": prompt,
                                              "was": [trial.score.outcome, trial.score.prompt]}))
                self._after_score(trial.id, outcome, prompt)
                return Scored(eid or "", trial.id, outcome, prompt, "edit")
            target = ScoreTarget("edit", trial)
        else:
            target = self.score_target(t)
        if target.trial is None:
            tid = uuid7()
            goals = tuple(dict.fromkeys(self.targets + self.registry.entries[self.activity_name or ""].cls.goals)) \
                if self.activity_name in self.registry.entries else self.targets
            self.log(LogEvent(TRIAL_OPEN, actor="therapist", source=source, device=device, t_ns=t, goals=goals,
                              trial=tid, data={"opportunity": "therapist"}))
        else:
            tid, goals = target.trial.id, target.trial.goals
        eid = self.log(LogEvent(SCORE, actor="therapist", source=source, device=device, t_ns=t, goals=goals,
                                prompt=prompt, outcome=outcome, trial=tid,
                                data={"code": code, "landed": target.how, "source": source}))
        if target.trial is None:
            self.log(LogEvent(TRIAL_CLOSE, actor="therapist", t_ns=t, goals=goals, trial=tid,
                              data={"reason": "scored"}))
        assert eid is not None
        self._scores.append((eid, tid))
        self._after_score(tid, outcome, prompt)
        return Scored(eid, tid, outcome, prompt, target.how)

    def _after_score(self, trial_id: str, outcome: str, prompt: str) -> None:
        self.prompt_level = self.cfg.scoring.prompt_levels[0]
        act = self.activity
        if act is not None:
            self.call("on_scored", lambda: act.on_scored(trial_id, outcome, prompt))

    def undo(self) -> str | None:
        """Take back the last score still standing: a correction event, nothing overwritten."""
        if self.record is None:
            return None
        standing = {t.score.event_id: t for t in self.trials() if t.score is not None}
        while self._scores:
            eid, tid = self._scores.pop()
            trial = standing.get(eid)
            if trial is None:
                continue
            done = self.log(LogEvent(CORRECTION, actor="therapist", source="touch", corrects=eid, trial=tid,
                                     goals=trial.goals,
                                     data={"action": "undo", "undone_outcome": trial.score.outcome if trial.score
                                           else None, "undone_prompt": trial.score.prompt if trial.score else None}))
            after = next((t for t in self.trials() if t.id == tid), None)
            act = self.activity
            if act is not None:  # the activity shows what now counts (its judgement, or nothing)
                outcome = after.outcome if after is not None else "not_scored"
                prompt = after.prompt if after is not None else None
                self.call("on_scored", lambda: act.on_scored(tid, outcome, prompt))
            return done
        return None

    def set_prompt(self, level: str) -> None:
        if level in self.cfg.scoring.prompt_levels:
            self.prompt_level = level

    def next_prompt(self) -> None:
        levels = self.cfg.scoring.prompt_levels
        self.prompt_level = levels[(levels.index(self.prompt_level) + 1) % len(levels)]

    def note(self, text: str) -> str | None:
        text = text.strip()
        if not text or self.record is None:
            return None
        return self.log(LogEvent("note", actor="therapist", source="key", data={"note": text}))

    def last_score(self) -> tuple[str, str | None] | None:
        for t in reversed(self.trials()):
            if t.score is not None:
                return t.score.outcome, t.score.prompt
        return None
