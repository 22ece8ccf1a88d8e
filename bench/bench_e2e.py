"""End-to-end benchmark on the real stack: MIDI note-on at a known JACK frame → first sample out.

    python -m bench.bench_e2e [--quick] [--hits 200] [--soak-seconds 600] [--json out.json]

What runs (all on one private ``jackd -d dummy -r 48000 -p 128``):

1. The app exactly as a therapist's machine would run it::

       prelude-play --headless --activity free_play --midi-api jack --audio-backend sounddevice
                    --client bench --data-dir TMP

   A JACK probe client (python ``jack``) owns a MIDI output and audio inputs. The app finds the
   probe's MIDI port by itself; the benchmark connects the app's PortAudio outputs to the
   probe. The probe writes note-ons (GM snare, channel 10, note 38) inside its process
   callback at exact frames (``last_frame_time + offset``), at irregular intervals, and
   records its audio input sample-exactly on the same frame axis.
2. Onsets: hits overlap (a snare rings ~450 ms), so each detected hit is cancelled from the
   recording before the next is looked for (the reference snare, rendered by the same
   SoundBank, least-squares fitted at the onset and subtracted); the onset is where the
   residual rises above the noise and matches the start of the snare (see detect_onsets).
3. Logged ``t_ms`` of the app's "hit" events (read from its SQLite store after it stops)
   against the frames they were sent at, aligned on the first.
4. Soak: the same app keeps receiving ~10 hits/s for ``--soak-seconds``; xruns counted by the
   probe's JACK xrun callback, attributed from jackd's own log ("client = X was not finished"),
   and by the engine (PortAudio underflow flags); the engine's callback load comes from the
   "audio_stats" event the app logs at shutdown.
5. The naive peer (``bench/naive_peer.py``: pygame + mido polled at 60 fps + pygame.mixer
   through ALSA's ``jack`` PCM plugin) measured the same way on the same server.

What the latency includes: everything from the MIDI event entering the JACK graph to the
app's first output sample entering the next client in the same graph — JACK MIDI transport,
rtmidi's JACK client, the app's MIDI thread (decode, instrument map, fast path), the engine's
command queue and the period the voice starts in. It does NOT include the sound card's
playback latency (JACK's output buffer and the converter; on the dummy driver there is no
card), nor the MIDI device's own USB/driver latency: add the card's playback latency
(typically one or two periods plus ~1 ms of converter) for the time to the speaker.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RATE, PERIOD = 48000, 128
NOTE, VELOCITY = 38, 40  # GM snare on channel 10; soft enough that overlaps never reach the limiter
NOTE_ON = bytes([0x99, NOTE, VELOCITY])
NOTE_OFF = bytes([0x89, NOTE, 0])
NOTE_OFF_AFTER = 30 * RATE // 1000  # drum pads send the note-off shortly after
PROBE = "pp-e2e-probe"
THRESHOLD = 3e-4  # ~-70 dBFS: above the 16-bit quantisation of the naive peer, far below a hit
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- JACK server
@dataclass
class Jackd:
    """A private dummy JACK server whose log is kept (it names the client behind each xrun)."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        if "sounddevice" in sys.modules:  # PortAudio aborts at exit if the server went first
            sys.modules["sounddevice"]._terminate()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def xrun_clients(self) -> collections.Counter[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return collections.Counter(re.findall(r"client = (.+?) was not finished", text))


def start_jackd(rate: int, period: int, log_dir: Path) -> Jackd:
    from tests.jack import jackd_args, jackd_path

    path = jackd_path()
    if path is None:
        raise SystemExit("jackd not installed (Debian package jackd2)")
    import jack

    name = f"pp-e2e-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    log_path = log_dir / "jackd.log"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(jackd_args(path, name, rate, period), stdout=log, stderr=subprocess.STDOUT,
                                env=env)
    server = Jackd(name, proc, log_path)
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jackd exited with {proc.returncode}: {log_path.read_text()[-500:]}")
        try:
            jack.Client("pp-e2e-ready", servername=name, no_start_server=True).close()
            return server
        except jack.JackError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("jackd did not become ready within 10 s")


