"""The frame loop that sleeps: it draws only when something changed or something animates, and
waits for SDL or the input queue in between instead of spinning.

One pass (``step``): take every SDL event there is and route it *at once* (a tap's sound starts in
the handler, before any frame), drain the input queue (MIDI, the mic), run the timers that are
due, then draw if a screen is dirty or a frame is due. ``run`` then sleeps in
``pygame.event.wait`` until the next thing that wants a frame (the activity's ``next_frame_ns``,
the screens', the pedal's double-tap window, the therapist lock's time-out) — at most
``IDLE_WAKE_S`` so housekeeping (audio health, held events) still runs when nothing happens. A
MIDI hit or a mic event wakes it at once (the queue's ``wake``).
"""

from __future__ import annotations

import signal
import time
from collections import deque
from typing import TYPE_CHECKING, Callable, Protocol

import pygame

from prelude_play.events import LogEvent

if TYPE_CHECKING:
    from prelude_play.shell.port import AppPort

class Watched(Protocol):
    """Something outside the loop whose state the therapist must hear about once per change
    (the clinic's background sync): ``poll`` never waits and returns None when nothing changed,
    ``"ok"`` when it works again, else what went wrong."""

    def poll(self) -> str | None: ...


IDLE_WAKE_S = 0.5
AUDIO_POLL_NS = 500_000_000


