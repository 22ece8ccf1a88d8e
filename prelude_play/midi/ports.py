"""Port base classes in the spirit of mido's: the public methods check and lock, subclasses
implement the small ``_send`` / ``_close``.

Input ports deliver raw bytes with a timestamp taken by the backend where the bytes arrived
(``RawHandler(data, t_ns)``); decoding into mido Messages is the hub's job, so every backend
shares one decoder with running status and flood limits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import mido

from prelude_play.errors import DeviceError

RawHandler = Callable[[Sequence[int], int], None]
"""Called on the backend's MIDI thread with the bytes and the app-clock time they arrived."""

ALL_SOUND_OFF = 120
RESET_ALL_CONTROLLERS = 121
ALL_NOTES_OFF = 123


def reset_messages() -> Iterator[mido.Message]:
    """All Notes Off and Reset All Controllers on all 16 channels."""
    for channel in range(16):
        yield mido.Message("control_change", channel=channel, control=ALL_NOTES_OFF, value=0)
        yield mido.Message("control_change", channel=channel, control=RESET_ALL_CONTROLLERS, value=0)


class NoteTracker:
    """Which (channel, note) pairs are sounding, so a closing port can silence exactly those.

    Many devices ignore All Notes Off, so explicit note-offs are sent as well.
    """

    def __init__(self) -> None:
        self._on: set[tuple[int, int]] = set()

    def update(self, msg: mido.Message) -> None:
        if msg.type == "note_on" and msg.velocity > 0:
            self._on.add((msg.channel, msg.note))
        elif msg.type in ("note_on", "note_off"):
            self._on.discard((msg.channel, msg.note))
        elif msg.type == "control_change" and msg.control in (ALL_NOTES_OFF, ALL_SOUND_OFF):
            self._on = {cn for cn in self._on if cn[0] != msg.channel}

    def held(self) -> list[tuple[int, int]]:
        return sorted(self._on)

    def clear(self) -> None:
        self._on.clear()


class MidiPort:
    """Common open/close behaviour: ``close()`` is safe to call twice and from any thread."""

    is_input = False
    is_output = False

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.RLock()
        self.closed = False

    def _close(self) -> None:
        """Release the backend's resources (subclasses)."""

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                self._before_close()
            finally:
                self.closed = True
                self._close()

    def _before_close(self) -> None:
        pass

    def __enter__(self) -> MidiPort:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        kind = "input" if self.is_input else "output"
        return f"<{state} {kind} {self.name!r} ({type(self).__name__})>"


class MidiIn(MidiPort):
    """An open input. The backend calls ``self.handler(data, t_ns)`` on its own thread."""

    is_input = True

    def __init__(self, name: str, handler: RawHandler) -> None:
        super().__init__(name)
        self.handler = handler


class MidiOut(MidiPort):
    """An open output. ``send()`` checks, locks and calls ``_send()``; ``close()`` silences
    notes this port turned on, then All Notes Off on every channel."""

    is_output = True

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.notes = NoteTracker()

    def _send(self, msg: mido.Message) -> None:
        raise NotImplementedError

    def send(self, msg: mido.Message) -> None:
        """Send one message. TypeError for a non-Message, ValueError when closed,
        DeviceError when the device fails (raised from the backend's error)."""
        if not isinstance(msg, mido.Message):
            raise TypeError(f"send() needs a mido.Message, got {type(msg).__name__}")
        with self._lock:
            if self.closed:
                raise ValueError(f"send() on closed port {self.name!r}")
            self._send(msg)
            self.notes.update(msg)

    def silence(self) -> None:
        """Explicit note-offs for notes this port knows are on, then All Notes Off and
        Reset All Controllers on all 16 channels."""
        with self._lock:
            if self.closed:
                return
            for channel, note in self.notes.held():
                self._send(mido.Message("note_off", channel=channel, note=note, velocity=0))
            self.notes.clear()
            for msg in reset_messages():
                self._send(msg)

    def _before_close(self) -> None:
        try:
            self.silence()
        except (OSError, ValueError):
            pass  # the device is already gone: nothing left to silence


def wrap_device_error(what: str, exc: BaseException) -> DeviceError:
    """A DeviceError naming the operation; raise it ``from exc``."""
    return DeviceError(f"{what}: {exc}")
