"""The activity contract, the context an activity runs in, and the registry that finds them.

An activity is a plain class with metadata and a short lifecycle (OpenSesame's prepare/run):
``prepare(ctx)`` checks settings and loads everything slow before the client is waiting;
then ``handle(event)`` / ``update(now_ns)`` / ``draw(surface)`` per frame; ``stop()``.
Logic lives apart from drawing so it runs and is tested without a display.

Activities come from the ``activities/`` folder (built-ins, registered explicitly by scanning
that one package) and from installed packages under the entry-point group
``prelude_play.activities`` (pluggy-style). A module that fails to import or whose class is
malformed is reported by name; the others still load.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Protocol

from prelude_play.clock import Clock
from prelude_play.config import load_toml, using
from prelude_play.errors import ActivityError, ConfigError
from prelude_play.events import InputEvent, LogEvent
from prelude_play.ids import uuid7

if TYPE_CHECKING:  # pygame is only needed to draw
    import pygame

    from prelude_play.ui.theme import Theme

ENTRY_POINT_GROUP = "prelude_play.activities"


class AudioOut(Protocol):
    """What an activity may ask of the audio engine (the real engine or a test fake)."""

    def trigger(self, name: str, velocity: float = 1.0, *, pan: float = 0.0,
                at_ns: int | None = None, gain: float = 1.0) -> None: ...


class ActivityContext:
    """Everything an activity may touch, passed in at ``prepare`` (no globals).

    ``log`` tags an event with the activity's goal areas and the client goals the current plan
    step targets (never goals guessed from areas); the shell binds it to the event store. Trials
    (``open_trial`` / ``close_trial`` / ``judge``) are the only thing figures are counted from:
    see ``prelude_play.store.trials``. Tests build a context with recording fakes.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        activity_name: str,
        goals: tuple[str, ...],
        settings: dict[str, Any],
        log_sink: Callable[[LogEvent], str | None],
        audio: AudioOut | None = None,
        midi_out: Any = None,
        client: dict[str, Any] | None = None,
        translate: Callable[[str], str] = lambda s: s,
        notify: Callable[[str], None] = lambda s: None,
        prompt_level: Callable[[], str] = lambda: "independent",
        assets_dir: Path | None = None,
        prompt_levels: tuple[str, ...] = ("independent", "gestural", "verbal", "model", "physical"),
        outcomes: tuple[str, ...] = ("success", "partial", "not_yet", "no_response"),
        post: Callable[[InputEvent], None] = lambda ev: None,
        open_mic: Callable[[], Any] = lambda: None,
        targets: Callable[[], tuple[str, ...]] = lambda: (),
        score_window_s: float = 5.0,
        theme: "Theme | None" = None,
        size: tuple[int, int] = (1280, 728),
        keep: Callable[[str, Any], None] = lambda key, value: None,
        recall: Callable[[str], dict[str, Any] | None] = lambda kind: None,
        client_name: str = "",
        choose_next: Callable[[str, str], str] = lambda activity, title: "no_plan",
        language: Callable[[], str] = lambda: "en",
    ) -> None:
        self.clock = clock
        self.activity_name = activity_name
        self.goals = goals
        self.settings = settings
        self._log_sink = log_sink
        self.audio = audio
        self.midi_out = midi_out
        self.client = client or {}
        self.t = translate
        self.notify = notify
        self._prompt_level = prompt_level
        self.assets_dir = assets_dir
        self.prompt_levels = prompt_levels
        self.outcomes = outcomes
        self.notices: list[str] = []
        self.post = post
        """Put an InputEvent on the app's input queue from any thread (e.g. a mic analysis worker)."""
        self.open_mic = open_mic
        """The shared microphone Capture (started on first call), or None with no usable input."""
        self._targets = targets
        self.score_window_s = score_window_s
        """How long after a trial closes a therapist's score still lands on it (``scoring.score_window_s``):
        an activity that presents opportunities back to back waits this long before opening the next
        trial, so a score of the response just judged is not taken by an empty new trial."""
        if theme is None:
            from prelude_play.ui.theme import Theme

            theme = Theme((size[0], size[1] + Theme().bar_height))
        self.theme = theme
        """The activity's theme: sizes scaled to its own area, the client's low stimulation. The shell
        keeps it in step with the window (and the rail beside it) before each ``layout``."""
        self.size = size
        """The activity's area in pixels (the client's screen below the top bar, beside the rail)."""
        self.keep = keep
        """Keep ``value`` under ``key`` in the client's profile (e.g. a vowel calibration): the next
        session starts with it."""
        self.recall = recall
        """The data of this client's latest logged event of a kind, in any session (or None)."""
        self.client_name = client_name
        """The client's display name, for the child's screen on this device only (a hello song
        sings it): never log it, never put it in settings (they are logged) or in a trial."""
        self._choose_next = choose_next
        self._language = language
        self._trial_areas: dict[str, tuple[str, ...]] = {}
        self.open_trials: list[str] = []
        """Trials this activity opened and has not closed yet, oldest first."""

    def now_ns(self) -> int:
        return self.clock.now_ns()

    @property
    def language(self) -> str:
        """The session's language now ("en", "fr_CA"): the therapist may switch it mid-activity."""
        return self._language()

    def choose_next(self, activity: str, title: str = "") -> str:
        """The client chose what happens next (a "What next?" card): make ``activity`` the running
        plan's next step (``title`` names a step it adds). The session logs it and says how:
        "moved", "inserted", "already_next", "not_installed" or "no_plan"."""
        return self._choose_next(activity, title)

    def prepare_sounds(self, names: Iterable[str], *, later: Iterable[str] = (), required: bool = True) -> list[str]:
        """Render ``names`` now, before the client is waiting (OpenSesame's prepare), and ``later``
        in the background, one at a time (a hit before then renders on demand).

        ``required``: a sound that cannot be made raises ``ActivityError`` naming it (fail early);
        otherwise the names that failed are returned (the activity substitutes a placeholder)."""
        failed: list[str] = []
        prepare = getattr(self.audio, "prepare", None)
        if not callable(prepare):  # no audio engine at all (a test's recording fake): nothing to render
            return failed
        for name in dict.fromkeys(names):
            try:
                prepare([name])
            except Exception as exc:
                if required:
                    raise ActivityError(self.activity_name, f"sound {name!r} cannot be made: {exc}") from exc
                failed.append(name)
        rest = [n for n in dict.fromkeys(later)]
        if rest:
            import threading

            def warm() -> None:
                for n in rest:  # one at a time, so a bad name cannot stop the others
                    try:
                        prepare([n])
                    except Exception:
                        pass

            threading.Thread(target=warm, name=f"{self.activity_name}-sounds", daemon=True).start()
        return failed

    @property
    def prompt(self) -> str:
        """The prompt level the therapist has set for the next response (default independent)."""
        return self._prompt_level()

    def targets(self) -> tuple[str, ...]:
        """The client goals (``client:<id>``) the current plan step works on, as the therapist set them."""
        return tuple(self._targets())

    def trial_goals(self, trial_id: str) -> tuple[str, ...]:
        """A trial's goals: the targeted client goals, then the areas it was opened with."""
        areas = self._trial_areas.get(trial_id, self.goals)
        return tuple(dict.fromkeys(self.targets() + tuple(areas)))

    def log(self, kind: str, *, actor: str = "client", source: str = "system", device: str = "",
            t_ns: int | None = None, goals: tuple[str, ...] | None = None,
            prompt: str | None = None, outcome: str | None = None,
            data: dict[str, Any] | None = None, corrects: str | None = None,
            trial: str | None = None) -> str | None:
        """Log an event. In a trial it carries the trial's goals; otherwise ``goals`` (default: the
        activity's areas) plus the targeted client goals. ``outcome`` is for trial kinds only:
        use ``judge`` to record how a response went."""
        if trial is not None:
            tags = self.trial_goals(trial)
        else:
            tags = tuple(dict.fromkeys(self.targets() + tuple(goals if goals is not None else self.goals)))
        return self._log_sink(LogEvent(
            kind=kind, actor=actor, source=source, device=device, t_ns=t_ns, goals=tags, prompt=prompt,
            outcome=outcome, data=data or {}, corrects=corrects, trial=trial))

    # ---- trials -----------------------------------------------------------------------------

    def open_trial(self, opportunity: str, *, t_ns: int | None = None, areas: tuple[str, ...] | None = None,
                   data: dict[str, Any] | None = None) -> str:
        """An opportunity for the client to respond is presented (a board shown, a call sung, a
        model played, a cue given). Returns the trial's id: pass it to ``log(trial=...)`` for the
        response, then ``judge`` and/or ``close_trial``."""
        tid = uuid7()
        self._trial_areas[tid] = tuple(areas) if areas is not None else self.goals
        self.open_trials.append(tid)
        self.log("trial_open", actor="system", t_ns=t_ns, trial=tid,
                 data={"opportunity": opportunity, "areas": list(self._trial_areas[tid]), **(data or {})})
        return tid

    def close_trial(self, trial_id: str | None, reason: str = "response", *, t_ns: int | None = None,
                    data: dict[str, Any] | None = None) -> None:
        """The trial is over: the client responded, the window timed out, or the activity moved on."""
        if trial_id is None or trial_id not in self.open_trials:
            return
        self.open_trials.remove(trial_id)
        self.log("trial_close", actor="system", t_ns=t_ns, trial=trial_id, data={"reason": reason, **(data or {})})

    def judge(self, trial_id: str | None, outcome: str, *, prompt: str | None = None, t_ns: int | None = None,
              data: dict[str, Any] | None = None, close: bool = True) -> str | None:
        """The activity's automatic judgement of the trial's response (a therapist score of the
        same trial supersedes it; both stay in the log). Closes the trial unless ``close=False``."""
        if trial_id is None:
            return None
        eid = self.log("judgement", actor="system", t_ns=t_ns, trial=trial_id, outcome=outcome,
                       prompt=prompt or self.prompt, data=data)
        if close:
            self.close_trial(trial_id, "response", t_ns=t_ns)
        return eid

    def close_all_trials(self, reason: str = "ended", t_ns: int | None = None) -> None:
        for tid in list(self.open_trials):
            self.close_trial(tid, reason, t_ns=t_ns)

    def play(self, sound: str, velocity: float = 1.0, *, at_ns: int | None = None) -> None:
        if self.audio is not None and sound:
            self.audio.trigger(sound, velocity, at_ns=at_ns)


