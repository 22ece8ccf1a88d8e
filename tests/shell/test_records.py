"""Client records through the headless app: a long client list that scrolls and searches, new
clients behind the PIN, unlimited goals edited in place, "Save changes?", the on-screen keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelude_play.config import AppConfig
from prelude_play.events import InputEvent
from prelude_play.shell.pilot import run_test, seed_clients
from prelude_play.shell.records import fold, matches
from prelude_play.store.clients import ClientBook
from tests.screens import publish

ART = Path(__file__).resolve().parents[1] / "_artifacts"


def home_rows(pilot) -> list[str]:
    """The client rows a therapist can see (and tap) on home, top to bottom."""
    app = pilot.app
    return [b.id.split(":", 1)[1] for b in app.home.picker.rows if app.find_button(b.id) is not None]


def open_editor(pilot, cid: str) -> None:
    pilot.tap("tool:clients")
    pilot.enter_pin()
    pilot.tap("clients:search")
    pilot.type_text(pilot.app.store.client(cid)["code"])
    pilot.press("return")
    pilot.tap(f"clients:{cid}")
    assert pilot.app.screen == "client_edit" and pilot.app.client_id == cid


# ---- the list ----------------------------------------------------------------------------------

def test_search_ignores_accents_and_case_and_finds_codes():
    c = {"display_name": "Élodie Tremblay", "code": "C-117"}
    assert fold("Élodie Œuvre") == "elodie oeuvre"
    assert all(matches(c, q) for q in ("elodie", "ÉLO", "trem elo", "c-117", "c117", "117", ""))
    assert not any(matches(c, q) for q in ("eloise", "c118", "tremblay x"))


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_thirty_clients_scroll_and_the_selected_one_is_always_in_view(tmp_path, size):
    with run_test(data_dir=tmp_path, size=size) as pilot:
        app = pilot.app
        ids = seed_clients(app.store, 30)
        app.home.layout()
        assert app.home.picker.count_text() == "30 clients"
        first = home_rows(pilot)
        assert 3 <= len(first) < 30  # a window onto the list, not all of it
        for b in app.home.picker.rows:  # ≥ 15 mm rows, inside the left column
            assert b.rect.height >= 96 * app.theme.scale - 1
        pilot.drag(app.home.picker.area.center, -app.theme.px(400))  # a drag scrolls, it never picks
        assert app.client_id is None and home_rows(pilot) != first and first[0] not in home_rows(pilot)
        last = sorted(app.store.clients(), key=lambda c: fold(c["display_name"]))[-1]["id"]
        for _ in range(10):
            pilot.drag(app.home.picker.area.center, -app.theme.px(400))
        assert last in home_rows(pilot)
        pilot.tap(f"client:{last}")
        assert app.client_id == last
        app.select_client(ids[0])  # selected from elsewhere (Clients, --client): scrolled into view
        assert ids[0] in home_rows(pilot) and app.find_button(f"client:{ids[0]}").selected
        pilot.drag(app.home.picker.area.center, -app.theme.px(2000))
        assert ids[0] not in home_rows(pilot)
        app.relayout()  # and after any layout
        assert ids[0] in home_rows(pilot)
        shown = home_rows(pilot)
        wheel = InputEvent(pilot.clock.now_ns(), "mouse", "wheel", device="mouse", value=-3,
                           pos=app.home.picker.area.center, pointer_id=0)
        app.router.route(wheel)  # the mouse wheel scrolls too
        assert home_rows(pilot) != shown
        shot = pilot.screenshot(ART / f"home_30_clients_{size[0]}x{size[1]}.png")
    publish(shot)


def test_search_on_home_by_name_code_and_without_accents(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        seed_clients(app.store, 30)
        florence = next(c["id"] for c in app.store.clients() if c["display_name"] == "Florence Paquette")
        app.select_client(florence)
        pilot.tap("client:search")
        pilot.type_text("elodie")
        assert home_rows(pilot) == ["seed-01"] and app.home.picker.count_text() == "1 of 30 clients"
        for _ in range(6):
            pilot.press("backspace")
        pilot.type_text("C-117")  # Florence's code
        assert home_rows(pilot) == [florence] and app.find_button(f"client:{florence}").selected
        for _ in range(5):
            pilot.press("backspace")
        pilot.type_text("NOEMIE")
        assert [app.store.client(c)["display_name"] for c in home_rows(pilot)] == ["Noémie Roy"]
        pilot.press("return")
        pilot.tap("client:search")
        for _ in range(6):
            pilot.press("backspace")
        pilot.type_text("paq")  # a search that finds the selected client shows it
        assert florence in home_rows(pilot)
        pilot.press("return")
        pilot.tap(f"client:{florence}")
        assert app.client_id == florence


def test_paused_session_lists_only_its_client_with_no_search(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        ids = seed_clients(app.store, 30)
        app.select_client(ids[5])
        app.start_activity("free_play")
        pilot.panel()
        pilot.tap("home")
        assert [b.id for b in app.home.picker.rows] == [f"client:{ids[5]}"]
        assert app.find_button("client:search") is None and app.find_button("new_client") is None


def test_clients_screen_scrolls_and_searches_any_number(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        ids = seed_clients(app.store, 45)
        pilot.tap("tool:clients")
        pilot.enter_pin()
        screen = app.therapist.clients
        assert screen.picker.count_text() == "45 clients"
        visible = [b.id for b in screen.picker.rows if app.find_button(b.id)]
        assert 6 <= len(visible) < 45
        pilot.drag(screen.picker.area.center, -app.theme.px(3000))
        assert [b.id for b in screen.picker.rows if app.find_button(b.id)] != visible
        pilot.tap("clients:search")
        pilot.type_text("tremblay")  # the 1st and the 31st client (names repeat after 30)
        assert {b.id for b in screen.picker.rows} == {f"clients:{ids[0]}", f"clients:{ids[30]}"}
        for _ in range(8):
            pilot.press("backspace")
        pilot.type_text("océane")
        assert [b.id for b in screen.picker.rows] == [f"clients:{ids[26]}"]
        pilot.press("return")
        pilot.tap(f"clients:{ids[26]}")
        assert app.screen == "client_edit" and app.client_id == ids[26]


# ---- new clients --------------------------------------------------------------------------

def test_new_client_asks_the_pin_and_a_wrong_pin_creates_nothing(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        pilot.tap("new_client")
        assert app.modal == "pin"
        pilot.enter_pin("0000")
        pilot.tap("pin:cancel")
        assert app.store.clients() == [] and app.screen == "home"
        pilot.tap("new_client")
        pilot.enter_pin()
        (c,) = app.store.clients()
        assert app.screen == "client_edit" and app.client_id == c["id"]
        name = app.therapist.editor.focus
        assert name is not None and name.id == "field:name" and name.fresh  # ready to type the name
        pilot.type_text("Zoé")
        pilot.press("return")
        pilot.tap("save")
        pilot.tap("back")
        assert app.screen == "home" and app.store.client(c["id"])["display_name"] == "Zoé"
        assert app.find_button(f"client:{c['id']}").selected


# ---- goals --------------------------------------------------------------------------------

def test_six_goals_added_one_edited_in_place_with_its_area_from_the_list(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        cid = ClientBook(app.store).create("Robin", client_id="robin", code="C-ROB")
        app.home.layout()
        open_editor(pilot, "robin")
        pilot.tap("tab:goals")
        for i in range(6):
            pilot.tap("goal:add")
            pilot.type_text(f"Goal number {i + 1}")
            pilot.press("return")
            pilot.tap(f"goal_area:{app.therapist.editor.profile['goals'][-1]['id']}")
            pilot.tap("area:musical")
        pilot.tap("save")
        goals = app.store.client_profile(cid)["goals"]
        assert [g["text"] for g in goals] == [f"Goal number {i}" for i in range(1, 7)]
        assert {g["area"] for g in goals} == {"musical"}
        third = goals[2]["id"]
        pilot.drag(app.therapist.editor.view.center, app.theme.px(1000))  # back to the top
        pilot.tap(f"goal:{third}")  # in place: its own text, focused
        f = app.therapist.editor.focus
        assert f is not None and f.id == "field:goal_text" and f.value == "Goal number 3"
        for _ in range(8):
            pilot.press("backspace")
        pilot.type_text("matches 3 vowels")
        pilot.tap("goal_done")
        pilot.tap(f"goal_area:{third}")
        titles = {b.id[5:] for b in app.therapist.editor.buttons if b.id.startswith("area:") and b.id != "area:cancel"}
        assert titles == set(app.therapist.areas)  # every area, as a list to pick from
        assert app.find_button("area:musical").selected
        pilot.tap("area:speech_communication")
        pilot.tap("save")
        goals = app.store.client_profile(cid)["goals"]
        assert len(goals) == 6 and goals[2] == {"id": third, "text": "Goal matches 3 vowels",
                                                 "area": "speech_communication", "target": ""}
        pilot.tap(f"goal_remove:{goals[0]['id']}")
        pilot.tap("save")
        assert [g["id"] for g in app.store.client_profile(cid)["goals"]] == [g["id"] for g in goals[1:]]


def test_a_goal_removed_keeps_its_logged_events(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        book = ClientBook(app.store)
        cid = book.create("Robin", client_id="robin", code="C-ROB")
        gid = book.add_goal(cid, "Waits for a turn", "turn_taking")
        app.select_client(cid)
        app.start_activity("free_play", goals=[gid])
        pilot.score("+I")
        pilot.panel()
        pilot.tap("home")
        app.end_session()
        before = [e for e in app.store.events() if f"client:{gid}" in e.goals]
        assert before
        pilot.tap("summary:done")
        open_editor(pilot, cid)
        pilot.tap("tab:goals")
        pilot.tap(f"goal_remove:{gid}")
        assert "kept" in app.therapist.editor.message
        pilot.tap("save")
        assert app.store.client_profile(cid)["goals"] == []
        assert [e.id for e in app.store.events() if f"client:{gid}" in e.goals] == [e.id for e in before]


# ---- unsaved changes ----------------------------------------------------------------------

def test_back_with_unsaved_edits_asks_and_discard_or_save_do_what_they_say(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        ClientBook(app.store).create("Robin", client_id="robin", code="C-ROB")
        app.home.layout()
        open_editor(pilot, "robin")
        pilot.tap("back")  # nothing changed: no question
        assert app.screen == "clients"
        pilot.tap("clients:robin")
        pilot.tap("toggle:low_stimulation")
        pilot.tap("back")
        assert app.screen == "client_edit" and app.find_button("unsaved:save") is not None
        assert app.find_button("save") is None  # the question is all that can be tapped
        pilot.tap("unsaved:keep")
        assert app.screen == "client_edit" and app.therapist.editor.profile["low_stimulation"] is True
        pilot.press("escape")  # Escape is Back: it asks too
        pilot.tap("unsaved:discard")
        assert app.screen == "clients" and app.store.client_profile("robin")["low_stimulation"] is False
        pilot.tap("clients:robin")
        pilot.tap("field:name")
        pilot.type_text(" Real-Name")  # typed, the field still focused: counts as an edit
        pilot.press("escape")  # ends the typing
        pilot.press("escape")  # Back
        pilot.tap("unsaved:save")
        assert app.screen == "clients" and app.store.client("robin")["display_name"] == "Robin Real-Name"
        pilot.tap("clients:robin")
        pilot.tap("tab:goals")
        pilot.tap("goal:add")
        pilot.type_text("Chooses a song")
        pilot.tap("archive")  # leaving by Archive asks as well
        assert app.find_button("unsaved:save") is not None


# ---- the on-screen keyboard ---------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "fr_CA"])
def test_typing_elodie_on_the_on_screen_keyboard(tmp_path, language):
    cfg = AppConfig()
    cfg.ui.language = language
    with run_test(cfg, data_dir=tmp_path) as pilot:
        app = pilot.app
        ClientBook(app.store).create("X", client_id="x", code="C-X")
        app.home.layout()
        open_editor(pilot, "x")
        pilot.tap("field:name")
        kb = app.therapist.editor.dock.kb
        assert app.therapist.editor.dock.shown() and kb.layout == language
        assert (app.find_button("key:é") is not None) == (language == "fr_CA")  # French: accents at hand
        pilot.tap("key:backspace")
        pilot.type_keys("Élodie")
        assert app.therapist.editor.focus.value == "Élodie"
        assert kb.shift == "off"  # one capital, then lower case again
        pilot.tap("key:shift"); pilot.tap("key:shift")  # caps lock
        pilot.tap("key:z"); pilot.tap("key:z")
        pilot.tap("key:shift")
        pilot.tap("key:backspace")
        assert app.therapist.editor.focus.value == "ÉlodieZ"
        z = app.find_button("key:z").rect.center
        pilot.down("key:a")  # a finger that slides off its key types nothing
        pilot.step()
        pilot.up(z)
        pilot.step()
        assert app.therapist.editor.focus.value == "ÉlodieZ"
        shot = pilot.screenshot(ART / f"keyboard_name_{language}_1280x800.png")
        pilot.tap("key:done")
        assert app.therapist.editor.focus is None and not app.therapist.editor.dock.shown()
        pilot.tap("save")
        assert app.store.client("x")["display_name"] == "ÉlodieZ"
    publish(shot)


def test_the_layout_key_switches_english_and_french_and_is_remembered(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        ClientBook(app.store).create("X", client_id="x", code="C-X")
        app.home.layout()
        pilot.tap("client:search")
        assert app.find_button("key:é") is None
        pilot.tap("key:layout")
        pilot.tap("key:é")
        assert app.home.picker.query == "é" and app.find_button("key:space").label == "Français"
        pilot.tap("key:done")
        open_editor(pilot, "x")
        pilot.tap("field:name")
        assert app.therapist.editor.dock.kb.layout == "fr_CA"  # the therapist's pick, for every field


def test_keyboard_keeps_the_focused_field_in_sight(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        seed_clients(app.store, 3, goals=8)
        app.home.layout()
        open_editor(pilot, "seed-01")
        pilot.tap("tab:goals")
        editor = app.therapist.editor
        pilot.drag(editor.view.center, -app.theme.px(1000))
        last = editor.profile["goals"][-1]["id"]
        pilot.tap(f"goal:{last}")
        kb = editor.dock.kb.rect
        for fid in ("field:goal_text", "field:goal_target"):
            f = editor.field(fid)
            assert f.rect.bottom <= kb.top and f.rect.top >= editor.view.top, fid
        pilot.tap("key:page")  # the keyboard changes height: the field stays in sight
        assert editor.field("field:goal_text").rect.bottom <= editor.dock.kb.rect.top


@pytest.mark.parametrize("mode", ["never", "auto", "always"])
def test_keyboard_setting(tmp_path, mode):
    cfg = AppConfig()
    cfg.ui.on_screen_keyboard = mode
    with run_test(cfg, data_dir=tmp_path) as pilot:
        app = pilot.app
        dock = app.home.picker.dock
        pilot.tap("client:search", source="mouse")  # no physical key typed yet: shown, but for "never"
        assert dock.shown() == (mode != "never")
        pilot.type_text("a")  # a physical keyboard: in "auto" the on-screen one steps aside
        assert dock.shown() == (mode == "always")
        pilot.press("return")
        pilot.tap("client:search", source="mouse")  # a mouse, after real typing: not shown in "auto"
        assert dock.shown() == (mode == "always")
        pilot.press("return")
        pilot.tap("client:search")  # a finger: shown in "auto" all the same
        assert dock.shown() == (mode != "never")


def test_plans_editor_asks_before_dropping_edits(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        ClientBook(app.store).create("Robin", client_id="robin", code="C-ROB")
        app.select_client("robin")
        pilot.tap("tool:plans")
        pilot.enter_pin()
        before = app.therapist.plan_screen.draft.as_steps()
        pilot.tap("back")  # nothing changed: home at once
        assert app.screen == "home"
        pilot.tap("tool:plans")
        pilot.enter_pin()
        pilot.tap("step_remove:0")
        pilot.tap("back")
        assert app.screen == "plans" and app.find_button("unsaved:discard") is not None
        pilot.tap("unsaved:discard")
        assert app.screen == "home"
        pilot.tap("tool:plans")
        pilot.enter_pin()
        assert app.therapist.plan_screen.draft.as_steps() == before  # the edit is gone
        pilot.tap("step_remove:0")
        pilot.tap("back")
        pilot.tap("unsaved:save")
        assert app.screen == "home" and app.therapist.plans.for_client("robin")[0].as_steps() == before[1:]


def test_the_clients_own_picture_is_chosen_from_the_therapists_photos_and_reaches_the_hello_song(tmp_path):
    import pygame

    (tmp_path / "images").mkdir()
    photo = pygame.Surface((40, 30))
    photo.fill((200, 60, 60))
    pygame.image.save(photo, str(tmp_path / "images" / "robin_photo.png"))
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        cid = ClientBook(app.store).create("Robin", client_id="robin", code="C-ROB")
        app.home.layout()
        open_editor(pilot, "robin")
        ed = app.therapist.editor
        pilot.tap("picture")
        names = [b.data["picture"] for b in ed.buttons if b.data.get("picture")]
        assert names[0] == "robin_photo.png"  # the therapist's own photos first, then the app's pictures
        assert len(names) > 10 and all(n.endswith((".png", ".jpg", ".jpeg", ".svg")) for n in names)
        pilot.tap("picture:robin_photo.png")
        assert not ed.picking_picture and "robin_photo" in app.find_button("picture").label
        assert ed.unsaved()  # chosen, not saved yet: Back would ask
        pilot.tap("picture")
        pilot.tap("picture:none")
        assert not ed.unsaved() and "picture" not in ed.profile
        pilot.tap("picture")
        pilot.tap("picture:cancel")  # Cancel changes nothing
        assert not ed.picking_picture and not ed.unsaved()
        pilot.tap("picture")
        pilot.tap("picture:robin_photo.png")
        pilot.tap("save")
        assert app.store.client_profile(cid)["picture"] == "robin_photo.png"
        app.select_client(cid)
        app.start_activity("hello_song")
        pilot.step()
        song = app.activity
        assert song.client_picture == "robin_photo.png" and song.pictures.raw["robin_photo.png"] is not None
