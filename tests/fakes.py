"""In-memory fakes for unit tests (the real stack is exercised by the realstack tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class RecordingAudio:
    """Stands in for the audio engine: records every trigger with the thread it came from."""

    calls: list[dict] = field(default_factory=list)
    silenced: int = 0
    prepared: list[str] = field(default_factory=list)

    def trigger(self, name: str, velocity: float = 1.0, *, pan: float = 0.0, at_ns: int | None = None,
                gain: float = 1.0) -> None:
        self.calls.append({"name": name, "velocity": velocity, "at_ns": at_ns,
                           "thread": threading.current_thread().name})

    def prepare(self, names) -> None:
        self.prepared.extend(names)

    def all_off(self) -> None:
        self.silenced += 1

    def names(self) -> list[str]:
        return [c["name"] for c in self.calls]


@dataclass
class RecordingMidiOut:
    sent: list = field(default_factory=list)
    panics: int = 0

    def send(self, msg) -> None:
        self.sent.append(msg)

    def panic(self) -> None:
        self.panics += 1
