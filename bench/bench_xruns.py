"""Whose xruns are they? The app against JACK's own C example clients, on the same server.

    python -m bench.bench_xruns [--runs 10] [--seconds 60] [--json out.json]

jackd's log names a client for each xrun ("client = X was not finished, state = Triggered"),
but "Triggered" only says the client's thread had not been scheduled yet when the period ran
out — on a virtual machine that is what happens to *any* client while the hypervisor has taken
the CPU away. So blame alone cannot tell an app that overruns from a machine that stalls.

This benchmark runs, alternately on one private ``jackd -R -d dummy -r 48000 -p 128`` each:

* ``reference``: two of JACK's own C example clients — ``jack_metro`` (audio) and
  ``jack_midiseq`` (a note every 100 ms) — nothing else;
* ``app``: ``jack_midiseq`` playing into the app exactly as a therapist runs it
  (``prelude-play --headless --activity free_play --midi-api jack --audio-backend sounddevice``:
  its MIDI client and its PortAudio client, 60 fps frame loop, every hit logged) — no Python
  JACK client in the graph but the app's, whose callbacks are the C core;

and, with ``--configs``, also ``reference+ui`` (the reference plus the app's frame loop with no
JACK client: ``--midi-api none --audio-backend null``) and ``app-python`` (the app with
``PRELUDE_CORE=python``: its Python mixer and Python JACK callback). It reads the CPU time the
hypervisor took from the VM during each run ("steal", /proc/stat).
If the app caused xruns, the ``app`` runs would show more xruns than the reference runs at the
same steal. Reported: per run, xruns and blames; per configuration, xruns per second of steal
and a least-squares line xruns = a + b·steal.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def steal_s() -> float:
    with open("/proc/stat") as f:
        return int(f.readline().split()[8]) / os.sysconf("SC_CLK_TCK")


def one_run(config: str, seconds: float, tmp: Path) -> dict:
    from tests.jack import jackd_args, jackd_path

    name = "xr" + uuid.uuid4().hex[:8]
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    log_path = tmp / f"{name}.jackd.log"
    os.environ["PRELUDE_JACK_RT"] = "1"
    with open(log_path, "w") as log:
        jackd = subprocess.Popen(jackd_args(jackd_path() or "jackd", name, 48000, 128), stdout=log,
                                 stderr=subprocess.STDOUT, env=env)
    procs: list[subprocess.Popen] = []
    app_args = [sys.executable, "-m", "prelude_play", "--data-dir", str(tmp / f"{name}-data"), "--headless",
                "--activity", "free_play", "--client", "bench"]
    try:
        time.sleep(1.5)
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        procs.append(subprocess.Popen(["jack_midiseq", "seq", "4800", "0", "38", "1400"], **quiet))
        if config.startswith("reference"):
            procs.append(subprocess.Popen(["jack_metro", "-b", "120"], **quiet))
        if config == "reference+ui":
            procs.append(subprocess.Popen(app_args + ["--midi-api", "none", "--audio-backend", "null"],
                                          cwd=REPO, **quiet))
        elif config.startswith("app"):
            core = dict(env, PRELUDE_CORE="python" if config == "app-python" else "auto")
            procs.append(subprocess.Popen(app_args + ["--midi-api", "jack", "--audio-backend", "sounddevice"],
                                          cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=core))
        time.sleep(3.0)  # start-up (client registration xruns are not counted)
        start = log_path.stat().st_size
        s0, t0 = steal_s(), time.monotonic()
        time.sleep(seconds)
        s1, t1 = steal_s(), time.monotonic()
        with open(log_path) as f:
            f.seek(start)
            text = f.read()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        jackd.terminate()
        try:
            jackd.wait(5)
        except subprocess.TimeoutExpired:
            jackd.kill()
    blames: dict[str, int] = {}
    for m in re.finditer(r"client = (.+?) was not finished", text):
        blames[m.group(1)] = blames.get(m.group(1), 0) + 1
    return {"config": config, "seconds": t1 - t0, "steal_s": s1 - s0, "xruns": sum(blames.values()),
            "blames": blames, "driver_xruns": len(re.findall(r"JackTimedDriver::Process XRun", text)),
            "load": os.getloadavg()[0]}


def fit(rows: list[dict]) -> dict:
    xs = [r["steal_s"] for r in rows]
    ys = [r["xruns"] for r in rows]
    n = len(rows)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return {"runs": n, "seconds": sum(r["seconds"] for r in rows), "xruns": sum(ys), "steal_s": sum(xs),
            "xruns_per_steal_s": sum(ys) / sum(xs) if sum(xs) else float("nan"), "a": my - b * mx, "b": b,
            "runs_without_steal": [r["xruns"] for r in rows if r["steal_s"] < 0.05]}


CLIENTS = {"reference": 2, "reference+ui": 2, "app": 3, "app-python": 3}


def report(rows: list[dict]) -> str:
    lines = ["run  config     seconds  steal s  xruns  blames"]
    for i, r in enumerate(rows):
        lines.append(f"{i:3d}  {r['config']:9}  {r['seconds']:7.1f}  {r['steal_s']:7.2f}  {r['xruns']:5d}  {r['blames']}")
    lines.append("")
    for cfg in CLIENTS:
        sel = [r for r in rows if r["config"] == cfg]
        if not sel:
            continue
        f = fit(sel)
        lines.append(f"{cfg:12}: {f['runs']} runs, {f['seconds']:.0f} s, {f['xruns']} xruns, steal {f['steal_s']:.1f} s "
                     f"-> {f['xruns_per_steal_s']:.1f} xruns per second of steal, "
                     f"{f['xruns_per_steal_s'] / CLIENTS[cfg]:.1f} per client; fit xruns = {f['a']:.1f} + "
                     f"{f['b']:.1f} x steal_s; runs with < 0.05 s steal: {f['runs_without_steal']}")
    for cfg in ("app", "app-python"):
        sel = [r for r in rows if r["config"] == cfg]
        if sel:
            own = sum(r["blames"].get("prelude-play-midi", 0) + r["blames"].get("PortAudio", 0) for r in sel)
            lines.append(f"{cfg} runs: jackd blamed the app's two clients {own} times, jack_midiseq "
                         f"{sum(r['blames'].get('seq', 0) for r in sel)} times")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="runs per configuration (alternated)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--configs", default="reference,app",
                    help=f"comma-separated, alternated in turn: {', '.join(CLIENTS)}")
    a = ap.parse_args(argv)
    for tool in ("jackd", "jack_metro", "jack_midiseq"):
        if shutil.which(tool) is None:
            print(f"bench_xruns: {tool} not found (Debian package jackd2)", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="pp-xruns-"))
    rows = []
    try:
        configs = [c.strip() for c in a.configs.split(",") if c.strip()]
        unknown = [c for c in configs if c not in CLIENTS]
        if unknown:
            ap.error(f"unknown configs {unknown}; known: {', '.join(CLIENTS)}")
        for i in range(a.runs):
            for cfg in (configs if i % 2 == 0 else configs[::-1]):
                rows.append(one_run(cfg, a.seconds, tmp))
                print(f"{cfg}: {rows[-1]['xruns']} xruns, steal {rows[-1]['steal_s']:.2f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(report(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
