"""A JACK client that records what the app plays and plays a tone into the app's input."""

from __future__ import annotations

import threading

import numpy as np


class Probe:
    def __init__(self, seconds: float = 3.0, tone_hz: float = 0.0, tone_amp: float = 0.0) -> None:
        import jack

        self.jack = jack
        self.c = jack.Client("pp-audio-probe", no_start_server=True)
        self.rate = self.c.samplerate
        self.inp = self.c.inports.register("in")
        self.out = self.c.outports.register("out")
        self.buf = np.zeros(int(seconds * self.rate), np.float32)
        self.n = 0
        self.start_frame: int | None = None
        # perf_counter_ns at the start of each recorded cycle (JACK's clock is CLOCK_MONOTONIC
        # like perf_counter on Linux, but JACK-Client does not wrap jack_frames_to_time)
        self.cycle_ns = np.zeros(int(seconds * self.rate) // 16 + 1, np.int64)
        self.cycle_len = 0
        self.tone_hz, self.tone_amp = tone_hz, tone_amp
        self._phase = 0
        self.lock = threading.Lock()
        self.c.set_process_callback(self._process)
        self.c.activate()

    def _process(self, frames: int) -> None:
        import time

        t = time.perf_counter_ns() - int(self.c.frames_since_cycle_start * 1e9 / self.rate)
        if self.start_frame is None:
            self.start_frame = self.c.last_frame_time
            self.cycle_len = frames
        x = self.inp.get_array()
        ci = self.n // self.cycle_len
        if ci < self.cycle_ns.size:
            self.cycle_ns[ci] = t
        k = min(frames, self.buf.size - self.n)
        if k > 0:
            self.buf[self.n : self.n + k] = x[:k]
            self.n += k
        o = self.out.get_array()
        if self.tone_amp:
            t = (self._phase + np.arange(frames)) / self.rate
            o[:] = self.tone_amp * np.sin(2 * np.pi * self.tone_hz * t)
            self._phase += frames
        else:
            o[:] = 0.0

    def app_ports(self, is_output: bool) -> list[str]:
        return [
            p.name for p in self.c.get_ports(is_audio=True, is_output=is_output)
            if not p.name.startswith(("system:", "pp-audio-probe:"))
        ]

    def onset_time_ns(self, threshold: float = 0.01) -> int | None:
        nz = np.nonzero(np.abs(self.buf[: self.n]) > threshold)[0]
        if nz.size == 0 or self.start_frame is None:
            return None
        i = int(nz[0])
        return int(self.cycle_ns[i // self.cycle_len]) + int((i % self.cycle_len) * 1e9 / self.rate)

    def close(self) -> None:
        self.c.deactivate()
        self.c.close()
