"""Syllables in a sung or spoken answer: where each one starts, how many, each one's pitch and vowel.

Why a segmenter of its own: the live ``VoiceAnalyzer`` cuts at *voicing* gaps (80 ms of no
voice), so "hel-lo" or "mo-re" sung legato (the /l/, /m/, /r/ are voiced) is one segment to it.
A syllable is a rise and fall of loudness around a vowel (its nucleus): we find the nuclei as
peaks of a 30 ms loudness curve separated by dips of ``dip_db`` or more (the classic nucleus
picking of Mermelstein 1975 and de Jong & Wempe 2009), keep those with enough voice in them
(a breath or an /s/ alone is not a syllable), and split a nucleus where the pitch steps by more
than ``pitch_split_cents`` with no dip (two syllables sung on two pitches without a break, as
in Auditory-Motor Mapping Training's high/low chant).

A syllable's **onset** is the start of its vowel: the line through the 35 % and 75 % points of
the amplitude rise (10 ms RMS) extrapolated to zero. Taps are compared with this landmark;
consonant onsets are not used (a burst or an /h/ is weak and often missing in a child's
speech). Each syllable's pitch is the median YIN f0 of its core, and its vowel is read by the
vowel analyzer's classifier (formants + harmonic envelope) with its "not sure" (``abstained``):
a caller never names a vowel the classifier abstained on.

Runs offline on one response window (a few seconds: tens of milliseconds of CPU) on the mic's
worker thread, never in an audio callback. Times are seconds from the start of the signal given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median
from typing import Any

import numpy as np

from .formants import analyse_frame
from .pitch import yin, yin_window
from .vowels import VowelClassifier
from .wavio import resample

WORK_RATE = 16000


@dataclass(frozen=True, slots=True)
class SyllableConfig:
    """Tunables (defaults: children singing at 200-600 Hz in a quiet therapy room)."""

    hop_s: float = 0.005
    level_win_s: float = 0.010  # onset timing: short RMS window
    smooth_win_s: float = 0.030  # nucleus picking: smoother loudness curve
    snr_db: float = 12.0  # above the window's own noise floor (its 5th percentile)
    min_level_dbfs: float = -55.0
    range_db: float = 30.0  # a nucleus this far below the loudest one is noise, not a syllable
    dip_db: float = 3.0  # the dip between two nuclei, below the lower of their peaks
    weak_db: float = 9.0  # a short nucleus this far below its neighbour is its consonant (/m/, /h/)
    weak_max_s: float = 0.12
    min_syllable_s: float = 0.08
    min_voiced_s: float = 0.04  # voiced time a nucleus needs to count as a syllable
    pitch_split_cents: float = 150.0
    steady_iqr_cents: float = 80.0  # each side of a pitch split holds its pitch this steadily
    fmin: float = 120.0
    fmax: float = 900.0
    max_aperiodicity: float = 0.35
    onset_lo: float = 0.35  # fractions of the nucleus amplitude the onset line goes through
    onset_hi: float = 0.75
    shelf_s: float = 0.04
    shelf_min: float = 0.3  # a shelf this loud (of the nucleus) is a sonorant before the vowel


@dataclass(frozen=True, slots=True)
class Syllable:
    """One syllable heard. ``onset`` is its vowel's start (s); ``f0`` its median pitch (0.0 if
    no pitch was found); ``vowel`` is the classifier's best guess, never to be shown or judged
    when ``abstained`` is true."""

    onset: float
    end: float
    peak: float
    f0: float
    voiced_s: float
    level_dbfs: float
    vowel: str = ""
    confidence: float = 0.0
    abstained: bool = True
    formants: tuple[float, float, float] = (0.0, 0.0, 0.0)
    posteriors: dict[str, float] = field(default_factory=dict)
    split_by: str = "dip"  # how it was told from the one before: dip | pitch | first

    @property
    def duration(self) -> float:
        return self.end - self.onset

    def to_dict(self) -> dict[str, Any]:
        return {"onset_s": round(self.onset, 4), "end_s": round(self.end, 4), "f0": round(self.f0, 2),
                "voiced_ms": round(self.voiced_s * 1000, 1), "level_dbfs": round(self.level_dbfs, 1),
                "vowel": (self.vowel or None) if not self.abstained else None,  # never a vowel it is not sure of
                "confidence": round(self.confidence, 3), "abstained": self.abstained,
                "f1": round(self.formants[0], 1), "f2": round(self.formants[1], 1),
                "f3": round(self.formants[2], 1), "split_by": self.split_by}


def _power(x: np.ndarray, centres: np.ndarray, half: int) -> np.ndarray:
    """Mean power of ``x`` in [c - half, c + half) around each centre (edges clipped)."""
    cs = np.concatenate(([0.0], np.cumsum(x.astype(np.float64) ** 2)))
    lo = np.clip(centres - half, 0, len(x))
    hi = np.clip(centres + half, 0, len(x))
    n = np.maximum(hi - lo, 1)
    return (cs[hi] - cs[lo]) / n


class SyllableAnalyzer:
    """Segment one response into syllables. Reuse one instance (the classifier is built once)."""

    def __init__(self, config: SyllableConfig | None = None, classifier: VowelClassifier | None = None) -> None:
        self.config = config or SyllableConfig()
        self.classifier = classifier or VowelClassifier()

    def analyse(self, x: np.ndarray, rate: int) -> list[Syllable]:
        cfg = self.config
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if rate != WORK_RATE:
            x = resample(x, rate, WORK_RATE).astype(np.float64)
        r = WORK_RATE
        hop = max(1, int(round(cfg.hop_s * r)))
        n = len(x) // hop
        if n < 4:
            return []
        centres = np.arange(n) * hop
        p10 = _power(x, centres, int(cfg.level_win_s * r / 2))
        p30 = _power(x, centres, int(cfg.smooth_win_s * r / 2))
        l30 = 10 * np.log10(p30 + 1e-12)
        floor = float(np.percentile(l30, 5))
        thr = max(floor + cfg.snr_db, cfg.min_level_dbfs)
        active = l30 > thr
        if not active.any():
            return []
        # pitch on every loud hop (YIN frame centred on the hop)
        _, ylen = yin_window(r, cfg.fmin)
        f0 = np.zeros(n)
        voiced = np.zeros(n, dtype=bool)
        half = ylen // 2
        for k in np.flatnonzero(active):
            c = centres[k]
            if c - half < 0 or c - half + ylen > len(x):
                continue
            est = yin(x[c - half: c - half + ylen], r, cfg.fmin, cfg.fmax)
            if est.f0 > 0 and est.aperiodicity < cfg.max_aperiodicity:
                f0[k], voiced[k] = est.f0, True
        loudest = float(l30[active].max())
        segs: list[tuple[int, int, int, str]] = []  # (start hop, end hop, peak hop, split_by)
        k = 0
        while k < n:
            if not active[k]:
                k += 1
                continue
            j = k
            while j < n and active[j]:
                j += 1
            segs.extend(self._nuclei(l30, k, j))
            k = j
        out: list[tuple[int, int, int, str]] = []
        min_hops = int(cfg.min_syllable_s / cfg.hop_s)
        need_voiced = max(1, int(cfg.min_voiced_s / cfg.hop_s))
        for s in segs:
            a, b, p, how = s
            if l30[p] < loudest - cfg.range_db or b - a < min_hops // 2:
                continue
            if int(voiced[a:b].sum()) < need_voiced:
                continue
            out.extend(self._pitch_split(f0, voiced, a, b, p, how))
        result = []
        for i, (a, b, p, how) in enumerate(out):
            if b - a < min_hops // 2 or int(voiced[a:b].sum()) < need_voiced:
                continue
            result.append(self._describe(x, r, hop, p10, l30, f0, voiced, a, b, p,
                                         "first" if not result else how))
        return result

    # ---- segmentation ---------------------------------------------------------------------

    def _nuclei(self, l30: np.ndarray, a: int, b: int) -> list[tuple[int, int, int, str]]:
        """Peaks of the loudness curve in the active run [a, b) separated by real dips."""
        seg = l30[a:b]
        if len(seg) < 3:
            return [(a, b, a + int(np.argmax(seg)), "dip")]
        peaks = [i for i in range(len(seg))
                 if (i == 0 or seg[i] >= seg[i - 1]) and (i == len(seg) - 1 or seg[i] > seg[i + 1])]
        if not peaks:
            peaks = [int(np.argmax(seg))]
        changed = True
        while changed and len(peaks) > 1:
            changed = False
            best, worst = None, math.inf
            for q in range(len(peaks) - 1):
                i, j = peaks[q], peaks[q + 1]
                dip = float(seg[i:j + 1].min())
                depth = min(seg[i], seg[j]) - dip
                if depth < worst:
                    best, worst = q, depth
            if best is not None and worst < self.config.dip_db:
                i, j = peaks[best], peaks[best + 1]
                peaks[best:best + 2] = [i if seg[i] >= seg[j] else j]
                changed = True
        # a short weak "nucleus" right before (or after) a loud one is its consonant: merge it
        weak = max(1, int(self.config.weak_max_s / self.config.hop_s))
        q = 0
        while len(peaks) > 1 and q < len(peaks) - 1:
            i, j = peaks[q], peaks[q + 1]
            cut = i + int(np.argmin(seg[i:j + 1]))
            left_len = cut - (0 if q == 0 else peaks[q - 1])
            right_end = peaks[q + 2] if q + 2 < len(peaks) else len(seg)
            if seg[j] - seg[i] >= self.config.weak_db and left_len <= weak:
                peaks.pop(q)
                continue
            if seg[i] - seg[j] >= self.config.weak_db and right_end - cut <= weak:
                peaks.pop(q + 1)
                continue
            q += 1
        bounds = [0] + [peaks[q] + int(np.argmin(seg[peaks[q]:peaks[q + 1] + 1])) for q in range(len(peaks) - 1)] \
            + [len(seg)]
        return [(a + bounds[q], a + bounds[q + 1], a + peaks[q], "dip") for q in range(len(peaks))]

    def _pitch_split(self, f0: np.ndarray, voiced: np.ndarray, a: int, b: int, p: int,
                     how: str) -> list[tuple[int, int, int, str]]:
        """Split [a, b) where the pitch steps with no dip between (legato on two pitches)."""
        cfg = self.config
        idx = np.flatnonzero(voiced[a:b]) + a
        side = max(6, int(cfg.min_syllable_s / cfg.hop_s))
        if len(idx) < 2 * side:
            return [(a, b, p, how)]
        cents = 1200 * np.log2(f0[idx] / np.median(f0[idx]))
        best, best_d = None, 0.0
        for q in range(side, len(idx) - side):
            d = abs(float(np.median(cents[:q])) - float(np.median(cents[q:])))
            if d > best_d:
                best, best_d = q, d
        if best is None or best_d < cfg.pitch_split_cents:
            return [(a, b, p, how)]
        for part in (cents[:best], cents[best:]):  # two steady pitches (noise "pitch" wanders)
            q75, q25 = np.percentile(part, [75, 25])
            if q75 - q25 > cfg.steady_iqr_cents:
                return [(a, b, p, how)]
        right = float(np.median(cents[best:]))
        q = best  # the first hop already on the new pitch (within a third of the step)
        while q > side and abs(cents[q - 1] - right) < best_d / 3:
            q -= 1
        while q < len(idx) - 1 and abs(cents[q] - right) >= best_d / 3:
            q += 1
        cut = int(idx[q])
        left = self._pitch_split(f0, voiced, a, cut, a + int(np.argmax(voiced[a:cut])), how)
        rightp = self._pitch_split(f0, voiced, cut, b, cut, "pitch")
        return left + rightp

    # ---- one syllable ---------------------------------------------------------------------

    def _onset(self, p10: np.ndarray, l30: np.ndarray, a: int, b: int, p: int, how: str) -> float:
        """The vowel's start, in hops (fractional): see the module docstring."""
        cfg = self.config
        if how == "pitch":
            return float(a)
        core = [k for k in range(a, b) if l30[k] >= l30[p] - 3.0]
        amp = np.sqrt(p10)
        ref = float(np.median(amp[core])) if core else float(amp[p])
        hi = cfg.onset_hi * ref
        top = max(a, min(p, b - 1))
        k_hi = next((k for k in range(a, top + 1) if amp[k] >= hi), None)
        if k_hi is None or k_hi == a:
            return float(a)

        # the rise may start from a shelf (a /l/, /m/ or /w/ before the vowel): measure it from
        # the lowest level in the ``shelf_s`` before the nucleus got near its top
        base = float(amp[max(a, k_hi - int(cfg.shelf_s / cfg.hop_s)): k_hi + 1].min())
        base = base if base >= cfg.shelf_min * ref else 0.0  # a weak consonant or room: from zero
        lo, hi = base + cfg.onset_lo * (ref - base), base + cfg.onset_hi * (ref - base)

        def cross(level: float, k: int) -> float:  # between hop k-1 (below) and k (at or above)
            y0, y1 = amp[k - 1], amp[k]
            return k - 1 + (level - y0) / (y1 - y0) if y1 > y0 else float(k)

        k_hi = next((k for k in range(max(a + 1, k_hi - int(cfg.shelf_s / cfg.hop_s)), top + 1) if amp[k] >= hi), k_hi)
        t_hi = cross(hi, k_hi) if k_hi > a else float(a)
        k_lo = k_hi
        while k_lo > a and amp[k_lo - 1] >= lo:
            k_lo -= 1
        if k_lo == a and amp[a] >= lo:
            return float(a)
        t_lo = cross(lo, k_lo)
        if t_hi <= t_lo:
            return max(float(a), t_lo)
        # the line through the two crossings, taken down to silence (a sonorant's shelf is
        # part of the vowel's own rise: the vowel starts under it)
        return max(float(a) - 1.0, t_lo - lo * (t_hi - t_lo) / (hi - lo))

    def _describe(self, x: np.ndarray, r: int, hop: int, p10: np.ndarray, l30: np.ndarray, f0: np.ndarray,
                  voiced: np.ndarray, a: int, b: int, p: int, how: str) -> Syllable:
        cfg = self.config
        onset_h = self._onset(p10, l30, a, b, p, how)
        v = np.flatnonzero(voiced[a:b]) + a
        core = v[(v >= onset_h + 0.03 / cfg.hop_s) & (v <= b - 0.03 / cfg.hop_s)]
        use = core if len(core) >= 3 else v
        f0_med = float(median(f0[use].tolist())) if len(use) else 0.0
        level = float(10 * np.log10(np.mean(10 ** (l30[a:b] / 10)) + 1e-12))
        fm = (0.0, 0.0, 0.0)
        res: Any = None
        if f0_med > 0 and len(use):
            win = int(0.04 * r)
            picks = use[np.linspace(0, len(use) - 1, min(5, len(use))).astype(int)]
            forms, envs = [], []
            for k in picks:
                c = int(k * hop)
                frame = x[max(0, c - win // 2): c + win // 2]
                if len(frame) < win:
                    continue
                try:
                    with np.errstate(over="ignore", invalid="ignore"):
                        got, env = analyse_frame(frame, r, float(f0[k]))
                except (ValueError, np.linalg.LinAlgError):
                    continue
                if got.f1 > 0 and got.f2 > 0:
                    forms.append(got.as_tuple())
                if env is not None and np.all(np.isfinite(env)):
                    envs.append(env)
            if forms:
                f3s = [f[2] for f in forms if f[2] > 0]
                fm = (float(median([f[0] for f in forms])), float(median([f[1] for f in forms])),
                      float(median(f3s)) if f3s else 0.0)
            env = np.median(np.array(envs), axis=0) if envs else None
            if forms or env is not None:
                res = self.classifier.classify(f0_med, *fm, envelope=env)
        t = lambda h: float(h) * hop / r  # noqa: E731
        return Syllable(
            onset=t(onset_h), end=t(b), peak=t(p), f0=f0_med, voiced_s=len(v) * cfg.hop_s, level_dbfs=level,
            vowel=res.vowel if res is not None else "", confidence=float(res.confidence) if res is not None else 0.0,
            abstained=bool(res.abstained) if res is not None else True, formants=fm,
            posteriors=dict(res.posteriors) if res is not None else {}, split_by=how)


def segment_syllables(x: np.ndarray, rate: int, *, config: SyllableConfig | None = None,
                      classifier: VowelClassifier | None = None) -> list[Syllable]:
    """The syllables of ``x`` (mono, ``rate`` Hz): a one-off ``SyllableAnalyzer(...).analyse``."""
    return SyllableAnalyzer(config, classifier).analyse(x, rate)


__all__ = ["Syllable", "SyllableAnalyzer", "SyllableConfig", "segment_syllables", "WORK_RATE"]
