"""Build the audio engine and MIDI hub from config and command-line overrides.

Hardware libraries are imported lazily here, never at module import, so tests and machines
without them still run. Each failure becomes a notice for the therapist and a fallback
(silent audio, touch-only input) rather than a crash.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from prelude_play.clock import Clock
from prelude_play.config import AppConfig
from prelude_play.events import InputEvent


def build_audio(cfg: AppConfig, clock: Clock, backend: str | None = None) -> tuple[Any, list[str]]:
    """The audio engine on the configured backend (auto: PortAudio, then SDL, then silent).

    The engine gets the built-in synth + shipped samples as its sound bank; the master volume
    is capped by ``max_volume`` (a hard ceiling in the limiter) to protect clients' hearing.
    """
    name = backend or cfg.audio.backend
    try:
        from prelude_play.audio import SoundBank, open_engine
    except ImportError as exc:
        return None, [f"Audio unavailable ({exc}); running silent"]
    limit_dbfs = 20 * math.log10(max(cfg.audio.max_volume, 1e-3))
    opts: dict[str, Any] = dict(rate=cfg.audio.rate, blocksize=cfg.audio.period, clock=clock,
                                master_volume=min(cfg.audio.master_volume, cfg.audio.max_volume),
                                limit_dbfs=limit_dbfs)
    if cfg.audio.device:
        opts["device"] = cfg.audio.device
    try:
        engine = open_engine(name, bank=SoundBank(rate=cfg.audio.rate), **opts)
    except Exception as exc:  # any backend failure: run silent with a visible notice
        opts.pop("device", None)
        engine = open_engine("null", bank=SoundBank(rate=cfg.audio.rate), **opts)
        return engine, [f"No audio output ({exc}); running silent"]
    note = getattr(engine, "notice", None)
    return engine, [note] if note else []


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


def mic_factory(cfg: AppConfig, clock: Clock, backend: str | None = None) -> Callable[[], Any] | None:
    """A function that opens the microphone on demand (None when input is disabled).

    With the silent audio backend the mic is silent too (``null`` capture), so tests and
    machines without audio behave the same.
    """
    if not cfg.audio.input_enabled:
        return None

    def open_() -> Any:
        from prelude_play.audio.capture import open_capture

        name = "null" if (backend or cfg.audio.backend) == "null" else "auto"
        return open_capture(name, rate=cfg.audio.rate, clock=clock)

    return open_
