"""The cost of durable logging (issue 14): events/s sustained, the time ``log()`` takes on the UI
thread, and frame times of the real app loop with logging on — before and after.

Stores compared:
- ``before``: the store of ``--before REV`` (default main): one commit per event on the calling
  thread, WAL + ``synchronous=NORMAL`` (a power cut loses what the OS had not written yet);
- ``before-full``: the same inline store with ``synchronous=FULL`` (durable, an fsync per event
  on the UI thread: the option the issue measured);
- ``after``: this store: ``log()`` queues, a writer thread commits in batches with
  ``synchronous=FULL`` (durable a few ms later; the frame never waits on the disk).

Run: ``python -m bench.bench_store [--quick] [--before REV] [--dir PATH] [--json]`` (``--dir``:
where the stores are written; the default is a temporary folder, which may be a tmpfs where an
fsync costs nothing — pass a folder on the real disk).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]


def old_store_class(rev: str, tmp: Path) -> type:
    """The EventLog of git revision ``rev``, loaded beside today's package (its imports exist)."""
    src = subprocess.run(["git", "show", f"{rev}:prelude_play/store/eventlog.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    f = tmp / f"eventlog_{rev.replace('/', '_')}.py"
    f.write_text(src)
    spec = importlib.util.spec_from_file_location(f"bench_old_eventlog_{rev}", f)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)

    class Old(mod.EventLog):  # type: ignore[name-defined,misc]
        """Today's shell asks a store for poll()/where_held(); the old one saved inline."""

        def poll(self) -> str | None:
            return None

        def where_held(self) -> str:
            return "memory"

    return Old


def stores(before: str, tmp: Path) -> dict[str, Callable[[Path, Any], Any]]:
    from prelude_play.store.eventlog import EventLog

    Old = old_store_class(before, tmp)
    return {"before": lambda p, c: Old(p, c, durable="NORMAL"),
            "before-full": lambda p, c: Old(p, c, durable="FULL"),
            "after": lambda p, c: EventLog(p, c)}


def sustained(make: Callable[[Path, Any], Any], where: Path, n: int) -> dict[str, float]:
    """Log ``n`` events as fast as the caller can; events/s until every one is committed, and
    the time each ``log()`` call took on the calling (UI) thread."""
    from prelude_play.clock import MonotonicClock
    from prelude_play.events import LogEvent

    with tempfile.TemporaryDirectory(dir=where) as d:
        log = make(Path(d) / "s.db", MonotonicClock())
        s = log.start_session("bench", {})
        calls = []
        t0 = time.perf_counter()
        for i in range(n):
            c0 = time.perf_counter_ns()
            log.log(s, LogEvent("hit", source="midi", device="pad", goals=("musical",),
                                data={"note": 36 + i % 12, "velocity": 90}))
            calls.append((time.perf_counter_ns() - c0) / 1e6)
        log.flush()  # after: waits for the writer; before: already written
        total = time.perf_counter() - t0
        assert sum(1 for _ in log.events()) == n
        log.close()
    calls.sort()
    return {"events": n, "events_per_s": round(n / total), "log_ms_p50": round(calls[n // 2], 3),
            "log_ms_p99": round(calls[int(n * 0.99)], 3), "log_ms_max": round(calls[-1], 2)}


def frames(make: Callable[[Path, Any], Any], n_frames: int, midi_hz: float) -> dict[str, Any]:
    from bench.bench_shell import frame_load

    return frame_load(n_frames, touch_hz=30, midi_hz=midi_hz, make_store=make)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--before", default="main")
    ap.add_argument("--dir", type=Path, default=None, help="folder for the stores (a real disk)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    where = a.dir or Path(tempfile.gettempdir())
    n = 2000 if a.quick else 10000
    n_frames = 600 if a.quick else 1800
    out: dict[str, Any] = {"dir": str(where)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in stores(a.before, Path(tmp)).items():
            k = n if name != "before-full" else n // 5  # an fsync per event: fewer, same rate
            out[name] = {"sustained": sustained(make, where, k), "frames": frames(make, n_frames, 200)}
            r, f = out[name]["sustained"], out[name]["frames"]
            if not a.json:
                print(f"{name:12s} {r['events']} events: {r['events_per_s']} events/s sustained; log() on the UI "
                      f"thread p50 {r['log_ms_p50']} ms, p99 {r['log_ms_p99']} ms, max {r['log_ms_max']} ms | "
                      f"app loop, 30 taps/s + 200 MIDI notes/s, {f['frames']} frames, {f['hits_logged']} hits "
                      f"logged: frame work p50 {f['work_ms_p50']} ms, p99 {f['work_ms_p99']} ms, max "
                      f"{f['work_ms_max']} ms, over 20 ms {f['frames_over_20ms_pct']}%", flush=True)
    if a.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
