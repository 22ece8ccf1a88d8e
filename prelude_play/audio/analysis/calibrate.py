"""Build a client's vowel calibration from a handful of recordings (issue 16).

Why: on recorded voices the general model is right about 7 times in 10; the same analyzer
calibrated with one good token per vowel of the client's own voice is right about 9 times in
10 (docs/bench/voice.md). The therapist's model recordings of the client's best vowels -- a
second or two each, under a minute in all -- are enough. Each recording is analysed exactly as
the live analyzer hears the client (``analyze_signal``), so the calibration holds what the
activity will compare against: formants *and* the harmonic envelope of the longest voiced
segment.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from prelude_play.errors import AnalysisError

from .offline import analyze_signal
from .stream import AnalyzerConfig, Segment
from .vowels import VOWELS, Calibration

MAX_TOTAL_S = 60.0  # "under a minute": more is a sign of a wrong file, not a better calibration
MIN_VOICED_S = 0.12  # shorter voiced segments carry too few analysis frames to trust


def build_calibration(
    recordings: Iterable[tuple[str, np.ndarray, int]],
    *,
    base: Calibration | None = None,
    config: AnalyzerConfig | None = None,
) -> Calibration:
    """A Calibration from ``(vowel, samples, rate)`` recordings of the client's own vowels.

    Each recording gives one token: its longest voiced segment of at least ``MIN_VOICED_S``
    (a recording without one is skipped). ``base``'s tokens are kept first (recalibrating adds
    to an earlier calibration). Raises AnalysisError for an unknown vowel, more than
    ``MAX_TOTAL_S`` of audio, or when no recording gave a usable token.
    """
    cal = Calibration(list(base.tokens) if base is not None else [])
    total = 0.0
    used = 0
    for i, (vowel, samples, rate) in enumerate(recordings):
        if vowel not in VOWELS:
            raise AnalysisError(f"calibration recording {i}: unknown vowel {vowel!r} (expected one of {', '.join(VOWELS)})")
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim > 1:
            x = x.mean(axis=1)
        total += len(x) / float(rate)
        if total > MAX_TOTAL_S:
            raise AnalysisError(f"calibration recordings last over {MAX_TOTAL_S:.0f} s; give a few seconds per vowel")
        seg = longest_voiced(analyze_signal(x, int(rate), config=config))
        if seg is None:
            continue
        try:
            cal.add(vowel, seg.f0, seg.f1, seg.f2, seg.f3, seg.envelope or None)
        except ValueError:
            continue  # neither formants nor an envelope: nothing to learn from this one
        used += 1
    if used == 0:
        raise AnalysisError("no calibration recording had a voiced vowel long enough to use")
    return cal


def longest_voiced(segments: list[Segment]) -> Segment | None:
    long = [s for s in segments if s.duration >= MIN_VOICED_S]
    return max(long, key=lambda s: s.duration) if long else None
