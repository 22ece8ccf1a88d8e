"""Pitch and real-time benchmark.

Run: python -m bench.bench_pitch

1. Pitch: synthetic vowels (5 formant patterns) at 41 f0s log-spaced 80-800 Hz with slow
   vibrato, white noise at 10 dB SNR; raw per-frame YIN (no tracking, no smoothing across
   frames) against the true f0 over each frame. Gross error = > 50 cents. The headline line
   (seed 1234, no jitter) is the issue-5 figure; the "also" lines are other seeds/conditions
   (the octave check was tuned on seeds 7-10 and 99, never on 1234).
2. Real time: CPU time (process_time) of VoiceAnalyzer on 48 kHz input in 10 ms blocks, for
   continuous voice and for a session-like mix (1/3 voice, rest noise); onset -> first vowel
   latency measured in samples.
3. Onset -> vowel shown, wider set: 60 voice onsets (f0 90-500 Hz, formants scaled with f0,
   attacks 2-40 ms incl. hard glottal ones, 15-35 dB SNR) and 40 plucked strings; latency of
   the first vowel shown and of the first *correct* vowel shown, and plucks taken for voice.
   Since issue 16 a vowel the analyzer is not sure of comes with ``abstained``: "estimate" is
   the first vowel in any update, "shown" the first one not abstained (what a child would see).
4. Reading variants (issue 16): microseconds per frame of the full reading and of the envelope
   alone, and the real-time CPU of each (formant_every, envelope_every) in ``READING_VARIANTS``.
"""

from __future__ import annotations

import time

import numpy as np

from prelude_play.audio.analysis import AnalyzerConfig, VoiceAnalyzer, synth
from prelude_play.audio.analysis.formants import analyse_frame, frame_envelope
from prelude_play.audio.analysis.pitch import cents, yin, yin_window
from prelude_play.clock import FakeClock

PATTERNS = [(700, 1200, 2600), (300, 2300, 3000), (350, 850, 2400), (500, 900, 2450), (550, 1850, 2550)]


def pitch_bench(
    rate: int = 16000, seed: int = 1234, snr_db: float = 10.0, jitter: float = 0.0, label: str = ""
) -> None:
    rng = np.random.default_rng(seed)
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
            x = synth.vowel([f * scale for f in fm], contour, rate, dur, jitter=jitter,
                            rng=rng)
            x = synth.add_noise(x, snr_db, rng)
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
    print(f"{label}pitch @{snr_db:g} dB SNR (per-frame YIN, seed {seed}, jitter {100 * jitter:g}%): "
          f"{total} frames, gross errors {100 * gross / total:.2f}%, "
          f"median error {np.median(errs):.2f} cents, 90th pct {np.percentile(errs, 90):.1f} cents")
    if not label:
        for band, (g, t) in per_band.items():
            print(f"  {band:>8} Hz: gross {100 * g / t:.2f}% of {t}")


