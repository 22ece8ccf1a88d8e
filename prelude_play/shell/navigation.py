"""Navigation and the therapist lock: which screen shows, the PIN pad, the rail, the panel.

A client at the screen can reach nothing of the therapist's without the PIN: every therapist
screen, quitting, ending a session and the scoring rail go through ``ask_pin``; the rail then
stays until pause, end, Lock or the idle time-out (``TherapistLock``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from prelude_play.events import LogEvent

if TYPE_CHECKING:
    from prelude_play.shell.port import AppPort


class Navigator:
    def __init__(self, app: "AppPort") -> None:
        self.app = app
        self._after_unlock: Callable[[], None] | None = None

    def show(self, screen: str) -> None:
        """Switch to home, the client's screen or a therapist screen (the caller passed the PIN)."""
        target = {"home": self.app.home, "host": self.app.host}.get(screen) or self.app.therapist.screens[screen]
        self.app.stack.switch(target)

    def therapist_only(self, screen: str) -> Callable[[], None]:
        """A button action that asks for the PIN, then shows ``screen``."""
        return lambda: self.ask_pin(then=lambda: self.show(screen))

    def ask_pin(self, then: Callable[[], None] | None = None) -> None:
        """The PIN pad; ``then`` runs once it is right (a therapist screen, quitting...)."""
        self._after_unlock = then
        if not self.app.pin_guard.required:  # require_pin = false: the therapist chose no PIN
            self.unlock()
            return
        self.app.pin.open(self.app.clock.now_ns())
        self.app.stack.push(self.app.pin)

    def close_pin(self) -> None:
        self.app.stack.remove(self.app.pin)
        self._after_unlock = None

    def unlock(self) -> None:
        """The PIN was right: run what asked for it, or (on the client's screen) show the rail."""
        then, self._after_unlock = self._after_unlock, None
        self.app.stack.remove(self.app.pin)
        if then is not None:
            then()
        elif self.app.stack.base is self.app.host and not self.app.lock.unlocked:
            self.app.lock.unlock(self.app.clock.now_ns())
            self.app.log(LogEvent("therapist_unlock", actor="therapist", source="touch"))
            self.app.host.layout()

    def lock_rail(self) -> None:
        """Hide the rail; the next scoring needs the corner and the PIN again."""
        if not self.app.lock.unlocked:
            return
        self.app.lock.lock()
        self.app.rail.editing = None
        self.close_overlay()
        self.app.log(LogEvent("therapist_lock", actor="therapist", source="touch"))
        self.app.host.layout()

    def open_overlay(self) -> None:
        self.app.stack.push(self.app.overlay)

    def close_overlay(self) -> None:
        if self.app.actions.note_editing:
            self.app.actions.toggle_note()
        self.app.stack.remove(self.app.overlay)