class Activity:
    """Base class with the metadata and no-op lifecycle; subclasses override what they need."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    icon: ClassVar[str] = ""
    goals: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "0.1.0"
    settings: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""
    trial_noun: ClassVar[tuple[str, str]] = ("trial", "trials")
    """What one of this activity's trials is called in a note ("turn", "turns"), English source text."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        merged = dict(self.settings)
        merged.update(settings or {})
        self.config: dict[str, Any] = merged
        self.ctx: ActivityContext | None = None

    def prepare(self, ctx: ActivityContext) -> None:
        """Check settings and load everything slow now, before the client is waiting."""
        self.ctx = ctx

    @property
    def theme(self) -> "Theme":
        """The context's theme (scaled to this activity's area; the client's low stimulation)."""
        assert self.ctx is not None, "an activity has a theme once prepared"
        return self.ctx.theme

    def layout(self, size: tuple[int, int]) -> None:
        """The activity's area is now ``size`` (window resized, the rail shown or hidden): place
        things. The context's ``theme`` and ``size`` are already set for it."""

    def find_target(self, target: str) -> "pygame.Rect | None":
        """Where a named thing is in the activity's area (``card:1``, ``pad:0``), for the pilot."""
        return None

    def tap_target(self, pos: tuple[float, float]) -> str | None:
        """The target (``pad:2``, ``card:0``) under ``pos`` in the activity's area, or None for the
        rest of the screen. The shell filters repeated touches per target, so a second hit on
        another pad within the repeat window still plays; the default, None everywhere, keeps the
        whole screen one target."""
        return None

    @property
    def therapist_mode(self) -> bool:
        """True while the therapist works the activity's own screen (an editor): touches then go
        straight to ``handle`` as taps, without the client's touch accommodations."""
        return False

    def next_frame_ns(self, now_ns: int) -> int | None:
        """When the activity next needs ``update`` and ``draw`` with no input arriving: a time on the
        one clock, ``now_ns`` for every frame (running music, a moving highlight), or None for
        "only when something happens" (the loop then sleeps; input always wakes it). The default is
        every frame; an activity that is often idle says so and saves the tablet's battery."""
        return now_ns

    def handle(self, event: InputEvent) -> None:
        """React to one input (touch tap, key, MIDI, mic) at the next frame."""

    def update(self, now_ns: int) -> None:
        """Advance timers (turns, scans, cues) to ``now_ns`` on the one clock."""

    def draw(self, surface: "pygame.Surface") -> None:
        """Draw the client's screen. Called once per frame."""

    def stop(self) -> None:
        """Silence anything held and release resources; safe to call twice."""

    def fast_sound_table(self) -> dict[str, Any] | None:
        """Which sound each MIDI hit makes, as data: the one form of that rule (format and the
        function that reads it, ``sound_for``: ``prelude_play.hits.table``). The hit path sounds
        hits from it ON THE MIDI THREAD before any frame — in this process, in the separate audio
        process, or compiled into the C core's MIDI callback — so it runs no activity code there.
        None = the instrument map's sound. Return the same object while it is valid and a new
        one when it changes: the shell pushes it on a new identity (checked every frame).
        """
        return None

    def on_scored(self, trial_id: str, outcome: str, prompt: str | None) -> None:
        """The therapist scored one of this activity's trials (the session logged it already):
        e.g. end a response window the score has decided."""

    def on_panic(self) -> None:
        """The therapist pressed "Silence all": stop scheduling new sound (pulses, music)."""

    def status_text(self) -> str:
        """One line for the therapist panel (e.g. 'trial 3 of 10, level 2')."""
        return ""

    def primary_action(self) -> tuple[str, Callable[[], None]] | None:
        """The one action the therapist needs every trial (e.g. "Call"), shown on the scoring rail
        and bound to the ``primary`` scoring key / pedal gesture. None: the activity runs itself."""
        return None

    def therapist_actions(self) -> list[tuple[str, str, Callable[[], None]]]:
        """(id, label, action) for the therapist panel: never drawn on the client's screen."""
        return []

    @classmethod
    def trial_phrases(cls, trials: list[Any], t: Callable[[str], str]) -> list[str]:
        """Extra words for the session note about these trials (``store.trials.Trial``), in the
        therapist's words, e.g. "waited in 3 of 4 turns". Computed from the log alone."""
        return []

    @classmethod
    def report_tables(cls, trials: list[Any], t: Callable[[str], str]) -> list[tuple[str, list[str], list[list[str]]]]:
        """Tables of the activity's own figures for the progress report, over every trial of the
        report's period (``store.trials.Trial``, any session): (title, column heads, rows of
        cell text), in the report's language through ``t``. Computed from the log alone."""
        return []


