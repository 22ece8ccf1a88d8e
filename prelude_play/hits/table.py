"""The one rule "this hit makes this sound", as data.

An activity says which sound each MIDI hit makes with ``Activity.fast_sound_table()``: a plain,
picklable dict, so the same rule runs in three places — the hit path in the app's process
(``hits.path.HitPath``), the same hit path in the separate real-time process (``rt.host``), and
compiled per input device into the C core's MIDI callback (``hits.compiled``) — and the
activity uses it too, through ``sound_for``, when it needs to know what a hit sounded like.

Table format::

    {"roles": {"therapist": ROLE, "*": ROLE}}      # "*" = every other role; missing = mapped
    ROLE = {"mapped_prefixes": ["drum:"],          # an instrument-map sound with one of these
                                                   # prefixes wins ("" = any non-empty sound)
            "channels": {9: {note: sound | None}}, # per MIDI channel (0-based) note table
            "notes": {note: sound | None},         # any other channel
            "default": sound | None | "@mapped"}   # neither table has the note ("@mapped" = the
                                                   # instrument map's sound, the default)

No table (None) means the instrument map's sound for every hit.
"""

from __future__ import annotations

from typing import Any, Protocol

from prelude_play.events import ROLE_PEDAL, InputEvent

MAPPED = "@mapped"

SoundTable = dict[str, Any]
"""An activity's hit table, in the format above."""


class Hit(Protocol):
    """The fields of a MIDI note-on the rule reads (an InputEvent, or a compiled table's cell)."""

    @property
    def role(self) -> str: ...

    @property
    def note(self) -> int | None: ...

    @property
    def channel(self) -> int | None: ...

    @property
    def data(self) -> dict[str, Any]: ...


def sound_for(table: SoundTable | None, hit: Hit) -> str | None:
    """The sound ``table`` gives a MIDI note-on (None or "" = silent); ``table`` None = the
    instrument map's sound (``hit.data["sound"]``). Only dict look-ups: runs on the MIDI thread."""
    mapped = hit.data.get("sound")
    if table is None:
        return mapped
    roles = table.get("roles", {})
    role = roles.get(hit.role)
    if role is None:
        role = roles.get("*")
    if role is None:
        return mapped
    if mapped:
        for prefix in role.get("mapped_prefixes", ()):
            if mapped.startswith(prefix):
                return mapped
    note = hit.note or 0
    per_channel = role.get("channels")
    if per_channel:
        notes = per_channel.get(hit.channel)
        if notes is not None and note in notes:
            return notes[note]
    notes = role.get("notes")
    if notes is not None and note in notes:
        return notes[note]
    default = role.get("default", MAPPED)
    return mapped if default == MAPPED else default


def wants_sound(event: InputEvent) -> bool:
    """Whether a MIDI event sounds on the fast path at all: client/therapist note-ons that the
    sensitivity filter let through (the scoring pedal never sounds)."""
    return event.kind == "note_on" and event.role != ROLE_PEDAL and not event.data.get("filtered")


__all__ = ["MAPPED", "SoundTable", "Hit", "sound_for", "wants_sound"]
