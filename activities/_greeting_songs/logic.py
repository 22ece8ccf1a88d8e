"""Greeting songs, pure: a song as data, its course in time, and what counts as taking part.

A song is verses; a verse is a *call* (the therapist — and the app's melody — sing the line:
"Hello, Sam!") then an *answer* (the melody rests, the chords go on softly: the client's turn to
sing, wave or play). Predictability is the point of a hello/goodbye song, so the shape is fixed:
every verse is call then answer, in the order written, at a steady tempo.

``SongRun`` decides the bars one at a time, just before each is due, from the settings as they
are *then* (tempo, key, accompaniment, verse list): a change by the therapist lands on the next
bar line, never in the middle of a bar. With the accompaniment off the therapist plays live, so
the app cannot know where they are in the song: each call then waits for the therapist's
"Your turn" (the rail's primary action, a pedal press) and the answer lasts its bars at the set
tempo. "Wait for me" keeps each answer going (a vamp, or silence) until "Next verse".

A trial is a verse's answer (its *window*): it opens when the answer starts and closes when the
next verse starts (or the song ends). In the window a client's vocalization or instrument hit is
participation. A vocalization counts only in the window because during the call the therapist
is singing: the microphone would hear them, not the client.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prelude_play.config import find_key_line, load_toml
from prelude_play.errors import ConfigError

BEATS_PER_BAR = 4
MAJOR = (0, 2, 4, 5, 7, 9, 11)
CHORDS: dict[str, tuple[int, ...]] = {  # scale steps above the tonic (0 = degree 1)
    "I": (0, 2, 4), "ii": (1, 3, 5), "iii": (2, 4, 6), "IV": (3, 5, 7), "V": (4, 6, 8),
    "vi": (5, 7, 9), "V7": (4, 6, 8, 10),
}
OPPORTUNITIES = ("sing", "wave", "play", "")
"""What the client is invited to do in a verse's answer ("" = nothing: a closing line, no trial)."""
MUSIC_MODES = ("full", "chords", "melody", "off")
"""The app's accompaniment: chords + melody, chords only (the therapist sings), melody only (the
therapist plays the chords), or off (the therapist plays live; the app shows the cards)."""
SECTIONS = ("intro", "call", "answer", "wait", "ending")
BPM_RANGE = (56, 132)
BPM_STEP = 4

# Key names as the therapist reads them (translated: fr-CA musicians say "ré majeur").
KEY_NAMES = ("C major", "D flat major", "D major", "E flat major", "E major", "F major",
             "F sharp major", "G major", "A flat major", "A major", "B flat major", "B major")
