"""Choice boards as AAC (issue 15 item 5), through the headless app: a chosen card speaks its
label (the therapist's recording, else synthesized offline, else its chime), a calm confirmation,
boards picked by title from a list, "What next?" changing the plan's next step, and cards that
keep their places across edits and sessions."""

from __future__ import annotations

import shutil
import wave
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pygame
import pytest

from prelude_play.activities.choice_board.boards import load_board
from prelude_play.activities.choice_board.speech import Synthesizer, chime_for, read_clip, trim_voice
from prelude_play.audio.capture import open_capture
from prelude_play.clock import FakeClock
from prelude_play.shell.pilot import Pilot, run_test
from prelude_play.store.plans import Plan, PlanStep
from tests.activities.choice_helpers import board_app, events, trials
from tests.fakes import RecordingAudio

ART = Path(__file__).resolve().parents[1] / "_artifacts"
RATE = 48_000
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def spoken(audio: RecordingAudio) -> list[str]:
    """What was played at the spoken-label slot (recordings, synthesized labels, chimes)."""
    return [c["name"] for c in audio.calls if c["name"].startswith(("choice_board:", "chimes:"))]


@contextmanager
def mic_app(tmp_path: Path, **settings: Any) -> Iterator[tuple[Pilot, RecordingAudio, Any]]:
    """The choice board with an offline microphone the test speaks into."""
    audio, clock, mics = RecordingAudio(), FakeClock(), []

    def factory():
        mics.append(open_capture("offline", rate=RATE, clock=clock))
        return mics[-1]

    with run_test(data_dir=tmp_path / "data", client="c1", audio=audio, clock=clock, mic_factory=factory) as pilot:
        profile = pilot.app.store.client_profile("c1")
        profile["activities"] = {"choice_board": settings}
        pilot.app.store.set_client_profile("c1", profile)
        pilot.app.start_activity("choice_board")
        assert pilot.app.activity_name == "choice_board", pilot.app.notices
        pilot.step()
        yield pilot, audio, mics


def a_voice(seconds: float = 0.6) -> np.ndarray:
    """Something the mic hears: a voiced buzz with a vowel-like envelope, between silences."""
    t = np.arange(int(seconds * RATE)) / RATE
    buzz = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 12)) * np.hanning(t.size)
    quiet = np.zeros(int(0.4 * RATE))
    return np.concatenate([quiet, 0.2 * buzz, quiet]).astype(np.float32)


@needs_espeak
def test_a_card_speaks_its_recording_else_the_synthesized_label(tmp_path):
    boards = tmp_path / "data" / "boards"
    with mic_app(tmp_path, board="yes_no") as (pilot, audio, mics):
        act = pilot.app.activity
        pilot.tap("card:0")  # nothing recorded yet: the label, synthesized at prepare time
        assert spoken(audio) == ["choice_board:say:en:Yes"]
        said = [c for c in audio.calls if c["name"] == "choice_board:say:en:Yes"][0]
        assert said["at_ns"] is not None  # scheduled after the card's own sound, not rendered on the tap
        assert events(pilot, "choice")[-1].data["spoken"] == "synthesized"
        # the therapist records "No" in the editor
        pilot.panel()
        pilot.tap("act:edit")
        pilot.tap("close")
        pilot.tap("edit:card:1")
        pilot.tap("edit:record")
        assert act.editor.recording and len(mics) == 1
        mics[0].feed(a_voice())
        pilot.tap("edit:record")  # stop
        assert not act.editor.recording
        wav = boards / "yes_no.no.wav"
        assert wav.is_file() and act.editor.board.cards[1].voice == "yes_no.no.wav", list(pilot.app.notices)
        clip = read_clip(wav, RATE)
        assert 0.6 <= clip.size / RATE < 0.8  # trimmed to the voice (plus a little air)
        assert np.max(np.abs(clip)) == pytest.approx(10 ** (-3 / 20), abs=0.01)  # levelled
        (rec,) = events(pilot, "voice_recorded")
        assert rec.data["file"] == "yes_no.no.wav" and rec.data["card"] == "No"
        pilot.tap("edit:hear")
        assert audio.calls[-1]["name"] == "choice_board:voice:yes_no:yes_no.no.wav"
        pilot.tap("edit:save")
        act.toggle_editor()
        pilot.step()
        pilot.wait(300)
        pilot.tap("card:1")
        assert spoken(audio)[-1] == "choice_board:voice:yes_no:yes_no.no.wav"
        assert events(pilot, "choice")[-1].data["spoken"] == "recording"
        assert 'voice = "yes_no.no.wav"' in (boards / "yes_no.toml").read_text()
    # the next session: the recording is kept with the board
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        pilot.tap("card:1")
        pilot.tap("card:0")
        assert spoken(audio) == ["choice_board:voice:yes_no:yes_no.no.wav", "choice_board:say:en:Yes"]


