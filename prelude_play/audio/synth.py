"""Built-in voices, rendered with numpy at prepare time (never in the audio callback).

Every function returns a ``Sound``: float32 mono at ``rate``, peak-normalised so the voices sit
at similar loudness, with an optional sustain loop for held notes. Randomness (noise in drums,
the pluck) is seeded from the note so a sound is identical on every run — sessions are
reproducible and tests can compare renders.

Voices: a General MIDI drum kit (notes 35–59 plus a few hand percussion), a Karplus–Strong
plucked guitar (fractional-delay tuned, vectorised one period at a time), a mellow FM electric
piano, chimes (inharmonic bar partials), and a sung vowel (additive source × formant envelope,
vowel ah/ee/oo/oh/eh, any pitch, vibrato) that the vowel-matching activity uses as its model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_RATE = 48000
PEAK = 0.7


def _fft_len(n: int) -> int:
    return 1 << max(1, int(np.ceil(np.log2(max(n, 2)))))


def _butter_mag(kind: str, freq: float | tuple[float, float], rate: int, order: int, f: np.ndarray) -> np.ndarray:
    """Magnitude of the digital Butterworth filter (bilinear transform, as scipy.signal.butter).

    Closed form on the pre-warped axis: cheaper than designing sections and, unlike
    scipy.signal (whose import costs ~1.3 s), available at start-up.
    """
    w = np.tan(np.pi * np.clip(f / rate, 0.0, 0.4999))
    if kind == "bandpass":
        lo, hi = freq  # type: ignore[misc]
        wl = np.tan(np.pi * min(lo / rate, 0.495))
        wh = np.tan(np.pi * min(hi / rate, 0.4975))
        ratio = (w**2 - wl * wh) / (np.maximum(w, 1e-12) * (wh - wl))
    else:
        wc = np.tan(np.pi * min(float(freq) / rate, 0.495))  # type: ignore[arg-type]
        ratio = w / wc if kind == "lowpass" else wc / np.maximum(w, 1e-12)
    return 1.0 / np.sqrt(1.0 + ratio ** (2 * order))


def _butter(kind: str, freq: float | tuple[float, float], rate: int, x: np.ndarray, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth filtering in the frequency domain (inputs here are noise and
    steady tones filtered before their envelope, so phase does not matter)."""
    n = x.shape[0]
    m = _fft_len(n)
    spec = np.fft.rfft(x, m)
    spec *= _butter_mag(kind, freq, rate, order, np.fft.rfftfreq(m, 1.0 / rate))
    return np.fft.irfft(spec, m)[:n]


def _iir(b: list[float], a: list[float], x: np.ndarray) -> np.ndarray:
    """Causal IIR filtering (like scipy.signal.lfilter) through the exact frequency response.

    Zero-padding past the slowest pole's decay to 1e-9 keeps circular wrap-around below that.
    """
    n = x.shape[0]
    poles = np.roots(a) if len(a) > 1 else np.array([0.0])
    r = float(np.max(np.abs(poles))) if poles.size else 0.0
    tail = int(np.ceil(np.log(1e-9) / np.log(r))) if 0.0 < r < 1.0 else 0
    m = _fft_len(n + tail)
    z = np.exp(-2j * np.pi * np.fft.rfftfreq(m))
    h = np.polyval(np.asarray(b, float)[::-1], z) / np.polyval(np.asarray(a, float)[::-1], z)
    return np.fft.irfft(np.fft.rfft(x, m) * h, m)[:n]


@dataclass(frozen=True)
class Sound:
    """A prepared sound. ``loop`` (start, end) frames is the sustain region for held notes;
    ``release_ms`` is how long a note-off fades it."""

    name: str
    data: np.ndarray
    rate: int
    loop: tuple[int, int] | None = None
    release_ms: float = 30.0

    @property
    def duration_s(self) -> float:
        return self.data.shape[0] / self.rate


def midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _norm(x: np.ndarray, peak: float = PEAK) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    if m > 0:
        x = x * (peak / m)
    return x.astype(np.float32)


def _t(dur: float, rate: int) -> np.ndarray:
    return np.arange(int(dur * rate)) / rate


