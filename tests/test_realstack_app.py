"""The whole app as a subprocess on a real JACK server: a probe's MIDI port appears and the app
opens it by itself; hits are logged with the MIDI callback's timestamps and heard in the app's
output; the port goes away (logged, the app keeps running) and comes back (reopened); SIGTERM
stops it cleanly."""

from __future__ import annotations

import collections
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.realstack

PROBE = "pp-rs-app-probe"
NOTE_ON = bytes([0x99, 38, 100])
NOTE_OFF = bytes([0x89, 38, 0])


class Probe:
    """MIDI out at exact frames (stamped with JACK's cycle time) + one recorded audio input."""

    def __init__(self, seconds: float) -> None:
        import jack

        self.c = jack.Client(PROBE, no_start_server=True)
        self.rate = self.c.samplerate
        self.midi = self.c.midi_outports.register("out")
        self.inp = self.c.inports.register("in")
        self.buf = np.zeros(int(seconds * self.rate), np.float32)
        self.base: int | None = None
        self.pending: collections.deque[tuple[int, bytes]] = collections.deque()
        self.sent: list[tuple[int, int]] = []  # (frame, perf_counter ns) of each note-on
        self.c.set_process_callback(self._process)
        self.c.activate()

    def _process(self, frames: int) -> None:
        start = self.c.last_frame_time
        if self.base is None:
            self.base = start
        i = start - self.base
        if i + frames <= self.buf.size:
            self.buf[i : i + frames] = self.inp.get_array()
        port = self.midi
        if port is None:
            return
        port.clear_buffer()
        q = self.pending
        if q and q[0][0] < start + frames:
            t0 = time.perf_counter_ns() - int(self.c.frames_since_cycle_start * 1e9 / self.rate)
            while q and q[0][0] < start + frames:
                f, data = q.popleft()
                off = max(0, f - start)
                port.write_midi_event(off, data)
                if data == NOTE_ON:
                    self.sent.append((start + off, t0 + int(off * 1e9 / self.rate)))

    def send(self, gaps_ms: list[float]) -> None:
        """Note-ons (with note-offs 30 ms later) at these gaps from 100 ms from now; waits."""
        f = self.c.frame_time + self.rate // 10
        events = []
        for g in [0.0] + gaps_ms:
            f += int(g * self.rate / 1000)
            events += [(f, NOTE_ON), (f + self.rate * 30 // 1000, NOTE_OFF)]
        for ev in sorted(events):
            self.pending.append(ev)
        assert wait(lambda: not self.pending, 5 + sum(gaps_ms) / 1000), "probe did not send in time"

    def connected(self) -> bool:
        return self.midi is not None and bool(self.c.get_all_connections(self.midi))

    def unplug(self) -> None:
        port, self.midi = self.midi, None
        time.sleep(0.05)  # let a running cycle finish with the old port
        port.unregister()

    def replug(self) -> None:
        self.midi = self.c.midi_outports.register("out")

    def heard(self, frame: int) -> bool:
        """A new sound starts within 25 ms of ``frame`` (louder than what rang just before)."""
        i = frame - (self.base or 0)
        before = float(np.abs(self.buf[max(i - 480, 0) : i]).max(initial=0.0))
        after = float(np.abs(self.buf[i : i + 1200]).max(initial=0.0))
        return after > 1e-3 and after > 1.5 * before

    def describe(self) -> str:
        """Per hit: ms from the send to the first sample above -60 dBFS (None: silent 200 ms)."""
        out = []
        for f, _ in self.sent:
            i = f - (self.base or 0)
            nz = np.flatnonzero(np.abs(self.buf[i : i + 9600]) > 1e-3)
            out.append(round(nz[0] / self.rate * 1000, 2) if nz.size else None)
        return f"first sound after each send (ms): {out}"

    def close(self) -> None:
        self.c.deactivate()
        self.c.close()


def stamp_errors(logged: np.ndarray, by_frames: np.ndarray, by_wall: np.ndarray) -> np.ndarray:
    """Per logged hit, ms to the nearest send on either time axis after removing the median
    offset (the first hit may be lost, and a port's first stamp is the callback's arrival
    time — rtmidi's first delta is 0 — so neither is a safe anchor)."""
    best = None
    for k in range(2):
        errs = []
        for axis in (by_frames, by_wall):
            x = logged - logged[0] + axis[k]
            signed = x - axis[np.argmin(np.abs(x[:, None] - axis[None, :]), axis=1)]
            errs.append(np.abs(signed - np.median(signed)))
        err = np.minimum(*errs)
        if best is None or np.sum(err <= 2.0) > np.sum(best <= 2.0):
            best = err
    return best


def wait(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def start_app_heard_by(probe: Probe, data_dir, *extra: str) -> subprocess.Popen:
    """The app as a therapist runs it (free play, ``--midi-api jack``, PortAudio on JACK) as a
    subprocess, once it is ready, has opened the probe's MIDI port by itself and the probe
    records its PortAudio output."""
    app = subprocess.Popen(
        [sys.executable, "-m", "prelude_play", "--headless", "--activity", "free_play", "--midi-api", "jack",
         "--audio-backend", "sounddevice", *extra, "--client", "rs", "--data-dir", str(data_dir),
         "--report-ready"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(app.stdout), daemon=True).start()
    try:
        assert wait(lambda: any(ln.startswith("READY") for ln in lines) or app.poll() is not None, 60), "no READY"
        assert app.poll() is None, app.stderr.read()
        assert wait(probe.connected, 3.0), "the app did not open the probe's MIDI port by itself"
        outs = [p.name for p in probe.c.get_ports("PortAudio", is_audio=True, is_output=True)]
        assert outs, "the app has no PortAudio output on JACK"
        for p in outs:
            probe.c.connect(p, probe.inp)
        time.sleep(1.5)  # free play renders the rest of its kit in the background
    except BaseException:
        app.kill()
        app.wait(5)
        raise
    return app


def test_app_opens_plays_logs_survives_unplug_reopens_and_stops(jack_server, tmp_path):
    probe = Probe(seconds=40)
    app = None
    try:
        app = start_app_heard_by(probe, tmp_path)

        gaps = [400.0, 470.0, 360.0, 430.0]
        probe.send(gaps)
        time.sleep(0.3)
        heard = [probe.heard(f) for f, _ in probe.sent]
        # On a loaded machine JACK may drop a cycle's MIDI for a client that overran (an
        # xrun): one lost hit of five is tolerated here, and counted by bench/bench_e2e.py.
        assert sum(heard) >= len(heard) - 1, f"hits not heard in the app's output: {heard}; {probe.describe()}"

        probe.unplug()
        time.sleep(2.5)  # the watcher looks every second
        assert app.poll() is None, "the app stopped when the MIDI device went away"
        probe.replug()
        assert wait(probe.connected, 3.0), "the app did not reopen the MIDI port when it came back"
        time.sleep(0.2)
        probe.send([300.0])
        time.sleep(0.3)
        assert probe.heard(probe.sent[-2][0]) or probe.heard(probe.sent[-1][0]), "nothing heard after reopening"

        app.send_signal(signal.SIGTERM)
        assert app.wait(15) == 0
    finally:
        if app is not None and app.poll() is None:
            app.kill()
            app.wait(5)
        probe.close()

    db = sqlite3.connect(tmp_path / "prelude.db")
    rows = db.execute("SELECT kind, t_ms, data, device FROM events ORDER BY id").fetchall()
    db.close()
    hits = [t for k, t, _, _ in rows if k == "hit"]
    assert len(probe.sent) - 2 <= len(hits) <= len(probe.sent)
    # Logged intervals come from the MIDI callback's stamps, not from the frame loop (16.7 ms).
    # What "sent at" means on a dummy JACK server that just had an xrun is ambiguous: the
    # frame axis (frames / rate, what a sound card's clock would give) or the wall time the
    # late cycle actually ran at; each interval must match one of them within 2 ms.
    by_frames = np.array([f * 1000.0 / probe.rate for f, _ in probe.sent])
    by_wall = np.array([ns / 1e6 for _, ns in probe.sent])
    err = stamp_errors(np.array(hits), by_frames, by_wall)
    # Stamps taken in the frame loop would be off by up to a frame (16.7 ms, median ~6 ms).
    # The callback's stamps are within 2 ms — except around JACK xruns, which on a loaded
    # 2-CPU machine come every few dozen ms (see docs/bench/e2e.md: there, p99 of the
    # error is 3-15 ms), so most hits, not all, must be within 2 ms here.
    assert np.median(err) <= 1.0 and np.mean(err <= 2.0) >= 0.6, (err, hits, by_frames, by_wall)
    ours = [(k, json.loads(d)) for k, _, d, dev in rows if dev == f"{PROBE}:out"]
    assert [(k, d.get("reopened")) for k, d in ours if k.startswith("device_")] == [
        ("device_added", False), ("device_removed", None), ("device_added", True)]
    stats = [json.loads(d) for k, _, d, _ in rows if k == "audio_stats"]
    assert stats and stats[0]["callbacks"] > 0 and stats[0]["errors"] == 0
    # the real-time core: C mixer and C MIDI callback, linked, and the hits sounded from C
    from prelude_play import native

    db = sqlite3.connect(tmp_path / "prelude.db")
    prov = json.loads(db.execute("SELECT provenance FROM sessions").fetchone()[0])
    db.close()
    assert f"{PROBE}:out" in prov["midi"]["inputs"], prov["midi"]  # the hub's typed describe()
    if native.available():
        assert prov["realtime_core"]["audio"] == "c" and prov["realtime_core"]["midi"] == "c", prov["realtime_core"]
        assert any("frame clock" in f for f in prov["realtime_core"]["links"]), prov["realtime_core"]
        assert stats[0]["core"] == "c"
        logged = [json.loads(d) for k, _, d, _ in rows if k == "hit"]
        assert logged and all(d["sounded_by_fast_path"] and d["sound"].startswith("drum:") for d in logged), logged
    elif native.in_ci():
        pytest.fail(f"CI must run the C core: {native.why_unavailable()}")
