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
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import resample_poly

HARMONIC_F0 = 0.0
MAX_BANDWIDTH = 1200.0


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
    """All-pole coefficients [1, a1..ap] from autocorrelation ``r`` (Levinson via solve_toeplitz)."""
    r = np.asarray(r, dtype=np.float64).copy()
    r[0] *= 1.0 + 1e-9
    r[0] += 1e-12
    a = solve_toeplitz((r[:order], r[:order]), -r[1 : order + 1])
    return np.concatenate(([1.0], a))


def _autocorr(x: np.ndarray, order: int) -> np.ndarray:
    nfft = 1 << int(np.ceil(np.log2(2 * len(x))))
    s = np.fft.rfft(x, nfft)
    return np.fft.irfft(s * np.conj(s), nfft)[: order + 1]


def _harmonic_autocorr(
    x: np.ndarray, rate: float, f0: float, top: float, order: int
) -> np.ndarray | None:
    """Autocorrelation, at rate 2*top, of a smooth envelope through the harmonic peaks of the
    (un-emphasised) frame ``x``; 50 Hz pre-emphasis is applied in the frequency domain.
    None if there are too few harmonics below ``top``."""
    nfft = 1 << max(11, int(np.ceil(np.log2(len(x) * 2))))
    logmag = np.log(np.abs(np.fft.rfft(x * np.hanning(len(x)), nfft)) + 1e-12)
    df = rate / nfft
    nh = int((top - f0 / 2) // f0)
    if nh < 4:
        return None
    half = max(1, int(0.15 * f0 / df))
    centers = np.rint(np.arange(1, nh + 1) * f0 / df).astype(int)
    idx = np.clip(centers[:, None] + np.arange(-half, half + 1)[None, :], 1, len(logmag) - 2)
    k = idx[np.arange(nh), np.argmax(logmag[idx], axis=1)]
    a, b, c = logmag[k - 1], logmag[k], logmag[k + 1]
    den = a - 2 * b + c
    shift = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    freqs = (k + shift) * df
    amps = b - 0.25 * (a - c) * shift
    pre = np.exp(-2.0 * np.pi * 50.0 / (2 * top))
    w = 2 * np.pi * freqs / (2 * top)
    amps = amps + 0.5 * np.log(1 + pre * pre - 2 * pre * np.cos(w))
    grid = np.linspace(0.0, top, 513)
    env = np.interp(grid, freqs, amps)  # flat beyond the first and last harmonic
    return np.fft.irfft(np.exp(2.0 * env))[: order + 1]


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
    top = ceiling if ceiling is not None else ceiling_for_f0(f0)
    top = min(top, 0.5 * rate)
    x = np.asarray(frame, dtype=np.float64)
    order = 2 * n_formants + extra_order
    use_h = harmonic if harmonic is not None else f0 >= HARMONIC_F0
    r = _harmonic_autocorr(x, rate, f0, top, order) if (use_h and f0 > 0) else None
    fs = 2.0 * top
    if r is None:
        if abs(fs - rate) > 1.0:
            frac = Fraction(int(round(fs)), int(rate)).limit_denominator(64)
            x = resample_poly(x, frac.numerator, frac.denominator)
            fs = rate * frac.numerator / frac.denominator
        pre = np.exp(-2.0 * np.pi * 50.0 / fs)
        x = np.append(x[0], x[1:] - pre * x[:-1])
        r = _autocorr(x * np.hanning(len(x)), order)
    if r[0] <= 0:
        return Formants(0.0, 0.0, 0.0)
    a = lpc(r, order)
    roots = np.roots(a)
    roots = roots[np.imag(roots) > 0]
    freqs = np.angle(roots) * fs / (2 * np.pi)
    bws = -np.log(np.abs(roots) + 1e-12) * fs / np.pi
    keep = (freqs > 90.0) & (freqs < top - 80.0) & (bws < max_bw)
    freqs, bws = freqs[keep], bws[keep]
    order_idx = np.argsort(freqs)
    freqs, bws = freqs[order_idx], bws[order_idx]
    f = [float(v) for v in freqs[:3]] + [0.0] * (3 - min(3, len(freqs)))
    b = [float(v) for v in bws[:3]] + [0.0] * (3 - min(3, len(bws)))
    return Formants(f[0], f[1], f[2], (b[0], b[1], b[2]))
