"""Choice board through the headless app: every way to choose, and what each choice logs."""

from __future__ import annotations

import pytest

from tests.activities.choice_helpers import assert_outcomes_only_on_trials, board_app, events, trials

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


def test_a_choice_is_a_trial_judged_at_the_armed_prompt(tmp_path):
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        (opened,) = trials(pilot)  # the board on screen is the opportunity
        assert opened.opportunity == "board_shown" and opened.closed_ms is None
        assert set(GOALS) <= set(opened.goals) and opened.data["board"] == "yes_no"
        pilot.panel()
        pilot.tap("prompt:verbal")  # the therapist prompts "which one?" before the client chooses
        pilot.tap("close")
        pilot.tap("card:0")
        (t,) = trials(pilot)
        assert t.id == opened.id and (t.outcome, t.prompt, t.scored_by) == ("success", "verbal", "activity")
        assert t.close_reason == "response" and t.judgement_data["card"] == "Yes"
        assert [r["kind"] for r in t.responses] == ["choice"] and t.responses[0]["card"] == "Yes"
        choice = events(pilot, "choice")[-1]
        assert choice.trial_id == t.id and choice.outcome is None
        assert_outcomes_only_on_trials(pilot)


def test_the_next_trial_opens_when_the_last_choice_can_no_longer_take_a_score(tmp_path):
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        pilot.tap("card:0")
        window = pilot.app.cfg.scoring.score_window_s * 1000
        pilot.wait(window - 500)
        assert [t.closed_ms is not None for t in trials(pilot)] == [True]  # a score now lands on the choice
        pilot.wait(600)
        first, second = trials(pilot)
        assert second.opportunity == "board_shown" and second.closed_ms is None
        assert second.opened_ms - first.closed_ms == pytest.approx(window, abs=1)
        pilot.tap("card:1")  # a quick second choice ...
        pilot.wait(300)
        pilot.tap("card:0")  # ... and a third before the board was "ready" again: a trial of its own
        assert [(t.outcome, t.judgement_data["card"]) for t in trials(pilot)] == \
            [("success", "Yes"), ("success", "No"), ("success", "Yes")]
        assert all(t.closed_ms is not None for t in trials(pilot))


def test_prompt_now_times_the_choice_from_the_prompt(tmp_path):
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
        assert prompt_ev.trial_id == choice.trial_id  # the prompt belongs to the trial it prompted


def test_a_model_is_not_a_response_and_the_next_choice_answers_it_at_the_model_level(tmp_path):
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        act = pilot.app.activity
        pilot.panel()
        pilot.tap("act:model")  # the therapist models the next choice from the panel
        pilot.tap("close")
        pilot.tap("card:1")
        model = events(pilot, "model")[-1]
        assert model.actor == "therapist" and model.data["card"] == "No" and model.prompt == "model"
        (t,) = trials(pilot)
        assert model.trial_id == t.id and t.closed_ms is None and not t.is_scored  # still the client's turn
        assert t.responses == [] and act.state.count == 0
        pilot.wait(400)
        pilot.tap("card:1")  # the client copies the model
        (t,) = trials(pilot)
        assert (t.outcome, t.prompt) == ("success", "model") and t.judgement_data["after_model"] is True
        assert [r["kind"] for r in t.responses] == ["choice"] and act.state.count == 1
        pilot.wait(pilot.app.cfg.scoring.score_window_s * 1000 + 100)
        pilot.tap("card:0")  # the model is used up: the next choice is independent again
        assert [(x.outcome, x.prompt) for x in trials(pilot)] == [("success", "model"), ("success", "independent")]


def test_a_therapist_score_supersedes_the_judgement_of_the_same_choice(tmp_path):
    from prelude_play.store.trials import goal_figures

    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        pilot.tap("card:0")  # judged: success, independent
        pilot.wait(1000)
        pilot.score("+G")  # the therapist had pointed: one touch on the rail
        (t,) = trials(pilot)
        assert (t.outcome, t.prompt, t.scored_by) == ("success", "gestural", "therapist")
        assert t.judgement == ("success", "independent")  # the automatic judgement stays in the log
        assert [e.trial_id for e in events(pilot, "judgement")] == [t.id]
        assert [e.trial_id for e in events(pilot, "score")] == [t.id]
        fig = goal_figures(trials(pilot))["functional_communication"]
        assert (fig.trials, fig.successes, fig.independent, fig.by_therapist) == (1, 1, 0, 1)  # counted once
        assert pilot.app.live.trials()[0].outcome == "success" and pilot.app.live.trials()[0].prompt == "gestural"


