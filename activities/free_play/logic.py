"""Free play, pure logic: whatever the client plays sounds at once, shows, and is logged.

Keyboards can be locked to a scale so there are no wrong notes (as Soundbeam and Skoog do).
Nothing else plays unless the therapist starts a backing pulse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCALES: dict[str, tuple[int, ...]] = {
    "off": tuple(range(12)),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
}

GM_DRUM_LABELS = {35: "Kick", 36: "Kick", 37: "Stick", 38: "Snare", 39: "Clap", 40: "Snare",
                  41: "Low tom", 42: "Hi-hat", 43: "Low tom", 44: "Hi-hat", 45: "Mid tom",
                  46: "Open hat", 47: "Mid tom", 48: "High tom", 49: "Crash", 50: "High tom",
                  51: "Ride", 54: "Tambourine", 56: "Cowbell", 57: "Crash", 59: "Ride", 70: "Shaker"}
# (labels are translated with ctx.t at draw time; see locale/fr_CA.po)


def snap_to_scale(note: int, scale: str, root: int = 60) -> int:
    """The nearest scale note (ties go down), so every key the client presses sounds right."""
    steps = SCALES.get(scale, SCALES["off"])
    if len(steps) == 12:
        return note
    best = note
    for delta in range(0, 7):
        for cand in (note - delta, note + delta):
            if (cand - root) % 12 in steps:
                return cand
    return best


def sound_for_midi(note: int, channel: int | None, *, scale: str, root: int, keys_sound: str,
                   mapped: str | None) -> str:
    """Sound for a MIDI hit: the instrument map's drum sound, else a (scale-snapped) key."""
    if mapped and mapped.startswith("drum:"):
        return mapped
    if channel == 9:
        return f"drum:{note}"
    return f"{keys_sound}:{snap_to_scale(note, scale, root)}"


PULSE_LOOKAHEAD_NS = 150_000_000  # beats are handed to the engine this early (placed exactly by at_ns)


@dataclass
class Flash:
    pad: int
    t_ns: int


@dataclass
class FreePlayState:
    pads: tuple[int, ...]
    scale: str = "major_pentatonic"
    root: int = 60
    keys_sound: str = "keys"
    pulse_bpm: float = 0.0
    pulse_sound: str = "drum:75"
    hits: int = 0
    flashes: list[Flash] = field(default_factory=list)
    recent: list[tuple[int, str, str]] = field(default_factory=list)  # (t_ns, label, who)
    next_pulse_ns: int | None = None

    def pad_sound(self, index: int) -> str:
        return f"drum:{self.pads[index]}"

    def pad_label(self, index: int) -> str:
        return GM_DRUM_LABELS.get(self.pads[index], f"Pad {index + 1}")

    def record(self, t_ns: int, label: str, who: str, pad: int | None) -> None:
        self.hits += 1
        if pad is not None:
            self.flashes.append(Flash(pad, t_ns))
        self.recent.append((t_ns, label, who))
        del self.recent[:-24]
        del self.flashes[:-32]

    def start_pulse(self, now_ns: int, bpm: float) -> None:
        self.pulse_bpm = bpm
        self.next_pulse_ns = now_ns + 100_000_000

    def stop_pulse(self) -> None:
        self.pulse_bpm = 0.0
        self.next_pulse_ns = None

    def due_pulses(self, now_ns: int, lookahead_ns: int = PULSE_LOOKAHEAD_NS) -> list[int]:
        """Beat times to schedule now (a little ahead, so the engine places them exactly)."""
        out = []
        if self.pulse_bpm <= 0 or self.next_pulse_ns is None:
            return out
        period = int(60e9 / self.pulse_bpm)
        while self.next_pulse_ns <= now_ns + lookahead_ns:
            out.append(self.next_pulse_ns)
            self.next_pulse_ns += period
        return out
