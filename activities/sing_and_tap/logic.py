"""Sing and tap (Auditory-Motor Mapping Training), without pygame: targets, stages, the step
rule, the trial timeline and the judgement of one answer.

AMMT (Wan et al. 2011; Chenausky et al. 2016, 2022): the therapist sings a two-syllable word on
two pitches (high, low) while the child taps two drums tuned to them, one tap per syllable. The
stages go from listening, to singing and tapping in unison, to a model that fades (here: only
the first syllable is sung; the pads still light), to the child alone after the model, to the
child alone without the drums. The published measure is *syllables approximately correct*.

What each stage judges (``STAGE_JUDGES``):

- ``listen``: nothing automatically (the child listens; the therapist may score attention);
- ``unison``: the taps, against the model's syllables (the child's voice is mixed with the
  model's in the microphone, so it is logged but never judged);
- ``fading``: the voice on the syllables the model left out, and every tap;
- ``alone``: the voice on every syllable, and every tap against the child's own syllables;
- ``no_drums``: the voice on every syllable.

A syllable is *approximately correct* when the child produced a syllable in its place (in order)
and the vowel analyzer did not hear, *for sure*, a vowel that is neither the target nor one of
its neighbours on the vowel chart: a consonant cannot be judged from a tablet's microphone, and
a vowel the analyzer is not sure of is never held against the child (nor named to them).

Every time is on the app's one clock: taps from the MIDI callback (or the touch event), the
voice from the microphone's time map, the model from the times its sound was scheduled at.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from prelude_play.errors import ConfigError

MS = 1_000_000
STAGES: tuple[str, ...] = ("listen", "unison", "fading", "alone", "no_drums")
STAGE_JUDGES: dict[str, tuple[bool, bool]] = {  # stage -> (judges the voice, judges the taps)
    "listen": (False, False), "unison": (False, True), "fading": (True, True),
    "alone": (True, True), "no_drums": (True, False),
}
VOWELS: tuple[str, ...] = ("ah", "ee", "oo", "oh", "eh")
# Neighbours on the vowel chart: a child's approximation of the target lands here first.
NEIGHBOURS: dict[str, frozenset[str]] = {
    "ah": frozenset({"oh", "eh"}), "ee": frozenset({"eh"}), "oo": frozenset({"oh"}),
    "oh": frozenset({"ah", "oo"}), "eh": frozenset({"ee", "ah"}),
}
DRUMS = ("low", "high")
RULES = ("auto", "manual")
SOURCES = ("app", "live")
MISSES = frozenset({"not_yet", "no_response"})
NOTE_NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
Phase = Literal["idle", "model", "response", "analysing", "feedback"]


def midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def note_name(note: int) -> str:
    return f"{NOTE_NAMES[note % 12]}{note // 12 - 1}"


def cents(f: float, ref: float) -> float:
    return 1200.0 * math.log2(f / ref)


def slug(text: str) -> str:
    s = unicodedata.normalize("NFD", text.lower())
    s = "".join(c for c in s if unicodedata.category(c) != "Mn")
    return re.sub(r"[^a-z0-9]+", "_", s).strip("_") or "word"


# ----------------------------------------------------------------------------- targets

@dataclass(frozen=True, slots=True)
class Target:
    """A word or phrase to sing: its syllables, their vowels ("" = not judged: a vowel the
    analyzer does not know, e.g. French nasals), their pitches (semitones above the low note)
    and a picture (a name in assets/images, or "" for the word drawn large)."""

    id: str
    word: str
    syllables: tuple[str, ...]
    vowels: tuple[str, ...]
    pitches: tuple[int, ...]
    picture: str = ""
    own: bool = False  # the client's own word (added in the editor)

    @property
    def size(self) -> int:
        return len(self.syllables)

    @property
    def melodic(self) -> bool:
        return len(set(self.pitches)) > 2

    def drums(self, interval: int) -> tuple[str, ...]:
        """Which drum each syllable is tapped on: the high one from half the interval up."""
        return tuple("high" if 2 * p >= interval else "low" for p in self.pitches)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "word": self.word, "syllables": list(self.syllables), "vowels": list(self.vowels),
                "pitches": list(self.pitches), "picture": self.picture, "own": self.own}


def parse_pitch(value: Any, interval: int) -> int:
    if value == "high":
        return interval
    if value == "low":
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 12:
        return value
    raise ValueError(f"pitch {value!r}")


def make_target(entry: dict[str, Any], interval: int, *, own: bool = False) -> Target:
    """One target from a TOML table or a saved own word; ValueError says what is wrong."""
    word = str(entry.get("word", "")).strip()
    syl = entry.get("syllables")
    if not word:
        raise ValueError("no word")
    if not isinstance(syl, list) or not 1 <= len(syl) <= 6 or not all(isinstance(s, str) and s.strip() for s in syl):
        raise ValueError(f"syllables = {syl!r} (a list of 1 to 6 syllables)")
    n = len(syl)
    vowels = entry.get("vowels", [""] * n)
    if not isinstance(vowels, list) or len(vowels) != n or not all(v in VOWELS or v == "" for v in vowels):
        raise ValueError(f"vowels = {vowels!r} (one per syllable: {', '.join(VOWELS)} or \"\")")
    default = ["high" if i % 2 == 0 else "low" for i in range(n)]
    raw = entry.get("pitches", default)
    if not isinstance(raw, list) or len(raw) != n:
        raise ValueError(f"pitches = {raw!r} (one per syllable: high, low or semitones 0-12)")
    pitches = tuple(parse_pitch(p, interval) for p in raw)
    picture = str(entry.get("picture", ""))
    tid = str(entry.get("id") or slug(word))
    return Target(tid, word, tuple(s.strip() for s in syl), tuple(vowels), pitches, picture, own)


def _target_lines(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.strip().startswith("[[target]]")]


def parse_targets(text: str, path: str | Path, interval: int) -> list[Target]:
    """Targets from a TOML text; a ConfigError names the file, the line and what is allowed."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    lines = _target_lines(text)
    out: list[Target] = []
    seen: set[str] = set()
    for i, entry in enumerate(data.get("target", [])):
        where = f"line {lines[i]}" if i < len(lines) else f"target[{i}]"
        try:
            t = make_target(entry, interval)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bad target: {exc}", path=path, key=where,
                              hint="word, syllables, vowels, pitches (high/low or 0-12), picture") from None
        if t.id in seen:
            raise ConfigError(f"target {t.id!r} appears twice", path=path, key=where, hint="give it an id")
        seen.add(t.id)
        out.append(t)
    if not out:
        raise ConfigError("no [[target]] entries", path=path, hint="add at least one target")
    return out


