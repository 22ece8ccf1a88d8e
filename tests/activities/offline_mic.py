"""The offline microphone the activity tests sing into, kept in step with the fake clock."""

from __future__ import annotations

import numpy as np

from prelude_play.audio.capture import open_capture
from prelude_play.clock import FakeClock

RATE = 48000


class Mic:
    """The offline capture, kept in step with the fake clock: audio time = session time."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.cap = None

    def factory(self):
        self.cap = open_capture("offline", rate=RATE, clock=self.clock)
        return self.cap

    def catch_up(self) -> None:
        """Silence up to now: the capture has heard every moment that passed."""
        cap = self.cap
        need = int((self.clock.now_ns() - cap.frame_to_ns(0)) * RATE / 1e9) - cap.frames_captured
        if need > 0:
            cap.feed(np.zeros(need, np.float32))

    def sing(self, pilot, x: np.ndarray) -> int:
        """Feed ``x`` starting now, 20 ms at a time, running frames as its time passes."""
        self.catch_up()
        start = self.cap.frame_to_ns(self.cap.frames_captured)
        blk = RATE // 50
        for i in range(0, len(x), blk):
            self.cap.feed(x[i:i + blk])
            pilot.clock.set(start + int((i + blk) * 1e9 / RATE))
            pilot.app.step()
        return start

    feed = sing

    def silence(self, pilot, ms: float) -> None:
        self.sing(pilot, np.zeros(int(ms * RATE / 1000), np.float32))
