"""The single input queue: any thread puts, the frame loop drains, and a put wakes the loop."""

from __future__ import annotations

import queue
from typing import Callable

from prelude_play.events import InputEvent


class InputQueue:
    """Bounded so a MIDI flood cannot grow memory without limit: when full, further events are
    dropped and counted (``dropped``), and the shell logs the count.

    ``wake`` is called after a put from any thread (the shell posts an SDL event so a loop asleep
    in ``pygame.event.wait`` runs at once); it must be cheap and thread-safe.
    """

    def __init__(self, maxsize: int = 4096, wake: Callable[[], None] | None = None) -> None:
        self._q: queue.Queue[InputEvent] = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.wake = wake

    def put(self, event: InputEvent) -> None:
        try:
            self._q.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            return
        wake = self.wake
        if wake is not None:
            wake()

    def drain(self, limit: int = 1024) -> list[InputEvent]:
        out: list[InputEvent] = []
        for _ in range(limit):
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                break
        return out

    def __len__(self) -> int:
        return self._q.qsize()
