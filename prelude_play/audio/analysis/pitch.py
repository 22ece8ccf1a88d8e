"""Pitch by YIN (de Cheveigné & Kawahara 2002), with candidate minima kept for tracking.

YIN rather than autocorrelation peaks because its normalised difference function gives a
periodicity measure (the aperiodicity) for free, which voice-activity detection reuses, and its
dip at the true period survives 10 dB of room noise better than spectral methods at high f0.
The absolute-threshold rule of plain YIN fails in noise (the dip at the period sits near
2*N/(S+N)), so we take the first local minimum close to the global one instead. That shortest-lag
preference has the opposite failure: when the 2nd harmonic dominates (F1 near 2*f0, typical of
women's and children's "oh"/"eh" at 250-450 Hz) the half-period dip passes the tolerance and f0
comes out an octave high. :func:`_octave_up` checks for it (see there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

F0_MIN = 80.0
F0_MAX = 800.0
_MARGIN = 0.92  # search a little beyond [fmin, fmax] so a dip at the edge is still a minimum
_DIRECT_MAX_MACS = 120_000  # cross-correlation by direct sum below this size, by FFT above
# Octave-up check, tuned on bench-like signals with seeds/SNRs other than bench_pitch's; the
# _OCT_MIN_ODD guard was added after a pitch-shifted espeak voice in bench_vowels came out an
# octave low:
_OCT_MULTIPLES = 10  # lag multiples of the pick examined
_OCT_RATIO = 0.8  # even-multiple dips this much deeper than odd ones = true period is 2x the pick
_OCT_DELTA = 0.03  # ... and deeper by this much in d' (clean signals: all dips ~0, ratios are noise)
_OCT_REL = 0.04  # half-width of the window searched around each multiple (vibrato, jitter)
_OCT_MIN_ODD = 0.10  # a pick whose own dips are deeper than this is heard as the pitch


@dataclass(frozen=True, slots=True)
class PitchEstimate:
    """One frame's pitch: f0 in Hz (0.0 if none found), aperiodicity in [0, ~1.5] (low = periodic).

    ``alternatives`` holds other candidate f0s (Hz, aperiodicity) so a tracker can fix octave jumps.
    """

    f0: float
    aperiodicity: float
    alternatives: tuple[tuple[float, float], ...] = ()


def yin_window(rate: int, fmin: float = F0_MIN) -> tuple[int, int]:
    """(integration window W, frame length W + max lag) in samples for a lowest f0 ``fmin``."""
    tau_max = int(np.ceil(rate / (fmin * _MARGIN))) + 2
    w = tau_max
    return w, w + tau_max + 2


def cmndf(frame: np.ndarray, w: int, tau_max: int) -> np.ndarray:
    """Cumulative mean normalised difference d'(tau) for tau in 0..tau_max (d'(0) = 1)."""
    x = np.asarray(frame, dtype=np.float64)
    n = w + tau_max
    x = x[:n]
    if w * (tau_max + 1) <= _DIRECT_MAX_MACS:
        # direct: at the analyzer's 16 kHz sizes ~5x cheaper than three FFT calls
        cross = np.correlate(x, x[:w], "valid")[: tau_max + 1]
    else:
        nfft = 1 << int(np.ceil(np.log2(n + w)))
        spec_x = np.fft.rfft(x, nfft)
        spec_w = np.fft.rfft(x[:w], nfft)
        cross = np.fft.irfft(spec_x * np.conj(spec_w), nfft)[: tau_max + 1]
    sq = np.concatenate(([0.0], np.cumsum(x * x)))
    energy_tau = sq[w : w + tau_max + 1] - sq[0 : tau_max + 1]
    d = sq[w] + energy_tau - 2.0 * cross
    d[0] = 0.0
    np.maximum(d, 0.0, out=d)
    out = np.ones_like(d)
    cums = np.cumsum(d[1:])
    taus = np.arange(1, tau_max + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[1:] = np.where(cums > 0, d[1:] * taus / cums, 1.0)
    return out


def _parabolic(y: np.ndarray, i: int) -> tuple[float, float]:
    if i <= 0 or i >= len(y) - 1:
        return float(i), float(y[i])
    a, b, c = y[i - 1], y[i], y[i + 1]
    den = a - 2 * b + c
    if den <= 0:
        return float(i), float(b)
    shift = 0.5 * (a - c) / den
    return i + shift, float(b - 0.25 * (a - c) * shift)


def _dips(d: np.ndarray, pick: int) -> list[float]:
    """Interpolated depths of d' near pick*1, pick*2, ... (windows of +-_OCT_REL, as many as fit
    before the end of d). Plain Python: on ~10 short windows it is 2-4x faster than numpy's
    per-call overhead, and it runs on many voiced frames."""
    dl = d.tolist()
    out: list[float] = []
    for m in range(1, _OCT_MULTIPLES + 1):
        lo = math.floor(pick * m * (1.0 - _OCT_REL))
        hi = math.ceil(pick * m * (1.0 + _OCT_REL))
        if hi >= len(dl) - 1:
            break
        seg = dl[lo : hi + 1]
        j = lo + seg.index(min(seg))
        a, b, c = dl[j - 1], dl[j], dl[j + 1]
        den = a - 2.0 * b + c
        v = b - 0.125 * (a - c) ** 2 / den if den > 0 else b  # parabola vertex, as _parabolic
        out.append(max(v, 0.0))
    return out


def _octave_up(d: np.ndarray, pick: int) -> bool:
    """True when ``pick`` looks like half the real period.

    If the signal repeats every ``pick`` samples, d' dips equally at every multiple of it. If it
    really repeats every 2*pick (the pick only matched the even harmonics), the odd multiples
    are misaligned for the odd harmonics and dip clearly less than the even ones. Averaging over
    several multiples makes this steadier than comparing d'(pick) with d'(2*pick) alone, which
    in our tests traded octave-up errors for octave-down ones at high f0.
    """
    if 3 * pick * (1.0 + _OCT_REL) >= len(d) - 2:
        return False  # fewer than two odd multiples fit: too little evidence (low f0)
    v = _dips(d, pick)
    odd, even = v[0::2], v[1::2]
    o, e = sum(odd) / len(odd), sum(even) / len(even)
    # o >= _OCT_MIN_ODD: when the pick is already clearly periodic (aperiodicity < 10%), a
    # deeper dip at twice the lag is period doubling (alternating cycles: creak, diplophonia,
    # pitch-shifted recordings), and the pitch heard is still the pick's
    return o >= _OCT_MIN_ODD and e < _OCT_RATIO * o and o - e > _OCT_DELTA


def yin(
    frame: np.ndarray,
    rate: int,
    fmin: float = F0_MIN,
    fmax: float = F0_MAX,
    tolerance: float = 0.05,
    ratio: float = 1.25,
) -> PitchEstimate:
    """Estimate f0 of one frame (length >= ``yin_window(rate, fmin)[1]``).

    Picks the shortest-lag local minimum of d' within ``tolerance`` of the global minimum
    (avoids the octave-down errors that "global minimum" YIN makes in noise), then moves to the
    minimum near twice that lag if :func:`_octave_up` says the pick was half the period.
    """
    w, n = yin_window(rate, fmin)
    tau_max = n - w - 2
    if len(frame) < n:
        raise ValueError(f"frame of {len(frame)} samples is shorter than {n}")
    tau_min = max(2, int(np.floor(rate / (fmax / _MARGIN))) - 1)
    d = cmndf(frame, w, tau_max)
    seg = d[tau_min : tau_max + 1]
    # local minima of d' inside the search range
    idx = np.flatnonzero((seg[1:-1] <= seg[:-2]) & (seg[1:-1] < seg[2:])) + (1 + tau_min)
    if idx.size == 0:
        return PitchEstimate(0.0, float(seg.min()))
    vals = d[idx]
    gmin = float(vals.min())
    pick = int(idx[np.argmax(vals <= gmin * ratio + tolerance)])
    # only when the shortest-lag rule passed over a deeper dip can the pick be an octave high
    if d[pick] > gmin and _octave_up(d, pick):
        near = idx[np.abs(idx - 2 * pick) <= max(2.0, 0.1 * pick)]
        if near.size:
            pick = int(near[np.argmin(d[near])])
    tau, val = _parabolic(d, pick)
    alts: tuple[tuple[float, float], ...] = ()
    if idx.size > 1:
        others = idx[idx != pick]
        best = others[np.argsort(d[others])[:3]]
        alts = tuple((rate / _parabolic(d, int(j))[0], float(d[j])) for j in best)
    return PitchEstimate(rate / tau, max(0.0, val), alts)


def track(
    x: np.ndarray, rate: int, hop: int, fmin: float = F0_MIN, fmax: float = F0_MAX
) -> list[PitchEstimate]:
    """Frame-by-frame YIN over a whole signal; frame k ends at sample ``k*hop + frame length``."""
    _, n = yin_window(rate, fmin)
    out: list[PitchEstimate] = []
    for start in range(0, max(0, len(x) - n + 1), hop):
        out.append(yin(x[start : start + n], rate, fmin, fmax))
    return out


def cents(f: float, ref: float) -> float:
    """Signed distance in cents from ``ref`` to ``f``."""
    return 1200.0 * float(np.log2(f / ref))


def cents_octave_folded(f: float, ref: float) -> float:
    """Cents from ``ref`` folded into [-600, 600): a child an octave up is "on pitch"."""
    c = cents(f, ref)
    return (c + 600.0) % 1200.0 - 600.0
