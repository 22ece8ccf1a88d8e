"""In-memory fakes for unit tests (the real stack is exercised by the realstack tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from prelude_play.devices import NullAudio, NullMidiOut


@dataclass
class RecordingAudio(NullAudio):
    """Stands in for the audio engine (a Python one: ``core`` "python"): records every trigger
    with the thread it came from."""

    core = "python"
    play = stop = None  # type: ignore[assignment]  # a trigger-only engine: scarf_moves' Player
    # still asks for play/stop (its handles_api probe); these fakes keep it on trigger/all_off
    calls: list[dict] = field(default_factory=list)
    silenced: int = 0
    prepared: list[str] = field(default_factory=list)

    def trigger(self, name: str, velocity: float = 1.0, *, pan: float = 0.0, at_ns: int | None = None,
                gain: float = 1.0) -> None:
        self.calls.append({"name": name, "velocity": velocity, "at_ns": at_ns,
                           "thread": threading.current_thread().name})

    def prepare(self, names) -> None:
        self.prepared.extend(names)

    def all_off(self, *, at_ns=None, ramp_ms=None) -> None:
        self.silenced += 1

    def names(self) -> list[str]:
        return [c["name"] for c in self.calls]


@dataclass
class RecordingMidiOut(NullMidiOut):
    sent: list = field(default_factory=list)
    panics: int = 0

    def send(self, msg) -> bool:
        self.sent.append(msg)
        return True

    def panic(self) -> None:
        self.panics += 1
