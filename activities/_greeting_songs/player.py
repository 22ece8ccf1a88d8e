"""Hands the accompaniment's notes to the audio engine a little ahead, placed exactly (``at_ns``).

Notes wait here until they are due within the lookahead, so a change (silence, a new key on the
next bar) never has to chase sounds already queued in the engine. With an engine that gives
voice handles (``play``/``stop``) every note ends with a short release at its length and
``silence`` stops exactly our voices (a client's drum keeps ringing); with a trigger-only engine
(tests' fakes) notes just play out and ``silence`` is ``all_off``.
"""

from __future__ import annotations

import bisect
from typing import Any, Callable

from prelude_play.errors import PreludeError

from .music import Note

RELEASE_MS = 80.0
FORGET_NS = 6_000_000_000  # a handle this long past its note's end is finished


class Player:
    def __init__(self, audio: Any, play: Callable[..., None] | None = None, *, release_ms: float = RELEASE_MS) -> None:
        self.audio = audio
        self._play = play
        self.release_ms = release_ms
        self.handles_api = callable(getattr(audio, "play", None)) and callable(getattr(audio, "stop", None))
        self._pending: list[tuple[int, int, Note]] = []  # (t_ns, seq, note)
        self._seq = 0
        self._handles: list[tuple[int, int]] = []  # (end_ns, handle)
        self.sent = 0
        self.missing = 0

    def lead_ns(self, default_ns: int) -> int:
        """The shortest time ahead a note can still start exactly on this output."""
        lat = float(getattr(self.audio, "output_latency_s", 0.0) or 0.0)
        period = int(getattr(self.audio, "period_frames", 0) or 0)
        rate = int(getattr(self.audio, "rate", 48000) or 48000)
        return max(default_ns, int(lat * 1e9) + int(2 * period * 1e9 / rate))

    def add(self, notes: list[Note]) -> None:
        for n in notes:
            self._seq += 1
            bisect.insort(self._pending, (n.t_ns, self._seq, n))

    @property
    def next_ns(self) -> int | None:
        return self._pending[0][0] if self._pending else None

    def send(self, until_ns: int, now_ns: int) -> int:
        """Hand the engine every note starting by ``until_ns``; returns how many."""
        sent = 0
        while self._pending and self._pending[0][0] <= until_ns:
            _, _, n = self._pending.pop(0)
            try:
                self._start(n)
            except PreludeError:  # a sound the engine cannot make: skip it, keep the song
                self.missing += 1
            sent += 1
        self.sent += sent
        if self._handles and self._handles[0][0] < now_ns - FORGET_NS:
            self._handles = [(e, h) for e, h in self._handles if e >= now_ns - FORGET_NS]
        return sent

    def _start(self, n: Note) -> None:
        if self.handles_api:
            h = self.audio.play(n.sound, n.velocity, at_ns=n.t_ns)
            end = n.t_ns + max(n.dur_ns, 1)
            self.audio.stop(h, at_ns=end, ramp_ms=self.release_ms)
            self._handles.append((end, h))
        elif self._play is not None:
            self._play(n.sound, n.velocity, at_ns=n.t_ns)
        elif self.audio is not None:
            self.audio.trigger(n.sound, n.velocity, at_ns=n.t_ns)

    def drop(self) -> None:
        """Forget notes not yet handed out (the song moved on without them)."""
        self._pending.clear()

    def silence(self, ramp_ms: float = 30.0) -> None:
        """Every note of ours off now (a gentle ramp), nothing more to come."""
        self.drop()
        if self.audio is None:
            return
        if self.handles_api:
            for _, h in self._handles:
                self.audio.stop(h, ramp_ms=ramp_ms)
            self._handles.clear()
        elif callable(getattr(self.audio, "all_off", None)):
            self.audio.all_off()
