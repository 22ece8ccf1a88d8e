"""Sends the generator's notes to the built-in synth and/or the therapist's MIDI keyboard.

Synth: notes are scheduled sample-accurately (``at_ns``) a short lookahead ahead. With the real
engine (``play``/``stop`` returning voice handles) each note gets a ramped note-off at its
length and a freeze stops exactly our voices — a client's drum hit during the freeze keeps
ringing. With an engine that only has ``trigger`` the player falls back to ``ctx.play`` and
``all_off(at_ns=, ramp_ms=)``.

MIDI: note-ons are sent when due (at most one frame late — a keyboard has no sample clock to
schedule on) and note-offs follow; nothing is queued inside the MIDI output, so a freeze can
drop notes that have not sounded yet.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Callable

from prelude_play.errors import PreludeError

from .music import Note

HANDLE_KEEP_NS = 4_000_000_000  # longest sound we play (crash, keys tail) — then forget the handle


@dataclass(order=True)
class _MidiMsg:
    t_ns: int
    seq: int
    on: bool = field(compare=False)
    note: int = field(compare=False)
    channel: int = field(compare=False)
    velocity: int = field(compare=False)


class Player:
    def __init__(self, *, audio: Any = None, play: Callable[..., None] | None = None,
                 midi_out: Any = None, use_synth: bool = True, use_midi: bool = False,
                 ramp_ms: float = 8.0, release_ms: float = 60.0) -> None:
        self.audio = audio
        self._play = play
        self.midi_out = midi_out
        self.use_synth = use_synth and (audio is not None or play is not None)
        self.use_midi = use_midi and midi_out is not None
        self.ramp_ms = ramp_ms
        self.release_ms = release_ms
        self.handles_api = callable(getattr(audio, "play", None)) and callable(getattr(audio, "stop", None))
        self._handles: list[tuple[int, int]] = []  # (start_ns, handle)
        self._midi: list[_MidiMsg] = []
        self._seq = 0
        self._sounding: set[tuple[int, int]] = set()
        self.sent_notes = 0
        self.missing = 0
        self.stops: list[int] = []

    def lead_ns(self, default_ns: int) -> int:
        """Shortest time ahead a start or stop can still be exact on this output."""
        lat = float(getattr(self.audio, "output_latency_s", 0.0) or 0.0)
        ramp = int(self.ramp_ms * 1e6)
        period = int(getattr(self.audio, "period_frames", 0) or 0)
        rate = int(getattr(self.audio, "rate", 48000) or 48000)
        return max(default_ns, int(lat * 1e9) + ramp + int(2 * period * 1e9 / rate))

    # ---- notes -----------------------------------------------------------------------------
    def send(self, notes: list[Note]) -> None:
        for n in notes:
            self.sent_notes += 1
            if self.use_synth:
                try:
                    self._synth(n)
                except PreludeError:  # a sound the engine cannot make: skip it, keep the music
                    self.missing += 1
            if self.use_midi:
                vel = max(1, min(127, int(round(n.velocity * 127))))
                self._push(_MidiMsg(n.t_ns, self._next(), True, n.midi_note, n.channel, vel))
                self._push(_MidiMsg(n.t_ns + max(n.dur_ns, 1), self._next(), False, n.midi_note, n.channel, 0))

    def _synth(self, n: Note) -> None:
        if self.handles_api:
            h = self.audio.play(n.sound, n.velocity, at_ns=n.t_ns)
            self._handles.append((n.t_ns, h))
            if n.part in ("melody", "bass"):
                self.audio.stop(h, at_ns=n.t_ns + n.dur_ns + int(self.release_ms * 1e6), ramp_ms=self.release_ms)
        elif self._play is not None:
            self._play(n.sound, n.velocity, at_ns=n.t_ns)
        else:
            self.audio.trigger(n.sound, n.velocity, at_ns=n.t_ns)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _push(self, m: _MidiMsg) -> None:
        bisect.insort(self._midi, m)

    # ---- time ------------------------------------------------------------------------------
    def update(self, now_ns: int) -> None:
        """Send due MIDI messages; forget voice handles long finished."""
        if self._handles and self._handles[0][0] < now_ns - HANDLE_KEEP_NS:
            self._handles = [(t, h) for t, h in self._handles if t >= now_ns - HANDLE_KEEP_NS]
        while self._midi and self._midi[0].t_ns <= now_ns:
            m = self._midi.pop(0)
            self._midi_send(m)

    def _midi_send(self, m: _MidiMsg) -> None:
        import mido

        key = (m.channel, m.note)
        if m.on:
            self._sounding.add(key)
            msg = mido.Message("note_on", note=m.note, velocity=m.velocity, channel=m.channel)
        else:
            if key not in self._sounding:
                return
            self._sounding.discard(key)
            msg = mido.Message("note_off", note=m.note, velocity=0, channel=m.channel)
        try:
            self.midi_out.send(msg)
        except (OSError, ValueError):
            pass  # a pulled cable never stops the music on the synth

    def stop_at(self, stop_ns: int) -> None:
        """Freeze: silent from ``stop_ns`` on. Voices starting at/after it are cancelled,
        ringing ones fade over ``ramp_ms`` ending exactly at ``stop_ns``."""
        self.stops.append(stop_ns)
        if self.use_synth and self.audio is not None:
            if self.handles_api:
                for _, h in self._handles:
                    self.audio.stop(h, at_ns=stop_ns, ramp_ms=self.ramp_ms)
                self._handles.clear()
            else:
                off = getattr(self.audio, "all_off", None)
                if callable(off):
                    try:
                        off(at_ns=stop_ns, ramp_ms=self.ramp_ms)
                    except TypeError:  # a simple engine/fake without timed stops
                        off()
        if self.use_midi:
            keep = [m for m in self._midi if m.t_ns < stop_ns and m.on]
            offs = [_MidiMsg(min(stop_ns, m.t_ns), self._next(), False, m.note, m.channel, 0)
                    for m in self._midi if not m.on]
            offs += [_MidiMsg(stop_ns, self._next(), False, n, c, 0) for c, n in self._sounding]
            self._midi = sorted(keep + offs)

    def silence(self) -> None:
        """Activity stop: everything of ours off now."""
        if self.use_synth and self.audio is not None:
            if self.handles_api:
                for _, h in self._handles:
                    self.audio.stop(h, ramp_ms=self.ramp_ms)
                self._handles.clear()
            elif callable(getattr(self.audio, "all_off", None)):
                self.audio.all_off()  # no handles: notes scheduled ahead must not outlive us
        if self.use_midi:
            self._midi.clear()
            for c, n in sorted(self._sounding):
                self._midi_send(_MidiMsg(0, 0, False, n, c, 0))
            self._sounding.clear()
