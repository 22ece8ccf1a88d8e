"""The sung model: a voice that says syllables, not only vowels, on each syllable's pitch.

Each syllable is its consonant onset followed by a sung vowel. The vowel is any function
``vowel_fn(vowel, f0_hz, seconds, rate)`` (the app's sung-vowel synth for the model; the
bench's Klatt voice with children's formants for test answers); the consonant is made here from
its manner of articulation, read from the syllable's spelling:

- plosive (p b t d k g c q): a closure (silence), a 10 ms noise burst in the band of its place
  (lips low, tongue tip high, back in between), voiced ones with a low voice bar;
- nasal (m n): a 70 ms murmur on the syllable's pitch through a nasal resonance (~250 Hz);
- fricative (s z f v h ch j x): 80 ms of band noise (/h/: noise through the vowel's own
  formants, as aspiration is);
- liquid or glide (l r w y): 60 ms of a vowel-like sound with its own formants, crossfaded
  into the vowel.

Vowel onsets fall on the beat (``syllable_ms + gap_ms`` apart): that is where the pads light and
where a tap is due. Rendered once at prepare time (tens of milliseconds per word), never in the
audio callback. Noise is seeded from the text, so a word sounds the same in every session.
"""

from __future__ import annotations

import unicodedata
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

VowelFn = Callable[[str, float, float, int], np.ndarray]

PLOSIVES = {"p": (400, 1500), "b": (400, 1500), "t": (3000, 6500), "d": (3000, 6500), "k": (1500, 3500),
            "g": (1500, 3500), "c": (1500, 3500), "q": (1500, 3500)}
FRICATIVES = {"s": (4000, 8000), "z": (4000, 8000), "f": (1500, 7000), "v": (1500, 7000), "x": (3000, 7000),
              "j": (2000, 6000), "h": (0, 0)}
LIQUIDS = {"l": (360, 1300, 2700), "r": (420, 1100, 1700), "w": (330, 750, 2400), "y": (300, 2300, 3000)}
VOICED = set("bdgvzjmnlrwy")
# Formants (F1, F2, F3) for /h/ aspiration and for the liquids' glide into the vowel.
VOWEL_FORMANTS = {"ah": (900, 1300, 2900), "ee": (320, 2500, 3200), "oo": (370, 900, 2500),
                  "oh": (520, 950, 2600), "eh": (600, 2000, 2900)}


def _plain(text: str) -> str:
    """Lower case without accents ("Élé" -> "ele")."""
    s = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in s if unicodedata.category(c) != "Mn" and c.isalpha())


def onset_of(syllable: str, language: str = "en") -> tuple[str, str]:
    """(manner, letter) of a syllable's first consonant: plosive, nasal, fricative, liquid or none."""
    s = _plain(syllable)
    if not s:
        return "none", ""
    c = s[0]
    if s.startswith("ch") or s.startswith("sh"):
        return "fricative", "s" if language.startswith("en") else "j"
    if c == "h":
        return ("none", "") if language.startswith("fr") else ("fricative", "h")
    if c in PLOSIVES:
        return "plosive", c
    if c in "mn":
        return "nasal", c
    if c in FRICATIVES:
        return "fricative", c
    if c in LIQUIDS:
        return "liquid", c
    return "none", ""


def _band(noise: np.ndarray, lo: float, hi: float, rate: int) -> np.ndarray:
    spec = np.fft.rfft(noise)
    f = np.fft.rfftfreq(len(noise), 1.0 / rate)
    spec[(f < lo) | (f > hi)] = 0.0
    return np.fft.irfft(spec, len(noise))