def test_without_a_synthesizer_the_card_chimes_and_a_recording_still_speaks(tmp_path):
    with mic_app(tmp_path, board="yes_no", tts="no-such-tts") as (pilot, audio, mics):
        assert any("No speech synthesizer" in n for n in pilot.app.notices)
        pilot.tap("card:0")
        pilot.tap("card:1")
        assert spoken(audio) == [chime_for(0), chime_for(1)]  # each card its own chime
        assert events(pilot, "choice")[-1].data["spoken"] == "chime"
        act = pilot.app.activity
        act.toggle_editor()
        pilot.step()
        pilot.tap("edit:card:1")
        pilot.tap("edit:record")
        pilot.tap("edit:record")  # nothing said
        assert "Nothing heard" in act.editor.message and not events(pilot, "voice_recorded")
        pilot.tap("edit:record")
        mics[0].feed(a_voice())
        pilot.tap("edit:record")
        act.toggle_editor()  # closed without saving: the recording is used until the app closes
        pilot.step()
        pilot.wait(300)
        pilot.tap("card:1")
        assert spoken(audio)[-1] == "choice_board:voice:yes_no:yes_no.no.wav"


def test_recording_without_a_microphone_says_so(tmp_path):
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        act = pilot.app.activity
        act.toggle_editor()
        pilot.step()
        pilot.tap("edit:record")
        assert "microphone" in act.editor.message and not act.editor.recording


@needs_espeak
def test_labels_are_spoken_in_the_session_language(tmp_path):
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        pilot.app.actions.toggle_language()  # French (Canada): re-rendered now, a therapist action
        pilot.step()
        pilot.tap("card:1")
        assert spoken(audio) == ["choice_board:say:fr_CA:Non"]


def test_the_board_list_picks_a_board_by_title(tmp_path):
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        act = pilot.app.activity
        pilot.panel()
        pilot.tap("act:boards")
        pilot.tap("close")
        assert act.picker is not None and act.therapist_mode
        assert trials(pilot) == []  # the board is withdrawn while the therapist picks
        titles = {b.label for b in act.picker.buttons if b.id.startswith("board:")}
        assert {"Which instrument?", "How do you feel?", "What next?", "Yes or no?"} <= titles
        pilot.tap("board:feelings")
        assert act.picker is None and act.board.id == "feelings"
        assert events(pilot, "board_picked")[-1].data == {"board": "feelings", "from": "yes_no"}
        (t,) = trials(pilot)
        assert t.data["board"] == "feelings" and t.closed_ms is None
        act.open_picker()
        pilot.step()
        pilot.tap("boards:cancel")  # back to the same board
        assert act.picker is None and act.board.id == "feelings"
        pilot.tap("card:0")
        assert events(pilot, "choice")[-1].data["board"] == "feelings"


def test_the_editor_picks_the_board_to_edit_from_the_list(tmp_path):
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        act = pilot.app.activity
        act.toggle_editor()
        pilot.step()
        pilot.tap("edit:boards")
        pilot.tap("board:songs")
        assert act.editor.listing is None and act.editor.board.id == "songs"


