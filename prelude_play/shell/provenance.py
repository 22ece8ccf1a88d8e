"""Where a session's data came from (Expyriment's data-file header): versions, the configuration
(never the PIN), the devices, which real-time core ran, the machine's measured latency."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prelude_play import __version__


def describe(dev: Any) -> Any:
    """What a device is, for the provenance (backend, rate, period, latency, ports)."""
    if dev is None:
        return None
    describe_fn = getattr(dev, "describe", None)  # TODO(13): every device protocol has describe()
    if callable(describe_fn):
        try:
            return describe_fn()
        except Exception as exc:
            return {"error": repr(exc)}
    if hasattr(dev, "backend_name") and hasattr(dev, "period_frames"):
        return {"engine": type(dev).__name__, "backend": dev.backend_name, "rate": dev.rate,
                "period_frames": dev.period_frames,
                "output_latency_ms": round(dev.output_latency_s * 1000, 2) if dev.output_latency_s else None}
    if hasattr(dev, "inputs"):  # MidiHub.inputs is a property
        try:
            inputs = dev.inputs() if callable(dev.inputs) else dev.inputs
            return {"hub": type(dev).__name__, "inputs": [getattr(i, "name", i) for i in inputs]}
        except Exception as exc:
            return {"hub": type(dev).__name__, "error": repr(exc)}
    return type(dev).__name__


def realtime_core(audio: Any, midi: Any, facts: list[str]) -> dict[str, Any]:
    """Which mixer and MIDI callback ran this session ("c", "python", or "none": no device)."""
    def kind(dev: Any, native: bool) -> str:
        return "none" if dev is None else "c" if native else "python"

    return {"audio": kind(audio, getattr(audio, "native", None) is not None),
            "midi": kind(midi, bool(getattr(getattr(midi, "backend", None), "native", False))),
            "links": list(facts)}


def selftest_figures(data_dir: Path | None) -> Any:
    """The last ``prelude-play selftest`` measurement on this machine, if one was made."""
    if data_dir is None:
        return None
    path = data_dir / "selftest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    except (OSError, ValueError) as exc:
        return {"error": f"{path}: {exc}"}


def provenance(*, cfg: Any, registry: Any, audio: Any, midi: Any, facts: list[str], language: str,
               store_device: str | None, data_dir: Path | None) -> dict[str, Any]:
    import pygame

    config = {k: v for k, v in asdict(cfg).items() if k not in ("problems", "sources")}
    config.get("therapist", {}).pop("pin", None)  # the PIN is never written anywhere
    return {
        "app_version": __version__,
        "python": platform.python_version(),
        "pygame": pygame.version.ver,
        "platform": platform.platform(),
        "activities": {n: e.cls.version for n, e in registry.entries.items()},
        "config": config,
        "config_sources": cfg.sources,
        "config_problems": [str(p) for p in cfg.problems],
        "audio": describe(audio),
        "midi": describe(midi),
        "realtime_core": realtime_core(audio, midi, facts),
        "language": language,
        "store_device": store_device,
        "selftest": selftest_figures(data_dir),
    }
