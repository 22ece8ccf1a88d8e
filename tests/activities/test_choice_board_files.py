"""Choice-board presets (errors with file and line), missing assets, the editor and screenshots."""

from __future__ import annotations

import shutil
from pathlib import Path

import pygame
import pytest

from prelude_play.activities.choice_board.boards import (Board, board_to_toml, check_board_file, load_board, load_boards,
                                            parse_board, save_board)
from prelude_play.activities.choice_board.logic import Access, BoardState
from prelude_play.config import resource_dir
from tests.activities.choice_helpers import board_app, events

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "_artifacts"

GOOD = """[board]
title = "Snack?"
rows = 1
cols = 2

[[card]]
label = "Apple"
picture = "apple.png"
sound = "keys:60"

[[card]]
label = "Cracker"
sound = "sample:no_such_sample"
"""

BAD = """[board]
title = "Broken"

[[card]]
label = "One"
sound = "kazoo:60"

[[card]]
label = "Two"
note = 300
"""


def test_every_shipped_board_is_valid():
    files = sorted((resource_dir("config") / "boards").glob("*.toml"))
    assert len(files) >= 6
    for f in files:
        assert check_board_file(f) == [], f
    boards, problems = load_boards([resource_dir("config") / "boards"])
    assert not problems
    for needed in ("instruments", "songs", "feelings", "more_all_done", "yes_no", "first_then"):
        assert needed in boards
    labels = {c.label for c in boards["instruments"].cards}
    assert labels == {"Guitar", "Drum", "Scarves", "Shaker", "Piano", "Singing"}


def test_a_bad_preset_names_file_and_line_and_the_others_still_load(tmp_path):
    (tmp_path / "good.toml").write_text(GOOD)
    (tmp_path / "bad.toml").write_text(BAD)
    (tmp_path / "syntax.toml").write_text('[board]\ntitle = "x"\n[[card]]\nlabel = oops\n')
    boards, problems = load_boards([tmp_path])
    assert "good" in boards and "bad" in boards and "syntax" not in boards
    texts = [str(p) for p in problems]
    kazoo = next(p for p in problems if "kazoo" in str(p))
    assert kazoo.path.name == "bad.toml" and kazoo.line == 6
    note = next(p for p in problems if "300" in str(p))
    assert note.line == 10
    syntax = next(p for p in problems if p.path.name == "syntax.toml")
    assert syntax.line == 4 and "line 4" in str(syntax)
    assert all("bad.toml" in t or "syntax.toml" in t for t in texts)


@pytest.mark.parametrize("text, fragment", [
    ('[board]\nrows = 1\ncols = 1\n[[card]]\nlabel="a"\n[[card]]\nlabel="b"\n', "holds 1 cards"),
    ('[board]\n[[card]]\nlabel="a"\n', "2 to 9 cards"),
    ('[board]\ngoals = ["jumping"]\n[[card]]\nlabel="a"\n[[card]]\nlabel="b"\n', "unknown goal"),
    ('[board]\n[[card]]\nlabel="a"\ncolour="plaid"\n[[card]]\nlabel="b"\n', "colour"),
    ('[board]\n[[card]]\nlabel="a"\npicture="a.gif"\n[[card]]\nlabel="b"\n', "png"),
])
def test_preset_checks(tmp_path, text, fragment):
    p = tmp_path / "b.toml"
    p.write_text(text)
    problems = check_board_file(p)
    assert any(fragment in str(e) for e in problems), problems
    assert all(e.path == p for e in problems)


def test_board_file_round_trips_through_the_editor_format(tmp_path):
    board, _ = load_board(resource_dir("config") / "boards" / "instruments.toml")
    assert board is not None
    path = save_board(board, tmp_path)
    again, problems = load_board(path)
    assert not problems and again == board
    assert "at_ms = 35" in board_to_toml(board)


def test_missing_picture_and_sound_get_placeholders_and_notices(tmp_path):
    user = tmp_path / "boards"
    user.mkdir()
    (user / "snack.toml").write_text(GOOD)
    (user / "bad.toml").write_text(BAD)
    with board_app(tmp_path, board="snack", user_boards_dir=str(user)) as (pilot, audio):
        notices = " | ".join(pilot.app.notices)
        assert "apple.png" in notices and "sample:no_such_sample" in notices
        assert "bad.toml" in notices  # the broken preset is named...
        assert "instruments" in pilot.app.activity.boards  # ...and the shipped boards still load
        pilot.tap("card:1")
        assert audio.calls[0]["name"] == "chimes:79"  # the placeholder sound
        assert events(pilot, "choice")[-1].data["card"] == "Cracker"
        pilot.screenshot(ARTIFACTS / "choice_placeholder.png")  # drawing a placeholder does not crash


