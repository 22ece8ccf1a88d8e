"""Put rtmidi's delta times onto the app clock.

The callback's own ``clock.now_ns()`` is late by however long the MIDI thread waited (for the
GIL, for the scheduler). rtmidi measures its deltas before Python runs, so the sum of deltas
is a clean timeline with an unknown offset to the app clock. The offset is the smallest
``now - sum`` seen (the least-delayed event), allowed to creep up slowly so the two clocks may
drift apart. Stamps never lie in the future: ``t <= now``. rtmidi's first delta is 0, so the
first event of a port simply gets ``now``.
"""

from __future__ import annotations


class DeltaClock:
    """Per-port mapping of rtmidi delta times to app-clock nanoseconds (callback thread only)."""

    def __init__(self, drift_ppm: float = 200.0, max_gap_s: float = 30.0) -> None:
        self._drift = drift_ppm * 1e-6
        self._max_gap_ns = int(max_gap_s * 1e9)
        self._src: int | None = None  # sum of deltas, ns
        self._offset = 0

    def stamp(self, delta_s: float, now_ns: int) -> int:
        if self._src is None or not 0.0 <= delta_s * 1e9 <= self._max_gap_ns:
            # first event, or a gap long enough that re-anchoring is safer than trusting drift
            self._src = 0
            self._offset = now_ns
            return now_ns
        step = round(delta_s * 1e9)
        self._src += step
        candidate = now_ns - self._src
        allowed = self._offset + int(step * self._drift)
        self._offset = candidate if candidate < allowed else allowed
        return min(self._src + self._offset, now_ns)
