"""Compile the fast path into a table the C MIDI callback can use (``prelude_play.native.FastTable``).

Why: with the C core, a pad hit can be sounded from JACK's MIDI callback itself, at the hit's own
frame plus a constant — the sound then never waits for Python. The callback cannot run activity
code, so the decision "which sound does this note make" is compiled here, per input device, from
the same pieces the Python fast path uses: the instrument map (role and mapped sound of every
channel/note), the activity's ``fast_sound_table()`` (``rt.fastpath.sound_from_table``) and the
client's sensitivity (minimum velocity, tremor window: the C side applies them as the hub's
``SensitivityFilter`` does). An activity that overrides ``fast_sound`` without giving a table
cannot be compiled: it keeps the Python fast path.
"""

from __future__ import annotations

from typing import Any, Callable

from prelude_play.events import ROLE_PEDAL
from prelude_play.rt.fastpath import sound_from_table


class _Note:
    """The fields of an InputEvent that ``sound_from_table`` reads."""

    __slots__ = ("role", "note", "channel", "data")

    def __init__(self, role: str, note: int, channel: int, sound: str | None) -> None:
        self.role, self.note, self.channel, self.data = role, note, channel, {"sound": sound}


def compilable(activity: Any, table: dict[str, Any] | None) -> bool:
    """Whether ``activity``'s fast sounds can be compiled: it gives a table, or it keeps the
    base ``fast_sound`` (the instrument map's sound)."""
    from prelude_play.activity import Activity

    return table is not None or type(activity).fast_sound is Activity.fast_sound


def compile_fast_table(device: str, *, instruments: Any, table: dict[str, Any] | None,
                       sensitivity: Any, sound_index: Callable[[str], int | None]) -> Any:
    """The ``FastTable`` for one input ``device`` (16 channels × 128 notes)."""
    from prelude_play.native import FastTable

    names: dict[int, str] = {}
    fast = FastTable(names, min_velocity=int(sensitivity.min_velocity),
                     tremor_ns=int(float(sensitivity.tremor_ms) * 1_000_000))
    cache: dict[str, int | None] = {}
    for channel in range(16):
        for note in range(128):
            res = instruments.resolve(device, channel, note)
            client = res.role == "client"
            if res.role == ROLE_PEDAL:
                fast.set(channel, note, -1, client=False)
                continue
            sound = sound_from_table(table, _Note(res.role, note, channel, res.sound))  # type: ignore[arg-type]
            idx = None
            if sound:
                if sound not in cache:
                    cache[sound] = sound_index(sound)
                idx = cache[sound]
            if idx is None or idx < 0:
                fast.set(channel, note, -1, client=client)
            else:
                names[idx] = sound
                fast.set(channel, note, idx, client=client)
    return fast