def test_what_next_makes_the_chosen_activity_the_next_step(tmp_path):
    plan = Plan("p-next", "Choose and play", [PlanStep("choice_board", "What next?", {"board": "what_next"}),
                                             PlanStep("free_play", "Free play"),
                                             PlanStep("drum_turns", "Drum turns")])
    with run_test(data_dir=tmp_path, client="c1", audio=RecordingAudio()) as pilot:
        app = pilot.app
        app.live.start_plan(plan)
        pilot.step()
        assert app.activity_name == "choice_board" and app.live.schedule.next_label() == "Free play"
        pilot.tap("card:0")  # "Drum"
        sch = app.live.schedule
        assert sch.next_label() == "Drum turns"
        (chosen,) = events(pilot, "next_chosen")
        assert (chosen.actor, chosen.data["activity"], chosen.data["how"]) == ("client", "drum_turns", "moved")
        assert events(pilot, "plan_reorder")  # the schedule's own record of the change
        assert app.host.strip_model().then.title == "Drum turns"  # the child's strip: "then" is the choice
        pilot.wait(300)
        pilot.tap("card:1")  # then "Scarves": not in the plan, so a step of its own, next
        assert sch.next_label() == "Scarves" and events(pilot, "next_chosen")[-1].data["how"] == "inserted"
        pilot.wait(300)
        pilot.tap("card:0")  # "Drum" again: the drum step comes next once more
        assert [s.step.activity for s in sch.steps] == ["choice_board", "drum_turns", "scarf_moves", "free_play"]
        pilot.wait(300)
        pilot.tap("card:0")  # and once more: it is already next, nothing moves
        assert events(pilot, "next_chosen")[-1].data["how"] == "already_next"
        assert [s.step.activity for s in sch.steps] == ["choice_board", "drum_turns", "scarf_moves", "free_play"]
        pilot.panel()
        pilot.tap("plan_next")  # the therapist moves on: drum turns is what runs
        assert app.activity_name == "drum_turns"


def test_a_what_next_card_outside_a_plan_or_as_a_model_changes_nothing(tmp_path):
    with board_app(tmp_path, board="what_next") as (pilot, audio):
        pilot.tap("card:0")
        assert events(pilot, "next_chosen")[-1].data["how"] == "no_plan"
        act = pilot.app.activity
        act.toggle_model()
        pilot.wait(300)
        pilot.tap("card:1")  # the therapist's model of "Scarves": not the client's choice
        assert len(events(pilot, "next_chosen")) == 1


USER_BOARD = """[board]
id = "snack"
title = "Snack?"
rows = 2
cols = 3

[[card]]
label = "Apple"
row = 1
col = 1

[[card]]
label = "Cracker"
row = 1
col = 3

[[card]]
label = "Juice"
row = 2
col = 2

[[card]]
label = "Water"
"""


def test_cards_keep_their_places_across_edits_and_sessions(tmp_path):
    boards = tmp_path / "data" / "boards"
    boards.mkdir(parents=True)
    (boards / "snack.toml").write_text(USER_BOARD)
    with board_app(tmp_path, board="snack") as (pilot, audio):
        act = pilot.app.activity
        cells = [c.cell for c in act.board.cards]
        assert cells == [(0, 0), (0, 2), (1, 1), (0, 1)]  # "Water" has no place: the first free cell
        before = {c.label: pygame.Rect(r) for c, r in zip(act.board.cards, act.layout_.cards)}
        act.toggle_editor()
        pilot.step()
        pilot.tap("edit:add")  # a new card takes a free cell: nobody moves
        pilot.tap("edit:card:2")
        pilot.tap("edit:hide")  # "Juice" hidden: its cell stays empty
        pilot.tap("edit:card:1")
        pilot.tap("edit:remove")  # "Cracker" removed: a gap too
        pilot.tap("edit:save")
        act.toggle_editor()
        pilot.step()
        now = {c.label: (c.cell, pygame.Rect(r)) for c, r in zip(act.board.cards, act.layout_.cards)}
        for label in ("Apple", "Water"):
            assert now[label][1] == before[label], label
        assert now["New card"][0] == (1, 0)
        assert act.card_at(before["Juice"].center) is None and act.card_at(before["Cracker"].center) is None
        pilot.tap(before["Juice"].center)  # a tap on the gap chooses nothing
        assert not events(pilot, "choice")
        assert act.state.highlighted() == []
        board, problems = load_board(boards / "snack.toml")
        assert not problems and [(c.label, c.cell, c.hidden) for c in board.cards] == [
            ("Apple", (0, 0), False), ("Juice", (1, 1), True), ("Water", (0, 1), False), ("New card", (1, 0), False)]
    with board_app(tmp_path, board="snack") as (pilot, audio):  # the next session
        act = pilot.app.activity
        assert {c.label: pygame.Rect(r) for c, r in zip(act.board.cards, act.layout_.cards)
                if not c.hidden} == {label: now[label][1] for label in ("Apple", "Water", "New card")}


