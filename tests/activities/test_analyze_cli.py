"""`prelude-play analyze FILE.wav --json` end to end, as a user runs it (a new process)."""

from __future__ import annotations

import json
import subprocess
import sys
import wave

import numpy as np

from prelude_play.audio.analysis import synth


def _write(path, x: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def test_analyze_command_reports_the_sung_vowel(tmp_path):
    rate = 16000
    v = synth.vowel((300, 2250, 2950), 180.0, rate, 0.6, rng=np.random.default_rng(1))
    gap = np.zeros(int(0.3 * rate), np.float32)
    wav = tmp_path / "ee.wav"
    _write(wav, np.concatenate([gap, v, gap]), rate)
    out = subprocess.run([sys.executable, "-m", "prelude_play", "analyze", str(wav), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    [seg] = doc["segments"]
    assert seg["vowel"] == "ee" and abs(seg["f0"] - 180) < 2
    assert abs(seg["start"] - 0.3) < 0.04 and abs(seg["end"] - 0.9) < 0.06


def test_analyze_command_rejects_a_non_wav(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    out = subprocess.run([sys.executable, "-m", "prelude_play", "analyze", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "analyze" in out.stderr and "Traceback" not in out.stderr