def _fade_tail(x: np.ndarray, rate: int, ms: float = 10.0) -> np.ndarray:
    n = min(x.shape[0], int(ms * rate / 1000))
    if n > 0:
        x[-n:] *= np.linspace(1.0, 0.0, n)
    return x


def _noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def _sweep_tone(f0: float, f1: float, sweep_tau: float, decay_tau: float, dur: float, rate: int) -> np.ndarray:
    t = _t(dur, rate)
    f = f1 + (f0 - f1) * np.exp(-t / sweep_tau)
    phase = 2 * np.pi * np.cumsum(f) / rate
    return np.sin(phase) * np.exp(-t / decay_tau)


def _metal(scale: float, dur: float, rate: int) -> np.ndarray:
    """808-style metallic tone: six detuned square waves (cymbals, hats, cowbell)."""
    t = _t(dur, rate)
    out = np.zeros_like(t)
    for f in (205.3, 304.4, 369.6, 522.7, 540.0, 800.0):
        out += np.sign(np.sin(2 * np.pi * f * scale * t))
    return out


def _noise_hit(seed: int, dur: float, tau: float, band: tuple[float, float], rate: int, attack_ms: float = 0.5) -> np.ndarray:
    n = int(dur * rate)
    x = _butter("bandpass", band, rate, x=_noise(n, seed))
    t = np.arange(n) / rate
    env = np.exp(-t / tau) * np.minimum(1.0, t / (attack_ms / 1000 + 1e-9))
    return x * env


def _cymbal(seed: int, dur: float, tau: float, scale: float, rate: int, hp: float = 6000.0) -> np.ndarray:
    n = int(dur * rate)
    t = np.arange(n) / rate
    x = 0.6 * _metal(scale, dur, rate) + _noise(n, seed)
    x = _butter("highpass", hp, rate, order=4, x=x)
    return x * np.exp(-t / tau)


def _tom(f: float, rate: int) -> np.ndarray:
    return _sweep_tone(f * 1.6, f, 0.03, 0.25, 0.7, rate) + 0.05 * _noise_hit(int(f), 0.7, 0.05, (200, 2000), rate)