class FrameLoop:
    def __init__(self, app: "AppPort") -> None:
        self.app = app
        self.frame_count = 0
        self.pass_count = 0
        self.frame_ns: deque[int] = deque(maxlen=100_000)  # how long each drawn frame's work took
        self.first_frame_ns: int | None = None
        self._last_frame_ns = 0
        self._next_poll_ns = 0
        self._audio_retry_ns = 0
        self.watched: list[tuple[Watched, str, str]] = []  # (source, "works again" text, "{err}" text)
        self.force = True  # draw on the next pass whatever the screens say
        # no faster than the frame rate, however much input arrives (a little slack for timers)
        self.min_frame_ns = int(1e9 / app.cfg.ui.fps) - 500_000

    # ---- one pass ---------------------------------------------------------------------------

    def step(self, events: list | None = None) -> None:
        """Route input, run the timers that are due, draw if needed. The pilot calls this per frame."""
        app = self.app
        t0 = time.perf_counter_ns()
        app.router.collect(events)
        app.sync_fast_sound()
        for ev in app.queue.drain():
            app.router.route(ev)
        now = app.clock.now_ns()
        for action, t in app.pedal.due(now):
            app.actions.do_action(action, source="midi", device="pedal", t_ns=t)
        if app.lock.expired(now):
            app.nav.lock_rail()
        for screen in list(app.stack.screens):
            screen.update(now)
        act = app.activity
        if act is not None and self._activity_due(now):
            app.live.call("update", lambda: act.update(now))
            app.stack.base.dirty = True
        self._housekeeping(now)
        self.pass_count += 1
        ready = now - self._last_frame_ns >= self.min_frame_ns
        if self.force or (ready and (app.stack.dirty or self._frame_due(now))):
            self.draw()
            self.frame_count += 1
            self.force = False
            self._last_frame_ns = now
            if self.first_frame_ns is None:
                self.first_frame_ns = time.perf_counter_ns()
            self.frame_ns.append(time.perf_counter_ns() - t0)

    def _activity_due(self, now: int) -> bool:
        act = self.app.activity
        if act is None:
            return False
        nxt = self.app.live.call("next_frame_ns", lambda: act.next_frame_ns(now))
        return nxt is not None and nxt <= now

    def _frame_due(self, now: int) -> bool:
        nxt = self.next_due(now)
        return nxt is not None and nxt <= now

    def next_due(self, now: int) -> int | None:
        """The earliest time something wants a frame (None: only input or housekeeping)."""
        app = self.app
        wants = [w for w in (s.next_frame_ns(now) for s in app.stack.visible()) if w is not None]
        pedal = app.pedal.next_due_ns()
        if pedal is not None:
            wants.append(pedal)
        if app.stack.dirty:  # changed, not yet drawn (input faster than the frame rate)
            wants.append(self._last_frame_ns + self.min_frame_ns)
        return min(wants) if wants else None

    def watch(self, source: Watched, ok: str, failed: str) -> None:
        """Tell the therapist (a notice, in the app's language) when ``source`` fails — ``failed``
        with ``{err}`` — and when it works again (``ok``); msgids, translated when shown."""
        self.watched.append((source, ok, failed))

    def _housekeeping(self, now: int) -> None:
        app = self.app
        for source, ok, failed in self.watched:
            change = source.poll()
            if change == "ok":
                app.notify(app.t(ok))
            elif change is not None:
                app.notify(app.t(failed).format(err=change))
        if now >= self._next_poll_ns:
            self._next_poll_ns = now + AUDIO_POLL_NS
            self._check_audio(now)
        change = app.store.poll()  # never waits: the writer thread saves and retries
        if change == "saved":
            app.notify(app.t("Saving works again: every held event is now in the store"))
        elif change is not None:
            app.notify(app.t("Saving is held ({n} events kept in {where}): {err}. Nothing is lost: free some "
                             "space or check the drive; saving resumes by itself.").format(
                n=len(app.store.pending), where=app.store.where_held(), err=change))

    def _check_audio(self, now: int) -> None:
        """A vanished or stalled audio device: tell the therapist, reopen or fall back, go on."""
        app = self.app
        if now < self._audio_retry_ns:
            return
        problem = app.audio.poll()
        if problem is None:
            return
        self._audio_retry_ns = now + 2_000_000_000
        app.notify(app.t("Audio problem: {problem}").format(problem=problem))
        try:
            app.audio.reopen()
            fixed = app.t("Audio reopened: {backend}").format(backend=app.audio.backend_name)
        except Exception as exc:
            fixed = app.t("Audio could not be reopened ({err}); running silent").format(err=exc)
        app.notify(fixed)
        app.log(LogEvent("audio_device", actor="system", data={"problem": problem, "result": fixed}))

    def draw(self) -> None:
        app = self.app
        surf = app.surface
        if surf is None:
            return
        for screen in app.stack.visible():
            screen.draw(surf)
        app.stack.clean()
        pygame.display.flip()

    # ---- the window and the loop --------------------------------------------------------------

    def open_window(self, fullscreen: bool) -> pygame.Surface:
        """The window (or the dummy driver's surface when headless), sized by the theme."""
        theme = self.app.theme
        pygame.display.init()
        pygame.font.init()
        flags = pygame.RESIZABLE
        if fullscreen:
            flags = pygame.FULLSCREEN
            info = pygame.display.Info()
            if info.current_w > 0:
                theme.size = (info.current_w, info.current_h)
        surface = pygame.display.set_mode(theme.size, flags)
        pygame.display.set_caption("Prelude Play")
        theme.size = surface.get_size()
        return surface

    def run(self, for_seconds: float | None = None, on_first_frame: Callable[[], None] | None = None,
            signals: bool = False) -> None:
        """Until quit, SIGTERM/SIGINT or ``for_seconds``; sleeping whenever nothing is due."""
        app = self.app
        if signals:
            def stop(signum: int, frame: object) -> None:
                app.running = False
                if app.waker is not None:
                    app.waker()

            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    signal.signal(sig, stop)
                except ValueError:  # not the main thread (tests)
                    pass
        deadline = None if for_seconds is None else app.clock.now_ns() + int(for_seconds * 1e9)
        reported = False
        events: list | None = None
        while app.running:
            self.step(events)
            if not reported and self.frame_count >= 1 and on_first_frame:
                on_first_frame()
                reported = True
            now = app.clock.now_ns()
            if deadline is not None and now >= deadline:
                break
            due = self.next_due(now)
            if due is not None:  # animating or a timer: at the frame rate at most
                due = max(due, self._last_frame_ns + self.min_frame_ns)
            wake = now + int(IDLE_WAKE_S * 1e9) if due is None else due
            if deadline is not None:
                wake = min(wake, deadline)
            timeout_ms = max(0, int((wake - now) / 1e6))
            events = self._wait(timeout_ms)

    def _wait(self, timeout_ms: int) -> list:
        """Sleep until an SDL event (a touch, a key), a wake-up from the MIDI/mic threads or the
        time-out; return what arrived so ``step`` routes it at once."""
        waker = self.app.waker
        if timeout_ms <= 0 or waker is None:
            return pygame.event.get()
        return waker.wait(timeout_ms / 1000)
