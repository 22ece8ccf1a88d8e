"""Test and model signals: a Klatt-style cascade formant vowel, and a plucked string.

Used by the tests and benchmarks (vowels with known f0 and formants) and usable as a plain
model voice. The glottal source is a Rosenberg pulse evaluated at exact (fractional) times, so
the pitch is exact even at 800 Hz — impulse trains rounded to samples would add tens of cents.

Vowels are made at an internal rate of at least ``SYNTH_MIN_RATE`` and resampled to the rate
asked for: a digital two-pole resonator only behaves like the vocal tract's (analogue)
resonance well below Nyquist. Run directly at 16 kHz, the F4/F5 resonators sat near Nyquist
and lifted 2-6 kHz by 5-15 dB compared with the same vowel made at 48 kHz, so one "voice"
had a different spectral tilt at every rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import lfilter, resample_poly

SYNTH_MIN_RATE = 44100  # resonators run at rate * k >= this, k an integer


def _pulse_times(
    duration: float, f0: float | np.ndarray, rate: int, jitter: float, rng: np.random.Generator
) -> np.ndarray:
    """Glottal cycle start times (s); ``f0`` may be a per-sample contour."""
    times = [0.0]
    contour = np.atleast_1d(np.asarray(f0, dtype=np.float64))
    while times[-1] < duration:
        t = times[-1]
        i = min(len(contour) - 1, int(t * rate)) if contour.size > 1 else 0
        period = 1.0 / contour[i]
        if jitter:
            period *= 1.0 + jitter * float(rng.standard_normal())
        times.append(t + period)
    return np.asarray(times)


def glottal_source(
    duration: float,
    f0: float | np.ndarray,
    rate: int,
    *,
    jitter: float = 0.0,
    shimmer: float = 0.0,
    open_quotient: float = 0.6,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Differentiated Rosenberg glottal flow (i.e. source + lip radiation), length duration*rate."""
    rng = rng or np.random.default_rng(0)
    n = int(round(duration * rate))
    starts = _pulse_times(duration, f0, rate, jitter, rng)
    amps = 1.0 + shimmer * rng.standard_normal(len(starts))
    t = np.arange(n + 1) / rate
    k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 2)
    period = starts[k + 1] - starts[k]
    ph = (t - starts[k]) / period
    tp = open_quotient * 2.0 / 3.0
    tn = open_quotient / 3.0
    g = np.where(
        ph < tp,
        0.5 * (1.0 - np.cos(np.pi * ph / tp)),
        np.where(ph < tp + tn, np.cos(0.5 * np.pi * (ph - tp) / tn), 0.0),
    )
    g *= amps[k]
    return np.diff(g)


def resonator(x: np.ndarray, freq: float, bw: float, rate: int) -> np.ndarray:
    """Klatt's two-pole resonator with unity gain at DC."""
    c = -np.exp(-2.0 * np.pi * bw / rate)
    b = 2.0 * np.exp(-np.pi * bw / rate) * np.cos(2.0 * np.pi * freq / rate)
    a = 1.0 - b - c
    return lfilter([a], [1.0, -b, -c], x)


def default_bandwidths(formants: Sequence[float]) -> list[float]:
    """Bandwidths that grow with frequency (roughly Fant's/Hawks & Miller's values)."""
    return [50.0 + 0.05 * f + (0.00003 * f * f if f > 2000 else 0.0) for f in formants]