# GM percussion key map: note -> (name, renderer(rate) -> array)
def _drum_table() -> dict[int, tuple[str, object]]:
    def kick(r: int, deep: bool) -> np.ndarray:
        x = _sweep_tone(180 if deep else 220, 45 if deep else 55, 0.025, 0.35 if deep else 0.25, 0.6, r)
        return x + 0.3 * _noise_hit(36, 0.6, 0.004, (1000, 6000), r)

    def snare(r: int, bright: bool) -> np.ndarray:
        tone = _sweep_tone(330, 185, 0.01, 0.08, 0.45, r)
        nz = _noise_hit(38 if bright else 40, 0.45, 0.12 if bright else 0.09, (1500, 9000), r)
        return 0.6 * tone + nz

    def clap(r: int) -> np.ndarray:
        n = int(0.4 * r)
        t = np.arange(n) / r
        env = np.zeros(n)
        for off in (0.0, 0.011, 0.022, 0.033):
            env += (t >= off) * np.exp(-np.maximum(t - off, 0) / (0.008 if off < 0.03 else 0.12))
        return _butter("bandpass", (800, 3000), r, _noise(n, 39)) * env

    def hat(r: int, tau: float, dur: float, seed: int) -> np.ndarray:
        return _cymbal(seed, dur, tau, 1.7, r, hp=7000)

    def cowbell(r: int) -> np.ndarray:
        t = _t(0.5, r)
        x = np.sign(np.sin(2 * np.pi * 540 * t)) + np.sign(np.sin(2 * np.pi * 800 * t))
        x = _butter("bandpass", (500, 3000), r, x)
        return x * (0.6 * np.exp(-t / 0.02) + 0.4 * np.exp(-t / 0.15))

    def side_stick(r: int) -> np.ndarray:
        return _noise_hit(37, 0.15, 0.012, (1500, 5000), r) + 0.5 * _sweep_tone(900, 700, 0.01, 0.02, 0.15, r)

    def tambourine(r: int) -> np.ndarray:
        n = int(0.5 * r)
        t = np.arange(n) / r
        jingles = _metal(5.0, 0.5, r) * 0.4 + _noise(n, 54)
        x = _butter("highpass", 5000, r, order=4, x=jingles)
        return x * (np.exp(-t / 0.09) + 0.5 * np.exp(-np.maximum(t - 0.03, 0) / 0.05) * (t > 0.03))

    def shaker(r: int, seed: int, dur: float = 0.25) -> np.ndarray:
        n = int(dur * r)
        t = np.arange(n) / r
        env = np.sin(np.pi * np.minimum(t / dur, 1.0)) ** 2
        return _butter("bandpass", (3000, 12000), r, _noise(n, seed), order=3) * env

    def vibraslap(r: int) -> np.ndarray:
        n = int(0.8 * r)
        t = np.arange(n) / r
        rattle = (np.sin(2 * np.pi * 28 * t) > 0.9).astype(float)
        x = _butter("bandpass", (2000, 6000), r, _noise(n, 58)) * rattle
        return x * np.exp(-t / 0.3)

    def block(r: int, f: float) -> np.ndarray:
        return _sweep_tone(f * 1.05, f, 0.005, 0.035, 0.2, r) + 0.1 * _noise_hit(int(f), 0.2, 0.005, (1000, 8000), r)

    def triangle(r: int, tau: float) -> np.ndarray:
        t = _t(1.5 if tau > 0.2 else 0.3, r)
        f = 4200.0
        x = sum(a * np.sin(2 * np.pi * f * k * t) for k, a in ((1, 1.0), (1.48, 0.5), (2.2, 0.3)))
        return x * np.exp(-t / tau)

    def conga(r: int, f: float, tau: float) -> np.ndarray:
        return _sweep_tone(f * 1.3, f, 0.008, tau, 0.5, r) + 0.1 * _noise_hit(int(f), 0.5, 0.01, (500, 4000), r)

    return {
        35: ("acoustic bass drum", lambda r: kick(r, True)),
        36: ("bass drum", lambda r: kick(r, False)),
        37: ("side stick", side_stick),
        38: ("acoustic snare", lambda r: snare(r, True)),
        39: ("hand clap", clap),
        40: ("electric snare", lambda r: snare(r, False)),
        41: ("low floor tom", lambda r: _tom(82, r)),
        42: ("closed hi-hat", lambda r: hat(r, 0.04, 0.25, 42)),
        43: ("high floor tom", lambda r: _tom(98, r)),
        44: ("pedal hi-hat", lambda r: hat(r, 0.02, 0.15, 44)),
        45: ("low tom", lambda r: _tom(110, r)),
        46: ("open hi-hat", lambda r: hat(r, 0.35, 1.0, 46)),
        47: ("low-mid tom", lambda r: _tom(131, r)),
        48: ("hi-mid tom", lambda r: _tom(147, r)),
        49: ("crash cymbal 1", lambda r: _cymbal(49, 2.5, 0.7, 1.3, r, hp=3000)),
        50: ("high tom", lambda r: _tom(175, r)),
        51: ("ride cymbal 1", lambda r: _cymbal(51, 2.0, 0.6, 2.1, r, hp=5000) * 0.7),
        52: ("chinese cymbal", lambda r: _cymbal(52, 2.0, 0.5, 1.1, r, hp=2000)),
        53: ("ride bell", lambda r: _metal(2.6, 1.5, r) * np.exp(-_t(1.5, r) / 0.4)),
        54: ("tambourine", tambourine),
        55: ("splash cymbal", lambda r: _cymbal(55, 1.2, 0.3, 1.9, r, hp=5000)),
        56: ("cowbell", cowbell),
        57: ("crash cymbal 2", lambda r: _cymbal(57, 2.5, 0.8, 1.45, r, hp=3000)),
        58: ("vibraslap", vibraslap),
        59: ("ride cymbal 2", lambda r: _cymbal(59, 2.0, 0.6, 2.3, r, hp=5000) * 0.7),
        60: ("hi bongo", lambda r: conga(r, 400, 0.08)),
        61: ("low bongo", lambda r: conga(r, 300, 0.1)),
        62: ("mute hi conga", lambda r: conga(r, 330, 0.04)),
        63: ("open hi conga", lambda r: conga(r, 330, 0.18)),
        64: ("low conga", lambda r: conga(r, 220, 0.2)),
        69: ("cabasa", lambda r: shaker(r, 69, 0.15)),
        70: ("maracas", lambda r: shaker(r, 70, 0.1)),
        75: ("claves", lambda r: block(r, 2500)),
        76: ("hi wood block", lambda r: block(r, 1200)),
        77: ("low wood block", lambda r: block(r, 800)),
        80: ("mute triangle", lambda r: triangle(r, 0.05)),
        81: ("open triangle", lambda r: triangle(r, 0.6)),
        82: ("shaker", lambda r: shaker(r, 82, 0.25)),
    }


