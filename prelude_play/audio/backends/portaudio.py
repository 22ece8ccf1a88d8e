"""The ``sounddevice`` backend: PortAudio (JACK, ALSA, PipeWire, WASAPI, CoreAudio).

On Linux, when PortAudio sees a JACK host API (a JACK server is running), it is preferred unless
``hostapi`` says otherwise: JACK gives the smallest, steadiest period. Devices are chosen by
index or by a case-insensitive substring of their name.

Device loss: PortAudio ends the stream on its own (unplugged USB interface, JACK server gone)
and calls ``finished_callback``; if we did not ask it to stop, the backend records why and tells
the engine, which the shell sees through ``engine.poll()``.
"""

from __future__ import annotations

import sys
from typing import Any

from prelude_play.audio.backends.base import LostFn, RenderFn
from prelude_play.clock import Clock, MonotonicClock
from prelude_play.errors import DeviceError


def import_sounddevice() -> Any:
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:  # OSError: libportaudio2 missing
        raise DeviceError(f"PortAudio is not available: {exc}") from exc
    return sd


def pick_hostapi(sd: Any, hostapi: str | None) -> int | None:
    """Index of the host API to use: a name substring, or on Linux JACK when present."""
    apis = sd.query_hostapis()
    if hostapi and hostapi != "auto":
        for i, a in enumerate(apis):
            if hostapi.casefold() in a["name"].casefold():
                return i
        raise DeviceError(
            f"audio host API {hostapi!r} not found; available: {', '.join(a['name'] for a in apis)}"
        )
    if sys.platform.startswith("linux"):
        for i, a in enumerate(apis):
            if "JACK" in a["name"] and a["devices"]:
                return i
    return None


def pick_device(sd: Any, device: int | str | None, hostapi: int | None, kind: str) -> int | None:
    """Device index for ``kind`` ('output' or 'input') or None for PortAudio's default."""
    key = f"max_{kind}_channels"
    devs = sd.query_devices()
    if isinstance(device, int):
        return device
    if device is None:
        if hostapi is None:
            return None
        d = sd.query_hostapis(hostapi)[f"default_{kind}_device"]
        if d >= 0:
            return int(d)
        for i in sd.query_hostapis(hostapi)["devices"]:
            if devs[i][key] > 0:
                return int(i)
        return None
    want = device.casefold()
    hits = [i for i, d in enumerate(devs) if d[key] > 0 and want in d["name"].casefold()]
    if not hits:
        names = sorted({d["name"] for d in devs if d[key] > 0})
        raise DeviceError(f"no audio {kind} device matching {device!r}; available: {names}")
    if hostapi is not None:
        for i in hits:
            if devs[i]["hostapi"] == hostapi:
                return i
    return hits[0]


class SoundDeviceBackend:
    name = "sounddevice"
    exact_clock = False

    def __init__(
        self,
        *,
        rate: int = 48000,
        blocksize: int = 128,
        channels: int = 2,
        device: int | str | None = None,
        hostapi: str | None = "auto",
        latency: str | float = "low",
        clock: Clock | None = None,
        rescan: bool = False,
        **_: object,
    ) -> None:
        sd = import_sounddevice()
        if rescan:  # PortAudio lists host APIs/devices only at initialisation
            sd._terminate()
            sd._initialize()
        self.clock = clock or MonotonicClock()
        self.rate = int(rate)
        self.channels = int(channels)
        self.lost: str | None = None
        self.notice: str | None = None
        self._stopping = False
        self._render: RenderFn | None = None
        self._on_lost: LostFn | None = None
        self._sd = sd
        self._latency_setting = latency
        self._blocksize = int(blocksize)
        try:
            api = pick_hostapi(sd, hostapi)
            self.device_index = pick_device(sd, device, api, "output")
            self._stream = sd.OutputStream(
                samplerate=self.rate,
                blocksize=int(blocksize),
                device=self.device_index,
                channels=self.channels,
                dtype="float32",
                latency=latency,
                callback=self._callback,
                finished_callback=self._finished,
            )
        except DeviceError:
            raise
        except Exception as exc:  # sd.PortAudioError, ValueError for bad settings
            raise DeviceError(f"cannot open audio output: {exc}") from exc
        self.period_frames = int(blocksize) or 0
        self.output_latency_s = float(self._stream.latency)
        info = sd.query_devices(self._stream.device)
        self.device_name = f"{info['name']} ({sd.query_hostapis(info['hostapi'])['name']})"

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        now = self.clock.now_ns()
        dac = time_info.outputBufferDacTime
        cur = time_info.currentTime
        d = dac - cur
        if not (dac > 0.0 and cur > 0.0 and 0.0 <= d < 1.0):
            d = self.output_latency_s
        self._render(outdata, frames, now + int(d * 1e9), bool(status.output_underflow))  # type: ignore[misc]

    def _finished(self) -> None:
        if self._stopping:
            return
        self.lost = f"audio output {self.device_name} stopped unexpectedly (device lost?)"
        if self._on_lost is not None:
            self._on_lost(self.lost)

    def start(self, render: RenderFn, on_lost: LostFn) -> None:
        self._render = render
        self._on_lost = on_lost
        self._stopping = False
        try:
            self._stream.start()
        except Exception as exc:
            raise DeviceError(f"cannot start audio output {self.device_name}: {exc}") from exc

    @property
    def on_jack(self) -> bool:
        """Whether the stream runs on PortAudio's JACK host API."""
        return "JACK" in self.device_name

    def start_native(self, mixer: Any, on_lost: LostFn) -> None:
        """Start with the C mixer's callback (``ppcore.c: pp_pa_callback``) instead of Python's:
        PortAudio's real-time thread then runs no Python at all. The stream opened in
        ``__init__`` (with the Python callback, never started) is replaced by an identical one,
        as python-rtmixer does through sounddevice's ``_StreamBase``."""
        from prelude_play.rt import native

        sd = self._sd
        self._on_lost = on_lost
        self._stopping = True
        try:
            self._stream.close(ignore_errors=True)
        except Exception:
            pass
        try:
            ffi = sd._ffi
            stream = sd._StreamBase(
                kind="output", samplerate=self.rate, blocksize=self._blocksize,
                device=self.device_index, channels=self.channels, dtype="float32",
                latency=self._latency_setting,
                callback=ffi.cast("PaStreamCallback*", native.fn_address("pp_pa_callback")),
                userdata=ffi.cast("void*", mixer.ptr), wrap_callback=None,
                finished_callback=self._finished)
        except Exception as exc:
            raise DeviceError(f"cannot open audio output with the C mixer: {exc}") from exc
        self._stream = stream
        self.output_latency_s = float(stream.latency)
        if not self.on_jack:  # reopened on another host API: JACK's frame clock is not ours
            mixer.set_jack_clock(None, 0)
        mixer.set_pa_latency(self.output_latency_s)
        mixer.set_channels(self.channels)
        self.native = mixer
        self._stopping = False
        try:
            stream.start()
        except Exception as exc:
            raise DeviceError(f"cannot start audio output {self.device_name}: {exc}") from exc

    def stop(self) -> None:
        self._stopping = True
        try:
            self._stream.stop()
        except Exception:
            pass  # a vanished device may refuse; close() still releases it

    def close(self) -> None:
        self._stopping = True
        try:
            self._stream.close(ignore_errors=True)
        except Exception:
            pass

    def describe(self) -> str:
        return (
            f"sounddevice: {self.device_name}, {self.rate} Hz, block {self.period_frames}, "
            f"latency {self.output_latency_s * 1000:.1f} ms"
        )