def test_a_full_board_grows_without_moving_a_card(tmp_path):
    with board_app(tmp_path, board="what_next") as (pilot, audio):  # 2x2, four cards
        act = pilot.app.activity
        act.toggle_editor()
        pilot.step()
        before = [c.cell for c in act.editor.board.cards]
        pilot.tap("edit:add")
        b = act.editor.board
        assert (b.rows, b.cols) == (2, 3) and [c.cell for c in b.cards[:4]] == before
        assert b.cards[4].cell == (0, 2)
        pilot.tap("edit:size")  # sizes that would drop a card's cell are never offered
        assert all(c.cell[0] < act.editor.board.rows and c.cell[1] < act.editor.board.cols
                   for c in act.editor.board.cards)


def test_scanning_follows_the_cards_where_they_are(tmp_path):
    boards = tmp_path / "data" / "boards"
    boards.mkdir(parents=True)
    (boards / "snack.toml").write_text(USER_BOARD.replace('label = "Juice"', 'label = "Juice"\nhidden = true'))
    with board_app(tmp_path, board="snack", access={"method": "step_scan"}) as (pilot, audio):
        act = pilot.app.activity
        seen = [act.state.highlighted()]
        for _ in range(3):
            pilot.wait(300)
            pilot.press("space")
            seen.append(act.state.highlighted())
        # reading order Apple (0,0), Water (0,1), Cracker (0,2); the hidden Juice is skipped
        assert seen == [[0], [3], [1], [0]]


def _mean(surface_png: Path, rect: pygame.Rect) -> float:
    img = pygame.image.load(str(surface_png))
    return float(np.mean(pygame.surfarray.array3d(img.subsurface(rect))))


