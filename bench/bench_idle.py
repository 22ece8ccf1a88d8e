"""Idle CPU per screen and activity: the app left alone (nothing touched, nothing playing).

    python -m bench.bench_idle [--seconds 20] [--tree PATH] [--json]

The real app runs headless (SDL's dummy video driver, no MIDI) in its own process; after it has
settled (start-up, sound warm-up), its CPU time (user + system, from /proc) over ``--seconds`` is
the idle cost. The audio engine runs on the ``null`` backend (a silent mixer thread every period,
as a sound card's callback would) — ``--audio none`` would hide that part. ``--tree`` runs another
checkout (e.g. the commit before the sleeping loop) the same way.

Screens: home (no client), the client's screen with each activity as it stands after starting
(drum turns runs its first exchange by itself and is measured paused instead: see NOTE), and the
rail shown beside free play (the ``--bench-screen`` hook of ``prelude-play``'s CLI opens it).
Target (issue 13): ≤ 2 % of a core each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENES: dict[str, list[str]] = {
    "home": [],
    "free_play": ["--client", "bench", "--activity", "free_play"],
    "choice_board": ["--client", "bench", "--activity", "choice_board"],
    "vowel_match": ["--client", "bench", "--activity", "vowel_match"],
    "scarf_moves (music playing)": ["--client", "bench", "--activity", "scarf_moves"],
    "drum_turns (exchange running)": ["--client", "bench", "--activity", "drum_turns"],
}


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_percent(tree: Path, args: list[str], seconds: float, settle: float = 4.0,
                 audio: str = "null") -> float:
    """Start the app, let it settle (start-up, sound warm-up), then measure ``seconds`` of CPU."""
    env = dict(os.environ, SDL_AUDIODRIVER="dummy", PYGAME_HIDE_SUPPORT_PROMPT="1", PYTHONPATH=str(tree))
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.Popen([sys.executable, "-m", "prelude_play", "--headless", "--data-dir", d,
                              "--audio-backend", audio, "--midi-api", "none",
                              "--for", str(settle + seconds + 2), *args],
                             cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(settle)
            c0, t0 = _cpu(p.pid), time.monotonic()
            time.sleep(seconds)
            c1, t1 = _cpu(p.pid), time.monotonic()
        finally:
            p.wait(60)
    return round(100.0 * (c1 - c0) / (t1 - t0), 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--tree", type=Path, default=ROOT)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--audio", default="null", help="audio backend for the app (null: a silent mixer thread)")
    a = ap.parse_args(argv)
    res = {}
    for name, args in SCENES.items():
        if a.only and not any(o in name for o in a.only):
            continue
        res[name] = idle_percent(a.tree, args, a.seconds, audio=a.audio)
        if not a.json:
            print(f"{name:32} {res[name]:6.2f} % of a core", flush=True)
    if a.json:
        print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
