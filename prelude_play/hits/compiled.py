"""The rule compiled for the C core's MIDI callback (``prelude_play.native.FastTable``).

Why: with the C core, a pad hit can be sounded from JACK's MIDI callback itself, at the hit's own
frame plus a constant — the sound then never waits for Python. The callback cannot run Python,
so "which sound does this note make" is evaluated here in advance, per input device, for all 16
channels × 128 notes, from the same pieces the Python hit path uses: the instrument map (role and
mapped sound of every channel/note), the activity's table (``hits.table.sound_for``) and the
client's sensitivity (minimum velocity, tremor window: the C side applies them as the hub's
``SensitivityFilter`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from prelude_play.events import ROLE_PEDAL
from prelude_play.hits.table import SoundTable, sound_for
from prelude_play.midi.instruments import InstrumentMap, Sensitivity
from prelude_play.native import FastTable


@dataclass(frozen=True)
class _Cell:
    """One (channel, note) of a device, as the rule reads a hit."""

    role: str
    note: int
    channel: int
    data: dict[str, Any] = field(default_factory=dict)


def compile_fast_table(device: str, *, instruments: InstrumentMap, table: SoundTable | None,
                       sensitivity: Sensitivity, sound_index: Callable[[str], int | None]) -> FastTable:
    """The ``FastTable`` for one input ``device``: every cell gets the sound ``sound_for`` gives a
    hit there (silent when the engine does not know the sound, and for the scoring pedal)."""
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
            sound = sound_for(table, _Cell(res.role, note, channel, {"sound": res.sound}))
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


__all__ = ["compile_fast_table"]
