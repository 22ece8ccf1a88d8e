"""``prelude-play doctor`` on this machine, with and without a JACK server, and its exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prelude_play.cli import main
from prelude_play.diagnostics import doctor

ROOT = Path(__file__).resolve().parents[2]


def run_doctor(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prelude_play", "doctor", "--data-dir", str(tmp_path), *args],
                          capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, **env), timeout=60)


def test_exit_code_is_one_only_when_something_needed_is_missing(monkeypatch, tmp_path, capsys):
    ok = [doctor.Check("font", doctor.OK, "there"), doctor.Check("JACK", doctor.OPTIONAL, "no", "apt")]
    monkeypatch.setattr(doctor, "run_checks", lambda data_dir: ok)
    assert main(["doctor", "--data-dir", str(tmp_path)]) == 0
    assert "Ready for sessions." in capsys.readouterr().out
    monkeypatch.setattr(doctor, "run_checks",
                        lambda data_dir: ok + [doctor.Check("audio output", doctor.MISSING, "none", "plug in")])
    assert main(["--data-dir", str(tmp_path), "doctor"]) == 1  # global option before or after
    out = capsys.readouterr().out
    assert "[MISS] audio output: none" in out and "fix: plug in" in out and "Not ready" in out


def test_audio_checks_name_the_fix():
    (out, mic) = doctor.check_audio([], None)
    assert out.status == doctor.MISSING and mic.status == doctor.OPTIONAL
    (pa,) = doctor.check_audio([], "libportaudio.so.2: cannot open")
    assert pa.status == doctor.MISSING
    if sys.platform.startswith("linux"):
        assert pa.fix == "sudo apt-get install libportaudio2"
    devs = [{"name": "USB Audio", "hostapi": "ALSA", "inputs": 1, "outputs": 2}]
    assert [c.status for c in doctor.check_audio(devs, None)] == [doctor.OK, doctor.OK]


def test_doctor_without_jack(tmp_path):
    """No server by that name: JACK is reported as not running (or not installed), with the fix."""
    r = run_doctor(tmp_path, "--json", JACK_DEFAULT_SERVER="pp-no-such-server", JACK_NO_START_SERVER="1")
    checks = {c["name"]: c for c in json.loads(r.stdout)}
    assert r.returncode == (1 if any(c["status"] == "missing" for c in checks.values()) else 0), r.stderr
    if "JACK server" in checks:
        assert checks["JACK server"]["status"] == "optional"
        assert "not running" in checks["JACK server"]["detail"] and "jackd" in checks["JACK server"]["fix"]
    else:
        assert checks["JACK"]["fix"]
    assert checks["font"]["status"] == "ok"
    assert {"data folder", "audio output", "microphone", "C core", "font", "speech (espeak-ng)"} <= set(checks)


@pytest.mark.realstack
def test_doctor_with_jack_running(jack_server, tmp_path):
    """With ``jackd -d dummy`` running: the server is found with its rate and period, and PortAudio's
    JACK devices count as audio output."""
    r = run_doctor(tmp_path, JACK_DEFAULT_SERVER=jack_server.name)
    assert "[ok  ] JACK server: running: 48000 Hz, 128 frames (2.7 ms)" in r.stdout, r.stdout + r.stderr
    assert "[ok  ] audio output:" in r.stdout and "JACK" in r.stdout
    assert r.returncode == (1 if "[MISS]" in r.stdout else 0)


def test_jack_not_installed_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    monkeypatch.setattr(doctor.ctypes.util, "find_library", lambda name: None)
    (c,) = doctor.check_jack()
    assert c.status == doctor.OPTIONAL and "not installed" in c.detail
    if sys.platform.startswith("linux"):
        assert c.fix == "sudo apt-get install jackd2"
