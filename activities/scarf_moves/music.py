"""Deterministic music whose character carries the movement cue.

The generator is pure: it turns a ``MusicState`` (tempo, register, dynamics, texture, melody
voice) into ``Note``s on a beat grid on the app clock. Nothing here knows about pygame, the
engine or MIDI; ``player.py`` sends the notes. The same state always yields the same notes, so
an offline render reproduces exactly what a session heard.

Timing rules (why they look like this):

* Changes of character land on the **next beat boundary not yet scheduled**, so a tempo change
  never breaks the pulse: the grid is re-anchored at that boundary's time under the old tempo.
* A **freeze** is a stop time: nothing is emitted at or after it (the player also cuts voices
  that were scheduled ahead and fades ringing ones so the output is silent from that time on).
  A live freeze stops as soon as possible (``now + lead``); a sequenced one on the next beat.
* After a freeze the music resumes from the top of a bar, ``lead`` after the "go".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

STEPS_PER_BEAT = 2  # eighth notes
BEATS_PER_BAR = 4
STEPS_PER_BAR = STEPS_PER_BEAT * BEATS_PER_BAR

# I - vi - IV - V in the key (semitones from the key root; chord tones low to high)
PROGRESSION: tuple[tuple[int, int, int], ...] = ((0, 4, 7), (-3, 0, 4), (-7, -3, 0), (-5, -1, 2))
MELODY_PATTERN = (0, 1, 2, 1, 0, 1, 2, 3)  # chord-tone index per eighth; 3 = octave of tone 0
MAJOR = (0, 2, 4, 5, 7, 9, 11)
TEXTURES = ("full", "thin", "sparse")
MELODY_VOICES = ("keys", "chimes", "guitar")
GESTURES = ("", "throw", "peek")

GM_KICK, GM_HAT, GM_CRASH, GM_SHAKER = 36, 42, 49, 70


@dataclass(frozen=True)
class MusicState:
    """The musical character of one cue."""

    bpm: float = 96.0
    register: int = 0  # semitones added to every pitched note
    dynamics: float = 0.6  # 0..1, scales every velocity
    texture: str = "full"  # full: melody+bass+drums, thin: quarter notes, sparse: one note a beat
    melody: str = "keys"
    playing: bool = True  # False = freeze (silence)
    gesture: str = ""  # one-off figure at the change: "throw" (glissando + cymbal), "peek"

    def describe(self) -> dict[str, object]:
        return {"bpm": round(self.bpm, 2), "register": self.register, "dynamics": round(self.dynamics, 3),
                "texture": self.texture, "melody": self.melody, "playing": self.playing,
                "gesture": self.gesture}


@dataclass(frozen=True)
class Note:
    """One scheduled sound: engine name for the synth, MIDI note/channel for a keyboard."""

    t_ns: int
    sound: str
    velocity: float
    midi_note: int
    channel: int  # 0 pitched, 9 drums (GM)
    dur_ns: int
    part: str  # melody | bass | drum | gesture


@dataclass
class _Change:
    step: int
    state: MusicState


def clamp_note(n: int, lo: int = 28, hi: int = 100) -> int:
    """Keep pitches in the synth's comfortable range by octaves, so register shifts never fail."""
    while n < lo:
        n += 12
    while n > hi:
        n -= 12
    return n


