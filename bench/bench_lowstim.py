"""Low stimulation's muted palette per drawn frame (issue 15): ``python -m bench.bench_lowstim``.

The whole client screen muted on the display surface (SDL dummy driver), 200 frames per size:
a fresh ``Muter`` per frame (what the first version did: new scratch surfaces every frame)
against one ``Muter`` kept between frames (what the host does).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def frame_ms(fn, frames: int) -> tuple[float, float]:
    ts = []
    for _ in range(frames):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    return statistics.median(ts), ts[int(0.95 * len(ts))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50 frames per size")
    a = ap.parse_args(argv)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    from prelude_play.ui.widgets import Muter

    pygame.init()
    frames = 50 if a.quick else 200
    for w, h in ((1280, 800), (1920, 1080)):
        screen = pygame.display.set_mode((w, h))
        screen.fill((200, 100, 50))
        whole = screen.get_rect()
        kept = Muter()
        fresh = frame_ms(lambda: Muter()(screen, whole), frames)
        steady = frame_ms(lambda: kept(screen, whole), frames)
        print(f"{w}x{h}: scratch made each frame median {fresh[0]:.2f} ms (p95 {fresh[1]:.2f}); "
              f"kept (Muter) median {steady[0]:.2f} ms (p95 {steady[1]:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
