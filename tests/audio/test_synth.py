"""Synth voices: pitch by autocorrelation equals the note; vowel formants where asked."""

from __future__ import annotations

import numpy as np
import pytest

from prelude_play.audio import SoundBank, UnknownSoundError
from prelude_play.audio import synth
from prelude_play.audio.synth import midi_to_hz

RATE = 48000


def f0_autocorr(x: np.ndarray, fmin: float = 60, fmax: float = 1500) -> float:
    """Fundamental by autocorrelation (robust when a formant harmonic is the loudest)."""
    x = x - x.mean()
    n = 1 << int(np.ceil(np.log2(2 * x.size)))
    X = np.fft.rfft(x, n)
    r = np.fft.irfft(np.abs(X) ** 2)[: x.size]
    lo, hi = int(RATE / fmax), int(RATE / fmin)
    k = lo + int(np.argmax(r[lo:hi]))
    a, b, c = r[k - 1], r[k], r[k + 1]
    k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return RATE / k


def cents(f: float, ref: float) -> float:
    return 1200 * np.log2(f / ref)


@pytest.mark.parametrize("note", [40, 52, 60, 69, 76])
def test_guitar_is_in_tune(note):
    s = synth.guitar(note, RATE)
    seg = s.data[int(0.2 * RATE) : int(0.2 * RATE) + 8192].astype(np.float64)
    assert abs(cents(f0_autocorr(seg), midi_to_hz(note))) < 10


@pytest.mark.parametrize("note", [48, 60, 64, 72])
def test_keys_is_in_tune(note):
    s = synth.keys(note, RATE)
    seg = s.data[int(0.1 * RATE) : int(0.1 * RATE) + 8192].astype(np.float64)
    assert abs(cents(f0_autocorr(seg), midi_to_hz(note))) < 5


@pytest.mark.parametrize("vowel,note", [("ah", 48), ("ee", 57), ("oo", 60), ("oh", 64), ("eh", 67)])
def test_vowel_pitch(vowel, note):
    s = synth.vowel(vowel, note, RATE, vibrato_cents=0)
    seg = s.data[int(0.3 * RATE) : int(0.3 * RATE) + 8192].astype(np.float64)
    assert abs(cents(f0_autocorr(seg), midi_to_hz(note))) < 5


def harmonic_amps(x: np.ndarray, f0: float) -> tuple[np.ndarray, np.ndarray]:
    w = np.hanning(x.size)
    X = np.abs(np.fft.rfft(x * w))
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    ks = np.arange(1, int(5000 // f0))
    amps = np.array([X[np.argmin(np.abs(freqs - k * f0))] for k in ks])
    return ks * f0, amps


@pytest.mark.parametrize("vowel", ["ah", "ee", "oo", "oh", "eh"])
def test_vowel_formants_where_asked(vowel):
    f0 = 110.0  # dense harmonics sample the envelope finely
    s = synth.vowel(vowel, f0, RATE, vibrato_cents=0, pitch_is_hz=True, voice="tenor")
    seg = s.data[int(0.3 * RATE) : int(0.3 * RATE) + 16384].astype(np.float64)
    hf, amps = harmonic_amps(seg, f0)
    # undo the source's -6 dB/oct tilt to see the formant envelope, then find its peaks
    env = amps * (hf / f0)
    (F1, _, _), (F2, _, _) = synth.FORMANTS["tenor"][vowel][:2]
    band1 = (hf > 150) & (hf < (F1 + F2) / 2)
    f1 = hf[band1][np.argmax(env[band1])]
    band2 = (hf > (F1 + F2) / 2) & (hf < 2400)
    f2 = hf[band2][np.argmax(env[band2])]
    assert abs(f1 - F1) <= f0 * 0.75
    assert abs(f2 - F2) <= f0 * 0.75


def test_vowels_differ_in_second_formant():
    def f2_energy(v):
        x = synth.vowel(v, 130.0, RATE, vibrato_cents=0, pitch_is_hz=True).data.astype(float)
        X = np.abs(np.fft.rfft(x[: 1 << 15]))
        f = np.fft.rfftfreq(1 << 15, 1 / RATE)
        P = X**2
        return P[(f > 1600) & (f < 2300)].sum() / P.sum()

    assert f2_energy("ee") > 5 * f2_energy("oo")


def test_vibrato_moves_pitch():
    s = synth.vowel("ah", 57, RATE, vibrato_cents=50)
    win = 4096
    f = [f0_autocorr(s.data[i : i + win].astype(float)) for i in range(int(0.7 * RATE), int(1.1 * RATE), 1200)]
    spread = max(cents(x, midi_to_hz(57)) for x in f) - min(cents(x, midi_to_hz(57)) for x in f)
    assert 30 < spread < 120


def test_vowel_loop_is_seamless():
    s = synth.vowel("oh", 60, RATE)
    assert s.loop is not None
    ls, le = s.loop
    x = s.data.astype(float)
    typical = np.abs(np.diff(x[ls:le])).max()
    assert abs(x[ls] - x[le - 1]) <= typical * 1.5


@pytest.mark.parametrize("note", list(range(35, 60)) + [82])
def test_every_gm_drum_renders_finite_and_normalised(note):
    s = synth.drum(note, RATE)
    assert np.all(np.isfinite(s.data)) and 0.05 < s.duration_s < 3
    assert np.max(np.abs(s.data)) == pytest.approx(synth.PEAK, rel=1e-3)
    assert abs(s.data[-1]) < 1e-3  # faded tail: no click at the end


def test_kick_is_low_and_hihat_is_high():
    def centroid(x):
        X = np.abs(np.fft.rfft(x.astype(float)))
        f = np.fft.rfftfreq(x.size, 1 / RATE)
        P = X**2  # power centroid
        return (P * f).sum() / P.sum()

    assert centroid(synth.drum(36).data) < 400 < 5000 < centroid(synth.drum(42).data)


def test_bank_names_and_samples():
    b = SoundBank()
    assert b.get("guitar:60") is b.get("guitar:60")  # cached
    assert b.get("vowel:ee:220hz:2s").duration_s == pytest.approx(2.12, abs=0.01)
    assert "sample:guitar_C4" in b.samples()
    g = b.get("sample:guitar_C4")
    seg = g.data[4800 : 4800 + 8192].astype(float)
    assert abs(cents(f0_autocorr(seg), midi_to_hz(60))) < 15
    with pytest.raises(UnknownSoundError, match="drum:99"):
        b.prepare(["drum:38", "drum:99", "vowel:xx:60"])


def test_renders_are_deterministic():
    assert np.array_equal(synth.drum(38).data, synth.drum(38).data)
    assert np.array_equal(synth.guitar(60).data, synth.guitar(60).data)