def load_targets(path: Path, interval: int) -> list[Target]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read targets: {exc}", path=path) from None
    return parse_targets(text, path, interval)


def guess_vowel(syllable: str) -> str:
    """A first guess at a typed syllable's vowel from its spelling (the therapist can change it):
    "" when the spelling says nothing the analyzer knows."""
    s = unicodedata.normalize("NFD", syllable.lower())
    s = "".join(c for c in s if unicodedata.category(c) != "Mn")
    for pat, v in (("oo", "oo"), ("ou", "oo"), ("ee", "ee"), ("ea", "ee"), ("ai", "eh"), ("ay", "eh"),
                   ("au", "oh"), ("eau", "oh"), ("ow", "oh"), ("oa", "oh"), ("or", "oh"), ("ah", "ah"),
                   ("a", "ah"), ("i", "ee"), ("y", "ee"), ("o", "oh"), ("u", "oo"), ("e", "eh")):
        if pat in s:
            return v
    return ""


def own_target(text: str, interval: int, picture: str = "") -> Target:
    """A client's own word typed by the therapist: syllables split at "-" or spaces ("all done",
    "Ma-ya"), vowels guessed from the spelling, pitches high/low alternating."""
    parts = [p for p in re.split(r"[-\s·]+", text.strip()) if p]
    if not parts:
        raise ValueError("type the word, with its syllables split by - or spaces")
    word = " ".join(parts) if " " in text.strip() else "".join(parts)
    return make_target({"id": "own_" + slug(word), "word": word, "syllables": parts,
                        "vowels": [guess_vowel(p) for p in parts], "picture": picture}, interval, own=True)


# ----------------------------------------------------------------------------- settings

