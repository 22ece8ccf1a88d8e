"""The one clock every timestamp in Prelude Play comes from.

Timestamps are taken where things happen (rtmidi callback, audio callback, pygame event),
never when the frame loop gets round to them. Tests inject a FakeClock.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Anything with a monotonic nanosecond reading."""

    def now_ns(self) -> int: ...


class MonotonicClock:
    """The real clock: ``time.perf_counter_ns`` (monotonic, sub-microsecond on Linux)."""

    def now_ns(self) -> int:
        return time.perf_counter_ns()


class FakeClock:
    """A clock tests move by hand; thread-safe because the MIDI thread reads it too."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self._t = start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        with self._lock:
            return self._t

    def advance(self, ns: int = 0, *, ms: float = 0.0) -> int:
        with self._lock:
            self._t += ns + int(round(ms * 1_000_000))
            return self._t

    def set(self, t_ns: int) -> None:
        with self._lock:
            self._t = t_ns


def ms_since(t0_ns: int, t_ns: int) -> float:
    """Milliseconds from ``t0_ns`` to ``t_ns`` at 0.01 ms resolution (the log's ``t_ms``)."""
    return round((t_ns - t0_ns) / 1_000_000, 2)
