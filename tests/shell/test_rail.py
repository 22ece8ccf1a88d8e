"""The scoring rail: one touch a trial for the therapist, and no way for the client to score."""

from __future__ import annotations

from pathlib import Path

import pygame

from prelude_play.config import AppConfig
from prelude_play.shell.pilot import run_test
from prelude_play.store.clients import ClientBook

ART = Path(__file__).resolve().parents[1] / "_artifacts"
SCORING = {"score", "correction", "judgement", "goals_targeted", "trial_goals", "therapist_unlock"}


def scoring_events(app):
    return [e for e in app.store.events() if e.kind in SCORING or (e.kind == "trial_open" and e.actor == "therapist")]


def test_tapping_anywhere_on_the_locked_screen_never_scores(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        app = pilot.app
        w, h = app.theme.size
        for x in range(10, w, 53):
            for y in range(10, h, 47):
                pilot.tap((x, y))
        for key in ("escape", "return", "space", "1", "2", "3", "4"):
            pilot.press(key)
        assert app.modal is None and app.screen == "host" and not app.lock.unlocked
        assert scoring_events(app) == [] and app.live.trials() == []
        assert len([e for e in app.store.events() if e.kind == "hit"]) > 10  # the taps did reach the activity


def test_a_rail_button_acts_on_release_inside_it_only(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        app = pilot.app
        pilot.unlock()
        button = app.find_button("score:+I").rect.center
        # a slide from the client's screen onto the rail
        pilot.down((200, 400))
        pilot.step()
        pygame.event.post(pygame.event.Event(pygame.FINGERMOTION, touch_id=1, finger_id=0, x=button[0] / app.theme.size[0],
                                             y=button[1] / app.theme.size[1], dx=0.0, dy=0.0, pressure=1.0))
        pilot.step()
        pilot.up(button)
        pilot.step()
        # a press on +I dragged off and released elsewhere
        pilot.down(button)
        pilot.step()
        pilot.up((button[0], button[1] + 300))
        pilot.step()
        # a palm: a second finger down while the first is on +I
        pilot.down(button)
        pilot.down((300, 300), finger=1)
        pilot.step()
        pilot.up((300, 300), finger=1)
        pilot.up(button)
        pilot.step()
        assert [e for e in app.store.events() if e.kind == "score"] == []
        pilot.tap("score:+I")  # a plain tap scores
        assert [(e.outcome, e.prompt) for e in app.store.events() if e.kind == "score"] == [("success", "independent")]


def test_the_rail_locks_after_the_idle_time_and_on_pause(tmp_path):
    cfg = AppConfig()
    cfg.therapist.unlock_idle_min = 0.05  # 3 s
    with run_test(cfg, data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        app = pilot.app
        pilot.unlock()
        host = app.host_rect()
        assert app.lock.unlocked and host.width < app.theme.size[0]  # the child's screen makes room
        pilot.wait(2000)
        pilot.score("+I")  # a therapist touch keeps it open
        pilot.wait(2500)
        assert app.lock.unlocked
        pilot.wait(1000)
        assert not app.lock.unlocked and app.host_rect().width == app.theme.size[0]
        assert app.find_button("score:+I") is None
        pilot.unlock()
        pilot.tap("rail:more")
        pilot.tap("home")
        assert not app.lock.unlocked
        kinds = [e.kind for e in app.store.events() if e.kind.startswith("therapist_")]
        assert kinds == ["therapist_unlock", "therapist_lock", "therapist_unlock", "therapist_lock"]


def test_goal_chips_target_goals_and_show_the_running_tally(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        book = ClientBook(app.store)
        cid = book.create("Robin", client_id="robin")
        g1 = book.add_goal(cid, "Plays a steady beat", "musical")
        g2 = book.add_goal(cid, "Waits for a turn", "turn_taking")
        app.select_client(cid)
        app.start_activity("free_play")
        pilot.unlock()
        assert not app.find_button(f"goal:client:{g1}").selected
        pilot.tap(f"goal:client:{g1}")  # one tap: this step works on the goal from now on
        pilot.score("+I")
        pilot.score("-")
        pilot.tap(f"goal:client:{g2}")
        pilot.score("+G")
        chip1, chip2 = app.find_button(f"goal:client:{g1}"), app.find_button(f"goal:client:{g2}")
        assert chip1.selected and chip1.data["tally"] == "2/3" and chip2.selected and chip2.data["tally"] == "1/1"
        shot = pilot.screenshot(ART / "rail_goals_1280x800.png")
        profile = ClientBook(app.store).get(cid)["profile"]
        assert profile["activities"]["free_play"]["goals"] == [f"client:{g1}", f"client:{g2}"]
    assert shot.exists()


def test_a_trial_row_edits_that_trial(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        app = pilot.app
        pilot.score("+I")
        pilot.score("-")
        assert app.find_button("trial:1").label == "#1 +I you"
        pilot.tap("trial:1")  # pick it, then the next score button edits it
        assert app.find_button("trial:1").selected
        pilot.score("+M")
        assert [(t.outcome, t.prompt) for t in app.live.trials()] == [("success", "model"), ("not_yet", "independent")]
        corr = [e for e in app.store.events() if e.kind == "correction"]
        assert len(corr) == 1 and corr[0].data["action"] == "edit" and corr[0].data["was"] == ["success", "independent"]