_KEY_PC = {"C": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "F": 5, "F#": 6, "GB": 6,
           "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11}
KEY_FORMS = "C, C#/Db, D, Eb, E, F, F#/Gb, G, Ab, A, Bb, B"
_TOKEN = re.compile(r"^(r|[1-7])([,']*):(\d+(?:\.\d+)?)$")


def key_pc(name: str) -> int:
    """A key's pitch class from its name ("D", "Bb", "F#")."""
    pc = _KEY_PC.get(str(name).strip().upper().replace("♭", "B").replace("♯", "#"))
    if pc is None:
        raise ValueError(f"unknown key {name!r}")
    return pc


def tonic_note(pc: int) -> int:
    """The melody's tonic as a MIDI note, A3..G#4: the verses then lie in a child's singing range
    (about A3 to E5) in every key."""
    return 57 + (pc - 9) % 12


def step_semitones(step: int) -> int:
    """Semitones above the tonic of a major-scale step (0 = degree 1; negative = below)."""
    return 12 * (step // 7) + MAJOR[step % 7]


def chord_pcs(chord: str, pc: int) -> tuple[int, ...]:
    """The pitch classes of ``chord`` in the key with tonic pitch class ``pc``."""
    return tuple((pc + step_semitones(s)) % 12 for s in CHORDS[chord])


# ---- the song as data ---------------------------------------------------------------------

@dataclass(frozen=True)
class MelodyNote:
    step: int  # scale step above the tonic (0 = degree 1)
    beat: float  # start within the bar, in beats
    beats: float  # length in beats


@dataclass(frozen=True)
class Bar:
    chord: str
    melody: tuple[MelodyNote, ...] = ()


@dataclass(frozen=True)
class Verse:
    id: str
    label: str  # the therapist's name for it (the verse-list buttons), English source text
    picture: str  # an image file, or "@client" (the client's own picture and name)
    lyrics: tuple[str, ...]  # English source lines; "{name}" is the client's display name
    prompt: str  # shown in the answer: what the client is invited to do ("Sing hello!")
    opportunity: str  # sing | wave | play | "" (see OPPORTUNITIES)
    call: tuple[Bar, ...]
    answer: tuple[Bar, ...]  # chords only: the melody rests in the client's turn


@dataclass(frozen=True)
class Song:
    id: str
    title: str
    bpm: float
    key: int  # pitch class of the tonic
    intro: tuple[Bar, ...]
    ending: tuple[Bar, ...]
    verses: tuple[Verse, ...]

    def verse_index(self, verse_id: str) -> int:
        return next(i for i, v in enumerate(self.verses) if v.id == verse_id)


def parse_melody(text: str) -> tuple[MelodyNote, ...]:
    """``"1:1 3:1 5:2"``: scale degree ``:`` beats, ``,`` an octave down, ``'`` up, ``r`` a rest."""
    notes: list[MelodyNote] = []
    beat = 0.0
    for tok in str(text).split():
        m = _TOKEN.match(tok)
        if m is None:
            raise ValueError(f"melody token {tok!r} (write degree:beats, e.g. 5:1, 1':2, 5,:1, r:1)")
        deg, marks, beats = m.group(1), m.group(2), float(m.group(3))
        if beats <= 0:
            raise ValueError(f"melody token {tok!r} has no length")
        if deg != "r":
            octave = marks.count("'") - marks.count(",")
            notes.append(MelodyNote(int(deg) - 1 + 7 * octave, beat, beats))
        beat += beats
    if beat > BEATS_PER_BAR + 1e-9:
        raise ValueError(f"melody {text!r} lasts {beat:g} beats; a bar has {BEATS_PER_BAR}")
    return tuple(notes)


def _bars(raw: Any, *, melody: bool) -> tuple[Bar, ...]:
    if not isinstance(raw, list):
        raise ValueError("expected a list of bars")
    out = []
    for item in raw:
        if melody:
            if not (isinstance(item, list) and len(item) in (1, 2) and all(isinstance(x, str) for x in item)):
                raise ValueError(f"bar {item!r}: write [\"CHORD\", \"degree:beats ...\"]")
            chord, tune = item[0], item[1] if len(item) == 2 else ""
        else:
            if not isinstance(item, str):
                raise ValueError(f"bar {item!r}: write the chord, e.g. \"I\"")
            chord, tune = item, ""
        if chord not in CHORDS:
            raise ValueError(f"chord {chord!r} (one of {', '.join(CHORDS)})")
        out.append(Bar(chord, parse_melody(tune)))
    return tuple(out)


def load_song(path: Path) -> Song:
    """Read one song file; every mistake is a ConfigError naming the file, line and key."""
    data, text = load_toml(path)

    def err(msg: str, key: str, hint: str | None = None) -> ConfigError:
        return ConfigError(msg, path=path, line=find_key_line(text, key), key=key, hint=hint)

    s = data.get("song")
    if not isinstance(s, dict):
        raise err("missing [song] table", "song", 'start with [song] and title = "..."')
    try:
        key = key_pc(str(s.get("key", "D")))
    except ValueError as exc:
        raise err(str(exc), "song.key", KEY_FORMS) from None
    bpm = s.get("bpm", 88)
    if not isinstance(bpm, (int, float)) or isinstance(bpm, bool) or not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
        raise err(f"bpm = {bpm!r}", "song.bpm", f"{BPM_RANGE[0]}–{BPM_RANGE[1]} beats a minute")
    bars = {}
    for part in ("intro", "ending"):
        try:
            bars[part] = _bars(s.get(part, [["I"]]), melody=True)
        except ValueError as exc:
            raise err(str(exc), f"song.{part}") from None
    raw_verses = data.get("verse")
    if not isinstance(raw_verses, list) or not raw_verses:
        raise err("a song needs at least one [[verse]]", "verse")
    verses: list[Verse] = []
    for i, v in enumerate(raw_verses):
        where = f"verse[{i}]"
        vid = v.get("id") if isinstance(v, dict) else None
        if not isinstance(vid, str) or not vid:
            raise err(f"{where} has no id", "id")
        if any(o.id == vid for o in verses):
            raise err(f"verse id {vid!r} is used twice", "id")
        opp = v.get("opportunity", "")
        if opp not in OPPORTUNITIES:
            raise err(f"{where} opportunity = {opp!r}", "opportunity", "sing, wave, play or \"\"")
        lyrics = v.get("lyrics", [])
        if not (isinstance(lyrics, list) and lyrics and all(isinstance(x, str) for x in lyrics)):
            raise err(f"{where} needs lyrics = [\"line\", ...]", "lyrics")
        try:
            call = _bars(v.get("call", []), melody=True)
            answer = _bars(v.get("answer", []), melody=False)
        except ValueError as exc:
            raise err(f"{where}: {exc}", "call") from None
        if len(call) < 2:
            # the call is the gap between two trials: a score meant for the last answer lands on it
            raise err(f"{where} call has {len(call)} bar(s)", "call", "at least 2 bars")
        if opp and not answer:
            raise err(f"{where} invites the client ({opp}) but has no answer bars", "answer",
                      'give the client a turn, e.g. answer = ["I", "V"]')
        verses.append(Verse(vid, str(v.get("label", vid)), str(v.get("picture", "")), tuple(lyrics),
                            str(v.get("prompt", "")), opp, call, answer))
    return Song(str(s.get("id", path.stem)), str(s.get("title", path.stem)), float(bpm), key,
                bars["intro"], bars["ending"], tuple(verses))


# ---- the song in time ---------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedBar:
    """One bar as decided: when, how fast, in which key, and what it is for."""

    t_ns: int
    beat_ns: float
    tonic: int  # MIDI note of the melody's tonic
    key: int  # pitch class of the tonic
    section: str  # intro | call | answer | wait | ending
    verse: int  # index in song.verses (-1: intro and ending)
    index: int  # bar number within its section (the wait vamp counts on)
    bar: Bar
    music: str  # the accompaniment mode when the bar was decided
    opportunity: str
    final: bool = False  # the song's last bar: its chord rings out

    @property
    def end_ns(self) -> int:
        return self.t_ns + int(round(BEATS_PER_BAR * self.beat_ns))

    def beat_time(self, beat: float) -> int:
        return self.t_ns + int(round(beat * self.beat_ns))


@dataclass(frozen=True)
class Mark:
    """Where the song is from ``t_ns`` on: a verse's call or answer, the wait, the ending, done."""

    t_ns: int
    kind: str  # verse | answer | wait | ending | done
    verse: int = -1


@dataclass
class SongSettings:
    bpm: float
    key: int
    music: str = "full"
    wait: bool = False  # each answer goes on until "Next verse"
    enabled: list[bool] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"bpm": round(self.bpm, 1), "key": KEY_NAMES[self.key], "music": self.music, "wait": self.wait,
                "verses_on": [i for i, on in enumerate(self.enabled) if on]}


class SongRun:
    """The song's course: bars decided just before they are due, and marks for the screen and trials.

    ``decide(until)`` hands out every bar starting at or before ``until`` (the caller's lookahead);
    ``due(now)`` the marks reached by ``now``. ``your_turn`` and ``next_verse`` land on the next
    bar line while bars are running, at once (``now + lead``) while the song waits for the
    therapist. States: ready → playing ⇄ held → done.
    """

    def __init__(self, song: Song, settings: SongSettings, *, lead_ns: int = 40_000_000) -> None:
        self.song = song
        self.s = settings
        if len(self.s.enabled) != len(song.verses):
            self.s.enabled = [True] * len(song.verses)
        self.lead_ns = lead_ns
        self.state = "ready"
        self.section = "intro"
        self.verse = -1
        self.bar = 0
        self.next_ns = 0
        self._jump: str | None = None
        self._marks: deque[Mark] = deque()
        self.shown = Mark(0, "ready")
        """The latest mark reached: what the client's screen shows."""

    # ---- position ----------------------------------------------------------------------------
    def _next_verse_after(self, v: int) -> int | None:
        for i in range(v + 1, len(self.song.verses)):
            if self.s.enabled[i]:
                return i
        return None

    def _bars_of(self, section: str, v: int) -> tuple[Bar, ...]:
        if section == "intro":
            return self.song.intro
        if section == "ending":
            return self.song.ending
        verse = self.song.verses[v]
        return verse.call if section == "call" else verse.answer

    def _enter(self, section: str, v: int, t: int) -> None:
        """Start ``section`` at ``t``: a mark, then bars (or a hold, with the accompaniment off)."""
        self.section, self.verse, self.bar = section, v, 0
        kind = {"call": "verse", "answer": "answer", "wait": "wait", "ending": "ending"}.get(section)
        if kind is not None:
            self._marks.append(Mark(t, kind, v))
        live = self.s.music == "off"
        if live and section in ("intro", "ending"):  # nothing to play: straight on
            if section == "intro":
                self._after(t)
            else:
                self._finish(t)
            return
        if live and section in ("call", "wait"):
            self.state = "held"  # the therapist sings; "Your turn" / "Next verse" move on
            return
        self.state = "playing"
        self.next_ns = t

    def _finish(self, t: int) -> None:
        self._marks.append(Mark(t, "done", -1))
        self.state = "done"

    def _to_next_verse(self, t: int) -> None:
        nxt = self._next_verse_after(self.verse)
        if nxt is None:
            self._enter("ending", -1, t)
        else:
            self._enter("call", nxt, t)

    def _after(self, t: int) -> None:
        """The current section has played all its bars at ``t``: what comes next."""
        sec = self.section
        if sec == "intro":
            self.verse = -1
            self._to_next_verse(t)
        elif sec == "call":
            if self.song.verses[self.verse].answer:
                self._enter("answer", self.verse, t)
            else:
                self._to_next_verse(t)
        elif sec == "answer":
            if self.s.wait:
                self._enter("wait", self.verse, t)
            else:
                self._to_next_verse(t)
        elif sec == "wait":
            if self.s.wait:
                self.bar = 0  # the vamp goes round until "Next verse"
            else:
                self._to_next_verse(t)
        else:
            self._finish(t)

    # ---- the therapist -----------------------------------------------------------------------
    def start(self, now_ns: int) -> None:
        """Begin (or begin again) from the top: the intro gives the key and the tempo."""
        self._marks.clear()
        self._jump = None
        self.verse = -1
        self._enter("intro", -1, now_ns + self.lead_ns)

    def your_turn(self, now_ns: int) -> bool:
        """End the call: the client's turn (at the next bar line, or at once when the call waits)."""
        if self.section != "call" or self.state not in ("playing", "held"):
            return False
        if self.state == "held":
            self._enter("answer", self.verse, now_ns + self.lead_ns)
        else:
            self._jump = "answer"
        return True

    def next_verse(self, now_ns: int) -> bool:
        """On to the next verse (at the next bar line, or at once while the song waits)."""
        if self.state == "ready":
            self.start(now_ns)
            return True
        if self.state == "done":
            return False
        if self.state == "held":
            self._to_next_verse(now_ns + self.lead_ns)
        else:
            self._jump = "next"
        return True

    def set_music(self, mode: str, now_ns: int) -> None:
        """Change the accompaniment. It sounds from the next bar; a call or wait that was waiting
        for the therapist (accompaniment off) starts playing again ``lead`` from now."""
        if mode not in MUSIC_MODES:
            raise ValueError(f"music mode {mode!r} not in {MUSIC_MODES}")
        self.s.music = mode
        if mode != "off" and self.state == "held":
            self.state, self.bar, self.next_ns = "playing", 0, now_ns + self.lead_ns

    def set_wait(self, wait: bool, now_ns: int) -> None:
        """Wait for the therapist after each answer, or not (a wait in progress then ends on the
        next bar line, or at once if it is a silent one)."""
        self.s.wait = wait
        if not wait and self.state == "held" and self.section == "wait":
            self._to_next_verse(now_ns + self.lead_ns)

    def stop(self, now_ns: int) -> None:
        if self.state != "done":
            self._finish(now_ns)

    # ---- time --------------------------------------------------------------------------------
    def decide(self, until_ns: int) -> list[PlannedBar]:
        """Every bar starting at or before ``until_ns`` not yet handed out, in order."""
        out: list[PlannedBar] = []
        while self.state == "playing" and self.next_ns <= until_ns:
            t = self.next_ns
            jump, self._jump = self._jump, None
            if jump == "next" and self.section != "ending":
                if self.section == "intro":
                    self.verse = -1
                self._to_next_verse(t)
                continue
            if jump == "answer" and self.section == "call":
                self._enter("answer", self.verse, t)
                continue
            bars = self._bars_of(self.section if self.section != "wait" else "answer", self.verse)
            bar = bars[self.bar % len(bars)]
            last_of_song = self.section == "ending" and self.bar == len(bars) - 1
            opp = self.song.verses[self.verse].opportunity if self.verse >= 0 else ""
            pb = PlannedBar(t, 60e9 / self.s.bpm, tonic_note(self.s.key), self.s.key, self.section, self.verse,
                            self.bar, bar, self.s.music, opp, last_of_song)
            out.append(pb)
            self.bar += 1
            end = pb.end_ns
            if last_of_song:  # let the final chord ring for its bar, then done
                self._finish(end)
            elif self.section == "wait" or self.bar >= len(bars):
                self._after(end)
            self.next_ns = end if self.state == "playing" else self.next_ns
        return out

    def due(self, now_ns: int) -> list[Mark]:
        """The marks reached by ``now_ns``, in order; ``shown`` becomes the last of them."""
        out = []
        while self._marks and self._marks[0].t_ns <= now_ns:
            out.append(self._marks.popleft())
        if out:
            self.shown = out[-1]
        return out

    @property
    def next_mark_ns(self) -> int | None:
        """When the screen next changes by itself (None: nothing decided yet)."""
        return self._marks[0].t_ns if self._marks else None

    @property
    def next_bar_ns(self) -> int | None:
        """When the next bar starts (None: the song waits for the therapist, or is over)."""
        return self.next_ns if self.state == "playing" else None

    # ---- what the screen and the trials read -------------------------------------------------
    @property
    def window_open(self) -> bool:
        """The client's turn is on screen (the answer, or the wait after it)."""
        return self.shown.kind in ("answer", "wait")

    @property
    def phase(self) -> str:
        """ready | verse (the call) | answer | wait | ending | done, as shown now."""
        return self.shown.kind

    def order(self) -> list[int]:
        """The verses that will be sung, in order (the verse list as the therapist set it)."""
        return [i for i, on in enumerate(self.s.enabled) if on]


# ---- taking part ----------------------------------------------------------------------------

RESPONSES = ("voice", "hit", "touch")


def counts(by: str, window_open: bool, listening: bool) -> bool:
    """Whether a response is participation in the verse's trial: anything in the window, but a
    voice only while the app listens (in the call the microphone would hear the therapist)."""
    if not window_open:
        return False
    return listening if by == "voice" else by in RESPONSES


def absence_outcome(opportunity: str, *, listening: bool, judge_absence: bool) -> str | None:
    """The automatic outcome of a window that closed with no response, or None (not scored).

    Only where the app could have sensed the answer: a sung answer needs the microphone; a
    played one is heard on the pads and the screen; a wave cannot be seen by the app at all."""
    if not judge_absence:
        return None
    if opportunity == "sing" and listening:
        return "no_response"
    if opportunity == "play":
        return "no_response"
    return None


def clamp_bpm(bpm: float) -> float:
    return float(min(BPM_RANGE[1], max(BPM_RANGE[0], bpm)))


def pentatonic_note(note: int, key: int) -> int:
    """The nearest note of the key's major pentatonic (ties go down): pads and keys never clash
    with the song."""
    steps = (0, 2, 4, 7, 9)
    for delta in range(0, 7):
        for cand in (note - delta, note + delta):
            if (cand - key) % 12 in steps:
                return cand
    return note


def pad_table(key: int, voice: str = "keys") -> dict[str, Any]:
    """What a MIDI hit sounds during the song, as data (``prelude_play.hits.table``): drums stay
    drums, every other key plays the nearest note of the song's pentatonic, and the therapist's
    own keyboard keeps the instrument map's sound."""
    notes = {n: f"{voice}:{min(96, max(36, pentatonic_note(n, key)))}" for n in range(128)}
    return {"roles": {"therapist": {"default": "@mapped"},
                      "*": {"mapped_prefixes": ["drum:"], "channels": {9: {n: f"drum:{n}" for n in range(128)}},
                            "notes": notes}}}


def touch_note(tonic: int, count: int) -> int:
    """The chime a tap on the picture plays: up the pentatonic, one step a tap, round again."""
    steps = (0, 2, 4, 7, 9, 12)
    return tonic + 12 + steps[count % len(steps)]


def with_name(line: str, name: str) -> str:
    """A lyric line with the client's name in it (plain replace: a translation may hold braces)."""
    return line.replace("{name}", name)


__all__ = ["Bar", "CHORDS", "KEY_NAMES", "Mark", "MelodyNote", "MUSIC_MODES", "OPPORTUNITIES", "PlannedBar",
           "Song", "SongRun", "SongSettings", "Verse", "absence_outcome", "chord_pcs", "clamp_bpm", "counts",
           "key_pc", "load_song", "pad_table", "parse_melody", "pentatonic_note", "step_semitones", "tonic_note",
           "touch_note", "with_name"]
