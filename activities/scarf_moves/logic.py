"""Scarf-movement cues, pure logic: cue definitions, where the next cue comes from, and the
record of each cue shown and how the client responded.

No pygame, no clock reads: every method takes the time it is told. The activity turns the
``Record``s returned here into log events: each cue shown opens a trial ("cue"), its end closes
it, a client's confirmation is a response in it. Nothing here judges a cue: the therapist scores
it on the session's rail, and a cue nobody scored stays "not scored" (never followed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prelude_play.config import load_toml
from prelude_play.errors import ConfigError, brief

from .music import GESTURES, MELODY_VOICES, TEXTURES, MusicState

NOT_SCORED = "not_scored"
PICTURES = ("wave", "up", "down", "fast", "slow", "big", "small", "freeze", "throw", "hide", "peek")


@dataclass(frozen=True)
class CueSpec:
    """One cue card and the music that goes with it (from defaults.toml ``[cues.<name>]``)."""

    name: str
    word: str
    picture: str
    colour: tuple[int, int, int]
    bpm: float | None = None  # None = the base tempo
    register: int = 0
    dynamics: float | None = None
    texture: str | None = None
    melody: str | None = None
    playing: bool = True
    gesture: str = ""
    min_s: float | None = None  # random mode: per-cue time range (else the set's)
    max_s: float | None = None
    confirm: bool = False  # the client confirms this cue by a tap / pad hit
    goals: tuple[str, ...] | None = None

    def music(self, base: MusicState) -> MusicState:
        return MusicState(
            bpm=self.bpm or base.bpm, register=base.register + self.register,
            dynamics=base.dynamics if self.dynamics is None else self.dynamics,
            texture=self.texture or base.texture, melody=self.melody or base.melody,
            playing=self.playing, gesture=self.gesture)


def _bad(where: str, key: str, value: Any, allowed: str, path: Path | None = None) -> ConfigError:
    return ConfigError(f"{where}: bad value {brief(value)} for {key}", key=key, path=path, hint=f"allowed: {allowed}")


def _number(value: Any, where: str, key: str, lo: float, hi: float) -> float:
    """A finite number within lo..hi (a TOML int or float, never a bool or text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise _bad(where, key, value, f"a number {lo:g}..{hi:g}")
    return float(value)


def parse_cues(table: dict[str, Any], where: str = "scarf_moves settings") -> dict[str, CueSpec]:
    """``[cues.<name>]`` tables → CueSpecs; a bad value (or shape) is a ConfigError naming cue and key."""
    if not isinstance(table, dict):
        raise _bad(where, "cues", table, "[cues.NAME] tables")
    out: dict[str, CueSpec] = {}
    for name, t in table.items():
        k = f"cues.{name}"
        if not isinstance(t, dict):
            raise _bad(where, k, t, "a [cues.NAME] table")
        pic = t.get("picture", name)
        if not isinstance(pic, str) or pic not in PICTURES:
            raise _bad(where, f"{k}.picture", pic, ", ".join(PICTURES))
        tex = t.get("texture")
        if tex is not None and (not isinstance(tex, str) or tex not in TEXTURES):
            raise _bad(where, f"{k}.texture", tex, ", ".join(TEXTURES))
        mel = t.get("melody")
        if mel is not None and (not isinstance(mel, str) or mel not in MELODY_VOICES):
            raise _bad(where, f"{k}.melody", mel, ", ".join(MELODY_VOICES))
        ges = t.get("gesture", "")
        if not isinstance(ges, str) or ges not in GESTURES:
            raise _bad(where, f"{k}.gesture", ges, ", ".join(g or '""' for g in GESTURES))
        bpm = t.get("bpm")
        bpm = None if bpm is None else _number(bpm, where, f"{k}.bpm", 30, 220)
        dyn = t.get("dynamics")
        dyn = None if dyn is None else _number(dyn, where, f"{k}.dynamics", 0, 1)
        raw_col = t.get("colour", [70, 130, 200])
        if not isinstance(raw_col, (list, tuple)) or len(raw_col) != 3 or not all(
                type(c) is int and 0 <= c <= 255 for c in raw_col):
            raise _bad(where, f"{k}.colour", raw_col, "[r, g, b] with each 0..255")
        col = (int(raw_col[0]), int(raw_col[1]), int(raw_col[2]))
        lo, hi = t.get("min_s"), t.get("max_s")
        lo = None if lo is None else _number(lo, where, f"{k}.min_s", 0.1, 600)
        hi = None if hi is None else _number(hi, where, f"{k}.max_s", 0.1, 600)
        if lo is not None and hi is not None and not lo <= hi:
            raise _bad(where, f"{k}.min_s/max_s", (lo, hi), "0 < min_s <= max_s")
        register = t.get("register", 0)
        if type(register) is not int or not -24 <= register <= 24:
            raise _bad(where, f"{k}.register", register, "a whole number of semitones -24..24")
        goals = t.get("goals")
        if goals is not None and not (isinstance(goals, list) and all(isinstance(g, str) for g in goals)):
            raise _bad(where, f"{k}.goals", goals, "a list of goal-area keys")
        word = t.get("word", str(name).capitalize())
        if not isinstance(word, str):
            raise _bad(where, f"{k}.word", word, "text")
        for flag in ("playing", "confirm"):
            if flag in t and not isinstance(t[flag], bool):
                raise _bad(where, f"{k}.{flag}", t[flag], "true or false")
        out[name] = CueSpec(
            name=name, word=word, picture=pic, colour=col,
            bpm=bpm, register=register, dynamics=dyn, texture=tex, melody=mel,
            playing=t.get("playing", True), gesture=ges, min_s=lo, max_s=hi,
            confirm=t.get("confirm", False), goals=None if goals is None else tuple(goals))
    return out


# ---- where cues come from -----------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    cue: str
    min_s: float
    max_s: float


@dataclass
class PresetSequence:
    """A fixed list of cues from a TOML preset; ``seconds`` or a ``min_s``/``max_s`` range each."""

    name: str
    steps: list[Step]
    loop: bool = False
    i: int = 0

    def next(self, rng: random.Random) -> tuple[str, float] | None:
        if self.i >= len(self.steps):
            if not self.loop or not self.steps:
                return None
            self.i = 0
        s = self.steps[self.i]
        self.i += 1
        return s.cue, (s.min_s if s.min_s == s.max_s else rng.uniform(s.min_s, s.max_s))


@dataclass
class RandomSequence:
    """Random cues from a set, never the same twice running, each for a random time within its
    min/max — so the freeze comes as a surprise and the client has to listen."""

    cues: list[str]
    ranges: dict[str, tuple[float, float]]
    last: str | None = None

    def next(self, rng: random.Random) -> tuple[str, float] | None:
        choices = [c for c in self.cues if c != self.last] or list(self.cues)
        if not choices:
            return None
        cue = rng.choice(choices)
        self.last = cue
        lo, hi = self.ranges[cue]
        return cue, rng.uniform(lo, hi)


def load_preset(path: Path, cues: dict[str, CueSpec]) -> PresetSequence:
    """Read a preset file; unreadable files, unknown cues and bad times are ConfigErrors naming
    file and step."""
    data, _text = load_toml(path)
    raw = data.get("cue", [])
    if not isinstance(raw, list):
        raise ConfigError("cues must be [[cue]] tables", path=path, key="cue")
    steps = []
    for i, st in enumerate(raw[:500]):
        key = f"cue[{i}]"
        if not isinstance(st, dict):
            raise ConfigError(f"step {i + 1} must be a [[cue]] table", path=path, key=key)
        name = st.get("cue")
        if not isinstance(name, str) or name not in cues:
            raise ConfigError(f"unknown cue {brief(name)}", path=path, key=key, hint=f"one of {sorted(cues)}")
        try:
            if "seconds" in st:
                lo = hi = _number(st["seconds"], str(path), f"{key}.seconds", 0.1, 600)
            elif "min_s" in st and "max_s" in st:
                lo = _number(st["min_s"], str(path), f"{key}.min_s", 0.1, 600)
                hi = _number(st["max_s"], str(path), f"{key}.max_s", 0.1, 600)
            else:
                raise ConfigError(f"cue {name!r} needs seconds = N or min_s and max_s", path=path, key=key)
        except ConfigError as exc:
            raise ConfigError(exc.detail, path=path, key=key, hint="seconds 0.1–600, or 0 < min_s <= max_s") from None
        if not lo <= hi:
            raise ConfigError(f"cue {name!r} needs seconds > 0 or 0 < min_s <= max_s", path=path, key=key)
        steps.append(Step(name, lo, hi))
    if not steps:
        raise ConfigError("preset has no [[cue]] entries", path=path)
    title = data.get("title", path.stem)
    return PresetSequence(title if isinstance(title, str) else path.stem, steps, data.get("loop") is True)


# ---- the running record ---------------------------------------------------------------------

@dataclass
class Record:
    """Something to log about a cue: "cue" (shown: a trial opens), "cue_end" (the trial
    closes) or "response" (the client's confirmation, in the cue's trial)."""

    kind: str
    t_ns: int
    shown: "CueShown"
    actor: str = "system"
    goals: tuple[str, ...] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    source: str = "system"
    device: str = ""


@dataclass
class CueShown:
    index: int
    cue: str
    source: str  # preset | random | live
    requested_ns: int
    onset_ns: int  # when the music changes and the card appears
    planned_s: float | None
    music: dict[str, Any]
    trial_id: str | None = None  # the cue's trial in the session log
    outcome: str = NOT_SCORED  # as the therapist scored it (for the status line)
    prompt: str | None = None
    confirm_ns: int | None = None
    ended_ns: int | None = None

    def latency_ms(self) -> float | None:
        return None if self.confirm_ns is None else round((self.confirm_ns - self.onset_ns) / 1e6, 2)


class CueRunner:
    """Pending → current → ended cues, with their scores and client confirmations."""

    def __init__(self, cues: dict[str, CueSpec]) -> None:
        self.cues = cues
        self.current: CueShown | None = None
        self.pending: CueShown | None = None
        self.history: list[CueShown] = []
        self._n = 0

    def request(self, cue: str, now_ns: int, onset_ns: int, source: str, planned_s: float | None,
                music: dict[str, Any]) -> CueShown:
        """A cue that will show at ``onset_ns`` (when its music starts). Replaces one still pending."""
        if cue not in self.cues:
            raise KeyError(cue)
        self._n += 1
        self.pending = CueShown(self._n, cue, source, now_ns, onset_ns, planned_s, music)
        return self.pending

    def tick(self, now_ns: int) -> list[Record]:
        """Show the pending cue once its onset has come; end the one it replaces."""
        p = self.pending
        if p is None or p.onset_ns > now_ns:
            return []
        out = self.end(p.onset_ns)
        self.pending = None
        self.current = p
        spec = self.cues[p.cue]
        out.append(Record("cue", p.onset_ns, p, data={
            "cue": p.cue, "cue_index": p.index, "word": spec.word, "source": p.source,
            "music": p.music, "planned_s": None if p.planned_s is None else round(p.planned_s, 3),
            "requested_ms_before": round((p.onset_ns - p.requested_ns) / 1e6, 2),
            "confirm_expected": spec.confirm}, goals=spec.goals))
        return out

    def end(self, t_ns: int) -> list[Record]:
        """End the current cue (the next one replaces it, or the activity stops)."""
        c = self.current
        if c is None:
            return []
        c.ended_ns = t_ns
        self.history.append(c)
        self.current = None
        return [Record("cue_end", t_ns, c, goals=self.cues[c.cue].goals,
                       data={"cue": c.cue, "cue_index": c.index, "duration_ms": round((t_ns - c.onset_ns) / 1e6, 2),
                             "latency_ms": c.latency_ms()})]

    def scored(self, trial_id: str, outcome: str, prompt: str | None) -> CueShown | None:
        """The therapist scored a cue's trial (the session logged it): remember it for the status."""
        for c in ([self.current] if self.current is not None else []) + self.history[::-1]:
            if c.trial_id == trial_id:
                c.outcome, c.prompt = outcome, prompt
                return c
        return None

    def confirm(self, t_ns: int, source: str, device: str = "") -> Record | None:
        """The client tapped / hit a pad: timed from the cue's onset; first one counts."""
        c = self.current
        if c is None:
            return None
        spec = self.cues[c.cue]
        first = spec.confirm and c.confirm_ns is None and t_ns >= c.onset_ns
        if first:
            c.confirm_ns = t_ns
        return Record("response", t_ns, c, actor="client", source=source, device=device, goals=spec.goals,
                      data={"cue": c.cue, "cue_index": c.index, "expected": spec.confirm, "first": first,
                            "latency_ms": round((t_ns - c.onset_ns) / 1e6, 2)})


# ---- live triggers from the therapist's MIDI keyboard ----------------------------------------

@dataclass
class MidiCueMap:
    """Low notes = low, high notes = high, a chord = freeze, named keys for the rest.

    A note waits ``chord_ms`` to see whether it is the start of a chord, so a chord never
    fires its notes' single cues first.
    """

    low_below: int = 48
    high_from: int = 84
    chord_notes: int = 3
    chord_ms: float = 80.0
    chord: str = "freeze"
    low: str = "low"
    high: str = "high"
    notes: dict[int, str] = field(default_factory=dict)
    _held: list[tuple[int, int]] = field(default_factory=list)  # (t_ns, note)

    def note_on(self, note: int, t_ns: int) -> None:
        self._held.append((t_ns, note))

    def due(self, now_ns: int) -> list[tuple[str, int]]:
        """Cues decided by now: (cue, time of the first note)."""
        if not self._held:
            return []
        t0 = self._held[0][0]
        window = int(self.chord_ms * 1e6)
        group = [n for t, n in self._held if t - t0 <= window]
        if len(group) >= self.chord_notes:
            self._held = [(t, n) for t, n in self._held if t - t0 > window]
            return [(self.chord, t0)]
        if now_ns - t0 < window:
            return []
        t, note = self._held.pop(0)
        cue = self.for_note(note)
        return [(cue, t)] if cue else []

    def for_note(self, note: int) -> str | None:
        if note in self.notes:
            return self.notes[note]
        if note < self.low_below:
            return self.low
        if note >= self.high_from:
            return self.high
        return None
