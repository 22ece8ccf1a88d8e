"""The therapist's side through the headless app: clients, plans live, summary, export, privacy."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.screens import publish

from prelude_play.shell.pilot import run_test
from prelude_play.shell.therapist import export_destinations
from prelude_play.store.clients import ClientBook
from prelude_play.store.export import _withheld_data
from prelude_play.store.trials import goal_figures, read_trials
from tests.fakes import RecordingAudio

ART = Path(__file__).resolve().parents[1] / "_artifacts"


def pin(pilot) -> None:
    pilot.enter_pin()


def open_tool(pilot, tool: str) -> None:
    pilot.tap(f"tool:{tool}")
    assert pilot.app.modal == "pin"  # every therapist tool asks for the PIN
    pin(pilot)


def make_client(pilot) -> tuple[str, str]:
    store = pilot.app.store
    book = ClientBook(store)
    cid = book.create("Robin Real-Name", client_id="robin", code="C-ROB")
    gid = book.add_goal(cid, "Plays a steady beat", "musical", "80% of trials over 3 sessions")
    store.save_plan("p-test", "Robin's routine", [
        {"activity": "rain_stick", "title": "Hello"},          # not installed: shown, skipped
        {"activity": "free_play", "title": "Drums", "settings": {"pulse_bpm": 0}, "goals": [gid]},
        {"activity": "free_play", "title": "Keys"}], cid)
    pilot.app.select_client(cid)
    return cid, gid


def run_scripted_session(pilot, tmp_path) -> tuple[str, str]:
    """Plan → activities with taps, scores, an undo, a note, live edits → end → summary → export."""
    app = pilot.app
    cid, gid = make_client(pilot)
    open_tool(pilot, "plans")
    assert app.screen == "plans"
    pilot.tap("plan:p-test")
    assert "not installed" in app.find_button("step:0").label
    pilot.tap("plan:start")
    assert app.screen == "host" and app.activity_name == "free_play"
    assert any("rain_stick" in n for n in app.notices)
    strip = app.host.strip_model()  # the child's one schedule: now and then, in the shell's top bar
    assert (strip.now.title, strip.then.title) == ("Drums", "Keys") and "schedule" not in app.activity.config
    assert app.activity.config["pulse_bpm"] == 0  # the plan step's own settings
    pilot.tap("pad:0")
    pilot.tap("pad:3")
    pilot.unlock()
    assert app.find_button(f"goal:client:{gid}").selected  # the step targets the goal
    pilot.score("+I")
    pilot.score("+V")
    pilot.score("-")
    pilot.tap("rail:undo")  # the not yet must not count in summaries
    pilot.tap("rail:more")
    pilot.tap("note")
    pilot.type_text("steady for 8 beats")
    pilot.tap("note")
    assert app.find_button("plan_next").label == "Next: Keys"
    pilot.tap("schedule")
    assert app.screen == "schedule"
    pilot.tap("sched:insert")
    pilot.tap("add:free_play")  # inserted right after the current step
    assert [s.step.label() for s in app.therapist.schedule.steps] == ["Hello", "Drums", "Free play", "Keys"]
    pilot.tap("sched_skip:2")
    pilot.tap("close")
    assert app.screen == "host" and app.host.strip_model().then.title == "Keys"  # the skipped step is not "then"
    pilot.panel()
    pilot.tap("plan_next")
    assert app.screen == "host" and app.therapist.schedule.current.title == "Keys"
    assert app.live.targets == ()  # this step names no goals
    pilot.tap("pad:1")
    pilot.score("±")
    pilot.tap("rail:more")
    pilot.tap("schedule")
    pilot.tap("sched:end")
    assert app.screen == "summary" and app.session is None
    pilot.tap("summary:down")
    pilot.tap("summary:down")
    pilot.tap("field:notes")
    pilot.type_text("Robin led the pulse today.")
    pilot.press("return")
    pilot.tap("summary:done")
    assert app.screen == "home"
    return cid, gid


def test_scripted_session_exports_every_event_with_its_goal_tags(tmp_path, monkeypatch):
    with run_test(data_dir=tmp_path, audio=RecordingAudio()) as pilot:
        app = pilot.app
        cid, gid = run_scripted_session(pilot, tmp_path)
        (sess,) = app.store.sessions()
        assert sess["plan"] == "Robin's routine" and sess["ended"]
        assert sess["notes"] == "Robin led the pulse today."
        assert "Plays a steady beat: 2 of 2 trials successful; 1 independent" in sess["summary"]
        kinds = [e.kind for e in app.store.events()]
        for k in ("plan_start", "plan_skip", "plan_step", "plan_insert", "score", "correction", "note", "plan_end"):
            assert k in kinds, k
        app.therapist.export.roots = (str(tmp_path / "no-media"),)
        open_tool(pilot, "export")
        assert app.find_button("names").label.endswith("no (codes)")
        pilot.tap("scope:all")
        pilot.tap("export:go")
        folder = app.therapist.export.last_folder
        assert folder is not None and folder.parent == tmp_path / "exports"
        events = list(app.store.events())
    assert {p.name for p in folder.iterdir()} == {"events.csv", "events.jsonl", "report.html"}
    assert (os.stat(folder).st_mode & 0o077) == 0
    for p in folder.iterdir():
        assert (os.stat(p).st_mode & 0o077) == 0
    exported = [e for e in events if e.kind != "export"]  # the export logs itself after writing
    with open(folder / "events.csv", encoding="utf-8-sig", newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    header, js = json.loads(lines[0]), {d["id"]: d for d in map(json.loads, lines[1:])}
    assert header["pseudonymous"] and header["app_version"] and header["sessions"][0]["client"] == "C-ROB"
    assert set(rows) == set(js) == {e.id for e in exported}
    for e in exported:
        assert rows[e.id]["goals"] == ";".join(e.goals) and js[e.id]["goals"] == list(e.goals)
        assert rows[e.id]["kind"] == js[e.id]["kind"] == e.kind and rows[e.id]["client"] == "C-ROB"
        # pseudonymous: typed text (a plan's name, a note) is withheld, marked in its place
        assert json.loads(rows[e.id]["data"]) == js[e.id]["data"] == _withheld_data(e.data)
    assert header["free_text"]["withheld"] and "Robin" not in (folder / "events.jsonl").read_text(encoding="utf-8")
    scores = [e for e in exported if e.kind == "score"]
    assert [f"client:{gid}" in e.goals for e in scores] == [True, True, True, False]  # the Keys step targets none
    assert all("musical" in e.goals and e.trial_id for e in scores)
    assert all((rows[e.id]["trial_id"] or None) == js[e.id]["trial_id"] == e.trial_id for e in exported)
    assert len(scores) == 4 and sum(e.kind == "correction" for e in exported) == 1  # raw keeps both
    g = goal_figures(read_trials(exported))[f"client:{gid}"]
    assert (g.trials, g.successes, g.independent) == (2, 2, 1)
    html = (folder / "report.html").read_text(encoding="utf-8")
    # the goal's own words stay (they are the report's rows); the note, free text, is withheld
    assert "Plays a steady beat" in html and "Robin led the pulse today." not in html
    assert "Robin Real-Name" not in html and "Robin Real-Name" not in (folder / "events.csv").read_text("utf-8-sig")


def test_therapist_tools_and_quitting_need_the_pin(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        for tool in ("clients", "export", "quit"):
            pilot.tap(f"tool:{tool}")
            assert app.modal == "pin" and app.screen == "home"
            for d in "0000":
                pilot.tap(f"pin:{d}")
            pilot.tap("pin:ok")
            pilot.tap("pin:cancel")
            assert app.screen == "home" and app.running
        open_tool(pilot, "quit")  # three wrong PINs in a row: locked out, even the right one is refused
        assert app.running and app.pin_guard.locked_for() > 25
        pilot.tap("pin:cancel")
        pilot.wait(31_000)
        open_tool(pilot, "quit")
        assert not app.running


def test_pause_and_resume_keep_the_plan_step_and_its_settings(tmp_path):
    with run_test(data_dir=tmp_path, audio=RecordingAudio()) as pilot:
        app = pilot.app
        make_client(pilot)
        app.therapist.start_plan(app.therapist.plans.get("p-test", "robin"))
        pilot.panel()
        pilot.tap("home")  # pause
        assert app.screen == "home" and app.session is not None and app.activity is None
        pilot.tap("resume")
        assert app.activity_name == "free_play" and app.activity.config["pulse_bpm"] == 0
        assert app.host.strip_model().now.title == "Drums" and app.therapist.schedule.current.title == "Drums"


def test_closing_the_window_during_a_session_asks_for_the_pin(tmp_path):
    import pygame

    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        app = pilot.app
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        pilot.step()
        assert app.running and app.modal == "pin"
        pin(pilot)
        assert not app.running


def test_switching_clients_is_refused_during_a_session(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        app = pilot.app
        ClientBook(app.store).create("Other", client_id="other")
        pilot.panel()
        pilot.tap("home")
        open_tool(pilot, "clients")
        pilot.tap("clients:other")
        assert app.client_id == "ari" and "End the session" in app.therapist.clients.message


def test_client_editor_edits_archives_and_deletes_only_with_confirmation(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        open_tool(pilot, "clients")
        pilot.tap("clients:new")
        assert app.screen == "client_edit"
        cid = app.client_id
        pilot.tap("field:name")
        for _ in range(10):
            pilot.press("backspace")
        pilot.type_text("Sam")
        pilot.tap("inc:hold_to_select_ms")
        pilot.tap("inc:hold_to_select_ms")
        pilot.tap("dec:ignore_repeat_ms")
        pilot.tap("toggle:low_stimulation")
        pilot.tap("cycle:method")  # tap → dwell
        pilot.tap("field:instruments")
        pilot.type_text("ocean drum, chimes")
        pilot.tap("tab:goals")
        pilot.tap("goal:add")
        pilot.type_text("Waits for a turn")
        gid = app.therapist.editor.editing
        pilot.tap(f"goal_area:{gid}")
        pilot.tap("area:turn_taking")
        pilot.tap("field:goal_target")
        pilot.type_text("80% of trials over 3 sessions")
        pilot.tap("goal_done")
        pilot.tap("save")
        c = app.store.client(cid)
        p = c["profile"]
        assert c["display_name"] == "Sam" and p["low_stimulation"] is True
        assert p["touch"] == {"ignore_repeat_ms": 200, "hold_to_select_ms": 200}
        assert p["access"]["method"] == "dwell" and p["preferences"]["instruments"] == ["ocean drum", "chimes"]
        (g,) = p["goals"]
        assert g["text"] == "Waits for a turn" and g["target"] == "80% of trials over 3 sessions"
        assert g["area"] == "turn_taking" and g["id"] == gid
        assert app.touch.hold_ns == 200_000_000  # applied to the shell at once
        shot = pilot.screenshot(ART / "therapist_client_edit_1280x800.png")
        pilot.tap("archive")
        assert app.screen == "clients" and cid not in [c["id"] for c in app.store.clients()]
        pilot.tap("clients:archived")
        pilot.tap(f"clients:{cid}")  # restore
        assert cid in [c["id"] for c in app.store.clients()]
        pilot.tap(f"clients:{cid}")
        s = app.store.start_session(cid, {})
        app.store.end_session(s)
        pilot.tap("delete")
        assert app.store.client(cid) is not None and "Export" in app.therapist.editor.message
        pilot.tap("export_first")  # the export is offered before anything is deleted
        assert app.screen == "export" and app.therapist.export.selection().client == cid
        pilot.tap("back")
        open_tool(pilot, "clients")
        pilot.tap(f"clients:{cid}")
        pilot.tap("delete")
        pilot.tap("delete")
        assert app.store.client(cid) is None and app.store.sessions() == []
    assert shot.exists()


def test_export_to_a_removed_drive_fails_clearly_and_changes_nothing(tmp_path):
    media = tmp_path / "media" / "user"
    (media / "USBSTICK").mkdir(parents=True)
    with run_test(data_dir=tmp_path / "data", client="ari", activity="free_play") as pilot:
        app = pilot.app
        pilot.tap("pad:0")
        app.therapist.export.roots = (str(tmp_path / "media"),)
        pilot.panel()
        pilot.tap("home")
        open_tool(pilot, "export")
        pilot.tap(f"dest:{media / 'USBSTICK'}")
        before = [e.as_dict() for e in app.store.events()]
        shutil.rmtree(media / "USBSTICK")  # pulled out
        pilot.tap("export:go")
        msg = app.therapist.export.message
        assert msg.startswith("Export failed") and "removed" in msg
        assert [e.as_dict() for e in app.store.events() if e.kind != "export_failed"] == before
        assert not (media / "USBSTICK").exists()
        pilot.screenshot(ART / "therapist_export_1280x800.png")


def test_export_destinations_find_mounted_drives(tmp_path):
    (tmp_path / "media" / "kim" / "KINGSTON").mkdir(parents=True)
    (tmp_path / "run" / "kim" / "SD").mkdir(parents=True)
    found = export_destinations(tmp_path / "data", (str(tmp_path / "media"), str(tmp_path / "run"),
                                                    str(tmp_path / "absent")))
    assert [label for label, _ in found] == ["KINGSTON", "SD", "This device (exports folder)"]
    assert found[-1][1] == tmp_path / "data" / "exports"


def test_a_headless_session_opens_no_socket(tmp_path, monkeypatch):
    attempts: list[tuple] = []

    class NoSocket(socket.socket):
        def __init__(self, *a, **kw):
            attempts.append(a)
            raise OSError("network use is not allowed in Prelude Play")

    def no_connect(*a, **kw):
        attempts.append(a)
        raise OSError("network use is not allowed in Prelude Play")

    monkeypatch.setattr(socket, "socket", NoSocket)
    monkeypatch.setattr(socket, "create_connection", no_connect)
    monkeypatch.setattr(socket, "getaddrinfo", no_connect)
    with run_test(data_dir=tmp_path, audio=RecordingAudio()) as pilot:
        run_scripted_session(pilot, tmp_path)
        pilot.app.therapist.export.roots = ()
        open_tool(pilot, "export")
        pilot.tap("export:go")  # CSV, JSONL and the matplotlib HTML report
        assert pilot.app.therapist.export.last_folder is not None
    assert attempts == []


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_summary_and_schedule_screenshots(tmp_path, size):
    w, h = size
    with run_test(data_dir=tmp_path, size=size, audio=RecordingAudio()) as pilot:
        app = pilot.app
        make_client(pilot)
        open_tool(pilot, "plans")
        pilot.tap("plan:p-test")
        shots = [pilot.screenshot(ART / f"therapist_plans_{w}x{h}.png")]
        pilot.tap("plan:start")
        pilot.tap("pad:2")
        shots.append(pilot.screenshot(ART / f"therapist_host_strip_{w}x{h}.png"))
        pilot.score("+I")
        pilot.score("+G")
        shots.append(pilot.screenshot(ART / f"therapist_rail_plan_{w}x{h}.png"))
        pilot.tap("rail:more")
        shots.append(pilot.screenshot(ART / f"therapist_overlay_plan_{w}x{h}.png"))
        pilot.tap("schedule")
        shots.append(pilot.screenshot(ART / f"therapist_schedule_{w}x{h}.png"))
        pilot.tap("sched:end")
        pilot.tap("summary:down")
        pilot.tap("summary:down")
        pilot.tap("field:notes")
        pilot.type_text("Calm; chose drums twice.")
        pilot.press("return")
        pilot.tap("summary:copy")
        assert app.therapist.summary.message  # copied, or told where the text is saved
        sm = app.therapist.summary
        assert sm.scroll <= max(0, sm.content_h - sm.view.height)  # the keyboard closed: no empty page under the notes
        summary = pilot.screenshot(ART / f"summary_{w}x{h}.png")
        shots.append(summary)
        for s in app.therapist.summary.buttons:
            assert s.rect.height >= 80 * app.theme.scale and app.surface.get_rect().contains(s.rect)
    import pygame

    for shot in shots:
        img = pygame.image.load(str(shot))
        assert img.get_size() == size
        assert len({img.get_at((x, y))[:3] for x in range(0, w, 37) for y in range(0, h, 41)}) > 4
    publish(summary)


def test_plan_steps_name_the_goals_they_work_on(tmp_path):
    with run_test(data_dir=tmp_path, audio=RecordingAudio()) as pilot:
        app = pilot.app
        cid, gid = make_client(pilot)
        g2 = ClientBook(app.store).add_goal(cid, "Chooses a song", "functional_communication")
        open_tool(pilot, "plans")
        pilot.tap("plan:p-test")
        assert app.find_button("step:2").sublabel == "no goal chosen"
        pilot.tap("step_goals:2")
        pilot.tap(f"pick:client:{g2}")
        assert app.find_button(f"pick:client:{g2}").selected
        pilot.tap("plan:goals_done")
        assert app.find_button("step:2").sublabel == "works on 1 goal(s)"
        pilot.tap("plan:save")
        saved = app.therapist.plans.for_client(cid)[0]
        assert saved.steps[2].goals == [f"client:{g2}"] and saved.steps[1].goals == [gid]
        pilot.tap("plan:start")
        assert app.live.targets == (f"client:{gid}",)  # the Drums step (a bare goal id in the stored plan)
        app.therapist.next_step()
        assert app.live.targets == (f"client:{g2}",)


def test_the_pin_is_hashed_locks_out_after_wrong_tries_and_can_be_changed(tmp_path):
    from prelude_play.pin import verify_pin

    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        for attempt in range(3):  # three wrong PINs: logged (without the digits), then a lockout
            pilot.tap("tool:clients")
            pilot.enter_pin("9876")
            pilot.tap("pin:cancel")
        assert app.pin_guard.locked_for() > 25
        pilot.tap("tool:clients")
        pilot.enter_pin()  # the right PIN, but locked out: refused
        assert app.screen == "home" and app.modal == "pin"
        pilot.tap("pin:cancel")
        pilot.wait(31_000)
        open_tool(pilot, "clients")
        assert app.screen == "clients"
        pilot.tap("clients:pin")
        for pin in ("2468", "2468"):
            for d in pin:
                pilot.tap(f"newpin:{d}")
            pilot.tap("newpin:ok")
        assert app.therapist.change_pin.message == "PIN changed"
        text = (tmp_path / "config" / "app.toml").read_text()
        assert "2468" not in text and "pin_hash" in text  # never in clear
        stored = text.split('pin_hash = "')[1].split('"')[0]
        assert verify_pin("2468", stored) and not verify_pin("1234", stored)
        pilot.tap("back")
        pilot.tap("back")
        pilot.tap("tool:clients")
        pilot.enter_pin("2468")
        assert app.screen == "clients"
    state = (tmp_path / "pin_state.json")
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    from prelude_play.clock import FakeClock
    from prelude_play.store.eventlog import EventLog


def test_wrong_pins_are_logged_and_the_lockout_survives_a_restart(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        for _ in range(4):
            pilot.hold(pilot.app._corner_rect().center, 1600)
            pilot.enter_pin("0000")
            pilot.tap("pin:cancel")
        wrong = [e for e in pilot.app.store.events() if e.kind == "pin_wrong"]
        assert [e.data["in_a_row"] for e in wrong] == [1, 2, 3, 3] and wrong[-1].data["locked_s"] > 0  # the 4th: refused, locked
        assert all("0000" not in str(e.data) for e in wrong)
    with run_test(data_dir=tmp_path) as pilot:  # the app restarted: still locked out
        assert pilot.app.pin_guard.locked_for() > 0
        pilot.tap("tool:clients")
        pilot.enter_pin()
        assert pilot.app.screen == "home"


def test_closing_the_window_again_never_quits_without_the_pin(tmp_path):
    import pygame

    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        for _ in range(3):
            pygame.event.post(pygame.event.Event(pygame.QUIT))
            pilot.step()
        assert app.running and app.modal == "pin"
        pilot.enter_pin()
        assert not app.running


def test_a_malformed_pin_setting_keeps_the_therapist_screens_shut(tmp_path):
    from prelude_play.config import default_config_paths, load_app_config

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.toml").write_text("[therapist]\npin = 5678\n")
    cfg = load_app_config(default_config_paths(tmp_path))
    assert cfg.pin_problem and "app.toml" in cfg.pin_problem and "line 2" in cfg.pin_problem
    with run_test(cfg, data_dir=tmp_path) as pilot:
        app = pilot.app
        pilot.tap("tool:clients")
        assert app.modal == "pin" and app.find_button("pin:1") is None  # nothing to type into
        for pin in ("1234", "5678"):
            assert not app.pin_guard.check(pin).ok  # neither the default nor the number
        pilot.tap("pin:cancel")
        assert app.screen == "home"


def test_a_plain_pin_in_the_users_file_is_rewritten_as_a_hash(tmp_path):
    from prelude_play.config import default_config_paths, load_app_config
    from prelude_play.pin import verify_pin
    from prelude_play.settings_file import migrate_plain_pin

    (tmp_path / "config").mkdir()
    f = tmp_path / "config" / "app.toml"
    f.write_text('[ui]\nlanguage = "en"\n\n[therapist]\npin = "5678"\nlong_press_ms = 1500\n')
    cfg = load_app_config(default_config_paths(tmp_path))
    assert not cfg.pin_problem and verify_pin("5678", cfg.pin_hash())
    assert migrate_plain_pin(tmp_path, cfg.therapist.pin, cfg.pin_hash())
    text = f.read_text()
    assert "5678" not in text and "long_press_ms = 1500" in text and 'language = "en"' in text
    again = load_app_config(default_config_paths(tmp_path))
    assert verify_pin("5678", again.pin_hash())


def test_the_export_screen_withholds_typed_text_from_a_pseudonymous_export_unless_included(tmp_path):
    """Pseudonymous by default and without typed text (a note may name the child); the therapist can
    include it for this export only, and a named export includes it unless withheld."""
    with run_test(data_dir=tmp_path, audio=RecordingAudio()) as pilot:
        app = pilot.app
        run_scripted_session(pilot, tmp_path)
        app.therapist.export.roots = (str(tmp_path / "no-media"),)
        open_tool(pilot, "export")
        assert app.find_button("free_text").label.endswith("withheld")
        pilot.tap("format:html")  # CSV and JSON Lines are enough here
        pilot.tap("export:go")
        plain = app.therapist.export.last_folder
        pilot.tap("free_text")
        assert app.find_button("free_text").label.endswith("included")
        time.sleep(1.1)  # a new folder name (its stamp is the wall clock's second)
        pilot.tap("export:go")
        typed = app.therapist.export.last_folder
        assert app.find_button("free_text").label.endswith("withheld")  # chosen per export, not remembered
        pilot.tap("names")
        assert app.find_button("free_text").label.endswith("included")  # a named export keeps it by default
    note = "Robin led the pulse today."
    assert note not in (plain / "events.jsonl").read_text(encoding="utf-8")
    assert note in (typed / "events.jsonl").read_text(encoding="utf-8")
    assert "Robin Real-Name" not in (typed / "events.jsonl").read_text(encoding="utf-8")  # still no name
    header = json.loads((typed / "events.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert header["pseudonymous"] and not header["free_text"]["withheld"]