@pytest.mark.parametrize("low", [False, True])
def test_confirmation_screenshots(tmp_path, low):
    """The chosen card stays highlighted while the others dim; in low stimulation the chosen card
    does not grow (a steady outline). Saved for a person to look at."""
    name = f"choice_confirm{'_low' if low else ''}_1280x800.png"
    with board_app(tmp_path, board="what_next", low_stimulation=low, tts="") as (pilot, audio):
        act = pilot.app.activity
        host = pilot.app.host.host_rect()
        before = pilot.screenshot(tmp_path / "before.png")
        rects = [r.move(host.x, host.y) for r in act.layout_.cards]
        pilot.tap("card:1")  # "Scarves"
        pilot.wait(700)  # the confirmation holds
        out = pilot.screenshot(ART / name)
        assert pygame.image.load(str(out)).get_size() == (1280, 800)
        for i in (0, 2, 3):  # the others dimmed
            assert _mean(out, rects[i]) < 0.8 * _mean(before, rects[i])
        ring = rects[1].inflate(16, 16)
        assert _mean(out, ring) > _mean(before, ring)  # the chosen one outlined (and lighter)
        r = rects[1]  # a band 13..16 px above the card: the grown card's outline, or nothing
        band = pygame.Rect(r.x + r.width // 4, r.y - 16, r.width // 2, 4)
        assert (_mean(out, band) > _mean(before, band) + 40) == (not low)  # grew, unless low stimulation
        assert all(pygame.Rect(0, 0, 1280, 800).contains(x) for x in rects)
        pilot.wait(3000)  # then back to the plain board
        after = pilot.screenshot(tmp_path / "after.png")
        assert abs(_mean(after, rects[0]) - _mean(before, rects[0])) < 1


@needs_espeak
@pytest.mark.parametrize("language, card, text", [("en", 0, "Drum"), ("fr_CA", 1, "Foulards")])
def test_a_spoken_label_rendered_offline(tmp_path, language, card, text):
    """Tap → the card's phrase → its label, through the real mixer (offline backend), to a WAV
    in tests/_artifacts for a person to listen to."""
    from prelude_play.audio import SoundBank, open_engine

    clock = FakeClock()
    engine = open_engine("offline", clock=clock, rate=RATE, blocksize=128, bank=SoundBank(RATE))
    with run_test(data_dir=tmp_path, client="c1", audio=engine, clock=clock) as pilot:
        if language != "en":
            pilot.app.actions.toggle_language()
        profile = pilot.app.store.client_profile("c1")
        profile["activities"] = {"choice_board": {"board": "what_next"}}
        pilot.app.store.set_client_profile("c1", profile)
        pilot.app.start_activity("choice_board")
        pilot.step()
        engine.backend.render(max(0, engine.ns_to_frame(clock.now_ns()) - engine.frames_rendered))
        pilot.tap(f"card:{card}")
        out = engine.backend.render(int(3.5 * RATE))[:, 0]
        sound = events(pilot, "choice")[-1].data
    assert sound["spoken"] == "synthesized" and sound["speech"] == f"choice_board:say:{language}:{text}"
    path = ART / f"choice_spoken_{language}.wav"
    ART.mkdir(exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(out, -1, 1) * 32767).astype("<i2").tobytes())
    assert np.max(np.abs(out)) < 1.0  # no clipping
    speech = out[int(0.6 * RATE):]  # the label follows the card's own sound
    voiced = trim_voice(speech, RATE)
    assert voiced is not None and 0.3 < voiced.size / RATE < 1.6


def test_synthesizer_absent_renders_nothing():
    assert Synthesizer(exe="").render(["Yes"], "en", RATE) == {}


def test_the_board_list_turns_pages_past_twelve_boards_and_opens_on_the_current_one():
    from prelude_play.activities.choice_board.boards import Board, Card
    from prelude_play.activities.choice_board.editor import BoardList
    from prelude_play.ui import theme as th

    pygame.init()
    boards = [Board(f"b{i:02d}", f"Board {i}", 1, 2, (Card("Yes"), Card("No"))) for i in range(20)]
    picked: list[str] = []
    lst = BoardList(boards, "b15", str, picked.append, lambda: None, "Choose board")
    theme = th.Theme()
    lst.layout((1280, 800), theme)
    assert (lst.pages, lst.page) == (2, 1)  # opens where the current board is
    on_page = [b.id for b in lst.buttons if b.id.startswith("board:")]
    assert on_page == [f"board:b{i:02d}" for i in range(12, 20)]
    lst.tap(lst.find("boards:prev").center)
    assert [b.id for b in lst.buttons if b.id.startswith("board:")][:2] == ["board:b00", "board:b01"]
    assert len([b for b in lst.buttons if b.id.startswith("board:")]) == 12
    assert not lst.tap(lst.find("boards:prev").center)  # the first page: "previous" is off
    rects = [lst.find(f"board:b{i:02d}") for i in range(12)]
    assert all(r.height >= 100 and r.bottom <= lst.find("boards:cancel").top for r in rects)  # still button-sized
    lst.tap(lst.find("boards:next").center)
    lst.tap(lst.find("board:b19").center)
    assert picked == ["b19"]
    screen = pygame.Surface((1280, 800))
    lst.draw(screen, theme)  # draws the page number without a missing glyph or an error
