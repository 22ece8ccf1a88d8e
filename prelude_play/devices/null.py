"""Do-nothing stand-ins for each device seam: what the shell holds when there is no sound card,
no MIDI system, no MIDI output or no microphone (or a test wants none). They accept every call,
make no sound, send nothing, hear nothing, and say so: ``core`` is "none" and ``describe()`` is
None (the session's provenance records "no device").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from prelude_play.devices.protocols import Consumer, MidiOut, Sink
from prelude_play.midi.instruments import Sensitivity

if TYPE_CHECKING:
    import mido
    import numpy as np


class NullAudio:
    """No audio device: silent. Handles are counted so callers can stop what they "played".
    (Also the base of test fakes that record what they are asked: every member has a default.)"""

    backend_name = "none"
    core = "none"
    notice: str | None = None
    rate = 48000
    period_frames = 128
    output_latency_s = 0.0
    master_volume = 0.8  # kept, not applied: there is nothing to hear
    _last_handle = 0

    def __init__(self, rate: int = 48000, period_frames: int = 128) -> None:
        self.rate = int(rate)
        self.period_frames = int(period_frames)

    def describe(self) -> dict[str, Any] | None:
        return None

    def trigger(self, name: str, velocity: float = 1.0, *, pan: float = 0.0, at_ns: int | None = None,
                gain: float = 1.0) -> None:
        pass

    def play(self, name: str, velocity: float = 1.0, *, pan: float = 0.0, at_ns: int | None = None,
             gain: float = 1.0, loop: bool = False) -> int:
        self._last_handle += 1
        return self._last_handle

    def stop(self, handle: int, *, at_ns: int | None = None, ramp_ms: float | None = None) -> None:
        pass

    def all_off(self, *, at_ns: int | None = None, ramp_ms: float | None = None) -> None:
        pass

    def prepare(self, names: Iterable[str]) -> None:
        pass

    def load(self, name: str, samples: Any, *, loop: tuple[int, int] | None = None,
             release_ms: float | None = None) -> None:
        pass

    def next_block_dac_ns(self) -> int | None:
        return None

    def stats(self) -> dict[str, Any]:
        return {}

    def poll(self, stall_s: float = 1.0) -> str | None:
        return None

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


class NullMidiOut:
    """No MIDI output: every send reports that nothing was sent."""

    connected = False

    def send(self, msg: mido.Message) -> bool:
        return False

    def note_on(self, note: int, velocity: int = 80, channel: int = 0) -> bool:
        return False

    def note_off(self, note: int, channel: int = 0) -> bool:
        return False

    def panic(self) -> None:
        pass

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any] | None:
        return None


class NullMidiIn:
    """No MIDI system (``midi.api = "none"``, or it could not start): no inputs, no events. The
    client's sensitivity is kept, so the shell reads back what it set."""

    core = "none"

    def __init__(self, sensitivity: Sensitivity | None = None) -> None:
        self.sensitivity = sensitivity or Sensitivity()
        self.inputs: list[str] = []

    def set_sensitivity(self, sensitivity: Sensitivity) -> None:
        self.sensitivity = sensitivity

    def set_sink(self, sink: Sink) -> None:
        pass

    def open_output(self, pattern: str, *, light_channel: int | None = None) -> MidiOut:
        return NullMidiOut()

    def stats(self) -> dict[str, dict[str, Any]]:
        return {}

    def panic(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def describe(self) -> dict[str, Any] | None:
        return None


class NullMic:
    """No microphone: hears nothing (``backend`` "null", as a silent capture says)."""

    backend = "null"
    notice: str | None = None

    def __init__(self, rate: int = 48000) -> None:
        self.rate = int(rate)

    def add_consumer(self, fn: Consumer) -> None:
        pass

    def remove_consumer(self, fn: Consumer) -> None:
        pass

    def latest(self, n: int) -> tuple[np.ndarray, int]:
        import numpy as np

        return np.zeros(0, dtype=np.float32), 0

    def frame_to_ns(self, frame: int) -> int:
        return 0

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any] | None:
        return None


def is_stand_in(device: object) -> bool:
    """Whether ``device`` is one of the stand-ins itself (not a subclass: test fakes that record
    calls build on them and count as devices)."""
    return type(device) in (NullAudio, NullMidiIn, NullMidiOut, NullMic)


__all__ = ["NullAudio", "NullMidiIn", "NullMidiOut", "NullMic", "is_stand_in"]
