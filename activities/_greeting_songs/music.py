"""The accompaniment, pure: one decided bar in, the notes the built-in synth plays out.

Gentle and predictable on purpose, under the therapist's guitar and voice:

* **chords** on the plucked guitar voice, strummed low to high, on every beat (accents on 1
  and 3), with the bass on a low string on 1 and 3 (root, then the fifth) — outside the turns.
* **melody** on the soft electric piano, only in the call: in the client's turn the tune rests,
  so the turn is heard as a turn and the microphone has only the client's voice to find.
* in the **client's turn** only the middle strings, softer: on 1 and 3 for a sung or waved
  answer, on every beat with a quiet shaker for a played one (a pulse to play to). No bass
  there: a low string rings for seconds, and the voice analyzer took it for a voice (measured
  by ``render.heard_as_voice``; with this arrangement it hears nothing of the app's in a turn).

Same bar in, same notes out, so an offline render is exactly what a session heard.
"""

from __future__ import annotations

from dataclasses import dataclass

from .logic import (BEATS_PER_BAR, CHORDS, PlannedBar, Song, chord_pcs,
                                              step_semitones, tonic_note)

GUITAR_LOW, BASS_LOW = 52, 40  # chord voicing E3..D#4; bass E2..D#3 (a guitar's low strings)
STRUM_NS = 14_000_000  # between the strings of one strum
SHAKER = "drum:70"


@dataclass(frozen=True)
class Note:
    t_ns: int
    sound: str
    velocity: float
    dur_ns: int  # how long it sounds before its release
    part: str  # chord | bass | melody | pulse


def _in_octave(pc: int, low: int) -> int:
    return low + (pc - low) % 12


def voicing(chord: str, key: int) -> list[int]:
    """The chord's notes in one octave from E3 up, low to high (a guitar's middle strings)."""
    return sorted(_in_octave(pc, GUITAR_LOW) for pc in chord_pcs(chord, key))


def bar_notes(pb: PlannedBar, *, melody_voice: str = "keys", chord_voice: str = "guitar",
              volume: float = 1.0) -> list[Note]:
    """The notes of one bar, in time order."""
    if pb.music == "off":
        return []
    out: list[Note] = []
    beat = int(pb.beat_ns)
    chords = pb.music in ("full", "chords")
    melody = pb.music in ("full", "melody") and pb.section in ("intro", "call", "ending")
    turn = pb.section in ("answer", "wait")
    soft_turn = turn and pb.opportunity != "play"  # a sung/waved answer: room for the client
    if chords:
        root = chord_pcs(pb.bar.chord, pb.key)[0]
        if pb.final:
            beats: tuple[float, ...] = (0.0,)
        elif soft_turn:
            beats = (0.0, 2.0)
        else:
            beats = (0.0, 1.0, 2.0, 3.0)
        for i, b in enumerate(beats):
            nxt = beats[i + 1] if i + 1 < len(beats) else BEATS_PER_BAR
            ring = int((nxt - b) * beat) + beat // 4  # until the next strum, a little over
            if pb.final:
                ring = BEATS_PER_BAR * beat
            accent = 0.8 if b == 0 else 0.62 if b == 2 else 0.45
            if soft_turn:
                accent *= 0.8
            t = pb.beat_time(b)
            for k, n in enumerate(voicing(pb.bar.chord, pb.key)):
                out.append(Note(t + k * STRUM_NS, f"{chord_voice}:{n}", round(accent * 0.75 * volume, 4),
                                ring - k * STRUM_NS, "chord"))
        bass_beats = () if turn else (0.0,) if pb.final else (0.0, 2.0)
        for b in bass_beats:
            pc = root if b == 0 else (root + 7) % 12
            out.append(Note(pb.beat_time(b), f"{chord_voice}:{_in_octave(pc, BASS_LOW)}", round(0.7 * volume, 4),
                            (BEATS_PER_BAR * beat if pb.final else 2 * beat) - beat // 8, "bass"))
    if melody:
        for m in pb.bar.melody:
            pitch = pb.tonic + step_semitones(m.step)
            out.append(Note(pb.beat_time(m.beat), f"{melody_voice}:{pitch}", round(0.55 * volume, 4),
                            int(m.beats * beat * 0.92), "melody"))
    if turn and pb.opportunity == "play":
        for b in range(BEATS_PER_BAR):
            out.append(Note(pb.beat_time(b), SHAKER, round((0.32 if b % 2 == 0 else 0.22) * volume, 4),
                            beat // 2, "pulse"))
    out.sort(key=lambda n: n.t_ns)
    return out


def sound_names(song: Song, key: int, *, melody_voice: str = "keys", chord_voice: str = "guitar") -> list[str]:
    """Every sound the song can make in ``key`` (all modes and sections), for ``prepare``."""
    names: set[str] = {SHAKER}
    tonic = tonic_note(key)
    bars = list(song.intro) + list(song.ending)
    for v in song.verses:
        bars += list(v.call) + list(v.answer)
    for bar in bars:
        pcs = chord_pcs(bar.chord, key)
        names.update(f"{chord_voice}:{_in_octave(pc, GUITAR_LOW)}" for pc in pcs)
        names.update(f"{chord_voice}:{_in_octave(pc, BASS_LOW)}" for pc in (pcs[0], (pcs[0] + 7) % 12))
        for m in bar.melody:
            names.add(f"{melody_voice}:{tonic + step_semitones(m.step)}")
    return sorted(names)


__all__ = ["Note", "bar_notes", "sound_names", "voicing", "CHORDS"]
