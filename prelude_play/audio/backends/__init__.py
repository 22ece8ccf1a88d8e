"""Audio output backends, chosen by name and imported lazily (the mido idea).

Tests and machines without sound hardware never import PortAudio or SDL: a backend module is
imported only when its name is asked for. ``open_engine("auto")`` tries ``sounddevice``, then
``sdl``, then ``null``, and leaves a notice the shell shows when it had to fall back.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from prelude_play.errors import ConfigError, DeviceError

if TYPE_CHECKING:
    from prelude_play.audio.backends.base import AudioBackend
    from prelude_play.audio.engine import AudioEngine

BACKENDS: dict[str, str] = {
    "sounddevice": "prelude_play.audio.backends.portaudio:SoundDeviceBackend",
    "sdl": "prelude_play.audio.backends.sdl:SdlBackend",
    "null": "prelude_play.audio.backends.null:NullBackend",
    "offline": "prelude_play.audio.backends.null:OfflineBackend",
}
AUTO_ORDER = ("sounddevice", "sdl", "null")


def backend_class(name: str) -> Any:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown audio backend {name!r}",
            key="audio.backend",
            hint=f"use one of: auto, {', '.join(BACKENDS)}",
        ) from None
    mod, _, cls = target.partition(":")
    return getattr(importlib.import_module(mod), cls)


def open_backend(name: str = "auto", **options: Any) -> "AudioBackend":
    """Open one backend by name, or the first that works for ``auto`` (with ``.notice`` set
    when it is not the first choice). Raises DeviceError when a named backend fails."""
    if name != "auto":
        return backend_class(name)(**options)
    failures: list[str] = []
    for cand in AUTO_ORDER:
        try:
            if cand == "null":
                notice = "No audio output found — running silent. " + "; ".join(failures)
                return backend_class(cand)(notice=notice, **options)
            be = backend_class(cand)(**options)
        except DeviceError as exc:
            failures.append(f"{cand}: {exc}")
            continue
        if failures:
            be.notice = f"Audio via {cand} (fallback). " + "; ".join(failures)
        return be
    raise AssertionError("null backend cannot fail")


def open_engine(backend: str = "auto", *, fallback: bool = True, **options: Any) -> "AudioEngine":
    """Open a backend and an AudioEngine on it, started.

    Backend options: rate, blocksize, channels, device, hostapi, latency, clock.
    Engine options: bank, voices, tails, limit_dbfs, master_volume, stop_ramp_ms, ...
    With ``fallback`` a named backend that fails falls back along sounddevice → sdl → null
    (notice set); ``engine.reopen()`` follows the same recipe after a device loss.
    """
    from prelude_play.audio.engine import AudioEngine

    engine_keys = {
        "bank", "voices", "tails", "limit_dbfs", "master_volume", "max_block", "stop_ramp_ms",
        "steal_ramp_ms", "max_queue", "autostart", "core",
    }
    eng_opts = {k: options.pop(k) for k in list(options) if k in engine_keys}
    clock = options.get("clock")

    def recipe(first: str = backend, rescan: bool = False) -> "AudioBackend":
        try:
            opts = dict(options)
            if first == "sounddevice" and rescan:
                opts["rescan"] = True
            return open_backend(first, **opts)
        except DeviceError as exc:
            if not fallback or first in ("null", "offline"):
                raise
            order = [b for b in AUTO_ORDER if b != first]
            failures = [f"{first}: {exc}"]
            for cand in order:
                try:
                    if cand == "null":
                        return open_backend(
                            "null", notice="No audio output — running silent. " + "; ".join(failures),
                            **options,
                        )
                    be = open_backend(cand, **options)
                    be.notice = f"Audio via {cand} (fallback). " + "; ".join(failures)
                    return be
                except DeviceError as exc2:
                    failures.append(f"{cand}: {exc2}")
            raise

    be = recipe()
    return AudioEngine(
        be,
        clock=clock,
        notice=getattr(be, "notice", None),
        reopen=lambda: recipe(be.name if backend == "auto" else backend, rescan=True),
        **eng_opts,
    )


__all__ = ["BACKENDS", "AUTO_ORDER", "backend_class", "open_backend", "open_engine"]