@dataclass
class ActivityEntry:
    name: str
    cls: type[Activity]
    module: str
    defaults: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None

    @property
    def title(self) -> str:
        return self.cls.title or self.name

    def create(self, overrides: dict[str, Any] | None = None) -> Activity:
        settings = dict(self.defaults)
        settings.update(overrides or {})
        return self.cls(settings)


@dataclass
class Registry:
    entries: dict[str, ActivityEntry] = field(default_factory=dict)
    errors: list[ActivityError] = field(default_factory=list)

    def names(self) -> list[str]:
        return list(self.entries)

    def get(self, name: str) -> ActivityEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise ActivityError(name, f"no such activity; available: {', '.join(self.entries)}") from None


def _find_class(module: Any) -> type[Activity] | None:
    cls = getattr(module, "ACTIVITY", None)
    if isinstance(cls, type):
        return cls
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Activity) and value is not Activity \
                and value.__module__.startswith(module.__name__):
            return value
    return None


def validate_class(name: str, cls: Any, known_goals: Callable[[str], bool] | None = None) -> None:
    """Check an activity class's metadata; raise ActivityError saying exactly what is wrong."""
    if not isinstance(cls, type):
        raise ActivityError(name, f"expected a class, got {type(cls).__name__}")
    for attr in ("prepare", "handle", "update", "draw", "stop"):
        if not callable(getattr(cls, attr, None)):
            raise ActivityError(name, f"class {cls.__name__} has no {attr}() method")
    if not getattr(cls, "name", ""):
        raise ActivityError(name, f"class {cls.__name__} sets no 'name'")
    if not isinstance(getattr(cls, "goals", ()), tuple):
        raise ActivityError(name, "'goals' must be a tuple of goal-area keys")
    if known_goals is not None:
        bad = [g for g in cls.goals if not known_goals(g)]
        if bad:
            raise ActivityError(name, f"unknown goal area(s) {bad} (see config/goals.toml)")
    if not isinstance(getattr(cls, "settings", {}), dict):
        raise ActivityError(name, "'settings' must be a dict of defaults")


