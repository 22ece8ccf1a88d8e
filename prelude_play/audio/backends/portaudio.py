"""The ``sounddevice`` backend: PortAudio (JACK, ALSA, PipeWire, WASAPI, CoreAudio).

With ``hostapi = "auto"`` the host API is chosen per OS (``AUTO_HOSTAPIS``): on Linux JACK when
PortAudio sees it (a JACK server is running: the smallest, steadiest period), else PortAudio's
default (ALSA); on Windows WASAPI, then DirectSound, then MME (PortAudio's own default there is
MME, the one with the most latency); on macOS Core Audio. The output tries them in that order
until one opens. Devices are chosen by index or by a case-insensitive substring of their name,
preferring the entry on the chosen host API (Windows lists each device once per host API).

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


# Host APIs tried in order when none is configured, by sys.platform (name substrings).
AUTO_HOSTAPIS: dict[str, tuple[str, ...]] = {
    "linux": ("JACK",),
    "win32": ("WASAPI", "DirectSound", "MME"),
    "darwin": ("Core Audio",),
}


def _os_key(platform: str) -> str:
    return "linux" if platform.startswith("linux") else "win32" if platform.startswith("win") else platform


def hostapi_preference(sd: Any, hostapi: str | None, kind: str = "output") -> list[int]:
    """Host API indices to try, best first; empty means PortAudio's default device.

    A configured name (substring) must exist. With ``auto``, this OS's preferred host APIs that
    have a device for ``kind`` ('output' or 'input'), in ``AUTO_HOSTAPIS`` order."""
    apis = sd.query_hostapis()
    if hostapi and hostapi != "auto":
        for i, a in enumerate(apis):
            if hostapi.casefold() in a["name"].casefold():
                return [i]
        raise DeviceError(
            f"audio host API {hostapi!r} not found; available: {', '.join(a['name'] for a in apis)}"
        )
    devs = sd.query_devices()
    key = f"max_{kind}_channels"
    order: list[int] = []
    for want in AUTO_HOSTAPIS.get(_os_key(sys.platform), ()):
        for i, a in enumerate(apis):
            if (i not in order and want.casefold() in a["name"].casefold()
                    and any(devs[d][key] > 0 for d in a["devices"])):
                order.append(i)
    return order


def pick_hostapi(sd: Any, hostapi: str | None, kind: str = "output") -> int | None:
    """Index of the host API to use (see ``hostapi_preference``), or None for PortAudio's default."""
    order = hostapi_preference(sd, hostapi, kind)
    return order[0] if order else None


def stream_settings(sd: Any, hostapi: int | None) -> Any:
    """Host-API-specific stream settings. WASAPI (shared mode) only opens at the rate the device
    is set to in Windows' sound settings unless asked to convert; ``auto_convert`` (sounddevice
    0.4.7+) lets Windows resample, so our fixed rate opens on a 44.1 kHz device too."""
    if hostapi is None or "WASAPI" not in sd.query_hostapis(hostapi)["name"]:
        return None
    try:
        return sd.WasapiSettings(auto_convert=True)
    except TypeError:  # sounddevice < 0.4.7: shared mode at the device's own rate only
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
        self._extra: Any = None
        try:
            apis: list[int | None] = list(hostapi_preference(sd, hostapi, "output")) or [None]
        except DeviceError:
            raise
        except Exception as exc:  # sd.PortAudioError
            raise DeviceError(f"cannot list audio host APIs: {exc}") from exc
        if isinstance(device, int):
            apis = [None]  # the device index names its host API
        failures: list[str] = []
        for api in apis:
            try:
                self.device_index = pick_device(sd, device, api, "output")
                self._extra = stream_settings(sd, api)
                self._stream = sd.OutputStream(
                    samplerate=self.rate,
                    blocksize=int(blocksize),
                    device=self.device_index,
                    channels=self.channels,
                    dtype="float32",
                    latency=latency,
                    extra_settings=self._extra,
                    callback=self._callback,
                    finished_callback=self._finished,
                )
                break
            except DeviceError:
                raise
            except Exception as exc:  # sd.PortAudioError, ValueError for bad settings
                where = sd.query_hostapis(api)["name"] if api is not None else "default device"
                failures.append(f"{where}: {exc}")
        else:
            raise DeviceError(f"cannot open audio output: {'; '.join(failures)}")
        self.period_frames = int(blocksize) or 0
        self.output_latency_s = float(self._stream.latency)
        info = sd.query_devices(self._stream.device)
        self.device_name = f"{info['name']} ({sd.query_hostapis(info['hostapi'])['name']})"
        if failures:
            self.notice = f"Audio output on {self.device_name}; could not open {'; '.join(failures)}"

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
        from prelude_play import native

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
                latency=self._latency_setting, extra_settings=self._extra,
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
