"""Build the audio engine and MIDI hub from config and command-line overrides.

Hardware libraries are imported lazily here, never at module import, so tests and machines
without them still run. Each failure becomes a notice for the therapist and a fallback
(silent audio, touch-only input) rather than a crash.
"""

from __future__ import annotations

from typing import Any, Callable

from prelude_play.clock import Clock
from prelude_play.config import AppConfig
from prelude_play.events import InputEvent


def build_audio(cfg: AppConfig, clock: Clock, backend: str | None = None) -> tuple[Any, list[str]]:
    """The audio engine on the configured backend (auto: PortAudio, then SDL, then silent)."""
    notices: list[str] = []
    name = backend or cfg.audio.backend
    try:
        from prelude_play.audio.engine import open_engine
    except ImportError as exc:
        return None, [f"Audio unavailable ({exc}); running silent"]
    try:
        engine, note = open_engine(name, clock=clock, rate=cfg.audio.rate, period=cfg.audio.period,
                                   device=cfg.audio.device or None, master=cfg.audio.master_volume,
                                   limit=cfg.audio.max_volume)
    except Exception as exc:  # any backend failure: run silent with a visible notice
        from prelude_play.audio.engine import open_engine as oe

        engine, note = oe("null", clock=clock, rate=cfg.audio.rate, period=cfg.audio.period)
        note = f"Audio device failed ({exc}); running silent"
    if note:
        notices.append(note)
    return engine, notices


def build_midi(cfg: AppConfig, clock: Clock, sink: Callable[[InputEvent], None],
               api: str | None = None) -> tuple[Any, Any, list[str]]:
    """The MIDI hub (all inputs, hot-plug) and the MIDI output, or (None, None, notices)."""
    api = api or cfg.midi.api
    if api == "none":
        return None, None, []
    try:
        from prelude_play.midi.hub import open_hub
    except ImportError as exc:
        return None, None, [f"MIDI unavailable ({exc}); touch and keys still work"]
    try:
        return open_hub(cfg.midi, clock=clock, sink=sink, api=api)
    except Exception as exc:
        return None, None, [f"MIDI could not start ({exc}); touch and keys still work"]
