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
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol

from prelude_play.clock import Clock
from prelude_play.errors import ActivityError
from prelude_play.events import InputEvent, LogEvent

if TYPE_CHECKING:  # pygame is only needed to draw
    import pygame

ENTRY_POINT_GROUP = "prelude_play.activities"


class AudioOut(Protocol):
    """What an activity may ask of the audio engine (the real engine or a test fake)."""

    def trigger(self, name: str, velocity: float = 1.0, *, pan: float = 0.0,
                at_ns: int | None = None, gain: float = 1.0) -> None: ...


@dataclass
class Score:
    """A therapist's judgement from the overlay, a mapped key or the scoring pedal."""

    outcome: str
    prompt: str
    t_ns: int
    source: str = "touch"
    device: str = ""
    note: str = ""


class ActivityContext:
    """Everything an activity may touch, passed in at ``prepare`` (no globals).

    ``log`` fills in the activity's goal tags and the pending prompt level; the shell binds it to
    the event store. Tests build a context with recording fakes.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        activity_name: str,
        goals: tuple[str, ...],
        settings: dict[str, Any],
        log_sink: Callable[[LogEvent], int | None],
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

    def now_ns(self) -> int:
        return self.clock.now_ns()

    @property
    def prompt(self) -> str:
        """The prompt level the therapist has set for the next response (default independent)."""
        return self._prompt_level()

    def client_goals(self, area: str | None = None) -> tuple[str, ...]:
        """The client's own written goals as tags (``client:<id>``), optionally for one area."""
        out = []
        for g in self.client.get("goals", []):
            if area is None or g.get("area") == area:
                out.append(f"client:{g['id']}")
        return tuple(out)

    def log(self, kind: str, *, actor: str = "client", source: str = "system", device: str = "",
            t_ns: int | None = None, goals: tuple[str, ...] | None = None,
            prompt: str | None = None, outcome: str | None = None,
            data: dict[str, Any] | None = None, corrects: int | None = None) -> int | None:
        """Log an event tagged with this activity's goals (plus the client's own for them)."""
        tags = tuple(goals) if goals is not None else self.goals
        own = tuple(g for area in tags for g in self.client_goals(area))
        return self._log_sink(LogEvent(
            kind=kind, actor=actor, source=source, device=device, t_ns=t_ns,
            goals=tags + tuple(dict.fromkeys(own)), prompt=prompt, outcome=outcome,
            data=data or {}, corrects=corrects))

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

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        merged = dict(self.settings)
        merged.update(settings or {})
        self.config: dict[str, Any] = merged
        self.ctx: ActivityContext | None = None

    def prepare(self, ctx: ActivityContext) -> None:
        """Check settings and load everything slow now, before the client is waiting."""
        self.ctx = ctx

    def handle(self, event: InputEvent) -> None:
        """React to one input (touch tap, key, MIDI, mic) at the next frame."""

    def update(self, now_ns: int) -> None:
        """Advance timers (turns, scans, cues) to ``now_ns`` on the one clock."""

    def draw(self, surface: "pygame.Surface") -> None:
        """Draw the client's screen. Called once per frame."""

    def stop(self) -> None:
        """Silence anything held and release resources; safe to call twice."""

    def fast_sound(self, event: InputEvent) -> str | None:
        """Sound for a MIDI hit, chosen ON THE MIDI THREAD before any frame.

        Must be quick and read only immutable state. Default: what the instrument map chose.
        """
        return event.data.get("sound")

    def fast_sound_table(self) -> dict[str, Any] | None:
        """``fast_sound`` as data, for the fast path in the audio process (``audio.process =
        "separate"``), which cannot call activity code. None = the instrument map's sound (the
        default ``fast_sound``). Format: ``prelude_play.rt.fastpath``. Return the same object
        while it is valid and a new one when it changes: the shell resends it on a new identity.
        """
        return None

    def on_score(self, score: Score) -> int | None:
        """The therapist scored a response. Default: log it against this activity's goals."""
        if self.ctx is None:
            return None
        return self.ctx.log("score", actor="therapist", source=score.source, device=score.device,
                            t_ns=score.t_ns, outcome=score.outcome, prompt=score.prompt,
                            data={"note": score.note} if score.note else {})

    def on_panic(self) -> None:
        """The therapist pressed "Silence all": stop scheduling new sound (pulses, music)."""

    def status_text(self) -> str:
        """One line for the therapist panel (e.g. 'trial 3 of 10, level 2')."""
        return ""


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


def _load_defaults(folder: Path | None) -> dict[str, Any]:
    if folder is None:
        return {}
    f = folder / "defaults.toml"
    if not f.exists():
        return {}
    with f.open("rb") as fh:
        return tomllib.load(fh)


def discover(package: str = "activities", *, entry_points: bool = True,
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
            defaults.update(_load_defaults(folder))
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
