"""Microphone capture: input stream → preallocated ring → analysis worker.

The input callback only copies samples into a ring buffer and feeds the stream's timing into a
TimeMap (ring frame ↔ app-clock ns when the sample hit the ADC). A worker thread (``pump``)
hands each new chunk to the consumers an activity registered — ``fn(samples, t0_ns)`` with the
app-clock time of the chunk's first sample — and updates the level meter the UI reads. Analysis
is never done on the audio thread.

Backends: ``sounddevice`` (PortAudio input, JACK preferred on Linux like the output), ``null``
(no device: a silent meter) and ``offline`` (tests ``feed()`` a numpy signal synchronously).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

import numpy as np

from prelude_play.audio.timemap import TimeMap
from prelude_play.clock import Clock, MonotonicClock
from prelude_play.errors import DeviceError

Consumer = Callable[[np.ndarray, int], None]
SILENCE_DB = -120.0


class Capture:
    """One mono input. ``start()``/``close()``; consumers run on the worker thread."""

    def __init__(
        self,
        backend: str = "sounddevice",
        *,
        rate: int = 48000,
        blocksize: int = 128,
        device: int | str | None = None,
        hostapi: str | None = "auto",
        channel: int = 0,
        ring_seconds: float = 10.0,
        clock: Clock | None = None,
        worker: bool = True,
        poll_s: float = 0.005,
        meter_window_s: float = 0.05,
    ) -> None:
        self.backend = backend
        self.rate = int(rate)
        self.blocksize = int(blocksize)
        self.clock: Clock = clock or MonotonicClock()
        self.channel = int(channel)
        size = 1 << max(10, math.ceil(math.log2(ring_seconds * self.rate)))
        self._ring = np.zeros(size, dtype=np.float32)
        self._mask = size - 1
        self._written = 0  # total frames written (only the callback writes it)
        self._read = 0  # total frames handed to consumers (only the worker writes it)
        self.timemap = TimeMap(self.rate)
        self.overruns = 0
        self.xruns = 0
        self._consumers: list[Consumer] = []
        self._rms_db = SILENCE_DB
        self._peak_db = SILENCE_DB
        self._meter_n = max(1, int(meter_window_s * self.rate))
        self._poll_s = poll_s
        self._use_worker = worker
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stream: Any = None
        self.latency_s = 0.0
        self.lost: str | None = None
        self.consumer_errors = 0
        self.last_error: BaseException | None = None
        self.device_name = backend
        self.device = device
        self.hostapi_name = hostapi
        self.notice: str | None = None
        self._closing = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.backend == "sounddevice":
            self._open_sounddevice()
        elif self.backend in ("null", "offline"):
            if self.backend == "offline":
                self.timemap.anchor(0, self.clock.now_ns())
        else:
            raise DeviceError(f"unknown capture backend {self.backend!r} (sounddevice, null, offline)")
        if self._use_worker and self.backend != "offline":
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pp-capture", daemon=True)
            self._thread.start()

    def _open_sounddevice(self) -> None:
        from prelude_play.audio.backends.portaudio import (import_sounddevice, pick_device, pick_hostapi,
                                                            stream_settings)

        sd = import_sounddevice()
        try:
            api = pick_hostapi(sd, self.hostapi_name, "input")
            dev = pick_device(sd, self.device, api, "input")
            self._stream = sd.InputStream(
                samplerate=self.rate, blocksize=self.blocksize, device=dev,
                channels=self.channel + 1, dtype="float32", latency="low",
                extra_settings=stream_settings(sd, api),
                callback=self._sd_callback, finished_callback=self._finished,
            )
            self._stream.start()
        except DeviceError:
            raise
        except Exception as exc:
            raise DeviceError(f"cannot open audio input: {exc}") from exc
        self.latency_s = float(self._stream.latency)
        info = sd.query_devices(self._stream.device)
        self.device_name = info["name"]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        if self._stream is not None:
            s, self._stream = self._stream, None
            self._closing = True
            try:
                s.stop()
                s.close(ignore_errors=True)
            except Exception:
                pass

    def describe(self) -> dict[str, Any]:
        """What the session's provenance records of the microphone."""
        return {"capture": self.backend, "device": self.device_name, "rate": self.rate,
                "input_latency_ms": round(self.latency_s * 1000, 2) if self.latency_s else None}

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _finished(self) -> None:
        if not self._closing:
            self.lost = f"audio input {self.device_name} stopped unexpectedly (device lost?)"

    # ------------------------------------------------------------------ producer side
    def _sd_callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = self.clock.now_ns()
        adc = time_info.inputBufferAdcTime
        cur = time_info.currentTime
        d = cur - adc
        if not (adc > 0.0 and cur > 0.0 and 0.0 <= d < 1.0):
            d = self.latency_s
        if status.input_overflow:
            self.xruns += 1
        self._write(indata[:, self.channel], frames, now - int(d * 1e9))

    def _write(self, x: np.ndarray, frames: int, adc_ns: int | None) -> None:
        """Copy into the ring (the only work done on the audio thread)."""
        w = self._written
        if adc_ns is not None:
            self.timemap.update(w, adc_ns)
        i = w & self._mask
        k = min(frames, self._ring.shape[0] - i)
        self._ring[i : i + k] = x[:k]
        if k < frames:
            self._ring[: frames - k] = x[k:frames]
        self._written = w + frames

    def feed(self, samples: np.ndarray, *, pump: bool = True) -> None:
        """Offline/null: push a signal through the same path as the device, in blocks, with an
        exact clock (frame F at anchor + F/rate), then deliver it to consumers."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not self.timemap.anchored:
            self.timemap.anchor(0, self.clock.now_ns())
        for s in range(0, x.shape[0], self.blocksize):
            blk = x[s : s + self.blocksize]
            self._write(blk, blk.shape[0], None)
        if pump:
            self.pump()

    # ------------------------------------------------------------------ consumer side
    def add_consumer(self, fn: Consumer) -> None:
        """Register ``fn(samples, t0_ns)``; called on the worker thread for every new chunk."""
        self._consumers = [*self._consumers, fn]

    def remove_consumer(self, fn: Consumer) -> None:
        self._consumers = [c for c in self._consumers if c is not fn]

    @property
    def frames_captured(self) -> int:
        return self._written

    def frame_to_ns(self, frame: int) -> int:
        """App-clock ns at which ring frame ``frame`` was captured (reached the ADC)."""
        return self.timemap.frame_to_ns(frame)

    def latest(self, n: int) -> tuple[np.ndarray, int]:
        """A copy of the last ``n`` samples and the frame index of the first (UI, tests)."""
        w = self._written
        n = min(n, w, self._ring.shape[0])
        start = w - n
        idx = (np.arange(start, w) & self._mask)
        return self._ring[idx].copy(), start

    def pump(self) -> int:
        """Deliver everything new to consumers and update the meter; returns frames delivered."""
        w = self._written
        r = self._read
        size = self._ring.shape[0]
        if w - r > size:
            self.overruns += 1
            r = w - size
        if w == r:
            return 0
        i0, i1 = r & self._mask, w & self._mask
        if i0 < i1 or w - r == 0:
            chunk = self._ring[i0:i1].copy()
        else:
            chunk = np.concatenate((self._ring[i0:], self._ring[:i1]))
        if self.timemap.anchored:
            t0 = self.timemap.frame_to_ns(r)
        else:
            t0 = self.clock.now_ns()
        self._read = w
        self._update_meter(chunk)
        for fn in self._consumers:
            try:
                fn(chunk, t0)
            except Exception as exc:  # an analysis bug must not stop capture
                self.consumer_errors += 1
                self.last_error = exc
        return chunk.shape[0]

    def _update_meter(self, chunk: np.ndarray) -> None:
        tail = chunk[-self._meter_n :]
        if tail.size == 0:
            return
        rms = float(np.sqrt(np.mean(np.square(tail, dtype=np.float64))))
        peak = float(np.max(np.abs(tail)))
        self._rms_db = 20 * math.log10(rms) if rms > 1e-6 else SILENCE_DB
        self._peak_db = 20 * math.log10(peak) if peak > 1e-6 else SILENCE_DB

    def level(self) -> tuple[float, float]:
        """(RMS dBFS, peak dBFS) over the last ~50 ms delivered; −120 for silence."""
        return self._rms_db, self._peak_db

    def _run(self) -> None:
        while not self._stop.is_set():
            self.pump()
            time.sleep(self._poll_s)


def open_capture(
    backend: str = "auto",
    *,
    device: int | str | None = None,
    hostapi: str | None = "auto",
    **options: Any,
) -> Capture:
    """Open and start a capture; ``auto`` falls back to ``null`` (silent meter) with ``notice``."""
    notice = None
    if backend == "auto":
        try:
            cap = Capture("sounddevice", device=device, hostapi=hostapi, **options)
            cap.start()
            return cap
        except DeviceError as exc:
            notice = f"No microphone — listening activities will not hear the client ({exc})"
            backend = "null"
    cap = Capture(backend, device=device, hostapi=hostapi, **options)
    cap.start()
    cap.notice = notice
    return cap


__all__ = ["Capture", "open_capture", "SILENCE_DB"]
