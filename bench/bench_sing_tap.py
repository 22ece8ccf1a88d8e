"""Sing-and-tap benchmark: syllable count, high/low pitch, vowels and tap–voice asynchrony on
generated children's answers with taps at known offsets.

Run: python -m bench.bench_sing_tap [--quick] [--json FILE]

Each answer is a two- or three-syllable target sung by a synthetic child (Klatt cascade voice,
``prelude_play.audio.analysis.synth``, Peterson & Barney's children's formants with a per-child
scale of ±8 %, f0 230–420 Hz, a key up to a semitone off the model's, jitter, shimmer, breath,
vibrato), its consonants made by ``activities.sing_and_tap.voice`` from the spelling, syllables
300–550 ms with gaps of 0–200 ms (a gap of 0 is legato: the syllables touch), vowel attacks of
20–50 ms, room noise 25–40 dB below the voice, played into a 48 kHz microphone after up to a
second of silence. The child taps the right drum (9 in 10) or the wrong one at
N(−30, 60) ms (clipped to ±250 ms) from each vowel's onset. The voice is *not* the model voice
the app sings (another synthesiser), and the truth is what the generator put where.

Measured as the activity measures (``SyllableAnalyzer`` on the 48 kHz window, then
``logic.judge`` on the one clock): syllable count exact, each syllable's high/low (nearest
target note, octave folded), asynchrony error (measured tap − onset minus the offset put in),
and vowel accuracy where the analyzer was sure, beside the vowel analyzer's own
(``analyze_signal``) on the same child's steady vowels.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import numpy as np

from prelude_play.audio.analysis import analyze_signal, resample, synth

from prelude_play.activities.sing_and_tap.logic import Heard, SingSettings, Tap, Target, judge, midi_to_hz
from prelude_play.activities.sing_and_tap.voice import SungSyllable, sing

RATE = 48000
MS = 1_000_000
# Children's formants (Peterson & Barney 1952 means, Hz).
CHILD = {"ah": (1030, 1370, 3170), "ee": (370, 3200, 3730), "oo": (430, 1170, 3260),
         "oh": (600, 1100, 3050), "eh": (690, 2610, 3570)}
VOWELS = tuple(CHILD)
WORDS2 = [("hel", "lo"), ("ma", "ma"), ("ba", "by"), ("all", "done"), ("more", "please"), ("bye", "bye"),
          ("no", "way"), ("ta", "ta"), ("dad", "dy"), ("go", "go"), ("sun", "ny"), ("la", "la")]
WORDS3 = [("pi", "a", "no"), ("ba", "na", "na"), ("ta", "ble", "top"), ("mo", "re", "please"),
          ("hel", "lo", "mum"), ("row", "the", "boat"), ("big", "red", "bus"), ("la", "li", "lo")]


@dataclass
class Answer:
    target: Target
    x: np.ndarray  # the 48 kHz mic signal
    onsets_s: list[float]  # truth: each vowel's start in x
    f0s: list[float]
    vowels: list[str]
    taps: list[Tap]
    offsets_ms: list[float]
    legato: bool
    child: int


def child_vowel_fn(scale: float, rng: np.random.Generator, attack: float):
    def fn(vowel: str, f0: float, seconds: float, rate: int) -> np.ndarray:
        fm = [f * scale for f in CHILD[vowel]]
        y = synth.vowel(fm, f0, 16000, seconds, attack=attack, release=0.05, vibrato_cents=float(rng.uniform(0, 30)),
                        jitter=0.005, shimmer=0.03, breath=0.03, rng=np.random.default_rng(int(rng.integers(1 << 30))))
        return resample(y, 16000, rate)
    return fn


def make_answer(i: int, rng: np.random.Generator, s: SingSettings, size: int | None = None) -> Answer:
    words = WORDS2 if (size or (2 if i % 3 else 3)) == 2 else WORDS3
    syl = words[int(rng.integers(len(words)))]
    n = len(syl)
    pitches = [int(p) for p in rng.permutation([s.interval if k % 2 == 0 else 0 for k in range(n)])]
    if len(set(pitches)) == 1:
        pitches[-1] = s.interval - pitches[-1]
    vowels = [VOWELS[int(rng.integers(5))] for _ in range(n)]
    target = Target(f"bench{i}", "-".join(syl), tuple(syl), tuple(vowels), tuple(pitches))
    key = float(rng.uniform(-1.0, 1.0))  # the child's key against the model's, semitones
    octave = 1.0 if rng.random() < 0.8 else 0.5  # a few children sing an octave below the model
    f0s = [midi_to_hz(s.note(p) + key) * octave * 2 ** (float(rng.normal(0, 25)) / 1200) for p in pitches]
    legato = bool(rng.random() < 0.3)
    gap = 0.0 if legato else float(rng.uniform(0.05, 0.2))
    scale = float(rng.uniform(0.92, 1.08))
    fn = child_vowel_fn(scale, rng, float(rng.uniform(0.02, 0.05)))
    sung = [SungSyllable(t, v, f, float(rng.uniform(0.3, 0.55))) for t, v, f in zip(syl, vowels, f0s)]
    r = sing(sung, fn, RATE, gap_s=gap, peak=float(rng.uniform(0.2, 0.6)))
    lead = float(rng.uniform(0.2, 1.0))
    x = np.concatenate([np.zeros(int(lead * RATE)), r.samples, np.zeros(int(0.4 * RATE))]).astype(np.float64)
    voice_rms = float(np.sqrt(np.mean(r.samples.astype(np.float64) ** 2)))
    noise = np.cumsum(rng.standard_normal(len(x))) * 0.02  # brownish room rumble + hiss
    noise = noise - np.convolve(noise, np.ones(480) / 480, "same") + rng.standard_normal(len(x))
    noise *= voice_rms / (np.sqrt(np.mean(noise ** 2)) * 10 ** (float(rng.uniform(25, 40)) / 20))
    x = (x + noise).astype(np.float32)
    onsets = [lead + o for o in r.onsets]
    drums = target.drums(s.interval)
    taps, offs = [], []
    for k, o in enumerate(onsets):
        off = float(np.clip(rng.normal(-30, 60), -250, 250))
        wrong = rng.random() < 0.1
        d = drums[k] if not wrong else ("low" if drums[k] == "high" else "high")
        taps.append(Tap(int((o + off / 1000) * 1e9), d, "midi", None))
        offs.append(off)
    return Answer(target, x, onsets, f0s, vowels, taps, offs, legato, i)


def measure(answers: list[Answer], s: SingSettings) -> dict:
    from prelude_play.audio.analysis.syllables import SyllableAnalyzer

    an = SyllableAnalyzer()
    exact = 0
    async_err: list[float] = []
    pitch_ok = pitch_n = 0
    vowel_ok = vowel_sure = vowel_all = 0
    own_ok = own_sure = own_all = 0
    by_size: dict[int, list[int]] = {}
    legato = [0, 0]
    outcomes: dict[str, int] = {}
    cpu = []
    for a in answers:
        t0 = time.process_time()
        syl = an.analyse(a.x, RATE)
        cpu.append((time.process_time() - t0) * 1000)
        heard = [Heard(int(g.onset * 1e9), int(g.end * 1e9), g.f0, g.vowel, g.abstained, g.confidence) for g in syl]
        j = judge(a.target, "alone", s, heard, a.taps, ())
        assert j is not None
        outcomes[j.outcome] = outcomes.get(j.outcome, 0) + 1
        ok = len(syl) == a.target.size
        exact += ok
        by_size.setdefault(a.target.size, [0, 0])
        by_size[a.target.size][0] += ok
        by_size[a.target.size][1] += 1
        if a.legato:
            legato[0] += ok
            legato[1] += 1
        if not ok:
            continue
        for k, row in enumerate(j.syllables):
            if "pitch_ok" in row:
                pitch_n += 1
                pitch_ok += bool(row["pitch_ok"])
            tap = row.get("tap")
            if tap is not None and tap["to"] == "voice":
                async_err.append(tap["async_ms"] - a.offsets_ms[k])
            vowel_all += 1
            if not row["not_sure"]:
                vowel_sure += 1
                vowel_ok += row["vowel"] == a.vowels[k]
    # the vowel analyzer on the same children's steady vowels (one per answer and syllable vowel)
    rng = np.random.default_rng(99)
    for a in answers[: max(20, len(answers) // 3)]:
        for v, f0 in zip(a.vowels, a.f0s):
            fn = child_vowel_fn(float(rng.uniform(0.92, 1.08)), rng, 0.03)
            y = np.concatenate([np.zeros(1600), resample(fn(v, f0, 0.5, RATE), RATE, 16000), np.zeros(1600)])
            segs = analyze_signal(synth.add_noise(y.astype(np.float32), 30.0, rng), 16000)
            own_all += 1
            if segs:
                g = max(segs, key=lambda q: q.duration)
                if not g.abstained:
                    own_sure += 1
                    own_ok += g.vowel == v
    e = np.abs(np.array(async_err)) if async_err else np.zeros(1)
    n = len(answers)
    return {
        "answers": n, "count_exact_pct": round(100 * exact / n, 1),
        "count_exact_by_size": {str(k): round(100 * v[0] / v[1], 1) for k, v in sorted(by_size.items())},
        "count_exact_legato_pct": round(100 * legato[0] / legato[1], 1) if legato[1] else None,
        "pitch_high_low_pct": round(100 * pitch_ok / pitch_n, 1) if pitch_n else None, "pitch_syllables": pitch_n,
        "async_err_ms": {"p50": round(float(np.percentile(e, 50)), 2), "p95": round(float(np.percentile(e, 95)), 2),
                         "max": round(float(e.max()), 2), "mean_signed": round(float(np.mean(async_err)), 2) if async_err else None,
                         "taps": len(async_err)},
        "vowels_in_syllables": {"accuracy_when_sure_pct": round(100 * vowel_ok / vowel_sure, 1) if vowel_sure else None,
                                "not_sure_pct": round(100 * (vowel_all - vowel_sure) / vowel_all, 1) if vowel_all else None,
                                "syllables": vowel_all},
        "vowel_analyzer_steady": {"accuracy_when_sure_pct": round(100 * own_ok / own_sure, 1) if own_sure else None,
                                  "not_sure_pct": round(100 * (own_all - own_sure) / own_all, 1) if own_all else None,
                                  "tokens": own_all},
        "outcomes": outcomes, "cpu_ms_per_answer": {"median": round(float(np.median(cpu)), 1),
                                                    "max": round(float(np.max(cpu)), 1)},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="60 answers instead of 300")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--seed", type=int, default=18)
    a = ap.parse_args(argv)
    s = SingSettings()
    rng = np.random.default_rng(a.seed)
    n = 60 if a.quick else 300
    answers = [make_answer(i, rng, s) for i in range(n)]
    fig = measure(answers, s)
    print(json.dumps(fig, indent=2))
    ok = (fig["count_exact_pct"] >= 95 and (fig["pitch_high_low_pct"] or 0) >= 95
          and fig["async_err_ms"]["p95"] <= 10)
    print("targets (count ≥ 95 %, high/low ≥ 95 %, asynchrony error p95 ≤ 10 ms):", "met" if ok else "NOT met")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(fig, fh, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