def realtime_bench(rate: int = 48000, config: AnalyzerConfig | None = None, tag: str = "") -> None:
    """``config``: an analyzer setting to cost (default: the shipped one); ``tag`` prefixes the lines."""
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
        cpus = []
        for _ in range(3):  # shared VM: report the median and the least disturbed of 3 runs
            an = VoiceAnalyzer(rate, FakeClock(0), config=config)
            events = []
            t0 = time.process_time()
            for i in range(0, len(x), block):
                events.extend(an.feed(x[i : i + block]))
            cpus.append(time.process_time() - t0)
        cpu = float(np.median(cpus))
        audio = len(x) / rate
        lat = []
        for on in onsets:
            first = [e for e in events if e.kind == "update" and e.vowel and on <= e.decided_at < on + rate // 2]
            if first:
                lat.append((first[0].decided_at - on) / rate * 1000)
        line = (f"{tag}{label}: CPU {100 * cpu / audio:.2f}% of one core, median of 3 (min "
                f"{100 * min(cpus) / audio:.2f}%; {cpu:.2f} s for {audio:.1f} s at {rate} Hz)")
        if voiced_share < 1:  # separate notes: each onset is its own segment
            line += (f"; onset->vowel latency median {np.median(lat):.0f} ms, "
                     f"max {np.max(lat):.0f} ms ({len(lat)}/{len(onsets)} onsets)")
        print(line)


# (formant_every, envelope_every) tried in issue 16's third iteration; (4, 2) is shipped
READING_VARIANTS = ((4, 4), (4, 2), (4, 1), (2, 1), (1, 1))


def frame_cost_bench(n: int = 2000) -> None:
    """Microseconds for one 40 ms frame (16 kHz, F0 220 Hz): the full reading (F1-F3 and the
    envelope) against the envelope alone, which the analyzer reads between its LPC frames."""
    x = synth.vowel((500, 900, 2400), 220.0, 16000, 0.5, rng=np.random.default_rng(1))
    fr = x[2000:2640].astype(np.float64)
    for name, fn in (("analyse_frame (F1-F3 + envelope)", lambda: analyse_frame(fr, 16000, 220.0)),
                     ("frame_envelope (envelope alone)", lambda: frame_envelope(fr, 16000, 220.0))):
        fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        print(f"per frame: {name}: {(time.perf_counter() - t0) / n * 1e6:.0f} us")


def variants_bench() -> None:
    """CPU of each (formant_every, envelope_every) reading, one after another (same minutes)."""
    frame_cost_bench()
    for fe, ee in READING_VARIANTS:
        realtime_bench(config=AnalyzerConfig(formant_every=fe, envelope_every=ee),
                       tag=f"LPC every {fe}, envelope every {ee}: ")


VOWEL_PATTERNS = dict(zip(("ah", "ee", "oo", "oh", "eh"), PATTERNS))


def _feed(x: np.ndarray, rate: int, expected: str | None = None) -> list:
    an = VoiceAnalyzer(rate, FakeClock(0))
    an.expect(expected)  # vowel_match's answer to a call of ``expected`` (None: a lone recording)
    block = rate // 100
    events = []
    for i in range(0, len(x), block):
        events.extend(an.feed(x[i : i + block]))
    return events + an.flush()


def onset_bench(rate: int = 48000, seed: int = 11, n_voice: int = 60, n_pluck: int = 40) -> None:
    """First vowel shown after a voice onset (any, and the first correct one), plus guitar
    plucks wrongly taken for voice (the hold that costs latency exists to reject those)."""
    rng = np.random.default_rng(seed)
    names = list(VOWEL_PATTERNS)
    first, correct, wrong_first, never, changed, slow = [], [], 0, 0, 0, []
    wrong_lines: list[str] = []
    shown_at: list[float] = []
    shown_wrong = never_shown = 0
    answer_at: list[float] = []  # the same onsets as answers to a call of the vowel sung
    answer_wrong = answer_never = 0
    for k in range(n_voice):
        f0 = float(np.exp(rng.uniform(np.log(90), np.log(500))))
        vowel = names[k % 5]
        scale = float(np.clip((f0 / 120) ** 0.35, 1.0, 1.55))
        attack = float(rng.choice([0.002, 0.005, 0.01, 0.02, 0.04]))
        v = synth.vowel([f * scale for f in VOWEL_PATTERNS[vowel]], f0, rate, 0.5, attack=attack,
                        jitter=rng.uniform(0.003, 0.012), level_dbfs=rng.uniform(-35, -15), rng=rng)
        pre = int(0.3 * rate)
        x = np.concatenate([np.zeros(pre, np.float32), v, np.zeros(pre, np.float32)])
        x = synth.add_noise(x, rng.uniform(15, 35), rng, ref=v)
        ups = [e for e in _feed(x, rate) if e.kind == "update" and e.vowel]
        if not ups:
            never += 1
            continue
        shown = [u for u in ups if not u.abstained]
        if shown:
            shown_at.append((shown[0].decided_at - pre) / rate * 1000)
            shown_wrong += any(u.vowel != vowel for u in shown)
        else:
            never_shown += 1
        called = [e for e in _feed(x, rate, vowel) if e.kind == "update" and e.vowel and not e.abstained]
        if called:
            answer_at.append((called[0].decided_at - pre) / rate * 1000)
            answer_wrong += any(u.vowel != vowel for u in called)
        else:
            answer_never += 1
        first.append((ups[0].decided_at - pre) / rate * 1000)
        wrong_first += ups[0].vowel != vowel
        if ups[0].vowel != vowel:
            wrong_lines.append(f"{f0:.0f} Hz {vowel} shown as {ups[0].vowel}, then "
                               f"{','.join(u.vowel for u in ups[1:6])}...")
        changed += any(u.vowel != ups[0].vowel for u in ups)
        ok = [u for u in ups if u.vowel == vowel]
        if ok:
            correct.append((ok[0].decided_at - pre) / rate * 1000)
        if first[-1] > 100 or (ok and correct[-1] > 100):
            slow.append(f"{f0:.0f} Hz {vowel} attack {attack * 1000:g} ms: first {ups[0].vowel} at "
                        f"{first[-1]:.0f} ms, correct at {correct[-1] if ok else float('nan'):.0f} ms")
    accepted = 0
    for _ in range(n_pluck):
        f0 = float(np.exp(rng.uniform(np.log(80), np.log(800))))
        p = synth.pluck(f0, rate, 1.2, decay_s=rng.uniform(0.5, 4.0), level_dbfs=rng.uniform(-35, -15),
                        rng=rng)
        x = np.concatenate([np.zeros(int(0.3 * rate), np.float32), p, np.zeros(int(0.3 * rate), np.float32)])
        x = synth.add_noise(x, rng.uniform(25, 45), rng, ref=p)
        accepted += any(e.kind == "onset" for e in _feed(x, rate))
    print(f"onset->vowel shown (seed {seed}, {n_voice} onsets): "
          f"first vowel median {np.median(first):.0f} ms, "
          f"90th pct {np.percentile(first, 90):.0f} ms, max {np.max(first):.0f} ms; "
          f"first CORRECT vowel median {np.median(correct):.0f} ms, max {np.max(correct):.0f} ms "
          f"({len(correct)}/{n_voice} onsets ever correct)")
    print(f"  first vowel shown wrong {wrong_first}/{len(first)}, vowel changed during the segment "
          f"{changed}/{len(first)}, no vowel at all {never}; plucks taken for voice {accepted}/{n_pluck}")
    if shown_at:
        print(f"  first vowel shown NOT abstained: median {np.median(shown_at):.0f} ms, 90th pct "
              f"{np.percentile(shown_at, 90):.0f} ms, max {np.max(shown_at):.0f} ms; abstained throughout "
              f"{never_shown}/{len(first)}; a wrong vowel shown (not abstained) at any update {shown_wrong}/{len(first)}")
    if answer_at:
        print(f"  as the answer to a call of the vowel sung (vowel_match): first vowel shown median "
              f"{np.median(answer_at):.0f} ms, 90th pct {np.percentile(answer_at, 90):.0f} ms, max "
              f"{np.max(answer_at):.0f} ms; not sure throughout {answer_never}/{len(first)}; a wrong vowel "
              f"shown at any update {answer_wrong}/{len(first)}")
    for line in slow:
        print(f"  over 100 ms: {line}")
    for line in wrong_lines:
        print(f"  first shown wrong: {line}")


if __name__ == "__main__":
    pitch_bench()
    pitch_bench(seed=99, label="also: ")
    pitch_bench(seed=9, jitter=0.01, label="also: ")
    pitch_bench(seed=8, snr_db=20.0, jitter=0.01, label="also: ")
    pitch_bench(seed=7, snr_db=5.0, jitter=0.01, label="also: ")
    realtime_bench()
    onset_bench()
    onset_bench(seed=12)
    variants_bench()
