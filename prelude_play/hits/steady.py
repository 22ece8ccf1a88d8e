"""The same latency for every pad hit (the fast path's "steady" mode, ``audio.fast_path``)."""

from __future__ import annotations

from collections import deque
from typing import Callable

from prelude_play.devices.protocols import AudioOut


class SteadyLatency:
    """Give every pad hit the same latency instead of "the next period" (which varies by up to a
    period with where the hit fell: the jitter drummers feel).

    Each hit's lead — from its timestamp to the earliest time a new sound can be heard
    (``audio.next_block_dac_ns()``) — is recorded; the sound is scheduled at the timestamp plus
    the 90th percentile of the last 64 leads plus a margin, so almost every hit lands at the same
    offset from when it was played. A hit that arrives later than that plays as soon as possible.
    Runs on the MIDI thread: a few integer operations and a 64-element sort. With an output that
    cannot say when its next block is heard (None) every hit plays as soon as possible.
    """

    MARGIN_NS = 250_000
    HYSTERESIS_NS = 500_000
    LEARN = 8

    def __init__(self, audio: AudioOut, enabled: bool = True) -> None:
        self._next: Callable[[], int | None] | None = audio.next_block_dac_ns if enabled else None
        self._leads: deque[int] = deque(maxlen=64)
        self._delay: int | None = None

    def at(self, t_ns: int) -> int | None:
        if self._next is None:
            return None
        nxt = self._next()
        if nxt is None:
            return None
        self._leads.append(nxt - t_ns)
        if len(self._leads) < self.LEARN:
            return None
        ordered = sorted(self._leads)
        estimate = ordered[int(len(ordered) * 0.9)] + self.MARGIN_NS
        # sticky: the delay moves only when the estimate does by more than HYSTERESIS, so it is
        # the same for hit after hit rather than wandering with the window
        if self._delay is None or abs(estimate - self._delay) > self.HYSTERESIS_NS:
            self._delay = estimate
        return t_ns + self._delay

    @property
    def delay_ms(self) -> float | None:
        return None if self._delay is None else round(self._delay / 1e6, 3)


__all__ = ["SteadyLatency"]
