"""MIDI messages as InputEvents: the one place a MIDI message becomes one."""

from __future__ import annotations

from typing import Any

from prelude_play.events import InputEvent


def midi_event(t_ns: int, device: str, kind: str, *, note: int | None = None, velocity: int | None = None,
               channel: int | None = None, control: int | None = None, value: Any = None, role: str = "client",
               data: dict[str, Any] | None = None) -> InputEvent:
    """A MIDI message stamped ``t_ns`` by the callback that received it (never by the frame loop)."""
    return InputEvent(t_ns=t_ns, source="midi", kind=kind, device=device, note=note, velocity=velocity,
                      channel=channel, control=control, value=value, role=role, data=dict(data or {}))


def device_event(t_ns: int, kind: str, device: str, data: dict[str, Any] | None = None) -> InputEvent:
    """A device coming, going or failing (``device_added`` / ``device_removed`` / ``device_error``)."""
    return InputEvent(t_ns=t_ns, source="system", kind=kind, device=device, role="system", data=dict(data or {}))