def _load_defaults(folder: Path | None) -> tuple[dict[str, Any], ConfigError | None]:
    """An activity folder's ``defaults.toml`` (bounded like every config file), or its problem:
    a broken defaults file costs the activity its file settings, never the activity."""
    if folder is None:
        return {}, None
    f = folder / "defaults.toml"
    if not f.exists():
        return {}, None
    try:
        return load_toml(f)[0], None
    except ConfigError as exc:
        return {}, using(exc, "the activity's built-in settings")


def discover(package: str = "prelude_play.activities", *, entry_points: bool = True,
             known_goals: Callable[[str], bool] | None = None) -> Registry:
    """Find built-in activities in ``package`` and installed ones by entry point."""
    reg = Registry()

    def add(mod_name: str, loader: Callable[[], Any], folder: Path | None) -> None:
        short = mod_name.rsplit(".", 1)[-1]
        try:
            obj = loader()
            cls = obj if isinstance(obj, type) else _find_class(obj)
            if cls is None:
                raise ActivityError(short, "module defines no Activity subclass (or ACTIVITY = Class)")
            validate_class(short, cls, known_goals)
            if cls.name in reg.entries:
                raise ActivityError(short, f"name '{cls.name}' is already used by {reg.entries[cls.name].module}")
            defaults = dict(cls.settings)
            from_file, problem = _load_defaults(folder)
            defaults.update(from_file)
            if problem is not None:
                reg.errors.append(ActivityError(short, str(problem)))
            reg.entries[cls.name] = ActivityEntry(cls.name, cls, mod_name, defaults, folder)
        except ActivityError as exc:
            reg.errors.append(exc)
        except Exception as exc:  # a broken plugin must not take the shell down
            last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            where = f" ({Path(last.filename).name}, line {last.lineno})" if last else ""
            reg.errors.append(ActivityError(short, f"failed to load: {type(exc).__name__}: {exc}{where}"))

    try:
        pkg = importlib.import_module(package)
        paths = list(getattr(pkg, "__path__", []))
    except ImportError as exc:
        reg.errors.append(ActivityError(package, f"activities package missing: {exc}"))
        paths = []
    for info in sorted(pkgutil.iter_modules(paths), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod_name = f"{package}.{info.name}"
        folder = Path(paths[0]) / info.name if info.ispkg else None
        add(mod_name, lambda m=mod_name: importlib.import_module(m), folder)
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            add(ep.value.split(":")[0] if ":" not in ep.value else ep.name, ep.load, None)
    return reg