class MusicGenerator:
    """Beat-grid generator. ``lead_ns`` is the shortest time ahead anything may start."""

    def __init__(self, state: MusicState, *, key_root: int = 60, lead_ns: int = 40_000_000) -> None:
        if state.texture not in TEXTURES:
            raise ValueError(f"texture {state.texture!r} not in {TEXTURES}")
        self.state = state
        self.key_root = key_root
        self.lead_ns = lead_ns
        self.started = False
        self.frozen = not state.playing
        self.stop_ns: int | None = None
        self.next_step = 0
        self._anchor_ns = 0
        self._anchor_step = 0
        self._pending: _Change | None = None
        self._gesture_step: int | None = None

    # ---- grid ------------------------------------------------------------------------------
    @property
    def step_ns(self) -> float:
        return 60e9 / (self.state.bpm * STEPS_PER_BEAT)

    def step_time(self, step: int) -> int:
        return int(round(self._anchor_ns + (step - self._anchor_step) * self.step_ns))

    def beat_phase(self, now_ns: int) -> float:
        """Position within the current beat, 0..1 (for animation in time with the music)."""
        if self.frozen or not self.started:
            return 0.0
        beat_ns = self.step_ns * STEPS_PER_BEAT
        return ((now_ns - self._anchor_ns) / beat_ns) % 1.0

    def start(self, now_ns: int) -> int:
        """Begin at the top of a bar ``lead`` from now; returns that time."""
        self.started = True
        self.frozen = not self.state.playing
        self._anchor_ns = now_ns + self.lead_ns
        self._anchor_step = self.next_step = 0
        self.stop_ns = None
        return self._anchor_ns

    def _next_beat_step(self) -> int:
        s = self.next_step
        return s + (-s) % STEPS_PER_BEAT

    # ---- changes ---------------------------------------------------------------------------
    def change(self, state: MusicState, now_ns: int, *, immediate_stop: bool = False) -> int:
        """Ask for a new character; returns the app-clock time it is heard.

        Playing → playing: at the next unscheduled beat boundary. Playing → freeze: at that
        boundary too, or at ``now + lead`` with ``immediate_stop`` (a live freeze). Frozen →
        playing: from the top of a bar ``lead`` after now.
        """
        if state.texture not in TEXTURES:
            raise ValueError(f"texture {state.texture!r} not in {TEXTURES}")
        if not self.started:
            self.state = state
            return self.start(now_ns)
        if self.frozen:
            if not state.playing:
                self.state = state
                return self.stop_ns if self.stop_ns is not None else now_ns
            self.state = state
            self.frozen = False
            self._pending = None
            bar = self.next_step + (-self.next_step) % STEPS_PER_BAR
            self._anchor_ns, self._anchor_step, self.next_step = now_ns + self.lead_ns, bar, bar
            self.stop_ns = None
            self._gesture_step = bar if state.gesture else None
            return self._anchor_ns
        if not state.playing:
            self._pending = None
            if immediate_stop:  # the player cancels what was handed out for later: exact anyway
                stop = now_ns + self.lead_ns
            else:
                stop = self.step_time(self._next_beat_step())
                stop = max(stop, now_ns + self.lead_ns)
            self.frozen = True
            self.stop_ns = stop
            self.state = state
            return stop
        s = self._next_beat_step()
        while self.step_time(s) < now_ns + self.lead_ns:
            s += STEPS_PER_BEAT
        self._pending = _Change(s, state)
        return self.step_time(s)

    # ---- emitting --------------------------------------------------------------------------
    def due(self, until_ns: int) -> list[Note]:
        """Every note with start time <= ``until_ns`` not yet handed out, in time order."""
        out: list[Note] = []
        if not self.started or self.frozen:
            return out
        while True:
            p = self._pending
            if p is not None and p.step == self.next_step:
                t_anchor = self.step_time(p.step)
                self.state = p.state
                self._anchor_ns, self._anchor_step = t_anchor, p.step
                self._gesture_step = p.step if p.state.gesture else None
                self._pending = None
            t = self.step_time(self.next_step)
            if t > until_ns:
                break
            out.extend(self.notes_at(self.next_step, t))
            self.next_step += 1
        return out

    def notes_at(self, step: int, t: int) -> list[Note]:
        """The notes of one grid step for the current state (pure function of step + state)."""
        s = self.state
        out: list[Note] = []
        in_bar = step % STEPS_PER_BAR
        beat_step = in_bar % STEPS_PER_BEAT == 0
        chord = PROGRESSION[(step // STEPS_PER_BAR) % len(PROGRESSION)]
        step_ns = int(self.step_ns)
        d = max(0.0, min(1.0, s.dynamics))
        accent = 1.0 if in_bar == 0 else (0.85 if beat_step else 0.7)
        gesture_beat = self._gesture_step is not None and 0 <= step - self._gesture_step < STEPS_PER_BEAT
        if self._gesture_step is not None and step == self._gesture_step:
            out.extend(self._gesture(s, t))
        # melody
        play_mel = {"full": True, "thin": beat_step, "sparse": in_bar % 4 == 0}[s.texture]
        if play_mel and not (gesture_beat and s.gesture == "throw"):
            idx = MELODY_PATTERN[in_bar]
            base = self.key_root + 12 + s.register
            pitch = clamp_note(base + chord[idx % 3] + 12 * (idx // 3))
            dur = step_ns * (STEPS_PER_BEAT if s.texture != "full" else 1)
            out.append(Note(t, f"{s.melody}:{pitch}", round(d * accent * 0.8, 4), pitch, 0,
                            int(dur * 0.9), "melody"))
        # bass on beats 1 and 3 (sparse: beat 1 only)
        if in_bar in ((0, 4) if s.texture != "sparse" else (0,)):
            pitch = clamp_note(self.key_root - 24 + s.register + chord[0] % 12, 28, 72)
            out.append(Note(t, f"keys:{pitch}", round(d * 0.9, 4), pitch, 0, step_ns * 3, "bass"))
        # drums only in the full texture
        if s.texture == "full":
            if in_bar in (0, 4):
                out.append(Note(t, f"drum:{GM_KICK}", round(d * 0.75, 4), GM_KICK, 9, step_ns, "drum"))
            if beat_step:
                out.append(Note(t, f"drum:{GM_HAT}", round(d * 0.35 * accent, 4), GM_HAT, 9, step_ns, "drum"))
        return out

    def _gesture(self, s: MusicState, t: int) -> list[Note]:
        beat = int(self.step_ns * STEPS_PER_BEAT)
        d = max(0.25, min(1.0, s.dynamics))
        out: list[Note] = []
        if s.gesture == "throw":
            # an upward glissando through two octaves of the scale in one beat, cymbal on the next
            start = self.key_root + s.register
            n = 2 * len(MAJOR) + 1
            for i in range(n):
                pitch = clamp_note(start + 12 * (i // 7) + MAJOR[i % 7], 36, 108)
                out.append(Note(t + i * beat // n, f"chimes:{pitch}", round(d * (0.5 + 0.4 * i / n), 4),
                                pitch, 0, beat // n, "gesture"))
            out.append(Note(t + beat, f"drum:{GM_CRASH}", round(d, 4), GM_CRASH, 9, 2 * beat, "gesture"))
        elif s.gesture == "peek":
            hi = clamp_note(self.key_root + 24 + 7, 60, 108)
            out.append(Note(t, f"chimes:{hi}", round(d * 0.9, 4), hi, 0, beat // 2, "gesture"))
            out.append(Note(t + beat // 2, f"chimes:{hi - 3}", round(d * 0.9, 4), hi - 3, 0, beat // 2, "gesture"))
        return out

    # ---- preparation -----------------------------------------------------------------------
    def sound_names(self, states: list[MusicState]) -> list[str]:
        """Every sound these states can produce (one progression cycle each), for prepare()."""
        names: set[str] = set()
        for st in states:
            if not st.playing:
                continue
            probe = MusicGenerator(replace(st, gesture=""), key_root=self.key_root, lead_ns=0)
            probe.start(0)
            probe._gesture_step = 0 if st.gesture else None
            probe.state = st
            for step in range(STEPS_PER_BAR * len(PROGRESSION)):
                names.update(n.sound for n in probe.notes_at(step, 0))
        return sorted(names)
