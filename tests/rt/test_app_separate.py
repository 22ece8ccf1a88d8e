"""The headless app with its audio and MIDI in the real-time child (``audio.process =
"separate"``): a pad hit sounds in the child with the activity's sound and reaches the activity
and the log with its original stamp; a killed child is shown and replaced; shutdown is clean."""

from __future__ import annotations

import subprocess
import sys
import time

from prelude_play.clock import MonotonicClock
from prelude_play.config import AppConfig
from prelude_play.rt.proxy import start_rt
from prelude_play.shell.pilot import run_test


def hits(app):
    app.store.flush()
    return [e for e in app.store.events() if e.kind == "hit"]


def step_until(pilot, cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pilot.step()
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_separate_app_hit_sounds_in_child_and_is_logged(tmp_path):
    cfg = AppConfig()
    cfg.audio.process = "separate"
    cfg.audio.input_enabled = False
    rt = start_rt(cfg, audio_backend="null", midi_api="virtual", status_interval_s=0.05)
    clock = MonotonicClock()
    with run_test(cfg, data_dir=tmp_path, clock=clock, audio=rt.audio, midi=rt.midi, midi_out=rt.midi_out,
                  hits=rt.hits, client="c1", activity="free_play") as pilot:
        app = pilot.app
        rt.midi.virtual("add_device", "Keys")
        # a keyboard key off the scale: only the activity's table knows it plays keys:60
        t = clock.now_ns()
        rt.midi.virtual("inject", "Keys", bytes([0x90, 61, 90]), t)
        assert step_until(pilot, lambda: len(hits(app)) == 1)
        hit = hits(app)[0]
        assert hit.data["sound"] == "keys:60" and hit.data["sounded_by_fast_path"]
        session_t0 = app.session.t0_ns
        assert abs(hit.t_ms - (t - session_t0) / 1e6) < 0.01  # the child's stamp, unchanged
        assert rt.audio.stats()["fast_triggers"] == 1

        # the child dies: the therapist sees it, the shell replaces it, hits sound again
        old = rt.rt.pid
        rt.rt.proc.kill()
        assert step_until(pilot, lambda: rt.rt.pid != old and rt.audio.poll() is None, timeout=20)
        assert any("Audio and MIDI stopped" in n for n in app.notices)
        assert any("Audio problem" in n for n in app.notices)
        rt.midi.virtual("add_device", "Keys")
        t2 = clock.now_ns()
        rt.midi.virtual("inject", "Keys", bytes([0x90, 62, 90]), t2)
        assert step_until(pilot, lambda: len(hits(app)) == 2)
        assert hits(app)[1].data["sound"] == "keys:62" and hits(app)[1].data["sounded_by_fast_path"]
        proc = rt.rt.proc
    assert proc.exitcode == 0  # shutdown closed the child (all off, MIDI and audio closed)
    import json
    import sqlite3

    con = sqlite3.connect(tmp_path / "prelude.db")
    (data,) = con.execute("SELECT data FROM events WHERE kind = 'audio_stats'").fetchone()
    stats = json.loads(data)
    assert stats["process"] == "separate" and stats["process_restarts"] == 1
    assert stats["fast_triggers"] == 1  # the new child's count: one hit since the restart


def test_cli_runs_separate_and_exits_cleanly(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "prelude_play", "--headless", "--data-dir", str(tmp_path), "--client", "c1",
         "--activity", "free_play", "--audio-backend", "null", "--midi-api", "none",
         "--audio-process", "separate", "--for", "1"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    import sqlite3

    con = sqlite3.connect(tmp_path / "prelude.db")
    (data,) = con.execute("SELECT data FROM events WHERE kind = 'audio_stats'").fetchone()
    assert '"process": "separate"' in data