@dataclass(frozen=True, slots=True)
class SingSettings:
    """Validated settings (defaults.toml merged with the client's overrides)."""

    stage: str = "listen"
    stage_rule: str = "auto"
    up_after: int = 3
    down_after: int = 2
    listen_trials: int = 2
    model_source: str = "app"
    low_note: int = 64  # E4, 330 Hz: a child's range; the high drum a minor third up (sol-mi)
    interval: int = 3
    syllable_ms: int = 550
    gap_ms: int = 150
    response_window_ms: int = 3500
    per_syllable_ms: int = 600  # added to the window for each syllable beyond two
    tail_ms: int = 700  # after the last beat of a model the child sings with
    echo_guard_ms: int = 120
    tap_window_ms: int = 400
    fading_gain: float = 0.6
    feedback_ms: int = 2200
    between_ms: int = 1500
    auto_next: bool = True
    settle_ms: int = 150
    analysis_timeout_ms: int = 3000  # no result from the microphone's worker by then: no audio

    @classmethod
    def from_config(cls, c: dict[str, Any]) -> "SingSettings":
        d = cls()

        def num(key: str, lo: float, hi: float, kind: type = int) -> Any:
            v = c.get(key, getattr(d, key))
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise ConfigError(f"{key} = {v!r}", key=f"sing_and_tap.{key}", hint=f"a number from {lo} to {hi}")
            return kind(v)

        def choice(key: str, options: tuple[str, ...]) -> str:
            v = str(c.get(key, getattr(d, key)))
            if v not in options:
                raise ConfigError(f"{key} = {v!r}", key=f"sing_and_tap.{key}", hint=", ".join(options))
            return v

        return cls(stage=choice("stage", STAGES), stage_rule=choice("stage_rule", RULES),
                   up_after=num("up_after", 1, 20), down_after=num("down_after", 1, 20),
                   listen_trials=num("listen_trials", 1, 20), model_source=choice("model_source", SOURCES),
                   low_note=num("low_note", 40, 84), interval=num("interval", 1, 12),
                   syllable_ms=num("syllable_ms", 250, 2000), gap_ms=num("gap_ms", 0, 1500),
                   response_window_ms=num("response_window_ms", 1000, 30000),
                   per_syllable_ms=num("per_syllable_ms", 0, 5000), tail_ms=num("tail_ms", 0, 5000),
                   echo_guard_ms=num("echo_guard_ms", 0, 1000), tap_window_ms=num("tap_window_ms", 50, 3000),
                   fading_gain=num("fading_gain", 0.0, 1.0, float), feedback_ms=num("feedback_ms", 300, 20000),
                   between_ms=num("between_ms", 0, 20000), auto_next=bool(c.get("auto_next", d.auto_next)),
                   settle_ms=num("settle_ms", 0, 2000),
                   analysis_timeout_ms=num("analysis_timeout_ms", 500, 30000))

    def note(self, pitch: int) -> int:
        return self.low_note + pitch


# ----------------------------------------------------------------------------- the step rule

@dataclass
class StageLadder:
    """The therapist's step rule: ``up_after`` successes in a row at a stage move up one,
    ``down_after`` misses in a row move down one (``listen`` moves up after ``listen_trials``
    presentations); ``manual``: only the therapist moves it. Outcomes are the trials' effective
    ones (a therapist score replaces the judgement it supersedes); a stage change starts a new
    run, so a late correction never moves the stage twice."""

    stage: str
    rule: str = "auto"
    up_after: int = 3
    down_after: int = 2
    listen_trials: int = 2
    runs: list[list[Any]] = field(default_factory=list)  # [trial id, outcome | None] since the change

    def presented(self, trial_id: str) -> None:
        self.runs.append([trial_id, None])

    def record(self, trial_id: str, outcome: str | None) -> int:
        """The trial's effective outcome is now ``outcome``: returns -1, 0 or +1 (the step taken)."""
        for r in self.runs:
            if r[0] == trial_id:
                r[1] = outcome
                break
        else:
            return 0
        return self.evaluate()

    def evaluate(self) -> int:
        if self.rule != "auto":
            return 0
        i = STAGES.index(self.stage)
        if self.stage == "listen":
            step = 1 if len(self.runs) >= self.listen_trials else 0
        else:
            done = [o for _, o in self.runs if o is not None]
            step = 0
            if len(done) >= self.up_after and all(o == "success" for o in done[-self.up_after:]):
                step = 1
            elif len(done) >= self.down_after and all(o in MISSES for o in done[-self.down_after:]):
                step = -1
        j = max(0, min(len(STAGES) - 1, i + step))
        if j == i:
            return 0
        self.set(STAGES[j])
        return j - i

    def set(self, stage: str) -> None:
        self.stage = stage
        self.runs = []