def _resonate(x: np.ndarray, formants: tuple[float, ...], rate: int) -> np.ndarray:
    """Shape a signal's spectrum with resonance peaks (frequency domain; short signals only)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / rate)
    env = np.zeros_like(f)
    for i, fc in enumerate(formants):
        bw = 80.0 + 0.06 * fc
        env += (0.5 ** i) / (1.0 + ((f - fc) / (bw / 2)) ** 2)
    return np.fft.irfft(spec * env, len(x))


def _unit(x: np.ndarray) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return x / m if m > 0 else x


def _harmonic(f0: float, n: int, rate: int, partials: int = 12) -> np.ndarray:
    t = np.arange(n) / rate
    return sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, partials + 1) if f0 * k < rate / 2.2)


def consonant(manner: str, letter: str, f0: float, vowel: str, rate: int, seed: int) -> np.ndarray:
    """The consonant before a vowel, peak relative to the vowel's peak of 1 (empty for none)."""
    rng = np.random.default_rng(seed)
    if manner == "plosive":
        closure = int(0.05 * rate)
        burst_n = int(0.012 * rate)
        lo, hi = PLOSIVES[letter]
        burst = _unit(_band(rng.standard_normal(burst_n), lo, hi, rate)) * 0.2
        burst *= np.exp(-np.arange(burst_n) / (0.004 * rate))
        aspiration = int((0.008 if letter in VOICED else 0.02) * rate)
        asp = _unit(_resonate(rng.standard_normal(aspiration), VOWEL_FORMANTS.get(vowel, VOWEL_FORMANTS["ah"]),
                              rate)) * 0.06
        pre = np.zeros(closure)
        if letter in VOICED:  # a voice bar under the closure
            pre = _unit(_resonate(_harmonic(f0, closure, rate, 3), (250.0,), rate)) * 0.05
        return np.concatenate([pre, burst, asp])
    if manner == "nasal":
        n = int(0.07 * rate)
        x = _unit(_resonate(_harmonic(f0, n, rate), (250.0, 1000.0 if letter == "m" else 1700.0, 2500.0), rate))
        return x * 0.25 * np.minimum(1.0, np.arange(n) / (0.015 * rate))
    if manner == "fricative":
        n = int(0.08 * rate)
        if letter == "h":
            x = _unit(_resonate(rng.standard_normal(n), VOWEL_FORMANTS.get(vowel, VOWEL_FORMANTS["ah"]), rate)) * 0.12
        else:
            lo, hi = FRICATIVES[letter]
            x = _unit(_band(rng.standard_normal(n), lo, hi, rate)) * (0.18 if letter in "sz" else 0.08)
            if letter in VOICED:
                x = x + _unit(_resonate(_harmonic(f0, n, rate, 4), (250.0,), rate)) * 0.12
        ramp = np.minimum(1.0, np.arange(n) / (0.02 * rate))
        return x * ramp
    if manner == "liquid":
        n = int(0.06 * rate)
        x = _unit(_resonate(_harmonic(f0, n, rate), LIQUIDS[letter], rate)) * 0.4
        return x * np.minimum(1.0, np.arange(n) / (0.02 * rate))
    return np.zeros(0)


@dataclass(frozen=True, slots=True)
class SungSyllable:
    """One syllable to sing: its spelling (for the consonant), vowel, pitch (Hz), length (s)."""

    text: str
    vowel: str
    f0: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Rendered:
    """The sung word: samples at ``rate`` and, per syllable, (consonant start, vowel onset, end)
    in seconds from the first sample. ``onsets`` are on the beat."""

    samples: np.ndarray
    rate: int
    times: tuple[tuple[float, float, float], ...]

    @property
    def onsets(self) -> tuple[float, ...]:
        return tuple(t[1] for t in self.times)

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def sing(syllables: list[SungSyllable], vowel_fn: VowelFn, rate: int, *, gap_s: float = 0.15,
         language: str = "en", lead_s: float = 0.12, gains: list[float] | None = None,
         peak: float = 0.6) -> Rendered:
    """Sing ``syllables`` one per beat: each vowel starts ``seconds + gap_s`` after the one before
    (the first after ``lead_s``, room for its consonant). ``gains`` scale each syllable (0 = silent
    on that beat: the partial model of the fading stage)."""
    gains = gains or [1.0] * len(syllables)
    beats = []
    t = lead_s
    for s in syllables:
        beats.append(t)
        t += s.seconds + gap_s
    total = int((t + 0.3) * rate)
    out = np.zeros(total)
    times = []
    for s, onset, g in zip(syllables, beats, gains):
        manner, letter = onset_of(s.text, language)
        seed = zlib.crc32(f"{s.text}:{s.vowel}:{s.f0:.1f}".encode())
        v = _unit(np.asarray(vowel_fn(s.vowel, s.f0, s.seconds, rate), dtype=np.float64))
        c = consonant(manner, letter, s.f0, s.vowel, rate, seed)
        i0 = int(round(onset * rate))
        if c.size:
            if manner != "plosive":  # murmur, noise or glide runs into the vowel: overlap by 20 ms
                k = min(int(0.02 * rate), c.size, v.size)
                c = c.copy()
                c[-k:] *= np.linspace(1.0, 0.0, k)
                start = i0 - c.size + k
            else:
                start = i0 - c.size
            start = max(0, start)
            out[start:start + c.size] += g * c[: total - start]
            c_start = start / rate
        else:
            c_start = onset
        end = min(total, i0 + v.size)
        out[i0:end] += g * v[: end - i0]
        times.append((c_start, onset, onset + s.seconds))
    m = float(np.max(np.abs(out)))
    if m > 0:
        out *= peak / m
    return Rendered(out.astype(np.float32), rate, tuple(times))


def model_vowel(vowel: str, f0: float, seconds: float, rate: int) -> np.ndarray:
    """The app's sung-vowel synth (additive, formant envelope, vibrato) for the model voice."""
    from prelude_play.audio import synth

    v = vowel if vowel in synth.VOWELS else "ah"
    return synth.vowel(v, f0, rate, dur=max(0.3, seconds - 0.12), pitch_is_hz=True, vibrato_cents=15.0).data


__all__ = ["SungSyllable", "Rendered", "sing", "onset_of", "consonant", "model_vowel"]
