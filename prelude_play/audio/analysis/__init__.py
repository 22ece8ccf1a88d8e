"""Voice analysis for the vowel activities: WAV input, pitch, formants, vowels, live analyzer.

Pure numpy/scipy. See ``stream.VoiceAnalyzer`` for the live path and ``offline.analyze_file``
for recordings (``prelude-play analyze``).

Names are imported lazily (PEP 562): importing scipy.signal costs over a second, and the app
imports every activity at start-up, so ``from prelude_play.audio.analysis import VOWELS`` must
not pull in the modules that need scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Formants": "formants", "estimate_formants": "formants",
    "build_calibration": "calibrate",
    "analyze_file": "offline", "analyze_signal": "offline", "format_table": "offline", "run_analyze": "offline",
    "PitchEstimate": "pitch", "cents": "pitch", "cents_octave_folded": "pitch", "yin": "pitch",
    "AnalyzerConfig": "stream", "Segment": "stream", "VoiceAnalyzer": "stream", "VoiceEvent": "stream",
    "IPA": "vowels", "VOWELS": "vowels", "Calibration": "vowels", "Token": "vowels", "VowelClassifier": "vowels",
    "VowelResult": "vowels", "Pooling": "vowels", "SessionAdaptation": "vowels", "EnvelopeModel": "envelope",
    "read_wav": "wavio", "resample": "wavio",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