# ----------------------------------------------------------------------------- observations

@dataclass(frozen=True, slots=True)
class Tap:
    """One drum stroke: its time (the MIDI callback's or the touch event's), which drum."""

    t_ns: int
    drum: str
    source: str = "midi"
    note: int | None = None
    velocity: int = 100
    device: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"t_ns": self.t_ns, "drum": self.drum, "source": self.source, "note": self.note,
                "velocity": self.velocity, "device": self.device}


@dataclass(frozen=True, slots=True)
class Heard:
    """One syllable the microphone heard, its times on the app clock."""

    onset_ns: int
    end_ns: int
    f0: float
    vowel: str  # the analyzer's guess; never used when ``abstained``
    abstained: bool
    confidence: float = 0.0
    level_dbfs: float = -120.0
    f1: float = 0.0
    f2: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Heard":
        return cls(int(d["onset_ns"]), int(d["end_ns"]), float(d.get("f0", 0.0)), str(d.get("vowel") or ""),
                   bool(d.get("abstained", True)), float(d.get("confidence", 0.0)),
                   float(d.get("level_dbfs", -120.0)), float(d.get("f1", 0.0)), float(d.get("f2", 0.0)))


# ----------------------------------------------------------------------------- judging

@dataclass
class Judgement:
    outcome: str
    judged_on: str  # voice | taps
    figures: dict[str, Any]
    syllables: list[dict[str, Any]]

    def as_data(self) -> dict[str, Any]:
        return {"judged_on": self.judged_on, **self.figures, "per_syllable": self.syllables}


def pitch_class(f0: float, notes_hz: dict[int, float]) -> tuple[int, float]:
    """The target note nearest ``f0`` with octaves folded around the target's own range (a child
    an octave up is on pitch), and the cents from it."""
    centre = math.exp(sum(math.log(h) for h in notes_hz.values()) / len(notes_hz))
    f = f0 * 2.0 ** round(math.log2(centre / f0))
    best = min(notes_hz, key=lambda p: abs(cents(f, notes_hz[p])))
    return best, cents(f, notes_hz[best])


