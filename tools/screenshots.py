#!/usr/bin/env python3
"""The screens a clinic sees, as pictures: every step of the shipped plan "Hello to goodbye" on the
client's screen, home with 30 clients, the client editor with 6 goals and the on-screen keyboard,
the PIN pad — in English and French (Canada), at 1280x800 and 1920x1080, normal and low
stimulation (the client's screens; the therapist's screens do not change with it).

    python tools/screenshots.py [OUT_DIR]        (default: docs/screenshots/screens)

Headless (SDL's dummy driver), a fresh made-up store each time (``pilot.seed_clients``), the fake
clock, no microphone and no MIDI device (what a tablet without them shows). Writes an index.md
listing every picture.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

SIZES = ((1280, 800), (1920, 1080))
LANGS = ("en", "fr_CA")
PLAN = "shipped:hello_to_goodbye"


def _app(lang: str, size: tuple[int, int], d: Path):
    from prelude_play.config import AppConfig
    from prelude_play.shell.pilot import run_test

    cfg = AppConfig()
    cfg.ui.language = lang
    return run_test(cfg, data_dir=d, size=size)


def therapist_screens(out: Path, lang: str, size: tuple[int, int]) -> list[Path]:
    from prelude_play.shell.pilot import records_scene, seed_clients

    shots = []
    tag = f"{lang}_{size[0]}x{size[1]}"
    for scene in ("home", "keyboard", "pin"):
        with tempfile.TemporaryDirectory() as d, _app(lang, size, Path(d)) as pilot:
            seed_clients(pilot.app.store, 30, goals=6, with_goals=0)
            pilot.app.home.layout()
            if scene == "pin":
                records_scene(pilot, "home")
                pilot.tap("tool:clients")  # the PIN pad, two digits typed
                pilot.tap("pin:1")
                pilot.tap("pin:2")
            else:
                records_scene(pilot, scene)
            name = {"home": "home_30_clients", "keyboard": "editor_6_goals_keyboard", "pin": "pin_pad"}[scene]
            shots.append(pilot.screenshot(out / f"{name}_{tag}.png"))
    return shots


def plan_steps(out: Path, lang: str, size: tuple[int, int], low: bool) -> list[Path]:
    """Each step of the shipped plan as the child sees it, a moment into the step."""
    from prelude_play.store.clients import ClientBook

    shots = []
    tag = f"{lang}_{size[0]}x{size[1]}" + ("_low" if low else "")
    with tempfile.TemporaryDirectory() as d, _app(lang, size, Path(d)) as pilot:
        app = pilot.app
        book = ClientBook(app.store)
        cid = book.create("Léo", client_id="leo", code="C-201")
        book.add_goal(cid, "Takes turns on the drum", "turn_taking", "4 of 5 turns")
        book.add_goal(cid, "Matches vowel sounds", "speech_communication", "70 % over 2 sessions")
        profile = app.store.client_profile(cid)
        profile["low_stimulation"] = low
        app.store.set_client_profile(cid, profile)
        app.select_client(cid)
        plan = app.therapist.plans.get(PLAN, cid)
        assert plan is not None, "the shipped plan is missing"
        plan.steps[3].target_trials = 3  # drum turns: the strip's "2 more turns" shows after the first
        app.therapist.start_plan(plan)
        for i in range(len(plan.steps)):
            name = app.activity_name
            assert name is not None, list(app.notices)
            pilot.wait(1500)
            if name == "drum_turns":
                pilot.unlock()
                pilot.score("+I")
                pilot.tap("rail:lock")
            elif name == "choice_board":
                pilot.tap("card:0")
                pilot.wait(400)
            pilot.step()
            shots.append(pilot.screenshot(out / f"step{i + 1}_{name}_{tag}.png"))
            app.therapist.next_step()
    return shots


def main(argv: list[str]) -> int:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "docs" / "screenshots" / "screens"
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    for lang in LANGS:
        for size in SIZES:
            shots += therapist_screens(out, lang, size)
            for low in (False, True):
                shots += plan_steps(out, lang, size, low)
    lines = ["# Screens (made by tools/screenshots.py)", "",
             "Home with 30 clients, the client editor with 6 goals and the on-screen keyboard, the PIN pad,",
             "and each step of the shipped plan \"Hello to goodbye\" as the child sees it (the rail locked),",
             "in English and French (Canada), 1280x800 and 1920x1080, normal and low stimulation.", ""]
    lines += [f"- [{p.name}]({p.name})" for p in sorted(shots)]
    (out / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(shots)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
