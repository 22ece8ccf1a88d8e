"""Start-up stays fast: discovering activities must not import scipy (over a second to import)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
from prelude_play.activity import discover
reg = discover()
assert not reg.errors, [str(e) for e in reg.errors]
import prelude_play.shell.app, prelude_play.devices.build, prelude_play.hits, prelude_play.audio, prelude_play.midi.hub
assert 'activities' not in sys.modules, 'the top-level activities package was imported'
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'matplotlib'))
print(len(reg.entries), ' '.join(heavy[:5]))
"""


def test_discovering_activities_imports_no_scipy_or_matplotlib():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    count, _, heavy = out.stdout.strip().splitlines()[-1].partition(" ")
    assert int(count) >= 5
    assert heavy == "", f"imported at start-up: {heavy}"


RUNTIME_PROBE = """
import sys
import scipy  # the test extra has it; block it to prove the app never needs it
sys.modules['scipy'] = None
for name in list(sys.modules):
    if name.startswith('scipy.'):
        sys.modules[name] = None
from prelude_play.audio.analysis import VoiceAnalyzer, analyze_file, read_wav, resample
import prelude_play.audio.analysis.offline, prelude_play.audio.analysis.syllables, prelude_play.audio.bank
import numpy as np
a = VoiceAnalyzer(rate=48000)
print(len(resample(np.zeros(4800, dtype=np.float32), 48000, 16000)))
"""


def test_the_voice_analysis_and_the_wav_reader_run_without_scipy():
    """scipy is a bench/test dependency only (issue 17): soxr resamples, numpy makes the FIR."""
    out = subprocess.run([sys.executable, "-c", RUNTIME_PROBE], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1600"
