"""MIDI input timing on a private JACK dummy server (48 kHz, 128 frames), both JACK backends.

A JACK-Client probe (in a child process, see tests/midi/jack_probe.py) sends note-ons at exact
frame times; the hub opens its port by itself, once through the ``jackclient`` backend
(JACK-Client, per-event frame stamps) and once through python-rtmidi's JACK API. Reported per
backend: |logged interval − sent interval| (ms); MIDI callback → sink (ms): from the start of the
backend's callback (jackclient: the process callback's first clock reading; rtmidi: the callback's
stamp) to the hub's sink (the fast path) running; and event stamp → sink (ms). With
``jackclient`` a stamp is the event's frame time, which can lie up to one period after the
callback started, so that last figure can be negative. JACK xruns during each run are counted.

Run: python -m bench.bench_midi [--notes N] [--backends jackclient,rtmidi] [--write docs/bench/midi.md]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

LABELS = {"jackclient": "jackclient (JACK-Client, frame offsets)", "rtmidi": "rtmidi (python-rtmidi JACK API)"}


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def tag(i: int) -> tuple[int, int]:
    """A distinct (note, velocity) for note-on number ``i`` (up to 40·127 notes)."""
    return 36 + (i // 127) % 40, 1 + i % 127


def make_backend(name: str, clock: Any) -> Any:
    from prelude_play.midi.backend import load_backend

    return load_backend(name, clock=clock, api="jack", client_name="pp-bench")


def measure(backend_name: str, notes: int, seed: int) -> dict[str, Any]:
    """One backend against the probe on the running server (JACK_DEFAULT_SERVER)."""
    from prelude_play.clock import MonotonicClock
    from prelude_play.midi.hub import MidiConfig, MidiHub
    from tests.midi.jack_probe import ProbeProcess

    import jack

    clock = MonotonicClock()
    hits: dict[tuple[int, int], tuple[int, int]] = {}
    callback_to_sink: list[float] = []
    added = threading.Event()
    backend = make_backend(backend_name, clock)
    cycle_start = (lambda: backend.cycle_ns) if hasattr(backend, "cycle_ns") else None

    def sink(ev: Any) -> None:
        if ev.kind == "note_on":
            now = clock.now_ns()
            hits[(ev.note, ev.velocity)] = (ev.t_ns, now)
            # rtmidi: the stamp is the callback's clock reading (refined by rtmidi's deltas)
            callback_to_sink.append((now - (cycle_start() if cycle_start else ev.t_ns)) / 1e6)
        elif ev.kind == "device_added":
            added.set()

    xruns: list[float] = []
    monitor = jack.Client(f"xrun-monitor-{backend_name}", no_start_server=True)  # no process callback
    monitor.set_xrun_callback(xruns.append)
    monitor.activate()

    hub = MidiHub(backend, clock=clock, sink=sink,
                  config=MidiConfig(backend=backend_name, api="jack", poll_interval_s=0.5,
                                    max_messages_per_s=10_000))
    hub.start()
    probe = ProbeProcess(f"frame-probe-{backend_name}")
    try:
        if not added.wait(5):
            raise RuntimeError(f"{backend_name}: hub did not open the probe port")
        time.sleep(0.5)  # let the connection settle and the frame→time map converge
        rng = random.Random(seed)
        offsets, t = [], 0
        for _ in range(notes):
            offsets.append(t)
            t += rng.randrange(1440, 7200)  # 30–150 ms, any frame offset within a period
        ids = [tag(i) for i in range(notes)]
        sent = probe.send([(o, bytes([0x99, n, v])) for o, (n, v) in zip(offsets, ids)], timeout=120)
        time.sleep(0.3)
        xrun_count = len(xruns)
    finally:
        probe.close()
        hub.stop()
        monitor.deactivate()
        monitor.close()
    if len(sent) != notes:
        raise RuntimeError(f"{backend_name}: probe sent {len(sent)} of {notes} notes")
    # each note is tagged (note, velocity), so a note lost in an xrun cannot misalign the rest
    err = [abs((hits[ids[i]][0] - hits[ids[i - 1]][0]) / 1e6 - (sent[i] - sent[i - 1]) * 1000 / probe.rate)
           for i in range(1, notes) if ids[i] in hits and ids[i - 1] in hits]
    lat = [(sink_t - t_ns) / 1e6 for t_ns, sink_t in hits.values()]
    return {
        "backend": backend_name, "notes": len(hits), "sent": notes, "xruns": xrun_count,
        "rate": probe.rate, "period": probe.period,
        "err_p50": pct(err, 0.5), "err_p95": pct(err, 0.95), "err_p99": pct(err, 0.99),
        "err_max": max(err), "err_mean": statistics.fmean(err),
        "cb_p50": pct(callback_to_sink, 0.5), "cb_p99": pct(callback_to_sink, 0.99),
        "cb_max": max(callback_to_sink),
        "lat_p50": pct(lat, 0.5), "lat_p99": pct(lat, 0.99), "lat_min": min(lat), "lat_max": max(lat),
    }


def run(notes: int, seed: int, backends: list[str]) -> list[dict[str, Any]]:
    """Both backends in turn on one private server (same machine, same run)."""
    from tests.jack import start_jack

    server = start_jack()
    try:
        return [measure(name, notes, seed) for name in backends]
    finally:
        try:
            import sounddevice as sd

            sd._terminate()
        except (ImportError, OSError):
            pass
        server.stop()


def report(results: list[dict[str, Any]]) -> str:
    r0 = results[0]
    period_ms = r0["period"] * 1000 / r0["rate"]
    lines = [f"MIDI input timing, JACK dummy {r0['rate']} Hz / {r0['period']} frames "
             f"(period {period_ms:.2f} ms), {r0['sent']} note-ons per backend"]
    for r in results:
        lines += [
            f"{LABELS.get(r['backend'], r['backend'])}: {r['notes']}/{r['sent']} logged, "
            f"{r['xruns']} JACK xruns during the run",
            f"  |logged interval - sent interval| ms: p50 {r['err_p50']:.3f}  p95 {r['err_p95']:.3f}  "
            f"p99 {r['err_p99']:.3f}  max {r['err_max']:.3f}  mean {r['err_mean']:.3f}",
            f"  MIDI callback -> sink ms:             p50 {r['cb_p50']:.3f}  p99 {r['cb_p99']:.3f}  "
            f"max {r['cb_max']:.3f}",
            f"  event stamp -> sink ms:               p50 {r['lat_p50']:.3f}  p99 {r['lat_p99']:.3f}  "
            f"min {r['lat_min']:.3f}  max {r['lat_max']:.3f}",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--notes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backends", default="jackclient,rtmidi", help="comma-separated backend names")
    ap.add_argument("--write", type=Path, default=None,
                    help="replace the figures block (first ``` block) of this markdown file")
    args = ap.parse_args()
    text = report(run(args.notes, args.seed, [b.strip() for b in args.backends.split(",") if b.strip()]))
    print(text, end="")
    if args.write:
        old = args.write.read_text() if args.write.exists() else ""
        parts = old.split("```")
        if len(parts) >= 3:
            parts[1] = "\n" + text
            args.write.write_text("```".join(parts))
        else:
            args.write.write_text(f"```\n{text}```\n")


if __name__ == "__main__":
    main()
