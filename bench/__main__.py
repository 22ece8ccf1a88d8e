"""Run every benchmark: ``python -m bench [--quick] [--only NAME ...]``.

Each ``bench/bench_*.py`` runs in turn as its own process (``python -m bench.<name>``), so a
benchmark that starts a JACK server or opens a window cannot disturb the next one; its figures
are printed as it produces them. ``--quick`` is passed on to the benchmarks that accept it
(the e2e soak, for one, then lasts 30 s instead of 10 minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def bench_modules(only: list[str] | None = None) -> list[str]:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if only:
        names = [n for n in names if n in only or n.removeprefix("bench_") in only]
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs where a benchmark offers them")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these (e.g. e2e audio)")
    a = ap.parse_args(argv)
    results: list[tuple[str, int, float]] = []
    for name in bench_modules(a.only):
        cmd = [sys.executable, "-m", f"bench.{name}"]
        if a.quick and "--quick" in (HERE / f"{name}.py").read_text():
            cmd.append("--quick")
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call(cmd, cwd=HERE.parent)
        results.append((name, rc, time.monotonic() - t0))
    print("\n=== summary")
    for name, rc, dt in results:
        print(f"  {name:24} {'ok' if rc == 0 else f'FAILED (exit {rc})':16} {dt:7.1f} s")
    return 1 if any(rc for _, rc, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
