"""The self-contained Linux bundle (tools/bundle.py, issue 17): built from the wheel, started from an
empty environment (``env -i``: no venv, no PATH, no HOME) headless against a JACK dummy server,
through a session with the audio engine in its own process, then an export and ``doctor``.

Slow-ish (a first build makes a venv: about 2 minutes; later builds reuse ``build/bundle/venv``:
about 30 s), so it is real-stack marked, and CI runs it with the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.realstack, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "build" / "bundle" / "dist" / "prelude-play"
MAX_MB = 120


@pytest.fixture(scope="module")
def bundle():
    if sys.platform != "linux":
        pytest.skip("the bundle is built for Linux")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "bundle.py")], capture_output=True, text=True,
                       timeout=840, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return DIST / "prelude-play"


def run_bundle(exe: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(exe), *args],
                          capture_output=True, text=True, timeout=120)


def test_bundle_runs_a_session_and_an_export_from_a_clean_environment(bundle, jack_server, tmp_path):
    import sqlite3

    env = {"JACK_DEFAULT_SERVER": jack_server.name, "JACK_NO_START_SERVER": "1",
           "PRELUDE_PLAY_LOG_DIR": str(tmp_path / "logs")}
    data = tmp_path / "data"
    r = run_bundle(bundle, "--headless", "--for", "1.5", "--report-ready", "--data-dir", str(data), "--client",
                   "kid", "--activity", "free_play", "--audio-process", "separate", "--midi-api", "none", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("READY")
    con = sqlite3.connect(data / "prelude.db")
    (prov,) = [json.loads(p) for (p,) in con.execute("SELECT provenance FROM sessions")]
    kinds = [k for (k,) in con.execute("SELECT kind FROM events ORDER BY seq")]
    con.close()
    audio = prov["audio"]
    assert audio["engine"] == "AudioEngine (separate process)"  # freeze_support: the child started
    assert audio["backend"] == "sounddevice" and "JACK" in audio["device"]  # the bundled PortAudio
    assert kinds[0] == "activity_start" and "audio_stats" in kinds
    r = run_bundle(bundle, "export", "--data-dir", str(data), "--out", str(tmp_path / "x.jsonl"), env=env)
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "x.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["type"] == "prelude_play_export" and len(lines) >= 3
    r = run_bundle(bundle, "export", "--data-dir", str(data), "--format", "html", "--out", str(tmp_path / "r.html"),
                   env=env)
    assert r.returncode == 0, r.stderr  # no matplotlib in the bundle: the report says so
    r = run_bundle(bundle, "doctor", "--data-dir", str(data), env=env)
    assert "[ok  ] JACK server: running" in r.stdout and "[ok  ] C core" in r.stdout, r.stdout
    assert "[ok  ] font" in r.stdout


def test_bundle_is_lean_and_has_its_desktop_entry(bundle):
    size = sum(f.stat().st_size for f in DIST.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6
    assert size <= MAX_MB, f"{size:.0f} MB"
    internal = DIST / "_internal"
    assert not list(internal.glob("scipy*")) and not list(internal.glob("matplotlib*"))
    assert not (internal / "activities").exists()  # inside prelude_play, as in the wheel
    assert (internal / "prelude_play" / "_data" / "config" / "goals.toml").is_file()
    desktop = (DIST / "prelude-play.desktop").read_text()
    assert "Exec=@BUNDLE@/prelude-play" in desktop and "Icon=prelude-play" in desktop
    assert (DIST / "prelude-play.svg").is_file() and (DIST / "install.sh").stat().st_mode & 0o111
