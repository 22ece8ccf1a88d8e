"""MIDI input timing on a private JACK dummy server (48 kHz, 128 frames).

A JACK-Client probe (in a child process, see tests/midi/jack_probe.py) sends note-ons at exact
frame times; the hub opens its port by itself through python-rtmidi's JACK API. Reported:
|logged interval − sent interval| (ms) and MIDI callback → sink latency (ms).

Run: python -m bench.bench_midi [--notes N] [--write docs/bench/midi.md]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from pathlib import Path


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run(notes: int, seed: int) -> dict[str, float]:
    from prelude_play.clock import MonotonicClock
    from prelude_play.midi.hub import MidiConfig, MidiHub
    from prelude_play.midi.rtmidi_backend import RtMidiBackend
    from tests.jack import start_jack
    from tests.midi.jack_probe import ProbeProcess

    server = start_jack()
    try:
        clock = MonotonicClock()
        hits: list[tuple[int, int]] = []
        added = threading.Event()

        def sink(ev):
            if ev.kind == "note_on":
                hits.append((ev.t_ns, clock.now_ns()))
            elif ev.kind == "device_added":
                added.set()

        hub = MidiHub(RtMidiBackend(clock=clock, api="jack", client_name="pp-bench"), clock=clock, sink=sink,
                      config=MidiConfig(api="jack", poll_interval_s=0.5, max_messages_per_s=10_000))
        hub.start()
        probe = ProbeProcess("frame-probe")
        try:
            if not added.wait(5):
                raise RuntimeError("hub did not open the probe port")
            time.sleep(0.2)
            rng = random.Random(seed)
            offsets, t = [], 0
            for _ in range(notes):
                offsets.append(t)
                t += rng.randrange(1440, 7200)  # 30–150 ms, any frame offset within a period
            sent = probe.send([(o, bytes([0x99, 38, 100])) for o in offsets], timeout=120)
            time.sleep(0.3)
        finally:
            probe.close()
            hub.stop()
        if len(hits) != len(sent):
            raise RuntimeError(f"sent {len(sent)} notes, hub logged {len(hits)}")
        err = [abs((hits[i][0] - hits[i - 1][0]) / 1e6 - (sent[i] - sent[i - 1]) * 1000 / probe.rate)
               for i in range(1, len(hits))]
        lat = [(sink_t - t_ns) / 1e6 for t_ns, sink_t in hits]
        return {
            "notes": len(hits), "rate": probe.rate, "period": probe.period,
            "err_p50": pct(err, 0.5), "err_p99": pct(err, 0.99), "err_max": max(err),
            "err_mean": statistics.fmean(err),
            "lat_p50": pct(lat, 0.5), "lat_p99": pct(lat, 0.99), "lat_max": max(lat),
        }
    finally:
        try:
            import sounddevice as sd

            sd._terminate()
        except (ImportError, OSError):
            pass
        server.stop()


def report(r: dict[str, float]) -> str:
    period_ms = r["period"] * 1000 / r["rate"]
    return (
        f"MIDI input timing, JACK dummy {r['rate']} Hz / {r['period']} frames "
        f"(period {period_ms:.2f} ms), {r['notes']} note-ons, python-rtmidi JACK API\n"
        f"  |logged interval - sent interval| ms: p50 {r['err_p50']:.3f}  p99 {r['err_p99']:.3f}  "
        f"max {r['err_max']:.3f}  mean {r['err_mean']:.3f}\n"
        f"  callback stamp -> sink latency ms:    p50 {r['lat_p50']:.3f}  p99 {r['lat_p99']:.3f}  "
        f"max {r['lat_max']:.3f}\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--notes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--write", type=Path, default=None, help="also write the figures to this file")
    args = ap.parse_args()
    text = report(run(args.notes, args.seed))
    print(text, end="")
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
