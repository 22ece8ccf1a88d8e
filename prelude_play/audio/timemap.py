"""Mapping between a stream's frame counter and the app clock.

An audio stream counts frames; the app counts nanoseconds. Each callback tells us "frame F
reaches the DAC (or left the ADC) at about app time T". The raw T jitters with thread wake-up,
and the sound card's crystal drifts against the CPU clock by tens of ppm (a few ms a minute),
so a single anchor is not enough. A second-order delay-locked loop (F. Adriaensen, "Using a DLL
to filter time", LAC 2005 — the filter JACK itself uses) smooths the jitter and tracks drift.

The state is one immutable tuple swapped atomically, so any thread can read a consistent
mapping while the audio thread updates it without a lock.
"""

from __future__ import annotations

import math

#: A measurement further than this from the prediction means the stream restarted or skipped
#: (xrun, reopen): re-anchor instead of slewing.
RESYNC_NS = 20_000_000


class TimeMap:
    """frame ↔ app-clock ns for one stream; ``update`` is called from the stream's callback."""

    __slots__ = ("rate", "_nominal", "_state", "_w")

    def __init__(self, rate: int, bandwidth_hz: float = 0.5) -> None:
        self.rate = int(rate)
        self._nominal = 1e9 / self.rate
        self._w = 2.0 * math.pi * bandwidth_hz / self.rate  # per frame
        # (anchor_frame, anchor_ns, ns_per_frame) or None until the first update
        self._state: tuple[int, float, float] | None = None

    @property
    def anchored(self) -> bool:
        return self._state is not None

    @property
    def ns_per_frame(self) -> float:
        s = self._state
        return s[2] if s is not None else self._nominal

    def anchor(self, frame: int, t_ns: float) -> None:
        """Set the mapping outright (stream start, or an exact virtual clock)."""
        self._state = (int(frame), float(t_ns), self._nominal)

    def update(self, frame: int, t_ns: float) -> None:
        """Feed a (possibly jittery) measurement: frame ``frame`` is at ``t_ns``."""
        s = self._state
        if s is None:
            self._state = (int(frame), float(t_ns), self._nominal)
            return
        f0, t0, npf = s
        df = frame - f0
        if df <= 0:
            return
        pred = t0 + df * npf
        err = t_ns - pred
        if abs(err) > RESYNC_NS:
            self._state = (int(frame), float(t_ns), self._nominal)
            return
        w = self._w * df
        b = math.sqrt(2.0) * w
        c = w * w
        npf += c * err / df
        lo, hi = self._nominal * 0.98, self._nominal * 1.02  # real cards: <0.01 %; loaded dummy JACK: ~1 %
        npf = lo if npf < lo else hi if npf > hi else npf
        self._state = (int(frame), pred + b * err, npf)

    def frame_to_ns(self, frame: int) -> int:
        s = self._state
        if s is None:
            raise RuntimeError("time map not anchored yet (stream not started)")
        return int(round(s[1] + (frame - s[0]) * s[2]))

    def ns_to_frame(self, t_ns: int) -> int:
        s = self._state
        if s is None:
            raise RuntimeError("time map not anchored yet (stream not started)")
        return s[0] + int(round((t_ns - s[1]) / s[2]))
