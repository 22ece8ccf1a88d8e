"""Screens and the screen stack: which screen is showing, and which one gets the input.

As in Textual and pygame_gui's window stack: the base screen (home, the client's screen, a
therapist screen) is switched; modals (the PIN pad, the therapist panel) are pushed on top and
popped. Input goes to the top screen only; drawing starts at the topmost opaque screen. A screen
says when it next needs a frame (``next_frame_ns``) and whether something changed (``dirty``),
so the loop can sleep while nothing happens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pygame

from prelude_play.events import InputEvent
from prelude_play.ui.widgets import Button

if TYPE_CHECKING:
    from prelude_play.shell.port import ShellPort


class Screen:
    """Layout + buttons (each with an ``id`` the pilot taps by name). Subclasses draw and react."""

    name = ""
    opaque = True  # False: a modal drawn over the screen below it

    def __init__(self, app: "ShellPort") -> None:
        self.app = app
        self.buttons: list[Button] = []
        self.dirty = True

    @property
    def t(self) -> Callable[[str], str]:
        return self.app.t

    def enter(self) -> None:
        """Shown (pushed or switched to)."""
        self.layout()

    def leave(self) -> None:
        """No longer shown."""

    def layout(self) -> None:
        """Rebuild buttons for the current window size and state."""

    def pointer(self, ev: InputEvent) -> None:
        """Touch or mouse: a press on a button presses it (``tap``); subclasses want more."""
        if ev.kind == "down" and ev.pos is not None:
            self.tap(ev.pos)

    def tap(self, pos: tuple[float, float]) -> bool:
        for b in self.buttons:
            if b.hit(pos):
                if b.on_press:
                    b.on_press()
                return True
        return False

    def key(self, name: str) -> bool:
        """A key press; True if the screen used it."""
        return False

    def update(self, now_ns: int) -> None:
        """Timers (a PIN pad timing out, a hold in progress)."""

    def next_frame_ns(self, now_ns: int) -> int | None:
        """When this screen next needs drawing with no input (None: only when something happens)."""
        return None

    def draw(self, surface: pygame.Surface) -> None:
        for b in self.buttons:
            b.draw(surface, self.app.theme)

    def find(self, button_id: str) -> object | None:
        return next((b for b in self.buttons if b.id == button_id), None)


class ScreenStack:
    """The base screen plus modals above it; ``top`` gets the input."""

    def __init__(self, base: Screen) -> None:
        self.screens: list[Screen] = [base]

    @property
    def base(self) -> Screen:
        return self.screens[0]

    @property
    def top(self) -> Screen:
        return self.screens[-1]

    @property
    def modal(self) -> Screen | None:
        return self.screens[-1] if len(self.screens) > 1 else None

    def switch(self, screen: Screen) -> None:
        """Show ``screen`` as the base, closing every modal."""
        for s in reversed(self.screens):
            s.leave()
        self.screens = [screen]
        screen.enter()
        screen.dirty = True

    def push(self, modal: Screen) -> None:
        if modal in self.screens:
            self.remove(modal)
        self.screens.append(modal)
        modal.enter()
        modal.dirty = True

    def pop(self) -> Screen | None:
        if len(self.screens) == 1:
            return None
        s = self.screens.pop()
        s.leave()
        self.base.dirty = True
        return s

    def remove(self, modal: Screen) -> None:
        if modal in self.screens[1:]:
            self.screens.remove(modal)
            modal.leave()
            self.base.dirty = True

    def visible(self) -> list[Screen]:
        """The screens to draw, bottom first: from the topmost opaque one up."""
        start = max(i for i, s in enumerate(self.screens) if s.opaque or i == 0)
        return self.screens[start:]

    @property
    def dirty(self) -> bool:
        return any(s.dirty for s in self.visible())

    def clean(self) -> None:
        for s in self.screens:
            s.dirty = False
