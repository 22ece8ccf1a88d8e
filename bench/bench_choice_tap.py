"""Choice board: tap → sound start, and MIDI pad → sound start, through the real app loop.

    python -m bench.bench_choice_tap [--taps N] [--out docs/bench/choice.md]

Targets: issue 4, tap → first audible sample ≤ one frame (16.7 ms at 60 fps) + one audio period
(2.67 ms at 128 frames / 48 kHz); issue 13 (the loop that sleeps and routes each SDL event as it
arrives), median ≤ 1 period + 1 ms after SDL delivers the event, max ≤ 2 periods + 1 frame.

How: the whole app runs headless on the real clock with its own loop (``App.loop.run``: it
sleeps between events) and the real AudioEngine on the ``null`` backend (the mixer runs on its own
thread every 128-frame period, as with a device, but silent; its "heard" time is the callback
time, so a device's own output latency comes on top). A second thread plays the finger: it posts
a touch at a random time and wakes the loop as SDL itself does on a display (headless, SDL's
dummy driver cannot; ``--loop frames`` runs the old way instead: one pass per 60 fps frame). The
time it posts is "touch". We record
  touch   → event    the loop picks the touch up (the InputEvent's own time)
  event   → trigger  the activity calls engine.trigger (hit-test, state, before drawing)
  trigger → audible  the voice's first sample is rendered (engine.voice_starts dac time)
For MIDI the "finger" thread calls the hit path's sink as the rtmidi callback would: the
card's sound is triggered there (fast path) without waiting for a frame.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

RATE, BLOCK, FPS = 48000, 128, 60
FRAME_MS = 1000 / FPS
PERIOD_MS = BLOCK * 1000 / RATE


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def run(taps: int, method: str, loop: str = "sleep") -> dict[str, list[float]]:
    import pygame

    from prelude_play.audio import SoundBank, open_engine
    from prelude_play.clock import MonotonicClock
    from prelude_play.config import AppConfig
    from prelude_play.events import InputEvent
    from prelude_play.shell.pilot import run_test

    clock = MonotonicClock()
    engine = open_engine("null", clock=clock, rate=RATE, blocksize=BLOCK, bank=SoundBank(RATE))
    calls: list[tuple[int, int]] = []  # (trigger time, voice handle)
    play = engine.play

    def trigger(name: str, velocity: float = 1.0, *, pan: float = 0.0, at_ns: int | None = None,
                gain: float = 1.0) -> None:
        t = time.perf_counter_ns()
        h = play(name, velocity, pan=pan, at_ns=at_ns, gain=gain)
        if at_ns is None:
            calls.append((t, h))

    engine.trigger = trigger  # type: ignore[method-assign]
    cfg = AppConfig()
    out: dict[str, list[float]] = {k: [] for k in ("touch_event", "event_trigger", "trigger_audible", "total")}
    with tempfile.TemporaryDirectory() as d:
        with run_test(cfg, data_dir=Path(d), clock=clock, audio=engine, client="bench") as pilot:
            app = pilot.app
            prof = app.store.client_profile("bench")
            prof["access"] = {"method": method}
            prof["activities"] = {"choice_board": {"board": "instruments"}}
            app.store.set_client_profile("bench", prof)
            app.start_activity("choice_board")
            act = app.activity
            app.step()
            w, h = app.theme.size
            top = app.host_rect().y
            centres = [(r.centerx, r.centery + top) for r in act.layout_.cards]
            posted: list[int] = []
            done = threading.Event()

            def finger() -> None:
                rng = random.Random(4)
                time.sleep(0.5)
                for i in range(taps):
                    time.sleep(0.32 + rng.random() * FRAME_MS / 1000)  # random phase in the frame
                    x, y = centres[i % len(centres)]
                    if method == "play":
                        t = time.perf_counter_ns()
                        posted.append(t)
                        app.hits.sink(InputEvent(clock.now_ns(), "midi", "note_on", device="bench-pad",
                                                 note=act.access.play_notes[i % len(centres)], velocity=100,
                                                 channel=9))
                        continue
                    t = time.perf_counter_ns()
                    posted.append(t)
                    pygame.event.post(pygame.event.Event(pygame.FINGERDOWN, touch_id=1, finger_id=0, x=x / w,
                                                         y=y / h, dx=0.0, dy=0.0, pressure=1.0))
                    if waker is not None:
                        waker()
                    time.sleep(0.08)
                    pygame.event.post(pygame.event.Event(pygame.FINGERUP, touch_id=1, finger_id=0, x=x / w,
                                                         y=y / h, dx=0.0, dy=0.0, pressure=0.0))
                    if waker is not None:
                        waker()
                time.sleep(0.3)
                done.set()
                app.running = False
                if waker is not None:
                    waker()

            waker = getattr(app, "waker", None) if loop == "sleep" else None
            th = threading.Thread(target=finger, daemon=True)
            th.start()
            if loop == "sleep":
                app.running = True
                app.loop.run()
            else:
                tick = pygame.time.Clock()
                while not done.is_set():
                    app.step()
                    tick.tick(FPS)
            th.join()
            app.store.flush()
            choices = [e for e in app.store.events() if e.kind == "choice"]
            t0 = app.session.t0_ns if app.session else 0
            _, starts = engine.voice_starts(0)
            dac = {hdl: ns for hdl, _frame, ns in starts}
            # Each choice's first (immediate) trigger is the first call after its event time.
            for t_post, ch in zip(posted, choices):
                ev_ns = t0 + int(round(ch.t_ms * 1e6))
                first = next(((t, hdl) for t, hdl in calls if t >= min(ev_ns, t_post)), None)
                if first is None or first[1] not in dac:
                    continue
                t_trig, hdl = first
                out["touch_event"].append((ev_ns - t_post) / 1e6)
                out["event_trigger"].append((t_trig - ev_ns) / 1e6)
                out["trigger_audible"].append((dac[hdl] - t_trig) / 1e6)
                out["total"].append((dac[hdl] - t_post) / 1e6)
    engine.close()
    return out


def table(name: str, res: dict[str, list[float]]) -> str:
    rows = [f"### {name} ({len(res['total'])} choices)", "",
            "| stage | median ms | p95 ms | max ms |", "| --- | ---: | ---: | ---: |"]
    for k, label in (("touch_event", "input → event (frame wait)"), ("event_trigger", "event → engine.trigger"),
                     ("trigger_audible", "trigger → first audible sample"), ("total", "**input → sound**")):
        xs = res[k]
        if xs:
            rows.append(f"| {label} | {statistics.median(xs):.2f} | {pct(xs, 95):.2f} | {max(xs):.2f} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--taps", type=int, default=60)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--loop", choices=["sleep", "frames"], default="sleep")
    args = ap.parse_args()
    budget = FRAME_MS + PERIOD_MS
    tap = run(args.taps, "tap", args.loop)
    pad = run(args.taps, "play", args.loop)
    text = "\n\n".join([table("Tap (touch)", tap), table("MIDI pad (choose by playing, fast path)", pad)])
    ok_tap = max(tap["total"]) <= budget if tap["total"] else False
    med_target, max_target = PERIOD_MS + 1, 2 * PERIOD_MS + FRAME_MS
    med, worst = statistics.median(tap["total"]), max(tap["total"])
    summary = (f"Issue 4 budget: one frame ({FRAME_MS:.2f} ms) + one period ({PERIOD_MS:.2f} ms) = {budget:.2f} ms. "
               f"Tap max {worst:.2f} ms → {'within' if ok_tap else 'OVER'} budget; "
               f"p95 {pct(tap['total'], 95):.2f} ms. Issue 13 targets: median {med:.2f} ms "
               f"(≤ {med_target:.2f}: {'✔' if med <= med_target else '✘'}), max {worst:.2f} ms "
               f"(≤ {max_target:.2f}: {'✔' if worst <= max_target else '✘'}). Loop: {args.loop}.")
    print(text)
    print()
    print(summary)
    if args.out:
        args.out.write_text(text + "\n\n" + summary + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
