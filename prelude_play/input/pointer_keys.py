"""Touch, mouse, keys and window events from SDL (pygame) as InputEvents, stamped on arrival.

SDL delivers a touch twice: as a FINGER event and as a synthesized mouse copy flagged
``touch=True``; only the FINGER one counts, so one tap is one event. A mouse moving with no button
down is a "hover" (head pointers and eye-gaze mice dwell by hovering).

Window-level things (quit, resize, typed text) are returned as ``Signal``s for the shell; a
``Wake`` is the shell's own event, posted from other threads to wake a loop asleep in
``pygame.event.wait`` (see ``Waker``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from prelude_play.clock import Clock
from prelude_play.events import InputEvent


@dataclass(frozen=True)
class Signal:
    """Something for the shell rather than for routing: "quit", "resize", "text" (with ``text``)."""

    kind: str
    text: str = ""


class Waker:
    """Wakes the frame loop from any thread by posting one SDL user event (at most one pending).

    ``pygame.event.post`` is SDL_PushEvent, which is thread-safe; the flag keeps a MIDI flood from
    filling SDL's queue with wake-ups."""

    def __init__(self) -> None:
        import pygame

        self.type = pygame.event.custom_type()
        self._pending = threading.Event()
        self._pygame = pygame

    def __call__(self) -> None:
        if self._pending.is_set():
            return
        self._pending.set()
        try:
            self._pygame.event.post(self._pygame.event.Event(self.type))
        except Exception:  # the display is gone (shutting down): nothing to wake
            self._pending.clear()

    def woken(self) -> None:
        """The loop saw the wake-up: the next put may post again."""
        self._pending.clear()


class PointerKeys:
    """Converts one SDL event at a time; ``size()`` is the window size (touch comes normalised)."""

    def __init__(self, clock: Clock, size: Callable[[], tuple[int, int]]) -> None:
        import pygame

        self.clock = clock
        self.size = size
        self.pg = pygame
        p = pygame
        self._finger = {p.FINGERDOWN: "down", p.FINGERUP: "up", p.FINGERMOTION: "move"}
        self._mouse = {p.MOUSEBUTTONDOWN: "down", p.MOUSEBUTTONUP: "up", p.MOUSEMOTION: "move"}

    def convert(self, e: Any) -> InputEvent | Signal | None:
        p = self.pg
        t = self.clock.now_ns()
        if e.type == p.QUIT:
            return Signal("quit")
        if e.type in self._finger:
            w, h = self.size()
            return InputEvent(t, "touch", self._finger[e.type], device=f"touch{e.touch_id}",
                              pos=(e.x * w, e.y * h), pointer_id=int(e.finger_id) + 1)
        if e.type in self._mouse:
            if getattr(e, "touch", False):
                return None  # SDL's synthesized copy of a FINGER event: one tap counts once
            if e.type != p.MOUSEMOTION and e.button != 1:
                return None
            if e.type == p.MOUSEMOTION and not e.buttons[0]:
                return InputEvent(t, "mouse", "hover", device="mouse", pos=e.pos, pointer_id=0)
            return InputEvent(t, "mouse", self._mouse[e.type], device="mouse", pos=e.pos, pointer_id=0)
        if e.type == p.MOUSEWHEEL:
            return InputEvent(t, "mouse", "wheel", device="mouse", value=int(e.y), pos=p.mouse.get_pos(),
                              pointer_id=0)
        if e.type == p.KEYDOWN:
            return InputEvent(t, "key", "key_down", device="keyboard", key=p.key.name(e.key), data={"mod": e.mod})
        if e.type == p.KEYUP:
            return InputEvent(t, "key", "key_up", device="keyboard", key=p.key.name(e.key))
        if e.type == p.TEXTINPUT:
            return Signal("text", e.text)
        if e.type in (p.VIDEORESIZE, p.WINDOWSIZECHANGED):
            return Signal("resize")
        if e.type in (p.WINDOWEXPOSED, p.WINDOWSHOWN, p.WINDOWRESTORED, p.VIDEOEXPOSE):
            return Signal("expose")  # the window needs redrawing (uncovered, restored)
        return None
