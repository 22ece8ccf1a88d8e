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
import time
from dataclasses import dataclass
from typing import Any, Callable

from prelude_play.clock import Clock
from prelude_play.events import InputEvent


@dataclass(frozen=True)
class Signal:
    """Something for the shell rather than for routing: "quit", "resize", "text" (with ``text``)."""

    kind: str
    text: str = ""


NATIVE_WAIT = frozenset({"x11", "wayland", "windows", "cocoa", "android", "uikit", "emscripten", "haiku"})
"""SDL video drivers that sleep in ``SDL_WaitEventTimeout`` and are woken by a posted event; the
others (dummy, offscreen, kmsdrm...) make SDL poll every millisecond (2.5 % of a core for nothing)."""


class Waker:
    """Wakes the frame loop from any thread (a MIDI hit, a mic event, SIGTERM).

    With a driver that sleeps natively, one SDL user event is posted (``pygame.event.post`` is
    SDL_PushEvent, thread-safe; at most one pending, so a MIDI flood cannot fill SDL's queue).
    Otherwise the loop sleeps on ``event`` and looks at SDL's queue every ``poll_s``: in headless
    mode nothing real arrives through SDL, and code that posts an SDL event from another thread
    (the benchmarks' "finger") calls the waker too."""

    def __init__(self) -> None:
        import pygame

        self._pygame = pygame
        self.type = pygame.event.custom_type()
        driver = pygame.display.get_driver() if pygame.display.get_init() else "dummy"
        self.native = driver in NATIVE_WAIT
        self.poll_s = 0.05 if driver in ("dummy", "offscreen") else 0.008
        self.event = threading.Event()
        self._pending = threading.Event()

    def __call__(self) -> None:
        self.event.set()
        if not self.native or self._pending.is_set():
            return
        self._pending.set()
        try:
            self._pygame.event.post(self._pygame.event.Event(self.type))
        except Exception:  # the display is gone (shutting down): nothing to wake
            self._pending.clear()

    def woken(self) -> None:
        """The loop saw the wake-up: the next put may post again."""
        self._pending.clear()

    def wait(self, timeout_s: float) -> list:
        """Sleep until woken, an SDL event or ``timeout_s``; return the SDL events that arrived."""
        pg = self._pygame
        if self.native:
            first = pg.event.wait(max(0, int(timeout_s * 1000)))
            self.event.clear()
            return [] if first.type == pg.NOEVENT else [first, *pg.event.get()]
        end = time.monotonic() + timeout_s
        while True:
            events = pg.event.get()
            if events or self.event.is_set():
                self.event.clear()
                return events
            left = end - time.monotonic()
            if left <= 0:
                return []
            self.event.wait(min(self.poll_s, left))


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
