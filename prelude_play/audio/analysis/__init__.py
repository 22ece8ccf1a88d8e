"""Voice analysis for the vowel activities: WAV input, pitch, formants, vowels, live analyzer.

Pure numpy/scipy. See ``stream.VoiceAnalyzer`` for the live path and ``offline.analyze_file``
for recordings (``prelude-play analyze``).
"""

from .formants import Formants, estimate_formants
from .offline import analyze_file, analyze_signal, format_table, run_analyze
from .pitch import PitchEstimate, cents, cents_octave_folded, yin
from .stream import AnalyzerConfig, Segment, VoiceAnalyzer, VoiceEvent
from .vowels import IPA, VOWELS, Calibration, VowelClassifier, VowelResult
from .wavio import read_wav, resample

__all__ = [
    "IPA", "VOWELS", "AnalyzerConfig", "Calibration", "Formants", "PitchEstimate", "Segment",
    "VoiceAnalyzer", "VoiceEvent", "VowelClassifier", "VowelResult", "analyze_file",
    "analyze_signal", "cents", "cents_octave_folded", "format_table", "estimate_formants", "read_wav",
    "resample", "run_analyze", "yin",
]
