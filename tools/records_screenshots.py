#!/usr/bin/env python3
"""Screenshots of the client records (issue 15): home with 30 clients, the Clients screen, the
client editor with 6 goals, editing a goal with the on-screen keyboard, the list of goal
areas, the "Save changes?" question — in English and French (Canada), at 1280x800 and 1920x1080.

    python tools/records_screenshots.py [OUT_DIR]     (default: tests/_artifacts/records)

Headless (SDL's dummy driver); a fresh made-up store each time (``pilot.seed_clients``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

SCENES = ("home", "clients", "editor", "keyboard", "areas", "unsaved")


def main(argv: list[str]) -> int:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    from prelude_play.config import AppConfig
    from prelude_play.shell.pilot import records_scene, run_test, seed_clients

    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "tests" / "_artifacts" / "records"
    out.mkdir(parents=True, exist_ok=True)
    for lang in ("en", "fr_CA"):
        for size in ((1280, 800), (1920, 1080)):
            for scene in SCENES:
                cfg = AppConfig()
                cfg.ui.language = lang
                with tempfile.TemporaryDirectory() as d, run_test(cfg, data_dir=Path(d), size=size) as pilot:
                    seed_clients(pilot.app.store, 30, goals=6, with_goals=0)
                    pilot.app.home.layout()
                    records_scene(pilot, scene)
                    shot = pilot.screenshot(out / f"records_{scene}_{lang}_{size[0]}x{size[1]}.png")
                    print(shot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
