"""Choice board through the headless app: every way to choose, and what each choice logs."""

from __future__ import annotations

import pytest

from tests.activities.choice_helpers import board_app, events

GOALS = ("functional_communication", "self_expression")


def _board_shown_ms(pilot) -> float:
    return events(pilot, "board_shown")[-1].t_ms


def test_tap_sounds_at_once_and_logs_the_choice(tmp_path):
    with board_app(tmp_path, board="instruments") as (pilot, audio):
        pilot.wait(500)
        pilot.tap("card:1")  # Drum
        first = audio.calls[0]
        assert first["name"] == "sample:drum_tom_low" and first["at_ns"] is None  # now, not scheduled
        later = audio.calls[1:3]
        assert [c["name"] for c in later] == ["sample:drum_tom_low", "sample:drum_snare"]
        (choice,) = events(pilot, "choice")
        # the rest of the phrase is anchored on the tap's own time
        t_tap = later[0]["at_ns"] - 220_000_000
        assert later[1]["at_ns"] - t_tap == 440_000_000
        assert choice.actor == "client" and choice.source == "touch"
        assert set(GOALS) <= set(choice.goals)
        assert choice.prompt == "independent"
        d = choice.data
        assert (d["board"], d["card"], d["position"], d["row"], d["col"]) == ("instruments", "Drum", 1, 0, 1)
        assert d["access"] == "tap" and d["latency_from"] == "board"
        assert d["latency_ms"] == pytest.approx(choice.t_ms - _board_shown_ms(pilot), abs=0.02)
        assert d["latency_ms"] >= 500


def test_prompt_model_and_score_are_told_apart(tmp_path):
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        act = pilot.app.activity
        pilot.wait(300)
        act.mark_prompt()
        pilot.wait(200)
        pilot.tap("card:0")
        choice = events(pilot, "choice")[-1]
        assert choice.data["latency_from"] == "prompt"
        prompt_ev = events(pilot, "prompt")[-1]
        assert choice.data["latency_ms"] == pytest.approx(choice.t_ms - prompt_ev.t_ms, abs=0.02)
        # the therapist scores via the overlay: the score points at the choice
        pilot.unlock()
        pilot.tap("prompt:verbal")
        pilot.tap("outcome:success")
        score = events(pilot, "score")[-1]
        assert score.data["choice_event"] == choice.id and score.prompt == "verbal"
        # the therapist models the next choice from the overlay: logged as a model, not the client's
        pilot.tap("act:model")
        pilot.tap("close")
        pilot.wait(400)
        pilot.tap("card:1")
        model = events(pilot, "model")[-1]
        assert model.actor == "therapist" and model.data["card"] == "No"
        assert len(events(pilot, "choice")) == 1
        assert act.state.count == 1


def test_filtered_touch_on_a_card_is_logged_not_chosen(tmp_path):
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        pilot.tap("card:0")
        pilot.tap("card:1")  # within the shell's 250 ms repeat window
        assert [e.data["card"] for e in events(pilot, "choice")] == ["Yes"]
        (filt,) = events(pilot, "filtered_choice")
        assert filt.data["card"] == "No" and filt.data["reason"] == "repeat"
        assert events(pilot, "filtered_touch")  # the shell's own record stays too


def test_dwell_chooses_after_the_dwell_time_and_logs_short_touches(tmp_path):
    with board_app(tmp_path, board="instruments", access={"method": "dwell", "dwell_ms": 800}) as (pilot, audio):
        pilot.tap("card:4")  # a quick touch: no choice, logged as accidental
        assert not events(pilot, "choice")
        (acc,) = events(pilot, "accidental_touch")
        assert acc.data["card"] == "Piano" and acc.data["reason"] == "dwell_incomplete"
        assert acc.data["held_ms"] < 800
        pos = pilot.down("card:2")
        pilot.wait(400)
        act = pilot.app.activity
        (card, progress, _), = act.state.dwell_progress(pilot.clock.now_ns())
        assert card == 2 and 0.4 < progress < 0.7  # the ring is filling
        assert not events(pilot, "choice")
        pilot.wait(500)
        (choice,) = events(pilot, "choice")
        assert choice.data["card"] == "Scarves" and choice.data["access"] == "dwell"
        assert audio.calls[-3]["name"] == "sample:glock_C5"
        pilot.up(pos)
        pilot.step()
        assert len(events(pilot, "choice")) == 1


