"""What screens may ask of the shell: the one interface they depend on (never the App itself).

As in pygame_gui, elements depend on a small interface class, not on the concrete manager: the
screens import this module, the App implements it, and nothing imports the App but the CLI and
the pilot (no import cycle app ↔ screens ↔ therapist).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from prelude_play.activity import Activity, Registry
    from prelude_play.devices import AudioOut
    from prelude_play.config import AppConfig
    from prelude_play.events import LogEvent
    from prelude_play.input.pointer_keys import Waker
    from prelude_play.input.queue import InputQueue
    from prelude_play.session.live import LiveSession
    from prelude_play.session.scoring import PedalGrammar
    from prelude_play.shell.notices import NoticeList
    from prelude_play.store.eventlog import EventLog, Session
    from prelude_play.ui.keyboard import KeyboardPolicy
    from prelude_play.ui.theme import Theme


class PlanNav(Protocol):
    """The running plan as the therapist panel moves through it."""

    def next_label(self) -> str | None: ...
    def next_step(self) -> None: ...


class TherapistNav(PlanNav, Protocol):
    """The therapist's side as home sees it: a new client (after the PIN), the keyboard's policy."""

    typing: "KeyboardPolicy"

    def new_client(self, return_to: str = "clients") -> None: ...


class ShellPort(Protocol):
    """The shell as screens see it: the session, the stores, navigation and the therapist's actions."""

    cfg: "AppConfig"
    store: "EventLog"
    registry: "Registry"
    theme: "Theme"
    live: "LiveSession"
    therapist: TherapistNav
    data_dir: Path | None
    notices: "NoticeList"
    language: str
    t: Callable[[str], str]
    text_sink: Callable[[str], None] | None
    actions: "ActionsPort"
    pin_guard: Any

    # ---- the session as screens read it ------------------------------------------------------
    @property
    def session(self) -> "Session | None": ...
    @property
    def activity(self) -> "Activity | None": ...
    @property
    def client_id(self) -> str | None: ...
    @client_id.setter
    def client_id(self, value: str | None) -> None: ...
    @property
    def prompt_level(self) -> str: ...
    @property
    def screen(self) -> str: ...
    @property
    def modal(self) -> str | None: ...

    nav: "NavPort"
    def quit(self) -> None: ...

    # ---- clients, sessions, activities ---------------------------------------------------------
    def select_client(self, client_id: str, create: bool = False) -> None: ...
    def new_client(self) -> None: ...
    def start_activity(self, name: str, settings: dict[str, Any] | None = None,
                       goals: list[str] | None = None) -> None: ...
    def activity_title(self) -> str: ...
    def go_home(self) -> None: ...
    def resume(self) -> None: ...
    def end_session(self) -> None: ...
    def log(self, ev: "LogEvent") -> str | None: ...
    def notify(self, text: str) -> None: ...


class NavPort(Protocol):
    """Navigation and the therapist lock (``shell/navigation.py``)."""

    def show(self, screen: str) -> None: ...
    def therapist_only(self, screen: str) -> Callable[[], None]: ...
    def ask_pin(self, then: Callable[[], None] | None = None) -> None: ...
    def close_pin(self) -> None: ...
    def unlock(self) -> None: ...
    def lock_rail(self) -> None: ...
    def open_overlay(self) -> None: ...
    def close_overlay(self) -> None: ...


class ActionsPort(Protocol):
    """The therapist's actions (``shell/actions.py``): what the rail, keys, pedals and panel do."""

    note_editing: bool
    note_text: str

    def do_action(self, action: str, *, source: str, device: str = "", t_ns: int | None = None) -> None: ...
    def undo(self) -> str | None: ...
    def set_prompt(self, level: str) -> None: ...
    def last_score_text(self) -> str: ...
    def toggle_note(self) -> None: ...
    def panic(self, log: bool = True) -> None: ...
    def language_label(self) -> str: ...
    def toggle_language(self) -> None: ...
    def refresh(self, _: Any = None) -> None: ...


class LockPort(Protocol):
    unlocked: bool

    def touch(self, now_ns: int) -> None: ...
    def expired(self, now_ns: int) -> bool: ...


class ScreenPort(Protocol):
    name: str
    dirty: bool

    def pointer(self, ev: Any) -> None: ...
    def key(self, name: str) -> bool: ...
    def update(self, now_ns: int) -> None: ...
    def next_frame_ns(self, now_ns: int) -> int | None: ...
    def draw(self, surface: Any) -> None: ...


class HostPort(ScreenPort, Protocol):
    def to_activity(self, ev: Any) -> None: ...


class StackPort(Protocol):
    screens: list[Any]

    @property
    def base(self) -> Any: ...
    @property
    def top(self) -> Any: ...
    @property
    def dirty(self) -> bool: ...
    def visible(self) -> list[Any]: ...
    def clean(self) -> None: ...


class AppPort(ShellPort, Protocol):
    """The shell as its own loop and router see it (the App's inner parts, beyond the screens')."""

    clock: Any
    audio: "AudioOut"
    queue: "InputQueue"
    pedal: "PedalGrammar"
    lock: LockPort
    stack: StackPort
    host: HostPort
    surface: Any
    waker: "Waker | None"
    running: bool
    router: Any
    loop: Any
    home: Any
    hits: Any
    midi: Any
    mic: Any
    pin: Any
    overlay: Any
    rail: Any

    def sync_fast_sound(self) -> None: ...
    def relayout(self) -> None: ...
