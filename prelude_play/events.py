"""Event dataclasses: what comes in (InputEvent) and what gets logged (LogEvent).

Every input — touch, mouse, keyboard, MIDI, microphone — is one InputEvent on one queue with a
timestamp from the one clock, taken where the event happened.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Any, Literal

Source = Literal["touch", "mouse", "key", "midi", "mic", "switch", "system"]
Actor = Literal["client", "therapist", "system"]
ROLE_CLIENT = "client"
ROLE_THERAPIST = "therapist"
ROLE_PEDAL = "pedal"


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One input, timestamped at its origin.

    kind: for pointer sources "down" / "up" / "move"; for keys "key_down" / "key_up";
    for MIDI the mido message type ("note_on", "note_off", "control_change", ...);
    for the mic "onset" / "offset" / "analysis".
    role: who the device belongs to by the instrument map ("client", "therapist", "pedal").
    """

    t_ns: int
    source: str
    kind: str
    device: str = ""
    pos: tuple[float, float] | None = None
    key: str | None = None
    note: int | None = None
    velocity: int | None = None
    channel: int | None = None
    control: int | None = None
    value: Any = None
    role: str = ROLE_CLIENT
    pointer_id: int = 0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class LogEvent:
    """Something to record in the session log; the store adds session, client, t_ms, wall time.

    corrects: id of an earlier event this one corrects (undo/edit). Nothing is ever overwritten.
    trial: the trial this event belongs to (its opening, the response, a judgement, a score).
    id: the event's global id when the caller made it already (else the store makes one).
    """

    kind: str
    actor: str = "client"
    source: str = "system"
    device: str = ""
    t_ns: int | None = None
    goals: tuple[str, ...] = ()
    prompt: str | None = None
    outcome: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    corrects: str | None = None
    trial: str | None = None
    id: str | None = None


class InputQueue:
    """The single input queue: any thread may put, the frame loop drains.

    Bounded so a MIDI flood cannot grow memory without limit; when full the oldest
    low-value events (clock, active sensing are filtered before here) are dropped and counted.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        self._q: queue.Queue[InputEvent] = queue.Queue(maxsize=maxsize)
        self.dropped = 0

    def put(self, event: InputEvent) -> None:
        try:
            self._q.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def drain(self, limit: int = 1024) -> list[InputEvent]:
        out: list[InputEvent] = []
        for _ in range(limit):
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                break
        return out

    def __len__(self) -> int:
        return self._q.qsize()