def test_dwell_range_is_clamped_with_a_notice(tmp_path):
    with board_app(tmp_path, board="yes_no", access={"method": "dwell", "dwell_ms": 50}) as (pilot, audio):
        assert pilot.app.activity.access.dwell_ms == 300
        assert any("dwell_ms" in n for n in pilot.app.notices)


def test_single_switch_scanning_chooses_the_highlighted_card(tmp_path):
    access = {"method": "scan", "scan_ms": 1000, "initial_delay_ms": 1000, "loops": 2, "select_keys": ["space"]}
    with board_app(tmp_path, board="instruments", access=access) as (pilot, audio):
        act = pilot.app.activity
        assert act.state.highlighted() == [0]
        cue = audio.calls[0]
        assert cue["name"] == "sample:guitar_C3" and cue["velocity"] == pytest.approx(0.25)  # soft cue
        pilot.wait(1800)
        assert act.state.highlighted() == [0]  # first card held for the initial delay
        pilot.wait(1000)
        assert act.state.highlighted() == [1]
        assert audio.calls[-1]["name"] == "sample:drum_tom_low" and audio.calls[-1]["velocity"] < 0.3
        pilot.press("space")
        (choice,) = events(pilot, "choice")
        assert choice.data["card"] == "Drum" and choice.data["access"] == "scan" and choice.source == "key"
        assert audio.calls[-3]["velocity"] == pytest.approx(0.9)
        # after the pause the scan starts over; with no press it gives up after its loops
        pilot.wait(2000 + 1000 + 1000 * 6 * 2 + 500)
        assert events(pilot, "scan_timeout") and act.state.highlighted() == []
        pilot.press("space")  # a press restarts it
        assert act.state.highlighted() == [0]


def test_two_switch_row_column_step_scanning(tmp_path):
    access = {"method": "step_scan", "pattern": "row_column"}
    with board_app(tmp_path, board="instruments", access=access) as (pilot, audio):
        act = pilot.app.activity
        assert act.state.highlighted() == [0, 1, 2]  # first row
        pilot.press("space")
        assert act.state.highlighted() == [3, 4, 5]
        pilot.press("space")  # too soon: a bounce, logged and ignored
        assert act.state.highlighted() == [3, 4, 5]
        assert events(pilot, "filtered_switch")[-1].data["reason"] == "debounce"
        pilot.wait(300)
        pilot.press("return")
        assert act.state.highlighted() == [3]
        pilot.wait(300)
        pilot.press("space")
        pilot.wait(300)
        pilot.wait(5000)  # step scanning never moves by itself
        assert act.state.highlighted() == [4]
        pilot.press("return")
        (choice,) = events(pilot, "choice")
        assert (choice.data["card"], choice.data["position"], choice.data["access"]) == ("Piano", 4, "step_scan")


def test_midi_pad_switch_scans(tmp_path):
    access = {"method": "step_scan", "move_notes": [36], "select_notes": [38]}
    with board_app(tmp_path, board="yes_no", access=access) as (pilot, audio):
        pilot.midi(note=36)
        assert audio.calls == [] or all(c["velocity"] < 0.3 for c in audio.calls)  # switches only cue
        pilot.wait(300)
        pilot.midi(note=38)
        (choice,) = events(pilot, "choice")
        assert choice.data["card"] == "No" and choice.source == "midi" and choice.data["note"] == 38