DRUM_NAMES: dict[int, str] = {k: v[0] for k, v in _drum_table().items()}


def drum(note: int, rate: int = DEFAULT_RATE) -> Sound:
    """A General MIDI percussion sound (key map: channel 10 notes 35–59, plus hand percussion)."""
    table = _drum_table()
    if note not in table:
        raise KeyError(f"no drum sound for GM note {note}; available: {sorted(table)}")
    x = table[note][1](rate)  # type: ignore[operator]
    x = _fade_tail(np.asarray(x, dtype=np.float64), rate, 20)
    return Sound(f"drum:{note}", _norm(x), rate, None, 40.0)


def guitar(note: float, rate: int = DEFAULT_RATE, dur: float = 2.5, brightness: float = 0.6) -> Sound:
    """Karplus–Strong plucked string.

    y[n] = x[n] + g·(h * y)[n−N] with h = averaging ⊛ linear-interpolation taps, so the loop
    delay is N + 0.5 + frac exactly (in tune at any pitch). Every y[n] in one period depends only
    on the previous period, so the recurrence runs one vectorised period at a time.
    """
    f = midi_to_hz(note)
    period = rate / f
    N = int(np.floor(period - 0.5))
    frac = period - 0.5 - N
    if N < 2:
        raise ValueError(f"guitar note {note} too high for {rate} Hz")
    taps = np.convolve([0.5, 0.5], [1.0 - frac, frac])  # delays N, N+1, N+2
    # loss per round trip: lower notes ring longer (t60 about 1.5-4 s)
    t60 = float(np.clip(4.0 * (110.0 / f) ** 0.5, 0.8, 5.0))
    g = 10 ** (-3.0 / (t60 * f))
    total = int(dur * rate)
    y = np.zeros(total + N + 2)
    rng = np.random.default_rng(int(note * 100))
    burst = rng.uniform(-1, 1, N)
    # soften the pluck: brightness 0..1 is a one-pole low-pass on the excitation
    burst = _iir([brightness], [1, -(1 - brightness)], burst)
    burst -= burst.mean()
    off = 2  # y[off + n] holds sample n; two zero samples of history before
    y[off : off + N] = burst
    pos = N
    while pos < total:
        k = min(N, total - pos)
        i = off + pos
        y[i : i + k] += g * (
            taps[0] * y[i - N : i - N + k] + taps[1] * y[i - N - 1 : i - N - 1 + k] + taps[2] * y[i - N - 2 : i - N - 2 + k]
        )
        pos += k
    x = y[off : off + total]
    x = _iir([1, -1], [1, -0.995], x)  # DC blocker
    x = _fade_tail(x, rate, 30)
    return Sound(f"guitar:{note:g}", _norm(x, 0.6), rate, None, 60.0)


def keys(note: float, rate: int = DEFAULT_RATE, dur: float = 3.0) -> Sound:
    """Mellow FM electric piano: carrier:modulator 1:1 with a decaying index (warm, few
    harmonics) plus a short 14:1 'tine' click on the attack."""
    f = midi_to_hz(note)
    t = _t(dur, rate)
    tau = float(np.clip(1.6 * (261.6 / f) ** 0.4, 0.5, 3.0))
    index = 1.2 * np.exp(-t / 0.5) + 0.25
    x = np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * f * t))
    if 14 * f < rate / 2.2:
        x += 0.08 * np.sin(2 * np.pi * 14 * f * t) * np.exp(-t / 0.03)
    env = np.exp(-t / tau) * np.minimum(1.0, t / 0.003)
    x = _fade_tail(x * env, rate, 50)
    return Sound(f"keys:{note:g}", _norm(x, 0.6), rate, None, 120.0)