def judge(target: Target, stage: str, s: SingSettings, heard: list[Heard] | None, taps: list[Tap],
          beats_ns: tuple[int, ...], voice_from: int = 0) -> Judgement | None:
    """Judge one answer. ``heard`` None: no microphone (nothing to judge the voice on);
    ``voice_from``: the first syllable the voice is judged on (the fading model sang those
    before it). None when the stage judges nothing automatically, or judges the voice and
    there is no microphone."""
    voice_on, taps_on = STAGE_JUDGES[stage]
    if not voice_on and not taps_on:
        return None
    if voice_on and heard is None:
        return None
    n = target.size
    drums = target.drums(s.interval)
    notes_hz = {p: midi_to_hz(s.note(p)) for p in set(target.pitches)}
    expect = list(range(voice_from, n)) if voice_on else []
    voice = list(heard or [])
    per: list[dict[str, Any]] = []
    slot: dict[int, Heard] = {i: voice[k] for k, i in enumerate(expect) if k < len(voice)}
    extra = max(0, len(voice) - len(expect)) if voice_on else 0
    approx = vowels_judged = vowels_ok = not_sure = pitch_judged = pitch_ok = 0
    used: set[int] = set()
    asyncs: list[float] = []
    drums_ok = taps_matched = 0
    for i in range(n):
        h = slot.get(i)
        row: dict[str, Any] = {"i": i, "syllable": target.syllables[i], "target_vowel": target.vowels[i] or None,
                               "target_note": s.note(target.pitches[i]), "drum": drums[i],
                               "judged": i in expect, "heard": h is not None}
        if h is not None:
            sure = not h.abstained and bool(h.vowel)
            tv = target.vowels[i]
            vowel_ok = (h.vowel == tv) if (sure and tv) else None
            near = (not sure) or (not tv) or h.vowel == tv or h.vowel in NEIGHBOURS.get(tv, frozenset())
            row.update(onset_ns=h.onset_ns, end_ns=h.end_ns, f0=round(h.f0, 2) if h.f0 else None,
                       vowel=h.vowel if sure else None, not_sure=not sure, vowel_ok=vowel_ok,
                       approx_correct=bool(near))
            approx += bool(near)
            if tv:
                if sure:
                    vowels_judged += 1
                    vowels_ok += bool(vowel_ok)
                else:
                    not_sure += 1
            if h.f0 > 0:
                got, off = pitch_class(h.f0, notes_hz)
                ok = (2 * got >= s.interval) == (drums[i] == "high") if not target.melodic else got == target.pitches[i]
                row.update(pitch_heard=s.note(got), cents_off=round(off, 1), pitch_ok=bool(ok))
                pitch_judged += 1
                pitch_ok += bool(ok)
        elif i in expect:
            row["approx_correct"] = False
        # the tap for this syllable: nearest to the child's own onset, else to the model's beat
        ref_ns, ref = (h.onset_ns, "voice") if h is not None else \
            ((beats_ns[i], "model") if i < len(beats_ns) and stage in ("unison", "fading") else (None, None))
        if taps_on and ref_ns is not None:
            cands = [(abs(tp.t_ns - ref_ns), k) for k, tp in enumerate(taps)
                     if k not in used and abs(tp.t_ns - ref_ns) <= s.tap_window_ms * MS]
            if cands:
                _, k = min(cands)
                used.add(k)
                tp = taps[k]
                a = (tp.t_ns - ref_ns) / MS
                row["tap"] = {"t_ns": tp.t_ns, "drum": tp.drum, "drum_ok": tp.drum == drums[i],
                              "async_ms": round(a, 2), "to": ref, "source": tp.source}
                asyncs.append(a)
                taps_matched += 1
                drums_ok += tp.drum == drums[i]
        per.append(row)
    m = len(expect)
    figures: dict[str, Any] = {
        "stage": stage, "target": target.id, "word": target.word,
        "syllables_target": n, "syllables_judged": m,
        "syllables_heard": len(voice) if voice_on else None,
        "extra_syllables": extra, "count_exact": (len(voice) == m) if voice_on else None,
        "approx_correct": approx if voice_on else None,
        "pct_approx_correct": round(100.0 * approx / m, 1) if voice_on and m else None,
        "vowels_judged": vowels_judged, "vowels_correct": vowels_ok, "vowels_not_sure": not_sure,
        "pitch_judged": pitch_judged, "pitch_correct": pitch_ok,
        "taps": len(taps), "taps_matched": taps_matched, "drums_correct": drums_ok,
        "async_ms": [round(a, 2) for a in asyncs],
        "mean_abs_async_ms": round(sum(abs(a) for a in asyncs) / len(asyncs), 2) if asyncs else None,
        "voice_from": voice_from,
    }
    if voice_on:
        if not voice and not taps:
            outcome = "no_response"
        elif m and approx == m and len(voice) == m:
            outcome = "success"
        elif m and 2 * approx >= m and approx > 0:
            outcome = "partial"
        else:
            outcome = "not_yet"
        return Judgement(outcome, "voice", figures, per)
    ok = sum(1 for r in per if r.get("tap", {}).get("drum_ok"))
    if not taps and not voice:
        outcome = "no_response"
    elif ok == n:
        outcome = "success"
    elif ok and 2 * ok >= n:
        outcome = "partial"
    else:
        outcome = "not_yet"
    return Judgement(outcome, "taps", figures, per)


# ----------------------------------------------------------------------------- the trial timeline