def test_choose_by_playing_a_pad_sounds_on_the_fast_path(tmp_path):
    with board_app(tmp_path, board="instruments", access={"method": "play"}) as (pilot, audio):
        pilot.midi(note=38, step=False)  # default pad 2 = card 2
        assert [c["name"] for c in audio.calls] == ["sample:drum_tom_low"]  # before any frame
        pilot.step()
        (choice,) = events(pilot, "choice")
        assert choice.data["card"] == "Drum" and choice.data["access"] == "play"
        assert choice.data["sounded_by_fast_path"] is True
        names = [c["name"] for c in audio.calls]
        assert names == ["sample:drum_tom_low", "sample:drum_tom_low", "sample:drum_snare"]  # not doubled
        pilot.midi(note=99)  # a pad bound to no card: nothing chosen
        assert len(events(pilot, "choice")) == 1
        # the therapist's keyboard shows a choice: a model
        pilot.midi(note=36, role="therapist", device="therapist-keys", channel=0)
        model = events(pilot, "model")[-1]
        assert model.actor == "therapist" and model.data["card"] == "Guitar"
        # a computer key bound to a card chooses too
        pilot.wait(300)
        pilot.press("5")
        assert events(pilot, "choice")[-1].data["card"] == "Piano"
        # a filtered (too soft) hit is not a choice
        pilot.midi(note=42, data={"filtered": "below_threshold"})
        assert len(events(pilot, "choice")) == 2


def test_low_stimulation_and_sung_echo(tmp_path):
    with board_app(tmp_path, board="yes_no", low_stimulation=True, echo=True) as (pilot, audio):
        pilot.tap("card:1")
        first = audio.calls[0]
        assert first["velocity"] == pytest.approx(0.45)
        echo = [c for c in audio.calls[1:] if c["name"].startswith("vowel:oh:6")]
        assert len(echo) == 2 and all(c["at_ns"] is not None for c in echo)


def test_next_board_and_schedule_strip(tmp_path):
    with board_app(tmp_path, board="yes_no", boards=["yes_no", "feelings"],
                   schedule=["Hello", "Choice", "Drums"], schedule_step=1) as (pilot, audio):
        act = pilot.app.activity
        assert act.layout_.strip is not None and act.layout_.strip.bottom <= act.size[1]
        act.next_board()
        pilot.step()
        assert act.board.id == "feelings" and len(act.layout_.cards) == 9
        shown = events(pilot, "board_shown")[-1]
        assert shown.data["board"] == "feelings" and "self_awareness" in shown.goals
        pilot.tap("card:8")
        assert "self_awareness" in events(pilot, "choice")[-1].goals  # per-board goal override


def _hover(pilot, target):
    import pygame

    x, y = pilot._pos(target)
    pygame.event.post(pygame.event.Event(pygame.MOUSEMOTION, pos=(int(x), int(y)), rel=(1, 1),
                                         buttons=(0, 0, 0), touch=False))
    pilot.step()


def test_hover_dwell_for_a_head_pointer_chooses_once_per_visit(tmp_path):
    with board_app(tmp_path, board="instruments", access={"method": "dwell", "dwell_ms": 600}) as (pilot, audio):
        _hover(pilot, "card:1")
        pilot.wait(300)
        _hover(pilot, "card:1")  # still on the card: the timer keeps running
        assert not events(pilot, "choice")
        pilot.wait(400)
        (choice,) = events(pilot, "choice")
        assert choice.data["card"] == "Drum" and choice.data["access"] == "dwell" and choice.source == "mouse"
        for _ in range(5):  # resting on the chosen card does not choose it again
            _hover(pilot, "card:1")
            pilot.wait(300)
        assert len(events(pilot, "choice")) == 1
        _hover(pilot, "card:2")
        _hover(pilot, "card:1")  # left and came back: a new visit
        pilot.wait(700)
        assert [c.data["card"] for c in events(pilot, "choice")] == ["Drum", "Drum"]
