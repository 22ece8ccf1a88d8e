"""The ``sdl`` backend: pygame's own SDL audio device with a callback.

The fallback when PortAudio is absent. It uses ``pygame._sdl2.audio.AudioDevice`` (SDL's
callback API: the same pull model as PortAudio, so the engine runs unchanged). SDL buffers one
more chunk than PortAudio/JACK, so latency is about two chunks. SDL reports a removed device as
a pygame AUDIODEVICEREMOVED event in the shell's event loop, not here: the shell forwards it with
``engine._lost(...)``-equivalent ``backend.mark_lost()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prelude_play.audio.backends.base import LostFn, RenderFn
from prelude_play.clock import Clock, MonotonicClock
from prelude_play.errors import DeviceError


def _sdl_init_audio() -> None:
    """SDL_InitSubSystem(SDL_INIT_AUDIO) on pygame's own SDL, through pygame's binding: it works on
    every OS (finding libSDL2 in /proc/self/maps, as this did before, works on Linux only)."""
    from pygame._sdl2 import sdl2

    sdl2.init_subsystem(sdl2.INIT_AUDIO)


class SdlBackend:
    name = "sdl"
    exact_clock = False
    on_jack = False

    def __init__(
        self,
        *,
        rate: int = 48000,
        blocksize: int = 128,
        channels: int = 2,
        device: str | None = None,
        clock: Clock | None = None,
        **_: object,
    ) -> None:
        try:
            import pygame
            from pygame._sdl2 import audio as sdl_audio
        except ImportError as exc:
            raise DeviceError(f"pygame SDL audio is not available: {exc}") from exc
        self.clock = clock or MonotonicClock()
        self.rate = int(rate)
        self.channels = int(channels)
        self.period_frames = int(blocksize)
        self.lost: str | None = None
        self.notice: str | None = None
        self._render: RenderFn | None = None
        self._on_lost: LostFn | None = None
        self._started = False
        try:
            # pygame.init() also opens pygame.mixer's device, and drivers with a single output
            # (dummy, some ALSA setups) refuse a second one: close the mixer if we opened it.
            mixer_was_on = pygame.mixer.get_init() is not None
            if not pygame.get_init():
                pygame.init()
            if not mixer_was_on and pygame.mixer.get_init() is not None:
                pygame.mixer.quit()  # this also quits SDL's audio subsystem: re-init it alone
                _sdl_init_audio()
            if device is not None:
                names = sdl_audio.get_audio_device_names(False)
                hits = [n for n in names if device.casefold() in n.casefold()]
                if not hits:
                    raise DeviceError(f"no SDL audio device matching {device!r}; available: {names}")
                device = hits[0]
            self._dev = sdl_audio.AudioDevice(
                devicename=device,
                iscapture=False,
                frequency=self.rate,
                audioformat=sdl_audio.AUDIO_F32,
                numchannels=self.channels,
                chunksize=self.period_frames,
                allowed_changes=0,  # SDL converts if the hardware differs: our format is fixed
                callback=self._callback,
            )
        except DeviceError:
            raise
        except Exception as exc:  # pygame.error
            raise DeviceError(f"cannot open SDL audio: {exc}") from exc
        self.device_name = device or "default"
        self.output_latency_s = 2 * self.period_frames / self.rate

    def _callback(self, dev: Any, mem: memoryview) -> None:
        now = self.clock.now_ns()
        out = np.frombuffer(mem, dtype=np.float32)
        frames = out.shape[0] // self.channels
        out = out.reshape(frames, self.channels)
        self._render(out, frames, now + int(self.output_latency_s * 1e9), False)  # type: ignore[misc]

    def mark_lost(self, reason: str = "SDL audio device removed") -> None:
        """Called by the shell on pygame's AUDIODEVICEREMOVED event for this device."""
        self.lost = reason
        if self._on_lost is not None:
            self._on_lost(reason)

    def start(self, render: RenderFn, on_lost: LostFn) -> None:
        self._render = render
        self._on_lost = on_lost
        self._dev.pause(0)
        self._started = True

    def stop(self) -> None:
        if self._started:
            self._started = False
            sdl = _sdl_nogil()
            if sdl is not None:
                sdl.SDL_PauseAudioDevice(self._dev.deviceid, 1)
            else:
                self._dev.pause(1)

    def close(self) -> None:
        self.stop()
        sdl = _sdl_nogil()
        try:
            if sdl is not None:
                sdl.SDL_CloseAudioDevice(self._dev.deviceid)
                # pygame's object would close its id again when freed, and SDL reuses ids: keep it
                _CLOSED.append(self._dev)
            else:
                self._dev.close()
        except Exception:
            pass


_SDL: list[Any] = []
_CLOSED: list[Any] = []  # devices closed through ctypes, never freed (a few bytes each)


def _sdl_nogil() -> Any:
    """SDL's own pause/close, called through ctypes, which lets go of the Python lock meanwhile.

    Why: pygame calls SDL_PauseAudioDevice/SDL_CloseAudioDevice holding the Python lock, and
    SDL waits there for the audio thread, which may be waiting for that very lock to run our
    Python callback: a deadlock (seen as a hang closing the app under load). ctypes releases
    the lock for the call. None when pygame's SDL library cannot be found (then pygame's)."""
    if _SDL:
        return _SDL[0]
    lib = None
    try:
        import ctypes
        from pathlib import Path

        import pygame

        roots = [Path(pygame.__file__).parent, Path(pygame.__file__).parent.parent / "pygame_ce.libs",
                 Path(pygame.__file__).parent.parent / "pygame_ce" / ".dylibs"]
        names = [p for r in roots if r.is_dir() for p in sorted(r.iterdir())
                 if p.name.lower().startswith(("libsdl2-2", "libsdl2.", "sdl2.dll", "libsdl2-2.0"))]
        for path in names:
            try:
                cand = ctypes.CDLL(str(path))
                cand.SDL_PauseAudioDevice.argtypes = [ctypes.c_uint32, ctypes.c_int]
                cand.SDL_CloseAudioDevice.argtypes = [ctypes.c_uint32]
                lib = cand
                break
            except (OSError, AttributeError):
                continue
    except Exception:
        lib = None
    _SDL.append(lib)
    return lib

    def describe(self) -> str:
        return f"sdl: {self.device_name}, {self.rate} Hz, chunk {self.period_frames}"
