"""Backends without a sound card: ``null`` (silent, real time) and ``offline`` (rendered on demand).

``null`` still runs the mixer on a timer thread at the stream's period, so activity logic,
scheduling and stats behave exactly as with a device — a machine with no audio runs silent with a
notice instead of behaving differently. ``offline`` renders N frames synchronously with an exact
virtual clock, which is what deterministic tests need.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from prelude_play.audio.backends.base import LostFn, RenderFn
from prelude_play.clock import Clock, MonotonicClock

IDLE_WAIT_S = 0.05  # the longest a silent null output sleeps between looks while nothing sounds


class OfflineBackend:
    """Renders only when asked: ``render(frames)`` returns the output as a new array.

    Frame ``F`` is heard at exactly ``start_ns + F·10⁹/rate`` (``exact_clock``). If the clock
    has ``set`` (a FakeClock) it is moved to each block's start time, so code reading the clock
    sees time pass with the audio.
    """

    name = "offline"
    exact_clock = True
    on_jack = False

    def __init__(
        self,
        *,
        rate: int = 48000,
        blocksize: int = 128,
        channels: int = 2,
        clock: Clock | None = None,
        start_ns: int | None = None,
        output_latency_s: float = 0.0,
        **_: object,
    ) -> None:
        self.rate = int(rate)
        self.period_frames = int(blocksize)
        self.channels = int(channels)
        self.clock = clock or MonotonicClock()
        self.output_latency_s = float(output_latency_s)
        self._start_ns = start_ns
        self._render: RenderFn | None = None
        self.frame = 0
        self.lost: str | None = None
        self.notice: str | None = None

    def start(self, render: RenderFn, on_lost: LostFn) -> None:
        self._render = render
        self._on_lost = on_lost
        if self._start_ns is None:
            self._start_ns = self.clock.now_ns() + int(self.output_latency_s * 1e9)

    def time_of(self, frame: int) -> int:
        assert self._start_ns is not None
        return self._start_ns + round(frame * 1e9 / self.rate)

    def render(self, frames: int) -> np.ndarray:
        """Run the engine for ``frames`` frames in blocks of ``period_frames``."""
        if self._render is None:
            raise RuntimeError("offline backend not started")
        out = np.zeros((frames, self.channels), dtype=np.float32)
        done = 0
        setter = getattr(self.clock, "set", None)
        while done < frames:
            n = min(self.period_frames, frames - done)
            dac = self.time_of(self.frame)
            if setter is not None:
                setter(dac - int(self.output_latency_s * 1e9))
            self._render(out[done : done + n], n, dac, False)
            self.frame += n
            done += n
        return out

    def simulate_loss(self, reason: str = "device vanished (simulated)") -> None:
        """Tests: behave as a device that disappeared mid-session."""
        self.lost = reason
        self._on_lost(reason)

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self._render = None

    def describe(self) -> str:
        return f"offline {self.rate} Hz, {self.period_frames} frames"


class NullBackend:
    """Silent output that still calls the mixer every period from a timer thread."""

    name = "null"
    exact_clock = False
    on_jack = False

    def __init__(
        self,
        *,
        rate: int = 48000,
        blocksize: int = 128,
        channels: int = 2,
        clock: Clock | None = None,
        notice: str | None = None,
        **_: object,
    ) -> None:
        self.rate = int(rate)
        self.period_frames = int(blocksize)
        self.channels = int(channels)
        self.clock = clock or MonotonicClock()
        self.output_latency_s = 0.0
        self.lost: str | None = None
        self.notice = notice
        self._buf = np.zeros((self.period_frames, self.channels), dtype=np.float32)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._t_next = 0.0
        self.is_idle: Callable[[], bool] | None = None
        """Set by the engine: True while no voice sounds and no command waits. The thread then
        sleeps (up to ``IDLE_WAIT_S``) instead of rendering silence every period: an idle app
        costs next to nothing even without a sound card."""

    def start(self, render: RenderFn, on_lost: LostFn) -> None:
        self._render = render
        self._stop.clear()
        self._t_next = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="pp-audio-null", daemon=True)
        self._thread.start()

    def _due(self, now: float) -> None:
        """Render every block whose start time has come (after an idle sleep: a quick burst of
        silence, so the frame clock stays continuous). Called with ``_lock`` held."""
        period = self.period_frames / self.rate
        if now - self._t_next > 2.0:  # fell far behind (a suspended machine): do not burst
            self._t_next = now
        while self._t_next <= now:
            late_ns = int((now - self._t_next) * 1e9)
            self._render(self._buf, self.period_frames, self.clock.now_ns() - late_ns, False)
            self._t_next += period

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._due(time.perf_counter())
            idle = self.is_idle
            if idle is not None and idle():
                self._wake.wait(IDLE_WAIT_S)
                self._wake.clear()
                continue
            delay = self._t_next - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def catch_up(self) -> None:
        """Before a command is posted (any thread): the blocks that are due, rendered now."""
        if self._thread is None:
            return
        with self._lock:
            self._due(time.perf_counter())

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(2.0)
        self._thread = None

    def close(self) -> None:
        self.stop()

    def describe(self) -> str:
        return f"null (silent) {self.rate} Hz, {self.period_frames} frames"