def test_no_loadable_board_falls_back_to_yes_no(tmp_path, monkeypatch):
    import prelude_play.activities.choice_board as cb

    monkeypatch.setattr(cb, "load_boards", lambda folders, known=None: ({}, []))
    with board_app(tmp_path) as (pilot, audio):
        assert pilot.app.activity.board.id == "fallback_yes_no"
        pilot.tap("card:0")
        assert events(pilot, "choice")[-1].data["card"] == "Yes"


def test_therapist_edits_a_board_and_saves_it(tmp_path):
    user = tmp_path / "boards"
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(ROOT / "assets" / "images" / "happy.png", images / "my_dog.png")
    with board_app(tmp_path, board="yes_no", user_boards_dir=str(user),
                   user_images_dir=str(images)) as (pilot, audio):
        pilot.panel()
        pilot.tap("act:edit")
        pilot.tap("close")
        act = pilot.app.activity
        assert act.editor is not None
        pilot.tap("edit:add")
        pilot.tap("edit:card:2")
        assert act.editor.card == 2
        pilot.tap("edit:pic_next")  # the therapist's own picture comes first
        assert act.editor.board.cards[2].picture == "my_dog.png"
        pilot.tap("edit:label")
        for _ in range(len("New card")):
            pilot.press("backspace")
        pilot.press("d", mod=pygame.KMOD_SHIFT)
        pilot.press("o")
        pilot.press("g")
        pilot.press("return")
        before = len(audio.calls)
        pilot.tap("edit:snd_next")
        assert len(audio.calls) > before  # hears the new sound
        pilot.tap("edit:move_prev")
        pilot.tap("edit:save")
        saved = user / "yes_no.toml"
        assert saved.is_file()
        board, problems = load_board(saved)
        # the new card took the free cell; "Move left" swapped it with "No" (a card keeps its index)
        assert not problems and [(c.label, c.cell) for c in board.cards] == [("Yes", (0, 0)), ("No", (0, 2)),
                                                                            ("Dog", (0, 1))]
        assert board.cards[2].picture == "my_dog.png"
        assert events(pilot, "board_saved")
        act.toggle_editor()  # close: the client sees the edited board
        pilot.step()
        assert act.editor is None and len(act.layout_.cards) == 3
        assert act.pictures.raw.get("my_dog.png") is not None


def test_edits_are_saved_in_the_data_dir_by_default(tmp_path):
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        act = pilot.app.activity
        act.toggle_editor()
        pilot.tap("edit:size")
        pilot.tap("edit:save")
        assert (tmp_path / "data" / "boards" / "yes_no.toml").exists()


def test_editing_without_a_boards_folder_says_it_was_not_saved(tmp_path):
    with board_app(tmp_path, board="yes_no", user_boards_dir="") as (pilot, audio):
        act = pilot.app.activity
        act.toggle_editor()
        pilot.tap("edit:size")
        pilot.tap("edit:save")
        assert any("Not saved" in n for n in pilot.app.notices)


def test_svg_pictures_load(tmp_path):
    from prelude_play.activities.choice_board.view import Pictures

    svg = tmp_path / "dot.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                   '<circle cx="5" cy="5" r="4" fill="red"/></svg>')
    pics = Pictures([tmp_path])
    assert pics.load("dot.svg") is None
    assert pics.get("dot.svg", 64).get_size() == (64, 64)
    assert pics.load("gone.png") is not None and pics.get("gone.png", 64) is None


def test_row_column_auto_scan_leaves_a_row_after_its_loops():
    acc = Access(method="scan", pattern="row_column", scan_ms=1000, initial_delay_ms=0, loops=1)
    st = BoardState(6, 2, 3, acc, 0)
    st.present(0)
    assert st.highlighted() == [0, 1, 2]
    assert st.switch_select(0) == [0, 1, 2] or st.highlighted() == [0]
    assert st.highlighted() == [0]
    moves, _ = st.scan_update(3_000_000_000)  # three cells, one loop → back to rows, next row
    assert moves[-1] == [3, 4, 5] and st.scan.level == "rows"


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
@pytest.mark.parametrize("board, n", [("what_next", 4), ("feelings", 9)])
def test_screenshots(tmp_path, size, board, n):
    with board_app(tmp_path, board=board, size=size) as (pilot, audio):
        act = pilot.app.activity
        rects = act.layout_.cards
        assert len(rects) == n
        area = pygame.Rect((0, 0), act.size)
        scale = min(size[0] / 1280, size[1] / 800)
        for i, r in enumerate(rects):
            assert area.contains(r)
            assert min(r.size) >= 96 * scale  # big targets
            assert all(not r.colliderect(o) for o in rects[i + 1:])
        grid = "2x2" if n == 4 else "3x3"
        out = pilot.screenshot(ARTIFACTS / f"choice_{grid}_{size[0]}x{size[1]}.png")
        assert pygame.image.load(str(out)).get_size() == size