def chimes(note: float, rate: int = DEFAULT_RATE, dur: float = 3.0) -> Sound:
    """Bar chimes / glockenspiel: inharmonic free-bar partials (1, 2.76, 5.40, 8.93), the
    upper ones dying fast so the fundamental carries the pitch."""
    f = midi_to_hz(note)
    t = _t(dur, rate)
    x = np.zeros_like(t)
    for ratio, amp, tau in ((1.0, 1.0, 1.2), (2.76, 0.35, 0.35), (5.40, 0.15, 0.12), (8.93, 0.08, 0.05)):
        if ratio * f < rate / 2.2:
            x += amp * np.sin(2 * np.pi * ratio * f * t) * np.exp(-t / tau)
    x *= np.minimum(1.0, t / 0.001)
    x = _fade_tail(x, rate, 50)
    return Sound(f"chimes:{note:g}", _norm(x, 0.5), rate, None, 200.0)


# Formant tables (Hz, bandwidth Hz, level dB): the classic Csound/Peterson-Barney style sets for
# soprano, alto and tenor singers. ah=a, ee=i, oo=u, oh=o, eh=e.
FORMANTS: dict[str, dict[str, tuple[tuple[float, float, float], ...]]] = {
    "soprano": {
        "ah": ((800, 80, 0), (1150, 90, -6), (2900, 120, -32), (3900, 130, -20), (4950, 140, -50)),
        "eh": ((350, 60, 0), (2000, 100, -20), (2800, 120, -15), (3600, 150, -40), (4950, 200, -56)),
        "ee": ((270, 60, 0), (2140, 90, -12), (2950, 100, -26), (3900, 120, -26), (4950, 120, -44)),
        "oh": ((450, 70, 0), (800, 80, -11), (2830, 100, -22), (3800, 130, -22), (4950, 135, -50)),
        "oo": ((325, 50, 0), (700, 60, -16), (2700, 170, -35), (3800, 180, -40), (4950, 200, -60)),
    },
    "alto": {
        "ah": ((800, 80, 0), (1150, 90, -4), (2800, 120, -20), (3500, 130, -36), (4950, 140, -60)),
        "eh": ((400, 60, 0), (1600, 80, -24), (2700, 120, -30), (3300, 150, -35), (4950, 200, -60)),
        "ee": ((350, 50, 0), (1700, 100, -20), (2700, 120, -30), (3700, 150, -36), (4950, 200, -60)),
        "oh": ((450, 70, 0), (800, 80, -9), (2830, 100, -16), (3500, 130, -28), (4950, 135, -55)),
        "oo": ((325, 50, 0), (700, 60, -12), (2530, 170, -30), (3500, 180, -40), (4950, 200, -64)),
    },
    "tenor": {
        "ah": ((650, 80, 0), (1080, 90, -6), (2650, 120, -7), (2900, 130, -8), (3250, 140, -22)),
        "eh": ((400, 70, 0), (1700, 80, -14), (2600, 100, -12), (3200, 120, -14), (3580, 120, -20)),
        "ee": ((290, 40, 0), (1870, 90, -15), (2800, 100, -18), (3250, 120, -20), (3540, 120, -30)),
        "oh": ((400, 40, 0), (800, 80, -10), (2600, 100, -12), (2800, 120, -12), (3000, 120, -26)),
        "oo": ((350, 40, 0), (600, 60, -20), (2700, 100, -17), (2900, 120, -14), (3300, 120, -26)),
    },
}
VOWELS = ("ah", "ee", "oo", "oh", "eh")
MAX_VOWEL_S = 10.0
"""The longest vowel rendered (a held note loops its sustain, so a model never needs more):
600 s took 1.8 GB and 18 s to render."""


