"""Export benchmark: 100 sessions × 500 events exported as CSV, JSONL and the HTML report.

Target (issue 8): each format ≤ 5 s. The store is built first (not timed) from the deterministic
demo data (prelude_play/store/demo.py), logged the trial-model way: one or more clients with their
own goals, trials with automatic judgements and therapist scores, corrections, unscored trials,
filtered touches, notes. The first HTML run
includes importing matplotlib (as the first report of an app session does); "max" shows it.
Run: python -m bench.bench_export [--sessions N] [--events N] [--clients N] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from prelude_play.clock import FakeClock
from prelude_play.store import export
from prelude_play.store.demo import describe, make_store
from prelude_play.store.eventlog import EventLog
from prelude_play.store.report import export_html

TARGET_S = 5.0


def run(sessions: int, events: int, clients: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "prelude.db"
        log = EventLog(db, FakeClock())
        t0 = time.perf_counter()
        make_store(log, sessions=sessions, events_per_session=events, clients=clients)
        build_s = time.perf_counter() - t0
        info = describe(log)
        log.close()
        log = EventLog(db, FakeClock())  # a store opened cold, as the CLI does
        results: dict = {}
        for fmt, fn in (("csv", export.export_csv), ("jsonl", export.export_jsonl), ("html", export_html)):
            times, cpu = [], []
            for _ in range(runs):
                out = Path(d) / f"out.{fmt}"
                t, c = time.perf_counter(), time.process_time()
                fn(log, out)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            # CPU time as well as wall time: on a shared machine wall time includes waiting for a core.
            results[fmt] = {"median_s": statistics.median(times), "max_s": max(times),
                            "cpu_median_s": statistics.median(cpu), "size_mb": out.stat().st_size / 1e6,
                            "ok": statistics.median(times) <= TARGET_S}
        sel = export.Selection(client="C-D001", goal="turn_taking")
        t = time.perf_counter()
        export.export_csv(log, Path(d) / "filtered.csv", selection=sel)
        results["csv_filtered_client_goal"] = {"median_s": time.perf_counter() - t}
        log.close()
    return {"store": info, "build_s": build_s, "runs": runs,
            "target_s": TARGET_S, "results": results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = run(args.sessions, args.events, args.clients, args.runs)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        s = r["store"]
        print(f"store: {s['sessions']} sessions, {s['events']} events, {s['trials']} trials, {s['clients']} client(s) "
              f"(built in {r['build_s']:.1f} s, not timed)")
        for fmt, v in r["results"].items():
            extra = (f"  max {v['max_s']:.2f} s  cpu {v['cpu_median_s']:.2f} s  {v['size_mb']:.1f} MB  "
                     f"{'OK' if v['ok'] else 'OVER'} (≤ {TARGET_S:.0f} s)") if "size_mb" in v else ""
            print(f"{fmt:>26}: median {v['median_s']:.2f} s{extra}")
    return 0 if all(v.get("ok", True) for v in r["results"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
