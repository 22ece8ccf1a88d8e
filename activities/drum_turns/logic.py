"""Drum turn-taking, pure logic: whose turn it is, what the model was, how the copy compares.

No pygame, no audio, no clock of its own: every method takes times (ns, on the app's one
clock) and hits stamped where they happened (the MIDI callback's ``t_ns``, the touch event's),
so whole exchanges are tested with exact numbers. Phase changes are a function of time, and a
hit first advances the state machine to its OWN timestamp before it is classified, so a hit
that reaches the frame loop late still lands in the turn it was played in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from prelude_play.config import load_toml
from prelude_play.errors import ConfigError, brief

NS_PER_MS = 1_000_000
# Time-based phase changes wait this long after their moment, so a hit stamped just before a
# boundary but queued just after it is still classified by its own time.
LATE_GUARD_NS = 30 * NS_PER_MS
PHASES = ("idle", "count_in", "therapist", "client", "together", "feedback")
MODES = ("echo", "together")
SOURCES = ("pattern", "therapist")
OUTCOMES = ("success", "partial", "not_yet", "no_response")


# ---- hits, patterns, levels -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Hit:
    """One stroke: the time it was played (not the frame it was seen), how hard, by whom."""

    t_ns: int
    velocity: int = 100
    actor: str = "client"  # client | therapist | app (a pattern the app played)
    source: str = "midi"  # midi | touch | key | pattern
    device: str = ""
    note: int | None = None

    def as_dict(self, t0_ns: int) -> dict[str, Any]:
        return {"t_ns": self.t_ns, "t_ms": round((self.t_ns - t0_ns) / NS_PER_MS, 3),
                "velocity": self.velocity, "actor": self.actor, "source": self.source,
                "device": self.device, "note": self.note}


@dataclass(frozen=True, slots=True)
class Pattern:
    """A model rhythm: onsets in beats from the start of the turn; the turn lasts ``beats``."""

    name: str
    level: int
    beats: int
    onsets: tuple[float, ...]
    velocities: tuple[int, ...]

    def times_ns(self, start_ns: int, period_ns: int) -> list[int]:
        return [start_ns + round(o * period_ns) for o in self.onsets]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "level": self.level, "beats": self.beats,
                "onsets_beats": list(self.onsets), "velocities": list(self.velocities)}


@dataclass(frozen=True, slots=True)
class LevelSpec:
    """How strict a level is: the ± on-time window around the beat, and the IOI error
    (percent) a copy may have when no pulse plays."""

    level: int
    window_ms: float
    ioi_tolerance_pct: float


@dataclass(frozen=True)
class Library:
    levels: dict[int, LevelSpec]
    patterns: dict[int, tuple[Pattern, ...]]

    @property
    def lowest(self) -> int:
        return min(self.levels)

    @property
    def highest(self) -> int:
        return max(self.levels)

    def spec(self, level: int) -> LevelSpec:
        return self.levels[max(self.lowest, min(self.highest, level))]

    def pick(self, level: int, index: int) -> Pattern:
        """The ``index``-th pattern of a level, cycling (deterministic, so sessions replay)."""
        pats = self.patterns[max(self.lowest, min(self.highest, level))]
        return pats[index % len(pats)]


def parse_library(data: dict[str, Any], path: str | Path = "patterns.toml") -> Library:
    """Levels and patterns from TOML data; a ConfigError names the entry and what is allowed."""
    levels: dict[int, LevelSpec] = {}
    raw_levels, raw_patterns = data.get("level", []), data.get("pattern", [])
    if not isinstance(raw_levels, list) or not isinstance(raw_patterns, list) or len(raw_patterns) > 1000:
        raise ConfigError("levels and patterns must be [[level]] and [[pattern]] tables (at most 1000)",
                          path=path, hint="see the shipped activities/drum_turns/patterns.toml")
    for i, entry in enumerate(raw_levels):
        key = f"level[{i}]"
        try:
            lv = int(entry["level"])
            win = float(entry["window_ms"])
            tol = float(entry.get("ioi_tolerance_pct", 15.0))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ConfigError(f"bad level entry ({brief(str(exc))})", path=path, key=key,
                              hint="each [[level]] needs level = N and window_ms = ms") from None
        if not 1 <= lv <= 20 or not 1.0 <= win <= 1000.0 or not 0.0 < tol <= 100.0:
            raise ConfigError(f"level {lv}: window_ms {win} / ioi_tolerance_pct {tol} out of range",
                              path=path, key=key, hint="level 1–20, window_ms 1–1000, tolerance 0–100")
        levels[lv] = LevelSpec(lv, win, tol)
    if not levels:
        raise ConfigError("no [[level]] entries", path=path, hint="define at least one level")
    pats: dict[int, list[Pattern]] = {lv: [] for lv in levels}
    for i, entry in enumerate(raw_patterns):
        key = f"pattern[{i}]"
        try:
            name = str(entry["name"])
            lv = int(entry["level"])
            beats = int(entry["beats"])
            onsets = tuple(float(o) for o in entry["onsets"])
            vels = tuple(int(v) for v in entry.get("velocities", [100] * len(onsets)))
            if len(onsets) > 64 or not all(math.isfinite(o) for o in onsets):
                raise ValueError("at most 64 finite onsets")
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ConfigError(f"bad pattern entry ({brief(str(exc))})", path=path, key=key,
                              hint="each [[pattern]] needs name, level, beats, onsets") from None
        if lv not in levels:
            raise ConfigError(f"pattern {name!r} uses level {lv}, which has no [[level]]", path=path, key=key)
        if not 1 <= beats <= 8:
            raise ConfigError(f"pattern {name!r}: beats = {beats}", path=path, key=key,
                              hint="1 beat to 2 bars of 4 (1–8)")
        if not onsets or list(onsets) != sorted(set(onsets)) or onsets[0] < 0 or onsets[-1] >= beats:
            raise ConfigError(f"pattern {name!r}: onsets {list(onsets)}", path=path, key=key,
                              hint=f"increasing beat positions from 0 and below {beats}")
        if len(vels) != len(onsets) or not all(1 <= v <= 127 for v in vels):
            raise ConfigError(f"pattern {name!r}: velocities {list(vels)}", path=path, key=key,
                              hint="one velocity 1–127 per onset")
        pats[lv].append(Pattern(name, lv, beats, onsets, vels))
    empty = [lv for lv, p in pats.items() if not p]
    if empty:
        raise ConfigError(f"level(s) {empty} have no patterns", path=path, hint="add a [[pattern]] for each level")
    return Library(dict(sorted(levels.items())), {lv: tuple(p) for lv, p in sorted(pats.items())})


def load_library(path: Path) -> Library:
    """Read a patterns file: every problem (unreadable, too big, bad TOML, bad entries) is a
    ConfigError naming it."""
    data, _text = load_toml(path)
    return parse_library(data, path)


# ---- judging -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BeatOffset:
    """One expected stroke against the beat: the hit matched to it and how far off it was."""

    expected_ns: int
    hit_ns: int | None
    offset_ms: float | None
    verdict: str  # on_time | early | late | missed


@dataclass(frozen=True)
class Judgement:
    expected_hits: int
    hits: int
    count_ok: bool
    model_iois_ms: tuple[float, ...]
    copy_iois_ms: tuple[float, ...]
    ioi_errors_ms: tuple[float, ...]
    ioi_errors_pct: tuple[float, ...]
    mean_abs_ioi_error_ms: float | None
    mean_abs_ioi_error_pct: float | None
    tempo_ratio: float | None  # copy span / model span: > 1 slower, < 1 faster
    tempo_drift_pct: float | None  # change of copy/model IOI ratio per interval (least squares), %
    model_velocities: tuple[int, ...]
    velocities: tuple[int, ...]
    contour_match: float | None  # share of up/down/level steps that agree with the model
    velocity_ratio: float | None  # mean copy velocity / mean model velocity
    beat_offsets: tuple[BeatOffset, ...]
    extra_hits: int
    on_time: int
    early: int
    late: int
    missed: int
    mean_offset_ms: float | None
    response_latency_ms: float | None
    window_ms: float
    score: float
    outcome: str
    cue: str  # on_time | early | late | faster | slower | count | try_again | great

    @property
    def success(self) -> bool:
        return self.outcome == "success"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["beat_offsets"] = [asdict(b) for b in self.beat_offsets]
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


def _ms(ns: float) -> float:
    return round(ns / NS_PER_MS, 3)


def _slope(ys: Sequence[float]) -> float:
    n = len(ys)
    mx = (n - 1) / 2
    my = sum(ys) / n
    den = sum((i - mx) ** 2 for i in range(n))
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / den


def _directions(vels: Sequence[int], tol: int) -> list[int]:
    return [0 if abs(b - a) <= tol else (1 if b > a else -1) for a, b in zip(vels, vels[1:])]


def match_beats(expected_ns: Sequence[int], hits_ns: Sequence[int], *, reach_ns: int,
                window_ms: float) -> tuple[list[BeatOffset], int]:
    """Pair each expected stroke with the nearest unused hit within ``reach_ns``; the rest of
    the hits are extra. Returns (offsets in expected order, number of extra hits)."""
    used: set[int] = set()
    out: list[BeatOffset] = []
    for e in expected_ns:
        best, best_d = None, None
        for i, h in enumerate(hits_ns):
            d = abs(h - e)
            if i not in used and d <= reach_ns and (best_d is None or d < best_d):
                best, best_d = i, d
        if best is None:
            out.append(BeatOffset(e, None, None, "missed"))
            continue
        used.add(best)
        off = _ms(hits_ns[best] - e)
        verdict = "on_time" if abs(off) <= window_ms else ("early" if off < 0 else "late")
        out.append(BeatOffset(e, hits_ns[best], off, verdict))
    return out, len(hits_ns) - len(used)


def judge(model: Sequence[Hit], copy: Sequence[Hit], *, model_end_ns: int | None, spec: LevelSpec,
          expected_ns: Sequence[int] | None = None, period_ns: int | None = None,
          success_score: float = 0.75, partial_score: float = 0.4, velocity_tol: int = 8) -> Judgement:
    """Compare a copy with its model.

    ``expected_ns`` (when a pulse plays) are the beat positions the copy should land on; each
    hit then gets an early/late offset against them and the ±``spec.window_ms`` window decides
    on-time. Without a pulse the copy is judged by its inter-onset intervals against the model's
    (within ``spec.ioi_tolerance_pct``). Latency is from the end of the model (its last stroke)
    to the first hit.
    """
    m_t = [h.t_ns for h in model]
    c_t = [h.t_ns for h in copy]
    n_exp = len(expected_ns) if expected_ns is not None else len(model)
    m_ioi = [b - a for a, b in zip(m_t, m_t[1:])]
    c_ioi = [b - a for a, b in zip(c_t, c_t[1:])]
    k = min(len(m_ioi), len(c_ioi))
    err = [c_ioi[i] - m_ioi[i] for i in range(k)]
    pct = [100.0 * err[i] / m_ioi[i] for i in range(k)]
    ratio = drift = None
    if k:
        ratio = round(sum(c_ioi[:k]) / sum(m_ioi[:k]), 4)
    if k >= 2:
        drift = round(100.0 * _slope([c_ioi[i] / m_ioi[i] for i in range(k)]), 3)
    m_vel = tuple(h.velocity for h in model)
    c_vel = tuple(h.velocity for h in copy)
    kv = min(len(m_vel), len(c_vel))
    contour = None
    if kv >= 2:
        md, cd = _directions(m_vel[:kv], velocity_tol), _directions(c_vel[:kv], velocity_tol)
        contour = round(sum(a == b for a, b in zip(md, cd)) / len(md), 3)
    vratio = round((sum(c_vel) / len(c_vel)) / (sum(m_vel) / len(m_vel)), 3) if c_vel and m_vel else None

    offsets: list[BeatOffset] = []
    extra = 0
    if expected_ns is not None and expected_ns:
        gaps = [b - a for a, b in zip(expected_ns, expected_ns[1:])]
        reach = min(gaps) // 2 if gaps else (period_ns or 1_000_000_000) // 2
        offsets, extra = match_beats(expected_ns, c_t, reach_ns=reach, window_ms=spec.window_ms)
    counts = {v: sum(1 for o in offsets if o.verdict == v) for v in ("on_time", "early", "late", "missed")}
    matched = [o.offset_ms for o in offsets if o.offset_ms is not None]
    mean_off = round(sum(matched) / len(matched), 3) if matched else None
    latency = _ms(c_t[0] - model_end_ns) if c_t and model_end_ns is not None else None

    count_ok = len(copy) == n_exp
    if not copy:
        score = 0.0
    elif expected_ns is not None and expected_ns:
        score = counts["on_time"] / (len(expected_ns) + extra)
    else:
        count_score = min(len(copy), n_exp) / max(len(copy), n_exp, 1)
        ok = sum(1 for p in pct if abs(p) <= spec.ioi_tolerance_pct)
        score = count_score * (ok / len(m_ioi) if m_ioi else 1.0)
    score = round(score, 4)
    if not copy:
        outcome = "no_response"
    elif score >= success_score:
        outcome = "success"
    elif score >= partial_score:
        outcome = "partial"
    else:
        outcome = "not_yet"

    if not copy:
        cue = "try_again"
    elif expected_ns:
        if counts["on_time"] * 2 >= len(matched) and matched:
            cue = "on_time"
        elif mean_off is None:
            cue = "count"
        else:
            cue = "early" if mean_off < 0 else "late"
    elif not count_ok:
        cue = "count"
    elif ratio is not None and abs(ratio - 1.0) * 100 > spec.ioi_tolerance_pct:
        cue = "faster" if ratio < 1.0 else "slower"
    else:
        cue = "great"
    return Judgement(
        expected_hits=n_exp, hits=len(copy), count_ok=count_ok,
        model_iois_ms=tuple(_ms(x) for x in m_ioi), copy_iois_ms=tuple(_ms(x) for x in c_ioi),
        ioi_errors_ms=tuple(_ms(x) for x in err), ioi_errors_pct=tuple(round(p, 3) for p in pct),
        mean_abs_ioi_error_ms=_ms(sum(abs(e) for e in err) / k) if k else None,
        mean_abs_ioi_error_pct=round(sum(abs(p) for p in pct) / k, 3) if k else None,
        tempo_ratio=ratio, tempo_drift_pct=drift, model_velocities=m_vel, velocities=c_vel,
        contour_match=contour, velocity_ratio=vratio, beat_offsets=tuple(offsets), extra_hits=extra,
        on_time=counts["on_time"], early=counts["early"], late=counts["late"], missed=counts["missed"],
        mean_offset_ms=mean_off, response_latency_ms=latency, window_ms=spec.window_ms, score=score,
        outcome=outcome, cue=cue)


# ---- adaptive level ----------------------------------------------------------------------

@dataclass
class AdaptiveLevel:
    """Level follows recent success: up after ``up_after`` successes in a row, down after
    ``down_after`` misses (not yet / no response) in a row; a partial copy resets the run.
    A locked level still counts, so unlocking continues from an honest run."""

    level: int
    lowest: int = 1
    highest: int = 6
    up_after: int = 3
    down_after: int = 2
    locked: bool = False
    run: int = 0  # > 0: successes in a row; < 0: misses in a row

    def record(self, outcome: str) -> int:
        """Count one client turn; returns the level change (-1, 0, +1)."""
        if outcome == "success":
            self.run = self.run + 1 if self.run > 0 else 1
        elif outcome in ("not_yet", "no_response"):
            self.run = self.run - 1 if self.run < 0 else -1
        else:
            self.run = 0
        if self.locked:
            return 0
        if self.run >= self.up_after and self.level < self.highest:
            self.level += 1
            self.run = 0
            return 1
        if -self.run >= self.down_after and self.level > self.lowest:
            self.level -= 1
            self.run = 0
            return -1
        return 0

    def set(self, level: int) -> None:
        self.level = max(self.lowest, min(self.highest, level))
        self.run = 0


# ---- the turn machine --------------------------------------------------------------------

@dataclass(frozen=True)
class TurnSettings:
    """Everything the therapist can set for the exchange (from defaults.toml / the profile)."""

    mode: str = "echo"
    model_source: str = "pattern"
    bpm: float = 80.0
    pulse: bool = False
    beats_per_bar: int = 4
    count_in_beats: int = 4
    therapist_beats: int = 4  # turn length for a live therapist model with a pulse
    therapist_silence_ms: float = 1000.0
    therapist_hits: int = 0  # a live model ends after this many strokes (0: by silence)
    client_silence_ms: float = 1500.0
    response_timeout_ms: float = 6000.0
    handover_ms: float = 300.0
    end_on_count: bool = True
    feedback_ms: float = 1800.0
    auto_next: bool = True
    together_beats: int = 8
    grid_subdivision: int = 2
    pattern_sound: str = "drum:38"
    pulse_sound: str = "drum:42"
    count_sound: str = "drum:37"
    pulse_velocity: float = 0.45
    lookahead_ms: float = 150.0

    @property
    def period_ns(self) -> int:
        return round(60e9 / self.bpm)

    @staticmethod
    def from_config(c: dict[str, Any]) -> "TurnSettings":
        """Checked settings; a ConfigError names the key, the bad value and what is allowed."""
        def num(key: str, lo: float, hi: float) -> float:
            try:
                v = float(c[key])
            except (KeyError, TypeError, ValueError, OverflowError):
                raise ConfigError(f"{key} = {c.get(key)!r} is not a number", key=f"drum_turns.{key}") from None
            if not lo <= v <= hi:
                raise ConfigError(f"{key} = {v:g} is out of range", key=f"drum_turns.{key}",
                                  hint=f"allowed {lo:g}–{hi:g}")
            return v

        def choice(key: str, allowed: tuple[str, ...]) -> str:
            v = str(c.get(key))
            if v not in allowed:
                raise ConfigError(f"{key} = {v!r}", key=f"drum_turns.{key}", hint=f"use one of {', '.join(allowed)}")
            return v

        return TurnSettings(
            mode=choice("mode", MODES), model_source=choice("model_source", SOURCES),
            bpm=num("bpm", 40, 160), pulse=bool(c.get("pulse", False)),
            beats_per_bar=int(num("beats_per_bar", 1, 12)), count_in_beats=int(num("count_in_beats", 0, 8)),
            therapist_beats=int(num("therapist_beats", 1, 8)),
            therapist_silence_ms=num("therapist_silence_ms", 200, 10000),
            therapist_hits=int(num("therapist_hits", 0, 32)) if "therapist_hits" in c else 0,
            client_silence_ms=num("client_silence_ms", 200, 20000),
            response_timeout_ms=num("response_timeout_ms", 500, 60000),
            handover_ms=num("handover_ms", 0, 2000), end_on_count=bool(c.get("end_on_count", True)),
            feedback_ms=num("feedback_ms", 0, 10000), auto_next=bool(c.get("auto_next", True)),
            together_beats=int(num("together_beats", 2, 32)), grid_subdivision=int(num("grid_subdivision", 1, 4)),
            pattern_sound=str(c.get("pattern_sound", "drum:38")), pulse_sound=str(c.get("pulse_sound", "drum:42")),
            count_sound=str(c.get("count_sound", "drum:37")),
            pulse_velocity=num("pulse_velocity", 0.0, 1.0) if "pulse_velocity" in c else 0.45)


@dataclass(frozen=True)
class TurnRecord:
    """A finished turn, as logged: the model or the copy, its judgement and whether the
    client waited during the model."""

    turn: int
    exchange: int
    whose: str  # therapist | client | together
    start_ns: int
    end_ns: int
    end_reason: str  # time | silence | count | therapist | therapist_hit | timeout | stopped
    level: int
    level_locked: bool
    bpm: float
    pulse: bool
    source: str  # pattern | therapist (where the model came from)
    pattern: Pattern | None
    model: tuple[Hit, ...]
    hits: tuple[Hit, ...]
    waiting_failures: tuple[Hit, ...]
    judgement: Judgement | None = None
    level_change: int = 0
    support: tuple[Hit, ...] = ()

    @property
    def waited(self) -> bool:
        return not self.waiting_failures

    def as_data(self) -> dict[str, Any]:
        t0 = self.start_ns
        d: dict[str, Any] = {
            "turn": self.turn, "exchange": self.exchange, "whose": self.whose,
            "start_ns": self.start_ns, "end_ns": self.end_ns, "end_reason": self.end_reason,
            "duration_ms": _ms(self.end_ns - self.start_ns), "level": self.level,
            "level_locked": self.level_locked, "bpm": self.bpm, "pulse": self.pulse,
            "model_source": self.source, "pattern": self.pattern.as_dict() if self.pattern else None,
            "model": [h.as_dict(t0) for h in self.model],
            "hits": [h.as_dict(t0) for h in self.hits],
            "waited": self.waited, "waiting_failures": [h.as_dict(t0) for h in self.waiting_failures],
            "therapist_support": [h.as_dict(t0) for h in self.support],
        }
        if self.judgement is not None:
            d["judgement"] = self.judgement.as_dict()
            d["level_change"] = self.level_change
        return d


@dataclass(frozen=True, slots=True)
class HitInfo:
    """How one hit was classified, for logging and drawing."""

    turn: int
    phase: str
    role: str  # model | copy | waiting_failure | together | support | between
    ends_turn: bool = False


@dataclass(frozen=True, slots=True)
class Scheduled:
    t_ns: int
    sound: str
    velocity: float
    kind: str  # pattern | pulse | count


@dataclass
class TurnMachine:
    """The exchange: count-in → therapist's model → client's copy → feedback → next.

    Time-driven: ``advance(t)`` makes every change due by ``t``; ``hit()`` advances to the hit's
    own time first. Finished turns queue in ``finished`` for the activity to log; sounds to
    schedule come from ``due_sounds(now)`` a little ahead of their exact time.
    """

    settings: TurnSettings
    library: Library
    level: AdaptiveLevel
    phase: str = "idle"
    phase_start_ns: int = 0
    phase_end_ns: int | None = None  # planned end (pattern/pulse/count-in timing), if any
    turn: int = 0
    exchange: int = 0
    pattern_index: int = 0
    grid_t0_ns: int | None = None  # beat 0 of the pulse grid, when a pulse plays
    pulse_on: bool = False
    pattern: Pattern | None = None
    model: list[Hit] = field(default_factory=list)
    copy: list[Hit] = field(default_factory=list)
    waits: list[Hit] = field(default_factory=list)
    support: list[Hit] = field(default_factory=list)
    expected_ns: list[int] | None = None
    model_end_ns: int | None = None
    model_start_ns: int = 0
    client_start_ns: int = 0
    finished: list[TurnRecord] = field(default_factory=list)
    opened: list[tuple[int, int, str]] = field(default_factory=list)  # (exchange, start_ns, "model" | "together")
    last: TurnRecord | None = None  # the last judged turn, for feedback
    recent: list[tuple[int, str, str]] = field(default_factory=list)  # (t_ns, actor, role) to light
    _sounds: list[Scheduled] = field(default_factory=list)
    _next_pulse_ns: int | None = None
    _advanced_ns: int = 0

    # -- helpers ---------------------------------------------------------------------------
    @property
    def period_ns(self) -> int:
        return self.settings.period_ns

    @property
    def spec(self) -> LevelSpec:
        return self.library.spec(self.level.level)

    def _queue(self, items: Iterable[Scheduled]) -> None:
        self._sounds.extend(items)
        self._sounds.sort(key=lambda s: s.t_ns)

    def next_bar_ns(self, t_ns: int) -> int:
        """The first downbeat at or after ``t_ns`` on the pulse grid."""
        assert self.grid_t0_ns is not None
        bar = self.period_ns * self.settings.beats_per_bar
        n = max(0, math.ceil((t_ns - self.grid_t0_ns) / bar))
        return self.grid_t0_ns + n * bar

    def beat_index(self, t_ns: int) -> int | None:
        if self.grid_t0_ns is None or t_ns < self.grid_t0_ns:
            return None
        return (t_ns - self.grid_t0_ns) // self.period_ns

    def _set_phase(self, phase: str, start_ns: int, end_ns: int | None) -> None:
        self.phase, self.phase_start_ns, self.phase_end_ns = phase, start_ns, end_ns

    # -- starting and stopping ----------------------------------------------------------------
    def start(self, now_ns: int) -> None:
        """Begin (or restart) the exchange at ``now_ns``: count-in if set, then the first model."""
        s = self.settings
        start = now_ns + 100 * NS_PER_MS  # room to schedule the first sound exactly
        if s.pulse or s.mode == "together":
            self.start_pulse(start)
        if s.count_in_beats > 0:
            end = start + s.count_in_beats * self.period_ns
            self._set_phase("count_in", start, end)
            self._queue(Scheduled(start + i * self.period_ns, s.count_sound, 0.8 if i == 0 else 0.6, "count")
                        for i in range(s.count_in_beats))
        else:
            self._begin_model(start)

    def start_pulse(self, t0_ns: int) -> None:
        self.pulse_on = True
        self.grid_t0_ns = t0_ns
        self._next_pulse_ns = t0_ns

    def stop_pulse(self) -> None:
        self.pulse_on = False
        self.grid_t0_ns = None
        self._next_pulse_ns = None
        self._sounds = [x for x in self._sounds if x.kind != "pulse"]

    def stop(self, now_ns: int) -> None:
        """Close the turn in progress (logged as stopped) and go idle; pending sounds dropped."""
        if self.phase in ("client", "together"):
            self._close_copy(now_ns, "stopped")
        elif self.phase == "therapist" and self.model:
            self._close_model(now_ns, "stopped")
        self._sounds.clear()
        self.stop_pulse()
        self._set_phase("idle", now_ns, None)

    # -- the model ---------------------------------------------------------------------------
    def _begin_model(self, start_ns: int) -> None:
        s = self.settings
        self.turn += 1
        self.exchange += 1
        self.model, self.copy, self.waits, self.support = [], [], [], []
        self.expected_ns = None
        self.model_end_ns = None
        self.model_start_ns = start_ns
        self.opened.append((self.exchange, start_ns, "together" if s.mode == "together" else "model"))
        if s.mode == "together":
            self.pattern = None
            end = start_ns + s.together_beats * self.period_ns
            self.expected_ns = [start_ns + i * self.period_ns for i in range(s.together_beats)]
            self.model = [Hit(t, 100, "app", "pulse") for t in self.expected_ns]
            self.client_start_ns = start_ns
            self._set_phase("together", start_ns, end)
            return
        if s.model_source == "pattern":
            pat = self.library.pick(self.level.level, self.pattern_index)
            self.pattern_index += 1
            self.pattern = pat
            times = pat.times_ns(start_ns, self.period_ns)
            self.model = [Hit(t, v, "app", "pattern") for t, v in zip(times, pat.velocities)]
            self.model_end_ns = times[-1]
            self._queue(Scheduled(t, s.pattern_sound, v / 127.0, "pattern") for t, v in zip(times, pat.velocities))
            if self.pulse_on:
                end = start_ns + pat.beats * self.period_ns
            else:
                end = times[-1] + round(s.handover_ms * NS_PER_MS)
            self._set_phase("therapist", start_ns, end)
        else:
            self.pattern = None
            end = start_ns + s.therapist_beats * self.period_ns if self.pulse_on else None
            self._set_phase("therapist", start_ns, end)

    def _close_model(self, t_ns: int, reason: str) -> None:
        """The model is over: log it and hand the turn to the client."""
        s = self.settings
        model = tuple(self.model)
        rec = TurnRecord(self.turn, self.exchange, "therapist", self.phase_start_ns, t_ns, reason,
                         self.level.level, self.level.locked, s.bpm, self.pulse_on, s.model_source,
                         self.pattern, model, model, tuple(self.waits))
        self.finished.append(rec)
        self.turn += 1
        if model:
            self.model_end_ns = model[-1].t_ns
        if self.pulse_on and model:
            shift = t_ns - self.phase_start_ns
            if self.pattern is not None:
                self.expected_ns = self.pattern.times_ns(t_ns, self.period_ns)
            else:  # a live model: its strokes snapped to the grid, one turn later
                step = self.period_ns / s.grid_subdivision
                assert self.grid_t0_ns is not None
                snapped = sorted({self.grid_t0_ns + round(round((h.t_ns - self.grid_t0_ns) / step) * step)
                                  for h in model})
                self.expected_ns = [t + shift for t in snapped]
            end: int | None = t_ns + shift
        else:
            end = None
        self.client_start_ns = t_ns
        self._set_phase("client", t_ns, end)

    def hand_over(self, t_ns: int) -> None:
        """The therapist taps 'your turn': the model ends now."""
        if self.phase != "therapist":
            return
        played = [h for h in self.model if h.t_ns <= t_ns]
        if not played:
            return
        self.model = played  # a pattern cut short: strokes not yet heard are not part of it
        self._sounds = [x for x in self._sounds if x.kind != "pattern" or x.t_ns <= t_ns]
        self._close_model(t_ns, "therapist")

    # -- the copy ---------------------------------------------------------------------------
    def _close_copy(self, t_ns: int, reason: str) -> None:
        s = self.settings
        spec = self.spec
        whose = "together" if self.phase == "together" else "client"
        j = judge(self.model, self.copy, model_end_ns=self.model_end_ns if whose == "client" else None,
                  spec=spec, expected_ns=self.expected_ns, period_ns=self.period_ns)
        level = self.level.level
        change = self.level.record(j.outcome)
        rec = TurnRecord(self.turn, self.exchange, whose, self.client_start_ns, t_ns, reason, level,
                         self.level.locked, s.bpm, self.pulse_on, s.model_source if whose == "client" else "pulse",
                         self.pattern, tuple(self.model), tuple(self.copy), tuple(self.waits), j, change,
                         tuple(self.support))
        self.finished.append(rec)
        self.last = rec
        if s.auto_next:
            nxt = t_ns + round(s.feedback_ms * NS_PER_MS)
            if self.pulse_on:
                nxt = self.next_bar_ns(nxt + 50 * NS_PER_MS)
            self._set_phase("feedback", t_ns, nxt)
        else:
            self._set_phase("feedback", t_ns, None)

    def end_turn(self, t_ns: int) -> None:
        """The therapist taps: the client's (or together) turn ends now; or the next starts."""
        if self.phase in ("client", "together"):
            self._close_copy(t_ns, "therapist")
        elif self.phase == "therapist":
            self.hand_over(t_ns)
        elif self.phase in ("feedback", "idle"):
            self.next_turn(t_ns)

    def next_turn(self, t_ns: int) -> None:
        start = t_ns + 100 * NS_PER_MS
        if self.pulse_on:
            start = self.next_bar_ns(start)
        if self.phase == "idle" and self.settings.count_in_beats and self.turn == 0:
            self.start(t_ns)
        else:
            self._begin_model(start)

    # -- time ---------------------------------------------------------------------------------
    def advance(self, t_ns: int) -> None:
        """Make every time-driven change due by ``t_ns`` (several if time jumped)."""
        s = self.settings
        self._advanced_ns = max(self._advanced_ns, t_ns)
        for _ in range(16):
            ph, end = self.phase, self.phase_end_ns
            if ph == "count_in" and end is not None and t_ns >= end:
                self._begin_model(end)
            elif ph == "therapist":
                if end is not None and t_ns >= end:
                    if self.model:
                        self._close_model(end, "time")
                    else:  # a live turn with a pulse but nothing played: offer the turn again
                        self._begin_model_again(end)
                elif (end is None and self.model and s.model_source == "therapist"
                      and t_ns - self.model[-1].t_ns >= s.therapist_silence_ms * NS_PER_MS):
                    self._close_model(self.model[-1].t_ns + round(s.therapist_silence_ms * NS_PER_MS), "silence")
                else:
                    return
            elif ph in ("client", "together"):
                reason, at = self._copy_end(t_ns)
                if reason is None:
                    return
                self._close_copy(at, reason)
            elif ph == "feedback" and end is not None and t_ns >= end:
                self._begin_model(end)
            else:
                return

    def _begin_model_again(self, t_ns: int) -> None:
        self.turn -= 1
        self.exchange -= 1
        self._begin_model(t_ns)

    def _copy_end(self, t_ns: int) -> tuple[str | None, int]:
        s = self.settings
        if self.phase == "together":
            end = self.phase_end_ns
            assert end is not None
            return ("time", end) if t_ns >= end else (None, 0)
        if self.copy:
            quiet = self.copy[-1].t_ns + round(s.client_silence_ms * NS_PER_MS)
            if self.phase_end_ns is not None:  # a pulse: the turn window plus the reach of its last beat
                closes = self.phase_end_ns + self.period_ns // 2
                if t_ns >= closes and closes <= quiet:
                    return "time", closes
            if t_ns >= quiet:
                return "silence", quiet
            return None, 0
        timeout = self.client_start_ns + round(s.response_timeout_ms * NS_PER_MS)
        if self.phase_end_ns is not None:
            timeout = max(timeout, self.phase_end_ns + self.period_ns // 2)
        return ("timeout", timeout) if t_ns >= timeout else (None, 0)

    def update(self, now_ns: int) -> None:
        """Per frame: advance to ``now`` minus a guard, so late-queued hits still fit."""
        self.advance(now_ns - LATE_GUARD_NS)

    def due_sounds(self, now_ns: int) -> list[Scheduled]:
        """Sounds whose exact time falls within the look-ahead: schedule them now with at_ns."""
        horizon = now_ns + round(self.settings.lookahead_ms * NS_PER_MS)
        if self.pulse_on and self._next_pulse_ns is not None:
            s = self.settings
            while self._next_pulse_ns <= horizon:
                assert self.grid_t0_ns is not None
                downbeat = ((self._next_pulse_ns - self.grid_t0_ns) // self.period_ns) % s.beats_per_bar == 0
                vel = min(1.0, s.pulse_velocity * (1.3 if downbeat else 1.0))
                self._queue([Scheduled(self._next_pulse_ns, s.pulse_sound, vel, "pulse")])
                self._next_pulse_ns += self.period_ns
        out = []
        while self._sounds and self._sounds[0].t_ns <= horizon:
            out.append(self._sounds.pop(0))
        return out

    # -- hits -----------------------------------------------------------------------------
    def hit(self, h: Hit) -> HitInfo:
        """Classify one stroke by its own time; may end a turn (count reached, therapist's hit)."""
        s = self.settings
        if h.t_ns >= self._advanced_ns:
            self.advance(h.t_ns)
        ph = self.phase
        self.recent.append((h.t_ns, h.actor, ph))
        del self.recent[:-32]
        if h.actor == "therapist":
            if ph == "therapist" and s.model_source == "therapist":
                self.model.append(h)
                turn = self.turn
                if s.therapist_hits and len(self.model) >= s.therapist_hits and self.phase_end_ns is None:
                    self._close_model(h.t_ns + round(s.handover_ms * NS_PER_MS), "count")
                return HitInfo(turn, ph, "model")
            if ph == "client" and s.model_source == "therapist" and s.mode == "echo":
                turn = self.turn
                self._close_copy(h.t_ns, "therapist_hit")
                self._begin_model(h.t_ns)
                self.model.append(h)
                return HitInfo(turn, ph, "model", ends_turn=True)
            if ph in ("feedback", "idle") and s.model_source == "therapist" and s.mode == "echo":
                self._begin_model(h.t_ns)
                self.model.append(h)
                return HitInfo(self.turn, "therapist", "model")
            if ph in ("client", "together"):
                self.support.append(h)
            return HitInfo(self.turn, ph, "support")
        # the client; with a pulse, a stroke just ahead of the first beat of the turn (within the
        # level's window) is an early copy, not a failure to wait
        early_ns = round(self.spec.window_ms * NS_PER_MS)
        if (ph == "therapist" and self.pulse_on and self.phase_end_ns is not None and self.model
                and h.t_ns >= self.phase_end_ns - early_ns):
            self._close_model(self.phase_end_ns, "time")
            ph = self.phase
        if ph == "client" and h.t_ns < self.phase_start_ns and not (
                self.expected_ns and h.t_ns >= self.phase_start_ns - early_ns):
            self.waits.append(h)  # played before the turn began, seen late
            return HitInfo(self.turn, "therapist", "waiting_failure")
        if ph in ("therapist", "count_in"):
            self.waits.append(h)
            return HitInfo(self.turn, ph, "waiting_failure")
        if ph in ("client", "together"):
            self.copy.append(h)
            turn = self.turn
            if (ph == "client" and s.end_on_count and self.expected_ns is None
                    and self.model and len(self.copy) >= len(self.model)):
                self._close_copy(h.t_ns, "count")
                return HitInfo(turn, ph, "copy", ends_turn=True)
            if (ph == "client" and s.end_on_count and self.expected_ns
                    and len(self.copy) >= len(self.expected_ns)):
                self._close_copy(h.t_ns, "count")
                return HitInfo(turn, ph, "copy", ends_turn=True)
            return HitInfo(turn, ph, "together" if ph == "together" else "copy")
        return HitInfo(self.turn, ph, "between")

    def take_finished(self) -> list[TurnRecord]:
        out, self.finished = self.finished, []
        return out

    def take_opened(self) -> list[tuple[int, int, str]]:
        """Exchanges begun since the last call: (exchange, model start, "model" | "together").
        An exchange offered again (a live turn with nothing played) is listed again."""
        out, self.opened = self.opened, []
        return out

    def whose_turn(self) -> str:
        """For the picture: therapist | client | together | ready (count-in) | wait."""
        return {"therapist": "therapist", "client": "client", "together": "together",
                "count_in": "ready"}.get(self.phase, "wait")
