"""Pitch and real-time benchmark.

Run: python -m bench.bench_pitch

1. Pitch: synthetic vowels (5 formant patterns) at 41 f0s log-spaced 80-800 Hz with slow
   vibrato, white noise at 10 dB SNR; raw per-frame YIN (no tracking) against the true
   instantaneous f0 at each frame centre. Gross error = > 50 cents.
2. Real time: CPU time (process_time) of VoiceAnalyzer on 48 kHz input in 10 ms blocks, for
   continuous voice and for a session-like mix (1/3 voice, rest noise); onset -> first vowel
   latency measured in samples.
"""

from __future__ import annotations

import time

import numpy as np

from prelude_play.audio.analysis import VoiceAnalyzer, synth
from prelude_play.audio.analysis.pitch import cents, yin, yin_window
from prelude_play.clock import FakeClock

PATTERNS = [(700, 1200, 2600), (300, 2300, 3000), (350, 850, 2400), (500, 900, 2450), (550, 1850, 2550)]


def pitch_bench(rate: int = 16000) -> None:
    rng = np.random.default_rng(1234)
    _, n = yin_window(rate)
    errs: list[float] = []
    gross = 0
    total = 0
    per_band: dict[str, list[int]] = {}
    for f0 in np.geomspace(80, 800, 41):
        scale = float(np.clip((f0 / 120) ** 0.35, 1.0, 1.55))
        for fm in PATTERNS:
            dur = 0.5
            t = np.arange(int(dur * rate)) / rate
            contour = f0 * 2 ** (20 / 1200 * np.sin(2 * np.pi * 5 * t + rng.uniform(0, 6)))
            x = synth.vowel([f * scale for f in fm], contour, rate, dur, jitter=0.0, rng=rng)
            x = synth.add_noise(x, 10.0, rng)
            for s in range(800, len(x) - n - 800, 160):
                true = float(np.exp(np.mean(np.log(contour[s : s + n]))))
                est = yin(x[s : s + n], rate).f0
                total += 1
                band = "80-200" if f0 < 200 else ("200-400" if f0 < 400 else "400-800")
                per_band.setdefault(band, [0, 0])[1] += 1
                c = abs(cents(est, true)) if est > 0 else 1e9
                if c > 50:
                    gross += 1
                    per_band[band][0] += 1
                else:
                    errs.append(c)
    print(f"pitch @10 dB SNR: {total} frames, gross errors {100 * gross / total:.2f}%, "
          f"median error {np.median(errs):.2f} cents, 90th pct {np.percentile(errs, 90):.1f} cents")
    for band, (g, t) in per_band.items():
        print(f"  {band:>8} Hz: gross {100 * g / t:.2f}% of {t}")


def realtime_bench(rate: int = 48000) -> None:
    rng = np.random.default_rng(5)
    block = rate // 100
    for label, voiced_share in (("continuous voice", 1.0), ("session-like (1/3 voice)", 1 / 3)):
        parts = []
        onsets = []
        pos = 0
        for i in range(20):
            gap = int(rate * (0.05 if voiced_share == 1.0 else 1.0))
            parts.append(np.zeros(gap, np.float32))
            pos += gap
            v = synth.vowel(PATTERNS[i % 5], 110 + 17 * i, rate, 0.5 if voiced_share < 1 else 1.0,
                            attack=0.01, rng=rng)
            onsets.append(pos)
            parts.append(v)
            pos += len(v)
        x = synth.add_noise(np.concatenate(parts), 30, rng, ref=parts[1])
        an = VoiceAnalyzer(rate, FakeClock(0))
        events = []
        t0 = time.process_time()
        for i in range(0, len(x), block):
            events.extend(an.feed(x[i : i + block]))
        cpu = time.process_time() - t0
        audio = len(x) / rate
        lat = []
        for on in onsets:
            first = [e for e in events if e.kind == "update" and e.vowel and on <= e.decided_at < on + rate // 2]
            if first:
                lat.append((first[0].decided_at - on) / rate * 1000)
        line = f"{label}: CPU {100 * cpu / audio:.2f}% of one core ({cpu:.2f} s for {audio:.1f} s at {rate} Hz)"
        if voiced_share < 1:  # separate notes: each onset is its own segment
            line += (f"; onset->vowel latency median {np.median(lat):.0f} ms, "
                     f"max {np.max(lat):.0f} ms ({len(lat)}/{len(onsets)} onsets)")
        print(line)


if __name__ == "__main__":
    pitch_bench()
    realtime_bench()
