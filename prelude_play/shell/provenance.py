"""Where a session's data came from (Expyriment's data-file header): versions, the configuration
(never the PIN), the devices, which real-time core ran, the machine's measured latency."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prelude_play import __version__
from prelude_play.devices import AudioOut, Mic, MidiIn, MidiOut


def describe(dev: AudioOut | MidiIn | MidiOut | Mic) -> dict[str, Any] | None:
    """What a device is, from its own typed ``describe()`` (None: no device, a stand-in); a
    device that cannot say is recorded with the error rather than failing the session."""
    try:
        return dev.describe()
    except Exception as exc:
        return {"error": repr(exc)}


def realtime_core(audio: AudioOut, midi: MidiIn, facts: list[str]) -> dict[str, Any]:
    """Which mixer and MIDI callback ran this session ("c", "python", or "none": no device)."""
    return {"audio": audio.core, "midi": midi.core, "links": list(facts)}


def selftest_figures(data_dir: Path | None) -> Any:
    """The last ``prelude-play selftest`` measurement on this machine, if one was made."""
    if data_dir is None:
        return None
    path = data_dir / "selftest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    except (OSError, ValueError) as exc:
        return {"error": f"{path}: {exc}"}


def provenance(*, cfg: Any, registry: Any, audio: AudioOut, midi: MidiIn, midi_out: MidiOut, mic: Mic,
               facts: list[str], language: str, store_device: str | None, data_dir: Path | None) -> dict[str, Any]:
    import pygame

    from prelude_play.config import NOT_SECTIONS

    config = {k: v for k, v in asdict(cfg).items() if k not in NOT_SECTIONS}
    for key in ("pin", "pin_hash"):  # the PIN (or its hash) is never written anywhere
        config.get("therapist", {}).pop(key, None)
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
        "midi_out": describe(midi_out),
        "mic": describe(mic),
        "realtime_core": realtime_core(audio, midi, facts),
        "language": language,
        "store_device": store_device,
        "selftest": selftest_figures(data_dir),
    }
