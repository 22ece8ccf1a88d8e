"""The fast path's pure parts, shared by the UI process (inline mode) and the real-time child.

``SteadyLatency`` schedules pad hits at a constant lead; ``sound_from_table`` evaluates the data
form of ``Activity.fast_sound`` (``Activity.fast_sound_table()``), which is what lets the child
choose a hit's sound without running activity code from the UI process.

Table format (plain dicts, picklable)::

    {"roles": {"therapist": ROLE, "*": ROLE}}      # "*" = every other role; missing = mapped
    ROLE = {"mapped_prefixes": ["drum:"],          # an instrument-map sound with one of these
                                                   # prefixes wins ("" = any non-empty sound)
            "channels": {9: {note: sound | None}}, # per MIDI channel (0-based) note table
            "notes": {note: sound | None},         # any other channel
            "default": sound | None | "@mapped"}   # neither table has the note ("@mapped" = the
                                                   # instrument map's sound, the default)
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from prelude_play.events import ROLE_PEDAL, InputEvent

MAPPED = "@mapped"


class SteadyLatency:
    """Give every pad hit the same latency instead of "the next period" (which varies by up to a
    period with where the hit fell: the jitter drummers feel).

    Each hit's lead — from its timestamp to the earliest time a new sound can be heard
    (``engine.next_block_dac_ns()``) — is recorded; the sound is scheduled at the timestamp plus
    the 90th percentile of the last 64 leads plus a margin, so almost every hit lands at the same
    offset from when it was played. A hit that arrives later than that plays as soon as possible.
    Runs on the MIDI thread: a few integer operations and a 64-element sort.
    """

    MARGIN_NS = 250_000
    HYSTERESIS_NS = 500_000
    LEARN = 8

    def __init__(self, audio: Any, enabled: bool = True) -> None:
        self._next: Callable[[], int | None] | None = (
            getattr(audio, "next_block_dac_ns", None) if enabled else None)
        self._leads: deque[int] = deque(maxlen=64)
        self._delay: int | None = None

    def at(self, t_ns: int) -> int | None:
        if self._next is None:
            return None
        nxt = self._next()
        if nxt is None:
            return None
        self._leads.append(nxt - t_ns)
        if len(self._leads) < self.LEARN:
            return None
        ordered = sorted(self._leads)
        estimate = ordered[int(len(ordered) * 0.9)] + self.MARGIN_NS
        # sticky: the delay moves only when the estimate does by more than HYSTERESIS, so it is
        # the same for hit after hit rather than wandering with the window
        if self._delay is None or abs(estimate - self._delay) > self.HYSTERESIS_NS:
            self._delay = estimate
        return t_ns + self._delay

    @property
    def delay_ms(self) -> float | None:
        return None if self._delay is None else round(self._delay / 1e6, 3)


def sound_from_table(table: dict[str, Any] | None, event: InputEvent) -> str | None:
    """The sound ``table`` gives a MIDI note-on (None = silent). ``table`` None = the instrument
    map's sound, like the base ``Activity.fast_sound``. Only dict look-ups: runs on the MIDI
    thread."""
    mapped = event.data.get("sound")
    if table is None:
        return mapped
    roles = table.get("roles", {})
    role = roles.get(event.role)
    if role is None:
        role = roles.get("*")
    if role is None:
        return mapped
    if mapped:
        for prefix in role.get("mapped_prefixes", ()):
            if mapped.startswith(prefix):
                return mapped
    note = event.note or 0
    per_channel = role.get("channels")
    if per_channel:
        notes = per_channel.get(event.channel)
        if notes is not None and note in notes:
            return notes[note]
    notes = role.get("notes")
    if notes is not None and note in notes:
        return notes[note]
    default = role.get("default", MAPPED)
    return mapped if default == MAPPED else default


def wants_fast_sound(event: InputEvent) -> bool:
    """Whether a MIDI event sounds on the fast path at all (client/therapist note-ons that the
    sensitivity filter let through; the scoring pedal never sounds)."""
    return event.kind == "note_on" and event.role != ROLE_PEDAL and not event.data.get("filtered")