# --------------------------------------------------------------------------- the probe
class Probe:
    """JACK client: sends MIDI at exact frames and records one audio input on the frame axis.

    Everything the process callback touches is allocated up front except the ``sent`` list
    (one small tuple per event; this is the benchmark's probe, not the app).
    """

    def __init__(self, record_seconds: dict[str, float]) -> None:
        import jack

        self.client = jack.Client(PROBE, no_start_server=True)
        self.rate = self.client.samplerate
        self.period = self.client.blocksize
        self.midi = self.client.midi_outports.register("out")
        self.inputs = {k: self.client.inports.register(f"in_{k}") for k in record_seconds}
        self.buffers = {k: np.zeros(int(s * self.rate), np.float32) for k, s in record_seconds.items()}
        self.pending: collections.deque[tuple[int, bytes]] = collections.deque()
        # (frame, offset in period, bytes, perf_counter ns of that frame: JACK's cycle start + offset)
        self.sent: list[tuple[int, int, bytes, int]] = []
        self.late = 0
        self.recording: tuple[np.ndarray, int, Any] | None = None
        self.overflow = False
        self.xruns: list[int] = []  # perf_counter ns of each xrun notification
        self.client.set_xrun_callback(self._xrun)
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _xrun(self, delay_usecs: float) -> None:
        self.xruns.append(time.perf_counter_ns())

    def _process(self, frames: int) -> None:
        self.midi.clear_buffer()
        start = self.client.last_frame_time
        q = self.pending
        cycle_ns = 0
        if q and q[0][0] < start + frames:
            cycle_ns = time.perf_counter_ns() - int(self.client.frames_since_cycle_start * 1e9 / self.rate)
        while q and q[0][0] < start + frames:
            frame, data = q.popleft()
            off = frame - start
            if off < 0:  # the probe itself ran late (an xrun): send at once, count it
                self.late += 1
                off = 0
            self.midi.write_midi_event(off, data)
            self.sent.append((start + off, off, data, cycle_ns + int(off * 1e9 / self.rate)))
        rec = self.recording
        if rec is not None:
            buf, base, port = rec
            i = start - base
            if 0 <= i and i + frames <= buf.size:
                buf[i : i + frames] = port.get_array()
            elif i + frames > buf.size:
                self.overflow = True

    def record(self, key: str, lead_frames: int) -> int:
        """Start recording input ``key``; buffer index 0 is the returned absolute frame."""
        base = self.client.frame_time + lead_frames
        self.overflow = False
        self.recording = (self.buffers[key], base, self.inputs[key])
        return base

    def stop_recording(self) -> None:
        self.recording = None

    def schedule(self, frames: list[int]) -> None:
        """Queue note-ons at absolute frames (ascending), each with its note-off 30 ms later."""
        events = []
        for f in frames:
            events += [(f, NOTE_ON), (f + NOTE_OFF_AFTER, NOTE_OFF)]
        for ev in sorted(events, key=lambda e: e[0]):
            self.pending.append(ev)

    def note_ons(self, since: int = 0) -> list[tuple[int, int]]:
        return [(f, o) for f, o, d, _ in self.sent[since:] if d == NOTE_ON]

    def note_on_ns(self, since: int = 0) -> list[int]:
        return [t for _, _, d, t in self.sent[since:] if d == NOTE_ON]

    def midi_connections(self) -> list[str]:
        return [p.name for p in self.client.get_all_connections(self.midi)]

    def audio_connections(self, key: str) -> list[str]:
        return [p.name for p in self.client.get_all_connections(self.inputs[key])]

    def close(self) -> None:
        self.recording = None
        try:
            self.client.deactivate()
        finally:
            self.client.close()