@dataclass
class Presentation:
    """One trial: the model (sung by the app or the therapist, the pads lit on its beats) and the
    window the answer is collected in. Times on the app clock."""

    n: int
    target: Target
    stage: str
    source: str
    start_ns: int
    beats_ns: tuple[int, ...]  # each syllable's vowel onset (where a tap is due)
    ends_ns: tuple[int, ...]  # each syllable's end
    model_end_ns: int
    sung: tuple[bool, ...]  # which syllables the model sings (fading: the first only)
    window_start_ns: int
    window_end_ns: int
    voice_from: int = 0
    voice_start_ns: int | None = None  # where the voice analysis starts (None: voice not judged)
    drums: tuple[str, ...] = ()
    taps: list[Tap] = field(default_factory=list)
    heard: list[Heard] | None = None
    voice_log: dict[str, Any] = field(default_factory=dict)
    judgement: Judgement | None = None
    trial_id: str | None = None
    sound: str | None = None
    scored: str | None = None  # the therapist's outcome (shown as the result)
    done_reason: str = "response"

    @property
    def lights(self) -> list[tuple[int, int, str]]:
        """(on, off, drum) for each syllable's pad light."""
        return [(b, e, d) for b, e, d in zip(self.beats_ns, self.ends_ns, self.drums)]

    @property
    def outcome(self) -> str | None:
        return self.scored or (self.judgement.outcome if self.judgement else None)

    def as_data(self) -> dict[str, Any]:
        return {"n": self.n, "stage": self.stage, "target": self.target.id, "word": self.target.word,
                "source": self.source, "start_ns": self.start_ns, "beats_ns": list(self.beats_ns),
                "model_end_ns": self.model_end_ns, "sung": list(self.sung),
                "window_start_ns": self.window_start_ns, "window_end_ns": self.window_end_ns,
                "voice_start_ns": self.voice_start_ns, "taps": [t.as_dict() for t in self.taps],
                "heard": [{"onset_ns": h.onset_ns, "end_ns": h.end_ns, "f0": round(h.f0, 2),
                           "vowel": h.vowel if not h.abstained else None, "not_sure": h.abstained,
                           "confidence": round(h.confidence, 3), "level_dbfs": round(h.level_dbfs, 1),
                           "f1": round(h.f1, 1), "f2": round(h.f2, 1)} for h in (self.heard or [])],
                "voice_analysed": self.heard is not None, **({"voice": self.voice_log} if self.voice_log else {})}


def plan(n: int, target: Target, stage: str, source: str, s: SingSettings, start_ns: int,
         onsets_s: tuple[float, ...], model_seconds: float) -> Presentation:
    """The timeline of one trial from its model's syllable onsets (s from ``start_ns``)."""
    beats = tuple(start_ns + int(o * 1e9) for o in onsets_s)
    ends = tuple(b + s.syllable_ms * MS for b in beats)
    model_end = start_ns + int(model_seconds * 1e9)
    size = target.size
    sung = tuple(True for _ in range(size)) if stage != "fading" else tuple(i == 0 for i in range(size))
    window_ms = s.response_window_ms + s.per_syllable_ms * max(0, size - 2)
    voice_from = 0
    voice_start: int | None = None
    if stage in ("unison", "fading"):
        w0, w1 = start_ns - 300 * MS, ends[-1] + s.tail_ms * MS
        if stage == "fading":
            voice_from = 1 if size > 1 else 0
            # after the model's one syllable has died away (its echo is not the child)
            voice_start = (ends[0] + s.echo_guard_ms * MS) if size > 1 else model_end + s.echo_guard_ms * MS
    elif stage == "listen":
        w0, w1 = start_ns, model_end
    else:
        w0 = model_end + s.echo_guard_ms * MS
        w1 = w0 + window_ms * MS
        voice_start = w0
    return Presentation(n, target, stage, source, start_ns, beats, ends, model_end, sung, w0, w1,
                        voice_from, voice_start, target.drums(s.interval))


