"""The single input queue: any thread puts, the frame loop drains, and a put wakes the loop."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable

from prelude_play.events import InputEvent

REPORT_NS = 1_000_000_000
"""An overflow still going on is reported at most once a second (never an event per drop)."""


class InputQueue:
    """Bounded so a MIDI flood cannot grow memory without limit: when full, further events are
    dropped and counted (``dropped``), and never silently: ``drain`` hands the frame loop a
    ``flood`` system event (``data["where"] = "input_queue"``: how many, from which devices, of
    which kinds, over what time) before the events it returns, once the overflow has ended or at
    most once a second while it lasts. The shell logs system events as they are (kind, device,
    data) and shows their ``message``.

    ``wake`` is called after a put from any thread (the shell posts an SDL event so a loop asleep
    in ``pygame.event.wait`` runs at once); it must be cheap and thread-safe.
    """

    def __init__(self, maxsize: int = 4096, wake: Callable[[], None] | None = None) -> None:
        self.maxsize = maxsize
        self._q: deque[InputEvent] = deque()
        self._lock = threading.Lock()
        self.dropped = 0
        self.wake = wake
        self._lost: dict[str, Any] | None = None  # the overflow not yet reported
        self._reported_ns: int | None = None

    def put(self, event: InputEvent) -> None:
        with self._lock:
            if len(self._q) >= self.maxsize:
                self._count_lost(event)
                return
            self._q.append(event)
        wake = self.wake
        if wake is not None:
            wake()

    def _count_lost(self, event: InputEvent) -> None:
        self.dropped += 1
        lost = self._lost
        if lost is None:
            lost = self._lost = {"dropped": 0, "devices": {}, "by_kind": {}, "first_ns": event.t_ns,
                                 "last_ns": event.t_ns}
        lost["dropped"] += 1
        lost["devices"][event.device] = lost["devices"].get(event.device, 0) + 1
        kind = f"{event.source}:{event.kind}"
        lost["by_kind"][kind] = lost["by_kind"].get(kind, 0) + 1
        lost["first_ns"] = min(lost["first_ns"], event.t_ns)
        lost["last_ns"] = max(lost["last_ns"], event.t_ns)

    def drain(self, limit: int = 1024) -> list[InputEvent]:
        with self._lock:
            n = min(limit, len(self._q))
            out = [self._q.popleft() for _ in range(n)]
            report = self._report(empty=not self._q)
        if report is not None:
            out.insert(0, report)
        return out

    def _report(self, *, empty: bool) -> InputEvent | None:
        """The overflow as a ``flood`` event, when it has ended (the queue emptied) or a second
        has passed since the last report (lock held)."""
        lost = self._lost
        if lost is None:
            return None
        last = lost["last_ns"]
        if not empty and self._reported_ns is not None and last - self._reported_ns < REPORT_NS:
            return None
        self._lost, self._reported_ns = None, last
        span = (last - lost["first_ns"]) / 1e9
        top = max(lost["devices"].items(), key=lambda kv: kv[1])[0] if lost["devices"] else ""
        text = (f"Input overflow: {lost['dropped']} event(s) could not be handled in {span:.1f} s "
                f"(mostly from {top or 'an unknown device'})")
        data = {**lost, "where": "input_queue", "span_s": round(span, 3), "message": text}
        return InputEvent(t_ns=last, source="system", kind="flood", device=top, role="system", data=data)

    def peek(self) -> InputEvent | None:
        """The oldest event waiting (tests look at it before a frame takes it)."""
        with self._lock:
            return self._q[0] if self._q else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._q)
