"""MIDI output to a keyboard or sound module: notes, accompaniment, key lights, panic.

A MidiOutput survives its device: while the device is gone, sends are counted and dropped
(an activity never crashes because a cable was pulled); the hub re-attaches the port when the
device returns. Timed note-offs run on one small scheduler thread.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from typing import Any

import mido

from prelude_play.clock import Clock
from prelude_play.midi.ports import MidiOut, NoteTracker, reset_messages


class MidiOutput:
    """Notes to one output device.

    light_channel: 0-based channel on which note-ons light keys (for keyboards with key
    lights that listen on a channel); None when the device has no lights.
    """

    def __init__(
        self,
        name: str,
        port: MidiOut | None,
        *,
        clock: Clock,
        light_channel: int | None = None,
        background: bool = True,
    ) -> None:
        """``background``: a scheduler thread sends timed note-offs; tests driving a FakeClock
        turn it off and call ``run_due()`` themselves (else the thread races them)."""
        self.name = name
        self._background = background
        self.clock = clock
        self.light_channel = light_channel
        self._port = port
        self._lock = threading.RLock()
        self._notes = NoteTracker()
        self._heap: list[tuple[int, int, mido.Message]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False
        self.dropped = 0
        self.last_error: BaseException | None = None

    @property
    def connected(self) -> bool:
        port = self._port
        return port is not None and not port.closed

    # --- sending ------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What the session's provenance records of this output."""
        port = self._port
        return {"output": self.name, "port": port.name if port is not None else None,
                "light_channel": self.light_channel}

    def send(self, msg: mido.Message) -> bool:
        """Send now. False (and counted) when the device is absent or fails."""
        with self._lock:
            port = self._port
            if port is None or port.closed or self._closed:
                self.dropped += 1
                return False
            try:
                port.send(msg)
            except (OSError, ValueError) as exc:
                self.last_error = exc
                self.dropped += 1
                self._port = None
                return False
            self._notes.update(msg)
            return True

    def note_on(self, note: int, velocity: int = 80, channel: int = 0) -> bool:
        return self.send(mido.Message("note_on", note=note, velocity=velocity, channel=channel))

    def note_off(self, note: int, channel: int = 0) -> bool:
        return self.send(mido.Message("note_off", note=note, velocity=0, channel=channel))

    def play(self, note: int, velocity: int = 80, duration_s: float = 0.5, channel: int = 0) -> bool:
        """Note-on now and a note-off after ``duration_s`` (scheduler thread)."""
        ok = self.note_on(note, velocity, channel)
        self.schedule(duration_s, mido.Message("note_off", note=note, velocity=0, channel=channel))
        return ok

    def light(self, note: int, on: bool = True) -> bool:
        """Light (or darken) a key; False when this device has no light channel."""
        if self.light_channel is None:
            return False
        if on:
            return self.note_on(note, 1, self.light_channel)
        return self.note_off(note, self.light_channel)

    def schedule(self, delay_s: float, msg: mido.Message) -> None:
        due = self.clock.now_ns() + int(delay_s * 1e9)
        with self._lock:
            if self._closed:
                return
            heapq.heappush(self._heap, (due, next(self._seq), msg))
            if self._thread is None and self._background:
                self._thread = threading.Thread(target=self._run, name=f"midi-out {self.name}", daemon=True)
                self._thread.start()
            self._wake.notify()

    def run_due(self, now_ns: int | None = None) -> int:
        """Send scheduled messages that are due; returns how many. The scheduler thread calls
        this; tests with a FakeClock call it directly."""
        now = self.clock.now_ns() if now_ns is None else now_ns
        sent = 0
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                _, _, msg = heapq.heappop(self._heap)
                self.send(msg)
                sent += 1
        return sent

    def _run(self) -> None:
        with self._lock:
            while not self._closed:
                self.run_due()
                if self._heap:
                    wait = (self._heap[0][0] - self.clock.now_ns()) / 1e9
                    self._wake.wait(timeout=min(max(wait, 0.0005), 0.5))
                else:
                    self._wake.wait(timeout=0.5)

    # --- silencing -------------------------------------------------------------------------
    def panic(self) -> None:
        """Explicit note-offs for every note we turned on, then All Notes Off and Reset All
        Controllers on all 16 channels. Pending timed note-offs are sent at once."""
        with self._lock:
            pending = [m for _, _, m in self._heap]
            self._heap.clear()
            for msg in pending:
                self.send(msg)
            for channel, note in self._notes.held():
                self.send(mido.Message("note_off", note=note, velocity=0, channel=channel))
            self._notes.clear()
            for msg in reset_messages():
                self.send(msg)

    # --- device presence (the hub calls these) -------------------------------------------
    def attach(self, port: MidiOut) -> None:
        with self._lock:
            old, self._port = self._port, port
            self._notes.clear()
        if old is not None and old is not port:
            old.close()

    def detach(self) -> None:
        """The device is gone: forget the dead port (nothing can be sent to it)."""
        with self._lock:
            port, self._port = self._port, None
            self._notes.clear()
        if port is not None:
            try:
                port.close()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        """Panic, then close the port and stop the scheduler. Safe twice."""
        with self._lock:
            if self._closed:
                return
            self.panic()
            self._closed = True
            self._wake.notify_all()
            port, self._port = self._port, None
        if port is not None:
            port.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1)