class SingMachine:
    """Phases: idle → model (the model plays, pads light) → response (the window) → analysing
    (the microphone's worker reads the window) → feedback → idle. Listen trials end with the
    model. Pure: every method takes times on the app clock."""

    def __init__(self, s: SingSettings, *, mic: bool = True) -> None:
        self.s = s
        self.mic = mic
        self.phase: Phase = "idle"
        self.phase_ns = 0
        self.trial = 0
        self.current: Presentation | None = None
        self.last: Presentation | None = None
        self.finished: list[Presentation] = []
        self.next_ns: int | None = None

    def begin(self, p: Presentation, now_ns: int) -> Presentation:
        self.abandon(now_ns)
        self.trial = p.n
        self.current = p
        self.next_ns = None
        self.phase, self.phase_ns = "model", now_ns
        return p

    def abandon(self, now_ns: int) -> None:
        """A new model while an answer is open: close what is there first (judged on what was
        heard; the worker's result for it is dropped)."""
        p = self.current
        if p is not None and self.phase in ("model", "response", "analysing"):
            p.done_reason = "interrupted"
            self._finish(now_ns)
        if self.phase == "feedback":
            self.phase, self.phase_ns = "idle", now_ns

    def tap(self, t: Tap) -> bool:
        """A stroke: part of the open trial if it falls in its window (by its own time)."""
        p = self.current
        if p is None or self.phase not in ("model", "response", "analysing"):
            return False
        if not STAGE_JUDGES[p.stage][1] and p.stage != "listen":
            p.taps.append(t)  # logged with the trial; not judged (no drums at this stage)
            return True
        if p.window_start_ns - self.s.tap_window_ms * MS <= t.t_ns <= p.window_end_ns:
            p.taps.append(t)
            return True
        return False

    def needs_voice(self, p: Presentation | None = None) -> bool:
        p = p or self.current
        return p is not None and self.mic and p.voice_start_ns is not None

    def end_window(self, now_ns: int) -> None:
        """The therapist scored (or moved on): the window ends now."""
        p = self.current
        if p is not None and self.phase in ("model", "response"):
            p.window_end_ns = min(p.window_end_ns, max(now_ns, p.voice_start_ns or now_ns))
            self.phase, self.phase_ns = ("analysing" if self.needs_voice() else "response"), now_ns
            if not self.needs_voice():
                self._finish(now_ns)

    def voice(self, heard: list[Heard], log: dict[str, Any]) -> None:
        """The worker's syllables for the current window."""
        p = self.current
        if p is None or self.phase not in ("response", "analysing", "model"):
            return
        p.heard = heard
        p.voice_log = log
        if self.phase == "analysing":
            self._finish(self.phase_ns)

    def update(self, now_ns: int) -> None:
        p, s = self.current, self.s
        if self.phase == "model" and p is not None:
            if p.stage == "listen" and now_ns >= p.model_end_ns:
                p.done_reason = "listened"
                self._finish(now_ns)
            elif now_ns >= min(p.model_end_ns, p.window_end_ns) or p.stage in ("unison", "fading"):
                self.phase, self.phase_ns = "response", now_ns
        if self.phase == "response" and p is not None and now_ns >= p.window_end_ns + s.settle_ms * MS:
            if self.needs_voice():
                self.phase, self.phase_ns = "analysing", now_ns
                if p.heard is not None:
                    self._finish(now_ns)
            else:
                self._finish(now_ns)
        if self.phase == "analysing" and p is not None and now_ns >= p.window_end_ns + s.analysis_timeout_ms * MS:
            p.done_reason = "no_audio"  # the microphone stopped delivering: the therapist judges
            self._finish(now_ns)
        if self.phase == "feedback" and self.last is not None and now_ns - self.phase_ns >= s.feedback_ms * MS:
            self.phase, self.phase_ns = "idle", now_ns
            if s.auto_next and self.next_ns is None:
                self.next_ns = now_ns + s.between_ms * MS

    def _finish(self, now_ns: int) -> None:
        p = self.current
        assert p is not None
        self.current = None
        self.last = p
        self.finished.append(p)
        self.phase, self.phase_ns = "feedback", now_ns

    def take_finished(self) -> list[Presentation]:
        out, self.finished = self.finished, []
        return out


def summarize(trials: Iterable[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (target, stage), from trials read back from the log (``store.trials.Trial``): trials,
    syllables approximately correct / judged, vowels correct / judged, mean |tap - voice| (ms).
    What the session note and the progress report print."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for x in trials:
        if getattr(x, "activity", "") != "sing_and_tap" or getattr(x, "opportunity", "") != "model":
            continue
        d = x.judgement_data or {}
        key = (str(x.data.get("word") or x.data.get("target") or "?"), str(x.data.get("stage") or "?"))
        row = out.setdefault(key, {"trials": 0, "approx": 0, "judged": 0, "vowels_ok": 0, "vowels": 0,
                                   "async": [], "success": 0})
        row["trials"] += 1
        row["success"] += x.outcome == "success"
        if d.get("approx_correct") is not None:
            row["approx"] += int(d["approx_correct"])
            row["judged"] += int(d.get("syllables_judged") or 0)
        row["vowels_ok"] += int(d.get("vowels_correct") or 0)
        row["vowels"] += int(d.get("vowels_judged") or 0)
        row["async"] += [abs(float(a)) for a in d.get("async_ms") or []]
    return out


__all__ = ["STAGES", "STAGE_JUDGES", "VOWELS", "NEIGHBOURS", "Target", "make_target", "parse_targets",
           "load_targets", "own_target", "guess_vowel", "SingSettings", "StageLadder", "Tap", "Heard",
           "Judgement", "judge", "pitch_class", "Presentation", "plan", "SingMachine", "summarize",
           "midi_to_hz", "note_name", "MS"]