# --------------------------------------------------------------------------- analysis
def detect_onsets(y: np.ndarray, sends: list[int], ref: np.ndarray, *, max_latency: int,
                  threshold: float = THRESHOLD, match: float = 0.8, window: int = 480,
                  quality: list[float] | None = None) -> list[int | None]:
    """Onset frame (index into ``y``) of each hit sent at ``sends`` (ascending), or None.

    Hits overlap (a snare rings for 450 ms, hits come every 50–300 ms) and an xrun can cut a
    sound, so a plain "first sample above the noise" would often fire on the previous hit's
    tail. Instead, in the residual (the recording minus every hit found so far, each
    least-squares fitted and subtracted), the onset is the first position after the send
    (and after the previous onset: sounds come out in the order sent) where the next
    ``window`` samples match the start of the reference sound (normalised correlation >=
    ``match``) and the residual rises above ``threshold`` — then moved to the local best match
    within 16 samples. With a clean recording this is the sound's exact first sample.
    The fit stops where the next hit is sent (its sound cannot start before), so overlaps do
    not spoil it; ``quality`` receives each fit's relative error (0 = an exact, undamaged copy).
    """
    from numpy.lib.stride_tricks import sliding_window_view

    r = y.astype(np.float32, copy=True)
    ref = np.asarray(ref, np.float32)
    head = ref[:window].astype(np.float64)
    head_norm = float(np.sqrt(head @ head))
    fit = min(2400, ref.size)
    rr = ref[:fit].astype(np.float64)
    onsets: list[int | None] = []
    floor = 0
    for j, f in enumerate(sends):
        lo, hi = max(f, floor), min(f + max_latency, r.size - window)
        if lo >= hi:
            onsets.append(None)
            continue
        seg = r[lo : hi + window].astype(np.float64)
        views = sliding_window_view(seg, window)[: hi - lo]
        dots = views @ head
        energy = np.sqrt(np.maximum(np.convolve(seg * seg, np.ones(window), "valid")[: hi - lo], 1e-30))
        corr = dots / (energy * head_norm)
        ok = np.flatnonzero((corr >= match) & (np.abs(seg[: hi - lo]) > threshold))
        if ok.size == 0:
            onsets.append(None)
            continue
        i = int(ok[0])
        i += int(np.argmax(corr[i : i + 16]))
        t = lo + i
        length = fit if j + 1 == len(sends) else max(window, min(fit, sends[j + 1] - t))
        part = r[t : t + length].astype(np.float64)
        g = float(part @ rr[: part.size] / (rr[: part.size] @ rr[: part.size]))
        if quality is not None:
            resid = part - g * rr[: part.size]
            quality.append(float(resid @ resid) / max(float(part @ part), 1e-30))
        n = min(ref.size, r.size - t)
        r[t : t + n] -= np.float32(g) * ref[:n]
        onsets.append(t)
        floor = t + 1
    return onsets


def summary(values_frames: list[float], rate: int = RATE, period: int = PERIOD) -> dict[str, float]:
    """median / p99 / SD / min / max in ms and periods of latencies given in frames."""
    a = np.asarray(values_frames, np.float64)
    if a.size == 0:
        return {"n": 0}
    ms = a * 1000.0 / rate
    out = {"n": int(a.size), "median_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
           "sd_ms": float(np.std(ms, ddof=1)) if a.size > 1 else 0.0, "min_ms": float(ms.min()),
           "max_ms": float(ms.max())}
    per = period * 1000.0 / rate
    for k in ("median", "p99", "sd", "min", "max"):
        out[f"{k}_periods"] = out[f"{k}_ms"] / per
    return out


def near_xrun(sent_ns: list[int], xruns: list[int], before_ms: float = 20, after_ms: float = 80) -> list[bool]:
    """Which hits had a JACK xrun notified within [-before, +after] ms of their send."""
    x = np.sort(np.asarray(xruns, np.int64))
    out = []
    for t in sent_ns:
        i = np.searchsorted(x, t - before_ms * 1e6)
        out.append(bool(i < x.size and x[i] <= t + after_ms * 1e6))
    return out


