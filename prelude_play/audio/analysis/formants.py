"""Formants F1-F3 by LPC, with settings that adapt to high (children's) voices.

Two things go wrong with textbook LPC on a child's voice (f0 250-450 Hz):
- the analysis band: a short vocal tract puts only ~4 formants below 8 kHz, so a fixed
  men's setting (5 formants below 5 kHz) splits or invents formants. We pick the band
  ("ceiling", as Praat calls it) from f0 and resample the frame to twice that.
- harmonic sampling: with few, widely spaced harmonics the autocorrelation of the frame is
  the envelope's autocorrelation aliased at the pitch period, and poles snap to harmonics.
  Above ``HARMONIC_F0`` we instead sample the spectrum at the harmonics, interpolate a smooth
  log envelope between them and fit the all-pole model to that envelope (in the spirit of
  El-Jaroudi & Makhoul's discrete all-pole modelling).

And one thing goes wrong with every voice: LPC's fit depends on the spectral tilt. A dull voice
or microphone (-6 dB/octave) let F1 take two pole pairs and lose F2 ("ee" read as "oo"); a
bright one pulled F1 up. So the envelope is first cleaned of room noise (pre-emphasis lifts
white noise until noise "harmonics" look like formants), then fitted at a few extra tilts
(``EXTRA_TILTS``), and each fit is read with and without its wide "filler" poles. The reading
kept is the one that best explains the harmonic amplitudes up to a free tilt *and* looks like
a human vowel (``vowels.vowel_space_cost``: any vowel of the reference tables, not only the
five the classifier names). A clear plain reading ends the search early (``GOOD_ENOUGH``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import soxr

from .envelope import harmonic_envelope
from .vowels import vowel_space_cost

HARMONIC_F0 = 0.0
MAX_BANDWIDTH = 1200.0
# Extra spectral tilts (dB/octave, on top of the 50 Hz pre-emphasis) tried on the harmonic
# envelope; the reading that best explains the spectrum (up to a tilt) as a human vowel wins.
EXTRA_TILTS: tuple[float, ...] = (0.0, -6.0, 6.0, 12.0)  # the plain one first
NARROW_BW = 500.0  # a pole wider than this may be a spectral-shape filler, not a formant
GOOD_ENOUGH = 12.0  # a plain reading this close to a human vowel ends the search (CPU)
NOISE_OVER_DB = 8.0
NOISE_FLOOR = 0.1  # power kept below the noise floor (-10 dB)
_DB = 20.0 / np.log(10.0)  # dB per neper


@dataclass(frozen=True, slots=True)
class Formants:
    """F1-F3 in Hz (0.0 where not found) and their bandwidths."""

    f1: float
    f2: float
    f3: float
    bandwidths: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.f1, self.f2, self.f3)

    @property
    def valid(self) -> bool:
        return self.f1 > 0 and self.f2 > 0


def ceiling_for_f0(f0: float) -> float:
    """Analysis band top (Hz): ~5 kHz for men, 5.5 kHz women, up to 7.5 kHz small children."""
    if f0 <= 0:
        return 5500.0
    return float(np.clip(5000.0 + (f0 - 140.0) * 9.0, 5000.0, 7500.0))


def lpc(r: np.ndarray, order: int) -> np.ndarray:
    """All-pole coefficients [1, a1..ap] from autocorrelation ``r`` (Levinson-Durbin; a plain
    loop is several times cheaper than scipy's solve_toeplitz at these orders)."""
    r = np.asarray(r, dtype=np.float64)
    a = np.zeros(order + 1)
    a[0] = 1.0
    err = r[0] * (1.0 + 1e-9) + 1e-12
    for i in range(1, order + 1):
        k = -float(a[:i] @ r[i:0:-1]) / err
        a[1 : i + 1] = a[1 : i + 1] + k * a[i - 1 :: -1][:i]
        err *= 1.0 - k * k
        if err <= 0:
            raise np.linalg.LinAlgError("autocorrelation is not positive definite")
    return a


def _autocorr(x: np.ndarray, order: int) -> np.ndarray:
    nfft = 1 << int(np.ceil(np.log2(2 * len(x))))
    s = np.fft.rfft(x, nfft)
    return np.fft.irfft(s * np.conj(s), nfft)[: order + 1]


def _peaks(logmag: np.ndarray, df: float, f0: float, nh: int) -> np.ndarray:
    """Bin of the highest point within +-15 % of f0 around each of the first nh harmonics."""
    half = max(1, int(0.15 * f0 / df))
    centers = np.rint(np.arange(1, nh + 1) * f0 / df).astype(int)
    idx = np.clip(centers[:, None] + np.arange(-half, half + 1)[None, :], 1, len(logmag) - 2)
    return idx[np.arange(nh), np.argmax(logmag[idx], axis=1)]


SUBHARMONIC_DB = 6.0


def spectral_f0(logmag: np.ndarray, df: float, f0: float, top: float) -> float:
    """``f0`` times 2 or 3 when the spectrum says it is a subharmonic.

    YIN sometimes locks onto twice or three times the period of a high voice (pitch-shifted
    and PSOLA-resynthesised voices alternate their periods; so do creaky ones). Sampling the
    spectrum at k*f0 then reads every other "harmonic" in a trough, and both the formants and
    the envelope are garbage. The check: if the picks at k not divisible by m sit on average
    SUBHARMONIC_DB below their neighbours at multiples of m, the true f0 is m*f0.
    """
    nh = int((top - f0 / 2) // f0)
    if nh < 6:
        return f0
    amps = logmag[_peaks(logmag, df, f0, nh)] * _DB  # the same picks serve m = 2 and 3
    for m in (2, 3):
        if nh < 3 * m:
            break
        n = (nh // m) * m
        a = amps[:n].reshape(-1, m)  # rows: harmonics k*m+1 .. k*m+m
        on = a[:, -1]  # the multiples of m
        off = a[:, :-1].mean(axis=1)
        if float(np.mean(on - off)) > SUBHARMONIC_DB:
            return f0 * m
    return f0


@lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    w = np.hanning(n)
    w.flags.writeable = False
    return w


def _harmonics(
    x: np.ndarray, rate: float, f0: float, top: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Frequencies (Hz) and log amplitudes (nepers, 50 Hz pre-emphasis applied) of the
    harmonic peaks of the (un-emphasised) frame ``x`` below ``top``; None if fewer than 4."""
    nfft = 1 << max(11, int(np.ceil(np.log2(len(x) * 2))))
    logmag = np.log(np.abs(np.fft.rfft(x * _hann(len(x)), nfft)) + 1e-12)
    df = rate / nfft
    f0 = spectral_f0(logmag, df, f0, top)
    nh = int((top - f0 / 2) // f0)
    if nh < 4:
        return None
    k = _peaks(logmag, df, f0, nh)
    a, b, c = logmag[k - 1], logmag[k], logmag[k + 1]
    den = a - 2 * b + c
    shift = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    shift = np.clip(shift, -0.5, 0.5)  # a parabola's vertex lies between its outer points
    freqs = (k + shift) * df
    amps = b - 0.25 * (a - c) * shift
    # Take the room's noise out of the harmonic amplitudes: pre-emphasis lifts white noise by
    # 6 dB/octave, and where a dull voice sinks into it the noise "harmonics" look like
    # formants. Noise floor: the lower quartile of the spectrum in 16 bands (the bins between
    # resolved harmonics), raised by NOISE_OVER_DB since a maximum picked near k*f0 in pure
    # noise reads that much above it. What is left below the floor becomes a valley.
    kmax = int(top / df)
    edges = np.linspace(1, kmax, 17).astype(int)
    width = edges[1] - edges[0]
    bands = logmag[edges[0] : edges[0] + 16 * width].reshape(16, width)
    lv = np.partition(bands, width // 4, axis=1)[:, width // 4]
    cf = (edges[0] + (np.arange(16) + 0.5) * width) * df
    noise2 = np.exp(2.0 * (np.interp(freqs, cf, lv) + NOISE_OVER_DB / _DB))
    amps = 0.5 * np.log(np.maximum(np.exp(2.0 * amps) - noise2, noise2 * NOISE_FLOOR))
    pre = np.exp(-2.0 * np.pi * 50.0 / (2 * top))
    w = 2 * np.pi * freqs / (2 * top)
    amps = amps + 0.5 * np.log(1 + pre * pre - 2 * pre * np.cos(w))
    return freqs, amps


def _envelope_autocorr(
    freqs: np.ndarray, amps: np.ndarray, top: float, order: int, grid: np.ndarray | None = None
) -> np.ndarray:
    """Autocorrelation, at rate 2*top, of a smooth log envelope through the harmonic peaks."""
    grid = np.linspace(0.0, top, 513) if grid is None else grid
    env = np.interp(grid, freqs, amps)  # flat beyond the first and last harmonic
    return np.fft.irfft(np.exp(2.0 * (env - env.max())))[: order + 1]


def _harmonic_autocorr(
    x: np.ndarray, rate: float, f0: float, top: float, order: int
) -> np.ndarray | None:
    """Autocorrelation of the harmonic envelope of ``x`` (see ``_harmonics``); None if there
    are too few harmonics below ``top``."""
    h = _harmonics(x, rate, f0, top)
    return None if h is None else _envelope_autocorr(h[0], h[1], top, order)


def _poles(a: np.ndarray, fs: float, top: float, max_bw: float) -> tuple[np.ndarray, np.ndarray]:
    """Formant candidates (Hz, ascending) and bandwidths of the all-pole model ``a`` at ``fs``."""
    # roots of the predictor polynomial as companion-matrix eigenvalues (np.roots without its
    # argument checks: this runs up to 4 times a frame)
    comp = np.diag(np.ones(len(a) - 2), -1)
    comp[0, :] = -a[1:] / a[0]
    roots = np.linalg.eigvals(comp)
    roots = roots[np.imag(roots) > 0]
    freqs = np.angle(roots) * fs / (2 * np.pi)
    bws = -np.log(np.abs(roots) + 1e-12) * fs / np.pi
    keep = (freqs > 90.0) & (freqs < top - 80.0) & (bws < max_bw)
    freqs, bws = freqs[keep], bws[keep]
    order_idx = np.argsort(freqs)
    return freqs[order_idx], bws[order_idx]


def _as_formants(freqs: np.ndarray, bws: np.ndarray) -> Formants:
    f = [float(v) for v in freqs[:3]] + [0.0] * (3 - min(3, len(freqs)))
    b = [float(v) for v in bws[:3]] + [0.0] * (3 - min(3, len(bws)))
    return Formants(f[0], f[1], f[2], (b[0], b[1], b[2]))


def analyse_frame(
    frame: np.ndarray, rate: int, f0: float = 0.0, **kwargs: float | int | bool | None
) -> tuple[Formants, np.ndarray | None]:
    """F1-F3 and the harmonic envelope (``harmonic_envelope``; None when there are too few
    harmonics or no f0) of one voiced frame, from one spectrum: the live analyzer needs both."""
    return _estimate(frame, rate, f0, **kwargs)  # type: ignore[arg-type]


def frame_envelope(frame: np.ndarray, rate: int, f0: float) -> np.ndarray | None:
    """The harmonic envelope of one voiced frame without the formant fit (``analyse_frame``'s
    second half): one FFT and a peak pick, about a third of ``analyse_frame``'s cost, so the live
    analyzer can read the envelope on every frame and F1-F3 on fewer."""
    if f0 <= 0:
        return None
    top = min(ceiling_for_f0(f0), 0.5 * rate)
    h = _harmonics(np.asarray(frame, dtype=np.float64), rate, f0, top)
    return None if h is None else harmonic_envelope(h[0], h[1] * _DB)


def estimate_formants(
    frame: np.ndarray,
    rate: int,
    f0: float = 0.0,
    *,
    ceiling: float | None = None,
    n_formants: int = 5,
    harmonic: bool | None = None,
    extra_order: int = 2,
    max_bw: float = MAX_BANDWIDTH,
) -> Formants:
    """F1-F3 of one voiced frame (20-50 ms) at ``rate``; ``f0`` (Hz, 0 if unknown) adapts the band.

    ``harmonic`` forces/disables the harmonic-envelope fit (default: on above HARMONIC_F0).
    """
    return _estimate(frame, rate, f0, ceiling=ceiling, n_formants=n_formants, harmonic=harmonic,
                     extra_order=extra_order, max_bw=max_bw)[0]


def _estimate(
    frame: np.ndarray,
    rate: int,
    f0: float = 0.0,
    *,
    ceiling: float | None = None,
    n_formants: int = 5,
    harmonic: bool | None = None,
    extra_order: int = 2,
    max_bw: float = MAX_BANDWIDTH,
) -> tuple[Formants, np.ndarray | None]:
    top = ceiling if ceiling is not None else ceiling_for_f0(f0)
    top = min(top, 0.5 * rate)
    x = np.asarray(frame, dtype=np.float64)
    order = 2 * n_formants + extra_order
    use_h = harmonic if harmonic is not None else f0 >= HARMONIC_F0
    h = _harmonics(x, rate, f0, top) if (use_h and f0 > 0) else None
    fs = 2.0 * top
    if h is not None:
        freqs, amps = h
        octs = np.log2(freqs / freqs[0])
        best: Formants | None = None
        best_cost = np.inf
        grid = np.linspace(0.0, top, 513)
        zpow = np.exp(-2j * np.pi * np.outer(freqs / fs, np.arange(order + 1)))
        oc = octs - octs.mean()
        occ = float(oc @ oc)
        for t in EXTRA_TILTS:
            r = _envelope_autocorr(freqs, amps + t / _DB * octs, top, order, grid)
            try:
                a = lpc(r, order)
            except np.linalg.LinAlgError:
                continue
            pf, pb = _poles(a, fs, top, max_bw)
            narrow = pb < NARROW_BW
            readings = [_as_formants(pf, pb)]
            if not narrow.all():  # the same poles without the wide "filler" ones
                readings.append(_as_formants(pf[narrow], pb[narrow]))
            readings = [fm for fm in readings if fm.valid]
            if not readings:
                continue
            # model fit up to a free tilt (so the reading does not depend on the input's tilt),
            # in dB^2/10, plus how unlike any human vowel the reading is, plus a small
            # preference for the plain (50 Hz pre-emphasis) reading
            e = amps + np.log(np.abs(zpow @ a))
            e = e - e.mean()
            res = e - oc * (float(oc @ e) / occ)
            fit = float(res @ res) / len(res) * _DB**2 / 10.0
            for fm in readings:
                cost = fit + vowel_space_cost(f0, fm.f1, fm.f2, fm.f3) + (t / 6.0) ** 2
                if cost < best_cost:
                    best, best_cost = fm, cost
            if t == 0.0 and cost < GOOD_ENOUGH:
                break  # the plain reading is a clear vowel: other tilts would not win
        return best or Formants(0.0, 0.0, 0.0), harmonic_envelope(freqs, amps * _DB)
    if abs(fs - rate) > 1.0:
        frac = Fraction(int(round(fs)), int(rate)).limit_denominator(64)
        fs = rate * frac.numerator / frac.denominator
        x = soxr.resample(x, rate, fs, quality="HQ")  # anti-aliased, delay-compensated (was scipy's resample_poly)
    pre = np.exp(-2.0 * np.pi * 50.0 / fs)
    x = np.append(x[0], x[1:] - pre * x[:-1])
    r = _autocorr(x * np.hanning(len(x)), order)
    if r[0] <= 0:
        return Formants(0.0, 0.0, 0.0), None
    return _as_formants(*_poles(lpc(r, order), fs, top, max_bw)), None