def vowel(
    formants: Sequence[float],
    f0: float | np.ndarray,
    rate: int = 16000,
    duration: float = 0.5,
    *,
    bandwidths: Sequence[float] | None = None,
    jitter: float = 0.005,
    shimmer: float = 0.03,
    breath: float = 0.02,
    vibrato_cents: float = 0.0,
    vibrato_hz: float = 5.5,
    level_dbfs: float = -20.0,
    attack: float = 0.03,
    release: float = 0.05,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A sung vowel: formant frequencies F1..Fn (n >= 3; F4/F5 added if missing), f0 in Hz.

    Cascade resonators (Klatt 1980) on a jittered/shimmered glottal source plus a little
    aspiration noise; RMS set to ``level_dbfs``; raised-cosine attack and release.
    """
    rng = rng or np.random.default_rng(1)
    k = max(1, -(-SYNTH_MIN_RATE // int(rate)))  # oversampling factor (ceil)
    fast = int(rate) * k
    fs = list(formants)
    if len(fs) < 4:
        fs.append(max(fs[-1] * 1.25, fs[-1] + 700.0))
    if len(fs) < 5:
        fs.append(fs[-1] + 1000.0)
    fs = [f for f in fs if f < 0.47 * fast]  # the resampler removes what lies above rate/2
    bws = list(bandwidths) if bandwidths is not None else default_bandwidths(fs)
    n = int(round(duration * rate))
    nf = n * k
    if vibrato_cents:
        t = np.arange(nf) / fast
        contour = float(np.mean(f0)) * 2.0 ** (
            vibrato_cents / 1200.0 * np.sin(2 * np.pi * vibrato_hz * t)
        )
        f0 = contour
    elif np.ndim(f0) and k > 1:  # a per-sample contour at ``rate``: hold it at the fast rate
        f0 = np.repeat(np.asarray(f0, dtype=np.float64), k)
    src = glottal_source(duration, f0, fast, jitter=jitter, shimmer=shimmer, rng=rng)[:nf]
    src = np.pad(src, (0, nf - len(src)))
    if breath:
        noise = rng.standard_normal(nf) * breath * np.std(src)
        src = src + noise
    y = src
    for f, b in zip(fs, bws):
        y = resonator(y, f, b, fast)
    if k > 1:
        y = resample_poly(y, 1, k)[:n]
    y = _envelope(y, rate, attack, release)
    return _set_level(y, level_dbfs).astype(np.float32)


def pluck(
    f0: float,
    rate: int = 16000,
    duration: float = 1.0,
    *,
    decay_s: float = 0.6,
    level_dbfs: float = -20.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A Karplus-Strong plucked string (a stand-in for the therapist's guitar).

    Harmonic and periodic like a voice, but with an instant attack and exponential decay.
    """
    rng = rng or np.random.default_rng(2)
    n = int(round(duration * rate))
    delay = rate / f0
    d_int = int(np.floor(delay - 0.5))
    frac = delay - 0.5 - d_int
    # one-pole all-pass for the fractional part of the loop delay, to keep the pitch exact
    ap = (1 - frac) / (1 + frac)
    loss = 10 ** (-3.0 * delay / (decay_s * rate))  # -60 dB after decay_s
    buf = rng.uniform(-1, 1, d_int + 2)
    y = np.zeros(n)
    y[: len(buf)] = buf[: min(n, len(buf))]
    prev_in = prev_out = 0.0
    for i in range(d_int + 1, n):
        avg = 0.5 * (y[i - d_int] + y[i - d_int - 1]) * loss
        out = ap * avg + prev_in - ap * prev_out
        prev_in, prev_out = avg, out
        y[i] = out
    y = resonator(y, 110.0, 60.0, rate) * 0.3 + y  # a hint of body resonance
    return _set_level(y, level_dbfs, peak_window=int(0.1 * rate)).astype(np.float32)


def add_noise(
    x: np.ndarray, snr_db: float, rng: np.random.Generator | None = None, *, ref: np.ndarray | None = None
) -> np.ndarray:
    """White noise at ``snr_db`` below the RMS of ``ref`` (default: the nonzero part of ``x``)."""
    rng = rng or np.random.default_rng(3)
    r = x if ref is None else ref
    p = float(np.mean(np.asarray(r, dtype=np.float64) ** 2))
    noise = rng.standard_normal(len(x)) * np.sqrt(p / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


def _envelope(y: np.ndarray, rate: int, attack: float, release: float) -> np.ndarray:
    env = np.ones(len(y))
    na = min(len(y), int(attack * rate))
    nr = min(len(y) - na, int(release * rate))
    if na:
        env[:na] = 0.5 - 0.5 * np.cos(np.pi * np.arange(na) / na)
    if nr:
        env[len(y) - nr :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(nr) / nr)
    return y * env


def _set_level(y: np.ndarray, dbfs: float, peak_window: int | None = None) -> np.ndarray:
    seg = y[:peak_window] if peak_window else y
    rms = float(np.sqrt(np.mean(seg**2))) or 1.0
    return y * (10 ** (dbfs / 20) / rms)
