"""A plan step that did not run is shown as skipped where the plan is shown (the therapist's
schedule), never as done, and is never the child's "then"."""

from __future__ import annotations

from pathlib import Path

from tests.fakes import RecordingAudio

from prelude_play.shell.pilot import run_test
from prelude_play.store.clients import ClientBook

ART = Path(__file__).resolve().parents[1] / "_artifacts"


def test_a_skipped_step_is_marked_skipped_not_done(tmp_path):
    with run_test(data_dir=tmp_path, audio=RecordingAudio()) as pilot:
        app = pilot.app
        cid = ClientBook(app.store).create("Robin", client_id="robin", code="C-ROB")
        app.store.save_plan("p", "Rainy day", [
            {"activity": "rain_stick", "title": "Rain"},  # not installed: it will not run
            {"activity": "choice_board", "title": "Choose", "settings": {"board": "songs"}},
            {"activity": "free_play", "title": "Play"}], cid)
        app.select_client(cid)
        app.therapist.start_plan(app.therapist.plans.get("p", cid))
        assert app.activity_name == "choice_board"
        assert app.therapist.schedule.marks() == ["skipped", "current", "pending"]
        strip = app.host.strip_model()
        assert (strip.now.title, strip.then.title) == ("Choose", "Play")
        pilot.step()
        ART.mkdir(exist_ok=True)
        pilot.screenshot(ART / "skipped_step_strips_1280x800.png")
        pilot.panel()
        pilot.tap("schedule")
        assert app.screen == "schedule"
        label = app.find_button("sched:0").label
        assert "Skipped" in label and "Done" not in label
        pilot.screenshot(ART / "skipped_step_schedule_1280x800.png")
        pilot.tap("close")
        pilot.panel()
        pilot.tap("plan_next")  # the board is done; the skipped step stays skipped
        assert app.activity_name == "free_play"
        assert app.therapist.schedule.marks() == ["skipped", "done", "current"]
        record = {s["title"]: s["state"] for s in app.therapist.schedule.record()}
        assert record == {"Rain": "missing", "Choose": "done", "Play": "current"}