def formant_envelope(freqs: np.ndarray, formants: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    """Spectral envelope: a sum of resonance peaks (parallel formant synthesis)."""
    env = np.zeros_like(freqs, dtype=np.float64)
    for fc, bw, db in formants:
        env += 10 ** (db / 20) / (1.0 + ((freqs - fc) / (bw / 2)) ** 2)
    return env


def vowel(
    vowel_name: str,
    pitch: float,
    rate: int = DEFAULT_RATE,
    *,
    dur: float = 1.5,
    vibrato_cents: float = 25.0,
    vibrato_hz: float = 5.5,
    voice: str = "auto",
    pitch_is_hz: bool = False,
) -> Sound:
    """A sung vowel: harmonic glottal source (−12 dB/oct tilt) shaped by a formant envelope.

    Additive synthesis puts each harmonic exactly at k·f0(t) with the envelope's gain, so the
    formants sit where the table says at any pitch. Vibrato fades in after 0.25 s. The sound has
    a crossfaded sustain loop so ``note_on`` can hold it as long as the therapist wants.
    """
    if vowel_name not in VOWELS:
        raise KeyError(f"unknown vowel {vowel_name!r}; choose one of {', '.join(VOWELS)}")
    f0 = float(pitch) if pitch_is_hz else midi_to_hz(pitch)
    if not 50.0 <= f0 <= 1600.0:
        raise ValueError(f"vowel pitch {f0:.1f} Hz outside 50..1600 Hz")
    if voice == "auto":
        voice = "tenor" if f0 < 200 else "alto" if f0 < 350 else "soprano"
    table = FORMANTS[voice][vowel_name]
    dur = float(dur)
    if not dur <= MAX_VOWEL_S:  # also NaN; rendering costs ~3 MB of memory per second held
        raise ValueError(f"vowel duration {dur:g} s is over {MAX_VOWEL_S:g} s")
    dur = max(0.3, dur)
    release = 0.12
    n = int((dur + release) * rate)
    t = np.arange(n) / rate
    vib_on = np.clip((t - 0.25) / 0.3, 0.0, 1.0)
    f_inst = f0 * 2.0 ** (vibrato_cents / 1200.0 * np.sin(2 * np.pi * vibrato_hz * t) * vib_on)
    phase = 2 * np.pi * np.cumsum(f_inst) / rate
    kmax = int(min(5500.0, rate / 2.3) // f0)
    ks = np.arange(1, kmax + 1)
    amps = formant_envelope(ks * f0, table) * ks ** -1.0
    x = np.zeros(n)
    for k, a in zip(ks, amps):
        x += a * np.sin(k * phase)
    env = np.minimum(1.0, t / 0.08)
    tail = t > dur
    env[tail] *= np.clip(1.0 - (t[tail] - dur) / release, 0.0, 1.0)
    x *= env
    x = _norm(x, 0.6).astype(np.float64)
    # sustain loop: from 0.6·dur to dur, the end crossfaded into the material before the start
    ls = int(min(0.6 * dur, dur - 0.2) * rate)
    le = int((dur - 0.02) * rate)
    xf = min(int(0.05 * rate), (le - ls) // 2, ls)
    if xf > 0 and le > ls:
        w = np.linspace(0.0, 1.0, xf)
        x[le - xf : le] = x[le - xf : le] * (1 - w) + x[ls - xf : ls] * w
        loop: tuple[int, int] | None = (ls, le)
    else:
        loop = None
    name = f"vowel:{vowel_name}:{pitch:g}{'hz' if pitch_is_hz else ''}"
    return Sound(name, x.astype(np.float32), rate, loop, 120.0)


def click(high: bool = True, rate: int = DEFAULT_RATE) -> Sound:
    """A short metronome tick for the backing pulse (accent = high)."""
    f = 1600.0 if high else 1000.0
    t = _t(0.05, rate)
    x = np.sin(2 * np.pi * f * t) * np.exp(-t / 0.008)
    return Sound(f"click:{'hi' if high else 'lo'}", _norm(_fade_tail(x, rate, 5), 0.5), rate)


__all__ = [
    "Sound", "midi_to_hz", "drum", "guitar", "keys", "chimes", "vowel", "click", "DRUM_NAMES",
    "FORMANTS", "VOWELS", "formant_envelope",
]
