"""The voice as InputEvents: onsets, running analyses and offsets from the analysis worker."""

from __future__ import annotations

from typing import Any

from prelude_play.events import InputEvent


def voice_event(t_ns: int, kind: str, *, vowel: str = "", device: str = "mic",
                data: dict[str, Any] | None = None) -> InputEvent:
    """``kind``: "onset", "analysis", "offset" (or the energy gate's "sound_on" / "sound_off"),
    stamped with the audio's own time (the capture's frame → clock map), not the worker's."""
    return InputEvent(t_ns, "mic", kind, device=device, value=vowel or None, data=dict(data or {}))
