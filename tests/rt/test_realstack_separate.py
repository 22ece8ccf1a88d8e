"""The whole app as a subprocess on a real JACK server with ``--audio-process separate``: the
child opens the probe's MIDI port by itself, hits are heard in its PortAudio output and logged by
the UI process with the MIDI callback's stamps; SIGTERM closes the child's JACK clients too."""

from __future__ import annotations

import json
import signal
import sqlite3
import time

import numpy as np
import pytest

from tests.test_realstack_app import Probe, stamp_errors, start_app_heard_by, wait

pytestmark = pytest.mark.realstack


def test_separate_process_app_plays_logs_and_stops(jack_server, tmp_path):
    probe = Probe(seconds=30)
    app = None
    try:
        app = start_app_heard_by(probe, tmp_path, "--audio-process", "separate")
        probe.send([400.0, 470.0, 360.0, 430.0])
        time.sleep(0.3)
        heard = [probe.heard(f) for f, _ in probe.sent]
        assert sum(heard) >= len(heard) - 1, f"hits not heard in the child's output: {heard}; {probe.describe()}"
        app.send_signal(signal.SIGTERM)
        assert app.wait(15) == 0
        # the child closed its JACK clients with the app
        assert wait(lambda: not probe.c.get_ports("PortAudio"), 5.0), "the child's audio client outlived the app"
        assert wait(lambda: not probe.c.get_ports("prelude-play-midi"), 5.0)
    finally:
        if app is not None and app.poll() is None:
            app.kill()
            app.wait(5)
        probe.close()

    db = sqlite3.connect(tmp_path / "prelude.db")
    rows = db.execute("SELECT kind, t_ms, data FROM events ORDER BY id").fetchall()
    db.close()
    hits = [(t, json.loads(d)) for k, t, d in rows if k == "hit"]
    assert len(probe.sent) - 2 <= len(hits) <= len(probe.sent)  # as tests/test_realstack_app.py: xruns lose some
    assert all(d["sounded_by_fast_path"] and d["sound"] == "drum:38" for _, d in hits)
    by_frames = np.array([f * 1000.0 / probe.rate for f, _ in probe.sent])
    by_wall = np.array([ns / 1e6 for _, ns in probe.sent])
    err = stamp_errors(np.array([t for t, _ in hits]), by_frames, by_wall)
    assert np.median(err) <= 1.0 and np.mean(err <= 2.0) >= 0.6, (err, hits)
    stats = [json.loads(d) for k, _, d in rows if k == "audio_stats"]
    assert stats and stats[0]["process"] == "separate" and stats[0]["callbacks"] > 0
    assert stats[0]["fast_triggers"] >= len(hits) and stats[0]["errors"] == 0