def latency_figures(sent: list[tuple[int, int]], onsets: list[int | None], base: int,
                    quality: list[float] | None = None, dirty: list[bool] | None = None) -> dict[str, Any]:
    """Latency stats plus how they split into the period grid (which cycle the sound starts in);
    ``clean`` repeats the stats for the hits with no xrun nearby (``dirty`` False)."""
    lat, grid, off_grid = [], collections.Counter(), 0
    clean: list[float] = []
    by_offset: dict[int, list[float]] = collections.defaultdict(list)
    for i, ((frame, off), onset) in enumerate(zip(sent, onsets)):
        if onset is None:
            continue
        d = onset + base - frame
        lat.append(d)
        if dirty is not None and not dirty[i]:
            clean.append(d)
        cycles, rem = divmod(d + off, PERIOD)  # frames from the start of the send's period
        grid[str(int(cycles)) if rem == 0 else "off the period grid"] += 1
        off_grid += rem != 0
        by_offset[off // 16].append(d * 1000.0 / RATE)
    within = [np.std(v, ddof=1) for v in by_offset.values() if len(v) > 2]
    return {
        "latency": summary(lat),
        "missed": sum(o is None for o in onsets),
        "sound_starts_at_period_start": len(lat) - off_grid,
        "periods_after_send_period": dict(sorted(grid.items())),
        "sd_within_same_offset_ms": float(np.sqrt(np.mean(np.square(within)))) if within else None,
        "distorted_hits": sum(q > 0.01 for q in quality) if quality is not None else None,
        "clean": summary(clean) if dirty is not None else None,
        "hits_near_xrun": sum(dirty) if dirty is not None else None,
    }


def timestamp_errors(sent_ms: list[float], t_ms: list[float], tolerance_ms: float = 20.0) -> dict[str, Any]:
    """|error| of logged t_ms against the send times, aligned on the first logged hit.

    Hits can be lost (MIDI dropped in an xrun), so each logged hit is matched to the nearest
    send; the alignment is the first logged hit against whichever of the first few sends
    gives the most matches within ``tolerance_ms``. Lost = sends no logged hit matched.
    """
    s = np.asarray(sent_ms, np.float64)
    t = np.asarray(t_ms, np.float64)
    if s.size < 2 or t.size < 2:
        return {"n": int(min(s.size, t.size)), "sent": int(s.size), "logged": int(t.size)}

    def match(offset: float) -> tuple[np.ndarray, np.ndarray]:
        x = t - offset
        j = np.clip(np.searchsorted(s, x), 1, s.size - 1)
        j = np.where(np.abs(x - s[j - 1]) < np.abs(x - s[j]), j - 1, j)
        err = x - s[j]
        ok = np.abs(err) <= tolerance_ms
        return err[ok], j[ok]

    err, idx = max((match(t[0] - s[k]) for k in range(min(5, s.size))), key=lambda m: m[0].size)
    a = np.abs(err[1:]) if err.size > 1 else np.abs(err)
    return {"n": int(err.size), "sent": int(s.size), "logged": int(t.size),
            "lost": int(s.size - np.unique(idx).size),
            "abs_p50_ms": float(np.median(a)), "abs_p99_ms": float(np.percentile(a, 99)),
            "abs_max_ms": float(a.max()), "signed_median_ms": float(np.median(err)),
            "median_aligned_abs_p99_ms": float(np.percentile(np.abs(err - np.median(err)), 99))}


def irregular_frames(rng: np.random.Generator, n: int, lo_ms: float, hi_ms: float, start: int) -> list[int]:
    gaps = rng.uniform(lo_ms, hi_ms, n) * RATE / 1000.0
    return [int(start + x) for x in np.cumsum(np.concatenate([[0.0], gaps[:-1]])).round()]


# --------------------------------------------------------------------------- processes
class Proc:
    """A subprocess whose stdout lines are collected by a thread (so it never blocks on a pipe)."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.err = open(log, "wb")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, env=env, text=True,
                                  cwd=REPO)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("READY"):
                self.ready.set()

    def wait_ready(self, timeout: float) -> float:
        t0 = time.monotonic()
        if not self.ready.wait(timeout):
            raise RuntimeError(f"{self.p.args[0]} not ready in {timeout} s; see {self.log}: "
                               f"{self.log.read_text(errors='replace')[-800:]}")
        return time.monotonic() - t0

    def stop(self, timeout: float = 20.0) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.err.close()
        return int(self.p.returncode)


def app_command(data_dir: Path, switch_interval: float | None = None, audio_process: str | None = None) -> list[str]:
    """The issue's command line; ``switch_interval`` (an experiment, not the product) runs the
    same CLI with ``sys.setswitchinterval`` lowered so the audio/MIDI threads wait less for the GIL."""
    exe = Path(sys.executable).with_name("prelude-play")
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "prelude_play"]
    if switch_interval is not None:
        head = [sys.executable, "-c", f"import sys; sys.setswitchinterval({switch_interval!r}); "
                "from prelude_play.cli import main; sys.exit(main())"]
    extra = ["--audio-process", audio_process] if audio_process else []
    return head + ["--headless", "--activity", "free_play", "--midi-api", "jack", "--audio-backend",
                   "sounddevice", "--client", "bench", "--data-dir", str(data_dir), "--report-ready"] + extra


def wait_for(pred, timeout: float, step: float = 0.05) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(step)
    return None


def reference_sound(tmp: Path) -> tuple[np.ndarray, Path]:
    """The snare both players play: the app's SoundBank render, and the same as a 16-bit WAV."""
    from prelude_play.audio import SoundBank

    data = np.asarray(SoundBank(rate=RATE).get(f"drum:{NOTE}").data, np.float32)
    path = tmp / "snare.wav"
    pcm = (np.clip(data, -1, 1) * 32767).round().astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return data, path


def read_store(db: Path) -> dict[str, Any]:
    con = sqlite3.connect(db)
    try:
        hits = [r[0] for r in con.execute(
            "SELECT t_ms FROM events WHERE kind='hit' AND source='midi' ORDER BY id")]
        stats = [json.loads(r[0]) for r in con.execute(
            "SELECT data FROM events WHERE kind='audio_stats' ORDER BY id")]
        devices = [(r[0], r[1]) for r in con.execute(
            "SELECT kind, device FROM events WHERE kind LIKE 'device_%' ORDER BY id")]
        prov = [json.loads(r[0]) for r in con.execute("SELECT provenance FROM sessions")]
    finally:
        con.close()
    return {"hit_t_ms": hits, "audio_stats": stats[-1] if stats else None, "device_events": devices,
            "audio": prov[0].get("audio") if prov else None}


# --------------------------------------------------------------------------- the run
@dataclass
class Phase:
    name: str
    sends: list[tuple[int, int]] = field(default_factory=list)
    onsets: list[int | None] = field(default_factory=list)
    base: int = 0


def run_app(probe: Probe, server: Jackd, tmp: Path, ref: np.ndarray, hits: int, soak_s: float,
            rng: np.random.Generator, schedule_ms: np.ndarray, debug: bool = False,
            switch_interval: float | None = None, audio_process: str | None = None) -> dict[str, Any]:
    data_dir = tmp / "app-data"
    env = dict(os.environ, JACK_DEFAULT_SERVER=server.name)
    app = Proc(app_command(data_dir, switch_interval, audio_process), env, tmp / "app.stderr")
    res: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        app.wait_ready(120)
        res["ready_line"] = next((ln for ln in app.lines if ln.startswith("READY")), "")
        res["ready_s"] = time.monotonic() - t0
        opened = wait_for(lambda: probe.midi_connections(), 10)
        if opened is None:
            raise RuntimeError("the app did not open the probe's MIDI port within 10 s")
        res["midi_opened_after_ready_s"] = opened
        res["midi_connected_to"] = probe.midi_connections()
        outs = [p.name for p in probe.client.get_ports(is_audio=True, is_output=True)
                if not p.name.startswith(("system:", PROBE + ":"))]
        if not outs:
            raise RuntimeError("no PortAudio output ports from the app")
        for p in outs:
            probe.client.connect(p, probe.inputs["app"])
        res["audio_ports"] = outs
        time.sleep(3.0)  # free play warms the rest of its kit in a background thread (~1 s)

        lead = int(0.3 * RATE)
        base = probe.record("app", lead // 2)
        start = base + lead
        lat_frames = [start + int(round(x)) for x in schedule_ms * RATE / 1000.0]
        soak_start = lat_frames[-1] + RATE
        n_soak = int(soak_s * 10)
        soak_frames = irregular_frames(rng, n_soak, 50, 150, soak_start) if n_soak else []
        end_frame = (soak_frames or lat_frames)[-1] + RATE
        if end_frame - base > probe.buffers["app"].size:
            raise RuntimeError("recording buffer too small")
        xr0, sent0 = len(probe.xruns), len(probe.sent)
        loads: list[float] = []
        clock0 = (probe.client.frame_time, time.perf_counter_ns())
        probe.schedule(lat_frames + soak_frames)
        soak_xr0 = None
        while probe.client.frame_time < end_frame:
            if app.p.poll() is not None:
                raise RuntimeError(f"the app exited during the run ({app.p.returncode})")
            if soak_xr0 is None and probe.client.frame_time >= soak_start:
                soak_xr0 = len(probe.xruns)
            loads.append(probe.client.cpu_load())
            time.sleep(0.5)
        probe.stop_recording()
        clock1 = (probe.client.frame_time, time.perf_counter_ns())
        res["jack_frames_per_wall_s"] = (clock1[0] - clock0[0]) * 1e9 / (clock1[1] - clock0[1])
        sent = probe.note_ons(sent0)
        sent_ns = probe.note_on_ns(sent0)
        res["probe_late_sends"] = probe.late
        res["jack_xruns_app_run"] = len(probe.xruns) - xr0
        res["jack_xruns_soak"] = len(probe.xruns) - soak_xr0 if soak_xr0 is not None and soak_frames else 0
        res["jack_dsp_load_pct"] = {"mean": float(np.mean(loads)), "max": float(np.max(loads))}
    finally:
        res["exit_code"] = app.stop()
    store = read_store(data_dir / "prelude.db")
    res["store"] = {k: v for k, v in store.items() if k != "hit_t_ms"}
    quality: list[float] = []
    onsets = detect_onsets(probe.buffers["app"], [f - base for f, _ in sent], ref, max_latency=RATE // 20,
                           quality=quality)
    nl = len(lat_frames)
    dirty = near_xrun(sent_ns, probe.xruns)
    res["latency_phase"] = latency_figures(sent[:nl], onsets[:nl], base, quality[:nl], dirty[:nl])
    if len(sent) > nl:
        res["soak_phase"] = latency_figures(sent[nl:], onsets[nl:], base, quality[nl:], dirty[nl:])
    hit_ms = store["hit_t_ms"]
    frame_ms = [f * 1000.0 / RATE for f, _ in sent]
    wall_ms = [t / 1e6 for t in sent_ns]
    res["timestamps_latency_phase"] = timestamp_errors(frame_ms[:nl], hit_ms[:nl])
    res["timestamps_all"] = timestamp_errors(frame_ms, hit_ms)
    res["timestamps_wall_latency_phase"] = timestamp_errors(wall_ms[:nl], hit_ms[:nl])
    res["timestamps_wall_all"] = timestamp_errors(wall_ms, hit_ms)
    if debug:
        np.savez_compressed(tmp / "app_run.npz", y=probe.buffers["app"], base=base, sent=np.array(sent),
                            sent_ns=np.array(sent_ns), onsets=np.array([-1 if o is None else o for o in onsets]),
                            hit_ms=np.array(hit_ms), ref=ref)
    res["soak_seconds"] = soak_s
    return res


def run_naive(probe: Probe, server: Jackd, tmp: Path, ref: np.ndarray, wav: Path,
              schedule_ms: np.ndarray, debug: bool = False) -> dict[str, Any]:
    home = tmp / "naive-home"
    home.mkdir()
    port = probe.inputs["naive"].name
    (home / ".asoundrc").write_text(
        'pcm.!default { type plug slave { pcm "jack" } }\n'
        f'pcm.jack {{ type jack playback_ports {{ 0 "{port}" 1 "{port}" }} }}\n')
    env = dict(os.environ, JACK_DEFAULT_SERVER=server.name, SDL_AUDIODRIVER="alsa", HOME=str(home),
               SDL_VIDEODRIVER="dummy")
    peer = Proc([sys.executable, "-m", "bench.naive_peer", "--port", probe.midi.name, "--sound", str(wav)],
                env, tmp / "naive.stderr")
    res: dict[str, Any] = {}
    try:
        peer.wait_ready(60)
        res["ready_line"] = next((ln for ln in peer.lines if ln.startswith("READY")), "")
        if wait_for(lambda: probe.audio_connections("naive") and probe.midi_connections(), 10) is None:
            raise RuntimeError(f"naive peer not connected (audio {probe.audio_connections('naive')}, "
                               f"midi {probe.midi_connections()})")
        res["connections"] = {"audio": probe.audio_connections("naive"), "midi": probe.midi_connections()}
        time.sleep(1.0)
        lead = int(0.3 * RATE)
        base = probe.record("naive", lead // 2)
        start = base + lead
        frames = [start + int(round(x)) for x in schedule_ms * RATE / 1000.0]
        xr0, sent0 = len(probe.xruns), len(probe.sent)
        probe.schedule(frames)
        end = frames[-1] + RATE // 2
        while probe.client.frame_time < end:
            if peer.p.poll() is not None:
                raise RuntimeError(f"the naive peer exited ({peer.p.returncode}): "
                                   f"{(tmp / 'naive.stderr').read_text()[-800:]}")
            time.sleep(0.2)
        probe.stop_recording()
        sent = probe.note_ons(sent0)
        sent_ns = probe.note_on_ns(sent0)
        res["jack_xruns"] = len(probe.xruns) - xr0
    finally:
        res["exit_code"] = peer.stop()
    quality: list[float] = []
    onsets = detect_onsets(probe.buffers["naive"], [f - base for f, _ in sent], ref, max_latency=RATE // 4,
                           quality=quality)
    res["latency_phase"] = latency_figures(sent, onsets, base, quality, near_xrun(sent_ns, probe.xruns))
    if debug:
        np.savez_compressed(tmp / "naive_run.npz", y=probe.buffers["naive"], base=base, sent=np.array(sent),
                            onsets=np.array([-1 if o is None else o for o in onsets]))
    return res


def fmt_lat(s: dict[str, Any]) -> list[str]:
    if not s.get("n"):
        return ["-"] * 4
    return [f"{s['median_ms']:.2f} ms ({s['median_periods']:.2f} p)", f"{s['p99_ms']:.2f} ms ({s['p99_periods']:.2f} p)",
            f"{s['sd_ms']:.2f} ms", f"{s['min_ms']:.2f}–{s['max_ms']:.2f} ms"]


def report(res: dict[str, Any]) -> str:
    app, naive = res["app"], res.get("naive")
    lines = [f"e2e on jackd dummy {RATE} Hz / {PERIOD} frames (period {PERIOD * 1000 / RATE:.3f} ms); "
             f"{res['hits']} hits at 80–300 ms, soak {app['soak_seconds']:.0f} s at ~10 hits/s",
             f"jackd real-time: {res.get('jack_rt')}; app real-time core: {res.get('core')} "
             f"(PRELUDE_CORE={os.environ.get('PRELUDE_CORE')}); CPU time the hypervisor took from "
             f"this VM during the run: {res.get('vm_steal_s', 0):.2f} s",
             "", "MIDI note-on (probe frame) -> first audio sample out (probe input), in-graph:",
             f"  {'':22} {'median':>22} {'p99':>22} {'SD':>9} {'range':>18} missed",
             ]
    rows = [("prelude-play", app["latency_phase"])]
    if "soak_phase" in app:
        rows.append(("prelude-play (soak)", app["soak_phase"]))
    if naive:
        rows.append(("naive pygame+mido", naive["latency_phase"]))
    for name, d in rows:
        m, p, sd, rg = fmt_lat(d["latency"])
        lines.append(f"  {name:22} {m:>22} {p:>22} {sd:>9} {rg:>18} {d['missed']}  (distorted: {d['distorted_hits']})")
        if d.get("clean"):
            m, p, sd, rg = fmt_lat(d["clean"])
            lines.append(f"  {'  no xrun near the hit':22} {m:>22} {p:>22} {sd:>9} {rg:>18}    "
                         f"({d['hits_near_xrun']} hits had an xrun within -20..+80 ms)")
    lp = app["latency_phase"]
    lines.append(f"  app: sound starts on a period boundary for {lp['sound_starts_at_period_start']}/"
                 f"{lp['latency']['n']} hits; periods after the send's period: {lp['periods_after_send_period']}; "
                 f"SD among hits sent at the same offset (±8 frames): {lp['sd_within_same_offset_ms']:.3f} ms")
    # Against JACK's cycle start time (+ offset): under xruns the dummy driver's frame counter
    # falls behind the wall clock, so the nominal frame axis is not a time reference (the
    # frame-based figures stay in the JSON as timestamps_latency_phase / timestamps_all).
    for key, label in (("timestamps_wall_latency_phase", "latency phase"), ("timestamps_wall_all", "all hits")):
        t = app[key]
        if "abs_p50_ms" in t:
            lines.append(f"logged t_ms vs send ({label}, matched {t['n']}, sent {t['sent']}, logged {t['logged']}, "
                         f"lost {t['lost']}): "
                         f"|err| p50 {t['abs_p50_ms']:.3f} p99 {t['abs_p99_ms']:.3f} max {t['abs_max_ms']:.3f} ms "
                         f"(median-aligned p99 {t['median_aligned_abs_p99_ms']:.3f} ms)")
    st = app["store"].get("audio_stats") or {}
    lines.append(f"soak: JACK xruns during the app run {app['jack_xruns_app_run']} (soak part {app['jack_xruns_soak']}); "
                 f"jackd blames: {dict(res['xrun_clients']) or 'nobody'}; engine xruns {st.get('xruns')}, "
                 f"callbacks {st.get('callbacks')}, errors {st.get('errors')}, late renders {st.get('late_renders')}")
    if st:
        lines.append(f"engine callback load: mean {100 * st['load_mean']:.1f}% max {100 * st['load_max']:.1f}% of the "
                     f"period; JACK DSP load mean {app['jack_dsp_load_pct']['mean']:.1f}% max "
                     f"{app['jack_dsp_load_pct']['max']:.1f}%")
    lines.append(f"JACK frames per wall second during the app run: {app['jack_frames_per_wall_s']:.0f} "
                 f"(nominal {RATE}); load average before {res['load_avg_before']}, after {res['load_avg_after']}")
    lines.append(f"app ready after {app['ready_s']:.1f} s ({app['ready_line']}); opened the probe's MIDI port "
                 f"{app['midi_opened_after_ready_s']:.2f} s after READY; exit code {app['exit_code']}")
    if naive:
        lines.append(f"naive peer: {naive['ready_line']}; JACK xruns {naive['jack_xruns']}; exit {naive['exit_code']}")
    return "\n".join(lines)


def _steal_jiffies() -> int:
    """CPU time the hypervisor took from this VM (all CPUs), from /proc/stat (0 elsewhere)."""
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[8])
    except (OSError, IndexError, ValueError):
        return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 hits, 30 s soak")
    ap.add_argument("--hits", type=int, default=200)
    ap.add_argument("--soak-seconds", type=float, default=600.0)
    ap.add_argument("--no-naive", action="store_true", help="skip the pygame + mido peer")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write every figure as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, store, recordings)")
    ap.add_argument("--audio-process", choices=["inline", "separate"],
                    help="run the app with --audio-process (separate: audio + MIDI in their own process)")
    ap.add_argument("--switch-interval", type=float, help="experiment: run the app with this GIL switch interval (s)")
    ap.add_argument("--core", choices=["auto", "python"], default="auto",
                    help="python: run the app without its C real-time core (PRELUDE_CORE=python)")
    ap.add_argument("--no-jack-rt", action="store_true",
                    help="run jackd without real-time scheduling (-r); the default is jack2's own default, "
                         "real-time, as `jackd -d dummy` in the issue runs")
    a = ap.parse_args(argv)
    os.environ["PRELUDE_JACK_RT"] = "0" if a.no_jack_rt else "1"
    os.environ["PRELUDE_CORE"] = "python" if a.core == "python" else os.environ.get("PRELUDE_CORE", "auto")
    steal0 = _steal_jiffies()
    hits, soak = (100, 30.0) if a.quick else (a.hits, a.soak_seconds)
    rng = np.random.default_rng(a.seed)
    gaps = rng.uniform(80, 300, hits - 1)
    schedule_ms = np.concatenate([[0.0], np.cumsum(gaps)])
    lat_s = schedule_ms[-1] / 1000.0
    tmp = Path(tempfile.mkdtemp(prefix="pp-e2e-"))
    server = start_jackd(RATE, PERIOD, tmp)
    res: dict[str, Any] = {"hits": hits, "seed": a.seed, "tmp": str(tmp)}
    probe = None
    try:
        probe = Probe({"app": lat_s + soak + 5.0, "naive": lat_s + 3.0})
        ref, wav = reference_sound(tmp)
        res["load_avg_before"] = os.getloadavg()
        res["app"] = run_app(probe, server, tmp, ref, hits, soak, rng, schedule_ms, a.keep, a.switch_interval,
                             a.audio_process)
        res["switch_interval"] = a.switch_interval
        res["audio_process"] = a.audio_process or "inline"
        if not a.no_naive:
            try:
                res["naive"] = run_naive(probe, server, tmp, ref, wav, schedule_ms, a.keep)
            except RuntimeError as exc:
                res["naive_error"] = str(exc)
        res["xrun_clients"] = server.xrun_clients()
        res["jack_rt"] = not a.no_jack_rt
        res["core"] = a.core
        res["vm_steal_s"] = (_steal_jiffies() - steal0) / os.sysconf("SC_CLK_TCK")
        res["load_avg_after"] = os.getloadavg()
        res["probe_xruns_total"] = len(probe.xruns)
    finally:
        if probe is not None:
            probe.close()
        server.stop()
    print(report(res))
    if "naive_error" in res:
        print(f"naive peer failed: {res['naive_error']}")
    if a.json:
        a.json.write_text(json.dumps(res, indent=2, default=str))
    if not a.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