def test_switching_boards_and_the_editor_withdraw_the_open_trial(tmp_path):
    """A board the therapist takes away before the client used it was never an opportunity:
    it is neither a trial nor "not scored"; the log keeps its opening and closing."""
    with board_app(tmp_path, board="yes_no", boards=["yes_no", "feelings"]) as (pilot, audio):
        act = pilot.app.activity
        pilot.unlock()
        pilot.tap("rail:primary")  # Next board
        assert act.board.id == "feelings"
        (second,) = trials(pilot)
        assert second.data["board"] == "feelings" and "self_awareness" in second.goals
        closes = [e for e in pilot.app.store.events() if e.kind == "trial_close"]
        assert [c.data["reason"] for c in closes] == ["withdrawn"]
        pilot.tap("rail:more")
        pilot.tap("act:edit")
        pilot.tap("close")
        assert trials(pilot) == [] and act.editor is not None
        act.toggle_editor()
        pilot.step()
        (third,) = trials(pilot)
        assert third.closed_ms is None
        pilot.tap("card:1")  # the client uses this one
        pilot.app.go_home()
        assert [(t.outcome, t.close_reason) for t in trials(pilot)] == [("success", "response")]


def test_filtered_touch_on_a_card_is_logged_not_chosen(tmp_path):
    """Each card is a target of its own: a repeat on the same card within the shell's 250 ms
    window is filtered (and logged with the card), another card is not."""
    with board_app(tmp_path, board="yes_no") as (pilot, audio):
        pilot.tap("card:0")
        pilot.tap("card:0")  # a bounce on the same card, within the window
        pilot.tap("card:1")  # another card within the window: a choice
        assert [e.data["card"] for e in events(pilot, "choice")] == ["Yes", "No"]
        (filt,) = events(pilot, "filtered_choice")
        assert filt.data["card"] == "Yes" and filt.data["reason"] == "repeat"
        (shell,) = events(pilot, "filtered_touch")  # the shell's own record stays too
        assert shell.data["target"] == "card:0"


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
        assert audio.calls[-4]["name"] == "sample:glock_C5"  # then the phrase, then the spoken label
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
        timed_out = [t for t in trials(pilot) if t.close_reason == "response"]
        assert [(t.outcome, t.scored_by) for t in timed_out] == [("success", "activity"), ("no_response", "activity")]
        assert events(pilot, "scan_timeout")[-1].trial_id == timed_out[-1].id
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
        assert names[:3] == ["sample:drum_tom_low", "sample:drum_tom_low", "sample:drum_snare"]  # not doubled
        assert names[3:] == ["choice_board:say:en:Drum"]  # then the label is spoken
        pilot.midi(note=99)  # a pad bound to no card: nothing chosen
        assert len(events(pilot, "choice")) == 1
        # the therapist's keyboard shows a choice: a model, not a response
        pilot.midi(note=36, role="therapist", device="therapist-keys", channel=0)
        model = events(pilot, "model")[-1]
        assert model.actor == "therapist" and model.data["card"] == "Guitar" and model.outcome is None
        # a computer key bound to a card chooses too
        pilot.wait(300)
        pilot.press("5")
        assert events(pilot, "choice")[-1].data["card"] == "Piano"
        assert [t.prompt for t in trials(pilot)] == ["independent", "model"]  # answered the keyboard's model
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


def test_next_board(tmp_path):
    with board_app(tmp_path, board="yes_no", boards=["yes_no", "feelings"]) as (pilot, audio):
        act = pilot.app.activity
        assert all(r.bottom <= act.size[1] for r in act.layout_.cards)  # no strip of its own: the shell has the one
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
