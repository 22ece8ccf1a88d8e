"""Hostile files and floods (issue 14, items 4 and 6): how long and how much memory each costs.

``python -m bench.bench_loaders [--before REV]``: with ``--before`` the same inputs also go to
that git revision's loaders (checked out into a temporary folder), for a before/after table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "app.toml, 8 000 unknown keys": ("app", "[ui]\n" + "".join(f"unknown_{i} = {i}\n" for i in range(8000))),
    "app.toml, 40 000 unknown keys (1 MB)": ("app", "[ui]\n" + "".join(f"unknown_{i} = {i}\n" for i in range(40000))),
    "app.toml, nested 5 000 deep": ("app", "x = " + "[" * 5000 + "]" * 5000 + "\n"),
    "board, 2 000 cards with an unknown field": ("board", "".join(
        f'[[card]]\nlabel = "c{i}"\nzzz = 1\n' for i in range(2000))),
    "sound vowel:ah:60:600s": ("sound", "vowel:ah:60:600s"),
    "sound vowel:ah:60:10s (the longest allowed)": ("sound", "vowel:ah:60:10s"),
}

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
kind, tmp = sys.argv[2], Path(sys.argv[3])
arg = (tmp / "arg").read_text()
t = time.perf_counter()
outcome = "ok"
try:
    if kind == "app":
        from prelude_play.config import load_app_config
        f = tmp / "app.toml"; f.write_text(arg)
        cfg = load_app_config([f]); outcome = f"{len(cfg.problems)} problem(s)"
    elif kind == "board":
        from prelude_play.activities.choice_board.boards import load_board
        f = tmp / "b.toml"; f.write_text(arg)
        b, p = load_board(f); outcome = f"{len(p)} problem(s)"
    elif kind == "sound":
        from prelude_play.audio.bank import SoundBank
        s = SoundBank().get(arg); outcome = f"{s.data.nbytes >> 20} MB sound"
except BaseException as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:60]}"
took = time.perf_counter() - t
print(json.dumps({"s": took, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "outcome": outcome}))
"""


def run(tree: Path, kind: str, arg: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "arg").write_text(arg)
        try:
            out = subprocess.run([sys.executable, "-c", CHILD, str(tree), kind, tmp], capture_output=True,
                                 text=True, timeout=timeout, cwd=tree)
        except subprocess.TimeoutExpired:
            return {"s": None, "rss_mb": None, "outcome": f"not finished after {timeout:.0f} s"}
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"s": None, "rss_mb": None, "outcome": (out.stderr.strip().splitlines() or ["?"])[-1][:80]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="a git revision to compare with (e.g. main)")
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args(argv)
    trees = [("after", ROOT)]
    tmp = None
    if a.before:
        tmp = tempfile.TemporaryDirectory()
        subprocess.run(f"git archive {a.before} | tar -x -C {tmp.name}", shell=True, check=True, cwd=ROOT)
        trees.insert(0, ("before", Path(tmp.name)))
    print("| input | " + " | ".join(f"{n}: time, peak RSS, outcome" for n, _ in trees) + " |")
    print("|---|" + "---|" * len(trees))
    for name, (kind, arg) in CASES.items():
        cells = []
        for _, tree in trees:
            r = run(tree, kind, arg, a.timeout)
            s = "—" if r["s"] is None else f"{r['s']:.3f} s"
            rss = "—" if r["rss_mb"] is None else f"{r['rss_mb']:.0f} MB"
            cells.append(f"{s}, {rss}, {r['outcome']}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
