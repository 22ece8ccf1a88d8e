"""Touches and seconds per scored trial: the old overlay flow against the scoring rail and pedals.

Both flows are driven through the real headless app by its pilot, and every tap, key press and
pedal press the pilot sends is counted; hold times come from the app's own timers (the corner
long-press), measured on the FakeClock. The *before* flow runs the code of a given git revision
(default 870e3b7, the last commit before the trial model) from a temporary worktree, so it is
that version's real UI, not a re-enactment.

Seconds are an estimate for a practised therapist, by the Keystroke-Level Model adapted to touch
(Card, Moran & Newell 1980; touch operators as in Rice & Lartigue 2014): a touch on a new target
0.75 s (point + tap), a repeat touch on a keypad 0.35 s (PIN digits after the first), holds for
their full length, one mental preparation (1.35 s) per scoring whatever the UI. Say so when you
quote them: they are modelled, the touch counts are measured.

Run: python -m bench.bench_scoring [--before-rev REV] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POINT_TAP_S, KEYPAD_S, MENTAL_S = 0.75, 0.35, 1.35

DRIVER = r'''
import json, os, sys, tempfile
os.environ["SDL_VIDEODRIVER"] = "dummy"; os.environ["SDL_AUDIODRIVER"] = "dummy"
from pathlib import Path
from prelude_play.shell.pilot import run_test, Pilot

log = []
orig_tap, orig_press, orig_midi = Pilot.tap, Pilot.press, Pilot.midi
def tap(self, target, **kw):
    log.append(("tap", str(target), kw.get("hold_ms", 0)))
    return orig_tap(self, target, **kw)
def press(self, key, **kw):
    log.append(("key", key, 0))
    return orig_press(self, key, **kw)
Pilot.tap, Pilot.press = tap, press

def scores(app):
    return [e for e in app.store.events() if e.kind == "score"]

flow = sys.argv[1]
with tempfile.TemporaryDirectory() as d, run_test(data_dir=Path(d), client="ari", activity="free_play") as pilot:
    app = pilot.app
    results = {}
    if flow == "before":
        # corner long-press, the PIN, a prompt level, the outcome, back to the client
        def one(prompted):
            log.clear()
            corner = app._corner_rect().center
            pilot.tap(corner, hold_ms=app.cfg.therapist.long_press_ms + 50)
            for dgt in getattr(app.cfg.therapist, "pin", "") or "1234":
                pilot.tap(f"pin:{dgt}")
            if app.find_button("pin:ok") is not None:
                pilot.tap("pin:ok")
            if prompted:
                pilot.tap("prompt:gestural")
            pilot.tap("outcome:success")
            pilot.tap("close")
            return list(log)
        n0 = len(scores(app))
        results["independent"] = one(False)
        results["prompted"] = one(True)
        assert len(scores(app)) == n0 + 2, "the old flow did not score"
    else:
        pilot.unlock()  # once per session: not counted per trial
        n0 = len(scores(app))
        log.clear(); pilot.tap("score:+I"); results["independent"] = list(log)
        log.clear(); pilot.tap("score:+G"); results["prompted"] = list(log)
        log.clear(); pilot.press("page down"); results["page_turner"] = list(log)
        log.clear()
        pilot.midi("note_on", note=64, velocity=100, role="pedal", device="pedal")
        pilot.wait(60)
        pilot.midi("note_off", note=64, velocity=0, role="pedal", device="pedal")
        pilot.wait(400)
        results["midi_pedal"] = [("pedal", "tap", 0)]
        assert len(scores(app)) == n0 + 4, "the rail flow did not score"
    print(json.dumps(results))
'''


def run_flow(flow: str, tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), PYGAME_HIDE_SUPPORT_PROMPT="1")
    out = subprocess.run([sys.executable, "-c", DRIVER, flow], cwd=tree, env=env, capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"{flow} flow failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def klm_seconds(actions: list[list]) -> float:
    t = MENTAL_S
    prev = None
    for kind, target, hold_ms in actions:
        if kind == "pedal":
            t += 0.2  # a foot press with the foot already on the pedal
        elif kind == "key":
            t += 0.3  # a foot switch / page turner sending a key
        elif str(target).startswith("pin:") and prev is not None and str(prev).startswith("pin:"):
            t += KEYPAD_S
        else:
            t += POINT_TAP_S
        t += hold_ms / 1000
        prev = target
    return round(t, 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before-rev", default="870e3b7")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        wt = Path(d) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(wt), a.before_rev], cwd=ROOT, check=True)
        try:
            before = run_flow("before", wt)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT, check=False)
    after = run_flow("after", ROOT)
    for name, acts in before.items():
        rows[f"before: overlay, {name}"] = acts
    for name, acts in after.items():
        rows[f"after: {name.replace('_', ' ')}"] = acts
    table = {k: {"touches": sum(1 for x in v if x[0] == "tap"), "presses": sum(1 for x in v if x[0] != "tap"),
                 "hold_s": round(sum(x[2] for x in v) / 1000, 2), "pin": any(str(x[1]).startswith("pin:") for x in v),
                 "seconds_klm": klm_seconds(v)} for k, v in rows.items()}
    if a.json:
        print(json.dumps(table, indent=2))
        return 0
    print(f"{'flow':36} {'touches':>7} {'presses':>7} {'held s':>6} {'PIN':>4} {'s (KLM)':>8}")
    for k, r in table.items():
        print(f"{k:36} {r['touches']:7} {r['presses']:7} {r['hold_s']:6} {'yes' if r['pin'] else 'no':>4} "
              f"{r['seconds_klm']:8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
