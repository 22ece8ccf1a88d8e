"""Every activity beside the scoring rail at 1280x800, with a client whose goals the step targets:
the child's side stays whole and readable, nothing of the rail reaches into it."""

from __future__ import annotations

from pathlib import Path

import pygame
import pytest

from prelude_play.shell.pilot import run_test
from prelude_play.store.clients import ClientBook
from tests.fakes import RecordingAudio
from tests.screens import publish

ART = Path(__file__).resolve().parents[1] / "_artifacts"


def _start(pilot, activity: str, **settings) -> None:
    app = pilot.app
    book = ClientBook(app.store)
    cid = book.create("Robin Real-Name", client_id="robin", code="C-ROB")
    g1 = book.add_goal(cid, "Takes turns on the drum", "turn_taking", "80% of trials over 3 sessions")
    g2 = book.add_goal(cid, "Requests 'more' with sign + voice", "functional_communication", "4 of 5 trials")
    profile = app.store.client_profile(cid)
    profile["activities"] = {activity: settings}
    app.store.set_client_profile(cid, profile)
    app.select_client(cid)
    app.start_activity(activity, goals=[g1, g2])
    assert app.activity_name == activity, app.notices


SCENES = {
    "choice_board": (dict(board="instruments"), lambda p: p.tap("card:1")),
    "drum_turns": (dict(count_in_beats=0, bpm=60, level=2), lambda p: p.wait(2600)),
    "scarf_moves": (dict(mode="live"), lambda p: p.wait(1500)),
    "vowel_match": (dict(), lambda p: (p.tap("rail:primary"), p.wait(1500))),
    "free_play": (dict(pulse_bpm=0), lambda p: (p.tap("pad:1"), p.score("+I"))),
}


@pytest.mark.parametrize("activity", sorted(SCENES))
def test_each_activity_beside_the_rail(tmp_path, activity):
    settings, scene = SCENES[activity]
    with run_test(data_dir=tmp_path, audio=RecordingAudio()) as pilot:
        _start(pilot, activity, **settings)
        pilot.step()
        pilot.unlock()
        scene(pilot)
        pilot.step(6)
        shot = pilot.screenshot(ART / f"rail_{activity}_1280x800.png")
        app = pilot.app
        host, rail = app.host_rect(), app.rail_rect()
        assert not host.colliderect(rail) and host.width + rail.width == 1280
        assert all(rail.contains(b.rect) for b in app.rail.buttons)  # nothing of the rail on the child's side
        chips = [b for b in app.rail.buttons if b.id.startswith("goal:")]
        assert len(chips) == 2 and all(b.selected for b in chips)  # the step's targets, lit
        assert (app.find_button("rail:primary") is not None) == (activity != "free_play")
        assert [b for b in app.rail.buttons if b.id.startswith("trial:")]  # the latest trial, to edit
    img = pygame.image.load(str(shot))
    assert img.get_size() == (1280, 800)
    publish(shot)
    colours = {img.get_at((x, y))[:3] for x in range(0, host.width, 31) for y in range(host.y, 800, 29)}
    assert len(colours) > 4  # the child's side is drawn, not blank
