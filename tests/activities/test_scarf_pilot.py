"""Scarf moves, headless through the whole shell: a cue sequence with scoring, live cues from
keys / the therapist's MIDI keyboard / the overlay, client confirmation, and the cue cards."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.screens import publish

from prelude_play.devices import NullAudio
from prelude_play.events import InputEvent
from prelude_play.hits import sound_for
from prelude_play.shell.pilot import run_test
from prelude_play.store.trials import goal_figures, read_trials

ART = Path(__file__).resolve().parents[1] / "_artifacts"
GOALS = {"gross_motor", "attention_executive", "self_awareness", "self_expression"}
MS = 1_000_000


@dataclass
class ClockedAudio(NullAudio):
    """Records each trigger with the app time it was asked at, and timed all_offs."""

    play = stop = None  # type: ignore[assignment]  # trigger-only, as tests.fakes.RecordingAudio
    clock: object = None
    calls: list = field(default_factory=list)
    offs: list = field(default_factory=list)
    prepared: list = field(default_factory=list)

    def trigger(self, name, velocity=1.0, *, pan=0.0, at_ns=None, gain=1.0):
        self.calls.append((self.clock.now_ns(), name, at_ns, threading.current_thread().name))

    def prepare(self, names):
        self.prepared.extend(names)

    def all_off(self, *, at_ns=None, ramp_ms=None):
        self.offs.append((self.clock.now_ns(), at_ns, ramp_ms))


def t_ns(pilot, ev) -> int:
    """An event's app-clock time (the log keeps ms since the session began, to 0.01 ms)."""
    return pilot.app.session.t0_ns + int(round(ev.t_ms * 1e6))


def events(pilot, kind=None):
    return [e for e in pilot.app.store.events() if kind is None or e.kind == kind]


def trials(pilot):
    return read_trials(events(pilot))


def cue_trials(pilot):
    return [t for t in trials(pilot) if t.opportunity == "cue"]


def assert_outcomes_only_on_trials(pilot):
    assert [(e.kind, e.outcome) for e in events(pilot) if e.outcome is not None and e.trial_id is None] == []


def start(pilot, profile=None, **settings):
    app = pilot.app
    app.store.set_client_profile("ari", {**(profile or {}), "activities": {"scarf_moves": settings}})
    app.start_activity("scarf_moves")
    assert app.activity_name == "scarf_moves", app.notices
    pilot.step()
    return app.activity


def wait_for_cue(pilot, name, limit_ms=20_000):
    act = pilot.app.activity
    for _ in range(int(limit_ms / 50)):
        cur = act.runner.current
        if cur is not None and cur.cue == name:
            return cur
        pilot.wait(50)
    raise AssertionError(f"cue {name} never shown; now {act.runner.current}")


@pytest.fixture
def audio():
    return ClockedAudio()


def pedal_tap(pilot):
    for value in (127, 0):
        pilot.midi("control_change", note=None, control=64, value=value, role="pedal", device="footswitch")
    pilot.wait(400)  # a single tap is known once the double-tap window has passed


def test_preset_sequence_each_cue_a_trial_scored_by_the_therapist(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio, client="ari") as pilot:
        audio.clock = pilot.clock
        act = start(pilot, mode="preset", preset="warm_up", seed=11)
        assert "keys:72" in audio.prepared and "drum:36" in audio.prepared
        wave = wait_for_cue(pilot, "wave")
        pilot.wait(1000)
        pilot.press("f1")  # followed, independent: lands on the cue showing
        wait_for_cue(pilot, "high")
        pilot.press("f5")  # prompt level → gestural
        pilot.press("f2")  # partly
        wait_for_cue(pilot, "low")  # left unscored
        fast = wait_for_cue(pilot, "fast")
        pilot.panel()
        pilot.tap("prompt:verbal")
        pilot.tap("close")
        pilot.score("-")
        assert "Not yet" in act.status_text()  # on_scored keeps the panel's status line right
        freeze = wait_for_cue(pilot, "freeze")
        pilot.wait(400)
        pilot.tap("card")  # the client shows "I stopped"
        pedal_tap(pilot)  # +I by foot
        wait_for_cue(pilot, "slow")

        cues = cue_trials(pilot)
        assert [c.data["cue"] for c in cues] == ["wave", "high", "low", "fast", "freeze", "slow"]
        for c in cues:
            assert set(c.goals) >= GOALS and c.data["music"]["bpm"] > 0 and c.data["source"] == "preset"
        assert cues[3].data["music"]["bpm"] == 144 and cues[1].data["music"]["register"] == 12
        assert cues[4].data["music"]["playing"] is False
        # a cue's trial opens when the music changes (what the client hears), beat-aligned
        assert abs(pilot.app.session.t0_ns + int(round(cues[0].opened_ms * 1e6)) - wave.onset_ns) <= 10_000
        beat = 60e9 / 96
        assert ((fast.onset_ns - wave.onset_ns) / beat) % 1 == pytest.approx(0, abs=1e-6)
        # each cue ends when the next one replaces it: "ended", never judged by the activity
        assert [c.close_reason for c in cues] == ["ended"] * 5 + [None]
        assert all(a.closed_ms == b.opened_ms for a, b in zip(cues, cues[1:]))
        assert events(pilot, "judgement") == []

        got = [(c.data["cue"], c.outcome, c.prompt, c.scored_by) for c in cues]
        assert got == [("wave", "success", "independent", "therapist"), ("high", "partial", "gestural", "therapist"),
                       ("low", "not_scored", None, ""), ("fast", "not_yet", "verbal", "therapist"),
                       ("freeze", "success", "independent", "therapist"), ("slow", "not_scored", None, "")]
        scores = events(pilot, "score")
        assert [s.trial_id for s in scores] == [cues[i].id for i in (0, 1, 3, 4)]
        assert scores[1].source == "key" and scores[3].source == "midi"
        conf = events(pilot, "response")
        assert len(conf) == 1 and conf[0].data["expected"] and conf[0].data["first"]
        assert conf[0].trial_id == cues[4].id and cues[4].responses[0]["kind"] == "response"
        lat = conf[0].data["latency_ms"]
        assert 380 <= lat <= 480  # tapped ~400 ms after the freeze began (timed from the cue)
        ends = [e for e in events(pilot, "trial_close") if e.trial_id == cues[4].id]
        assert ends[0].data["latency_ms"] == lat and ends[0].data["cue"] == "freeze"
        fig = goal_figures(trials(pilot))["gross_motor"]
        assert (fig.trials, fig.successes, fig.not_scored) == (4, 2, 2)  # unscored cues kept apart
        assert_outcomes_only_on_trials(pilot)

        # scheduling: never more than 200 ms ahead, never in the past, all from the frame loop
        for asked, name, at_ns, thread in audio.calls:
            assert at_ns is not None and 0 <= at_ns - asked <= 200 * MS, (name, at_ns - asked)
        # the freeze: a timed all-off at the stop, and no note scheduled inside the silence
        # except ones handed out before the stop was decided (those the engine cancels)
        assert len(audio.offs) == 1
        asked_off, stop_ns, ramp = audio.offs[0]
        assert stop_ns == freeze.onset_ns and ramp > 0
        resume = pilot.app.session.t0_ns + int(round(cues[5].opened_ms * 1e6))
        inside = [c for c in audio.calls if stop_ns <= c[2] < resume]
        assert all(c[0] <= asked_off for c in inside)  # sequenced: on the next unscheduled beat
        assert [c for c in audio.calls if c[2] >= resume]
        assert act.status_text().startswith("Cue 6")


def test_a_confirmed_cue_scored_then_edited_on_the_rail_counts_once(tmp_path, audio):
    """Scarf moves never judges a cue itself: the client's confirmation is the response, the
    therapist's score the outcome, and an edit of that score a correction (both kept)."""
    with run_test(data_dir=tmp_path, audio=audio, client="ari") as pilot:
        audio.clock = pilot.clock
        act = start(pilot, mode="live")
        wait_for_cue(pilot, "wave")
        pilot.unlock()
        assert pilot.app.find_button("rail:primary").label == "Freeze"
        pilot.tap("rail:primary")  # the therapist freezes the music by one touch (or the pedal)
        wait_for_cue(pilot, "freeze", 500)
        pilot.step(6)
        assert pilot.app.find_button("rail:primary").label == "Go"
        pilot.wait(300)
        pilot.tap("card")
        pilot.score("+I")
        freeze = cue_trials(pilot)[-1]
        assert freeze.data["cue"] == "freeze" and (freeze.outcome, freeze.prompt) == ("success", "independent")
        assert "Followed" in act.status_text()
        pilot.tap(f"trial:{freeze.order}")  # the therapist saw the child needed a gesture: edit the row
        pilot.score("+G")
        t = [x for x in cue_trials(pilot) if x.id == freeze.id][0]
        assert (t.outcome, t.prompt, t.scored_by) == ("success", "gestural", "therapist")
        assert [e.trial_id for e in events(pilot, "score")] == [t.id]
        assert [(e.trial_id, e.data["action"]) for e in events(pilot, "correction")] == [(t.id, "edit")]
        assert [r["kind"] for r in t.responses] == ["response"]
        fig = goal_figures(trials(pilot))["attention_executive"]
        assert (fig.trials, fig.successes, fig.independent) == (1, 1, 0)
        live = [x for x in pilot.app.live.trials() if x.id == t.id][0]
        assert (live.outcome, live.prompt) == ("success", "gestural")
        assert_outcomes_only_on_trials(pilot)


def test_live_cues_from_keys_midi_and_overlay(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio, client="ari") as pilot:
        audio.clock = pilot.clock
        act = start(pilot, mode="live")
        wait_for_cue(pilot, "wave")
        t0 = pilot.clock.now_ns()
        pilot.press("up")
        high = wait_for_cue(pilot, "high", 2000)
        assert high.source == "live" and high.onset_ns - t0 <= 200 * MS + 60e9 / 96
        # a live freeze is immediate (lead only), then space again = go back to the last cue
        pilot.wait(300)
        t1 = pilot.clock.now_ns()
        pilot.press("space")
        fr = wait_for_cue(pilot, "freeze", 500)
        assert fr.onset_ns - t1 <= 60 * MS
        asked_off, stop_ns, _ = audio.offs[-1]
        assert stop_ns == fr.onset_ns
        # notes handed out past the stop before it was decided are cancelled by the engine; none after
        inside = [c for c in audio.calls if c[2] >= stop_ns]
        assert all(c[0] <= asked_off for c in inside)
        pilot.wait(500)
        pilot.press("space")
        back = wait_for_cue(pilot, "high", 500)
        assert back.index > high.index
        # the therapist's keyboard: a low note = low, a chord = freeze; its keys make no sound
        n_before = len(audio.calls)
        pilot.midi(note=40, channel=0, role="therapist", device="therapist-keys")
        wait_for_cue(pilot, "low", 2000)
        for n in (60, 64, 67):
            pilot.midi(note=n, channel=0, role="therapist", device="therapist-keys", step=False)
        pilot.step()
        wait_for_cue(pilot, "freeze", 500)
        n_cues = len(act.runner.history) + 1
        act.live("freeze")  # already frozen: not a new cue
        pilot.wait(100)
        assert len(act.runner.history) + 1 == n_cues and act.runner.pending is None
        assert not [c for c in audio.calls[n_before:] if c[3] != "MainThread"]
        ev = InputEvent(0, "midi", "note_on", note=50, role="therapist", data={"sound": "keys:50"})
        assert sound_for(act.fast_sound_table(), ev) is None
        drum = InputEvent(0, "midi", "note_on", note=38, data={"sound": "drum:38"})
        assert sound_for(act.fast_sound_table(), drum) == "drum:38"
        # the rail: Go (its primary action), then Next cue from the panel
        pilot.unlock()
        pilot.tap("rail:primary")
        pilot.tap("rail:more")
        pilot.tap("act:next")
        pilot.tap("close")
        pilot.wait(600)
        shown = [t.data["cue"] for t in cue_trials(pilot)]
        assert shown[-1] == "fast"  # Go (back to low), then the cue after low in the live list
        assert all(t.data["source"] == "live" for t in cue_trials(pilot))
        # leaving ends the current cue; nobody scored any: all "not scored", none followed
        pilot.app.go_home()
        assert all(t.close_reason == "ended" and not t.is_scored for t in cue_trials(pilot))
        assert_outcomes_only_on_trials(pilot)


def test_random_mode_stays_within_min_max(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio, client="ari") as pilot:
        audio.clock = pilot.clock
        start(pilot, mode="random", seed=5, min_s=2.0, max_s=3.0,
              random_cues=["wave", "high", "low", "freeze"])
        for _ in range(25):
            pilot.wait(1000)
        cues = cue_trials(pilot)
        assert len(cues) >= 7
        names = [c.data["cue"] for c in cues]
        assert all(a != b for a, b in zip(names, names[1:]))
        for a, b in zip(cues, cues[1:]):
            dur = (b.opened_ms - a.opened_ms) / 1e3
            lo, hi = (2.5, 5.0) if a.data["cue"] == "freeze" else (2.0, 3.0)  # freeze has its own range
            assert lo - 0.02 <= dur <= hi + 60 / 96 + 0.25, (a.data["cue"], dur)
        setup = events(pilot, "scarf_setup")[0]
        assert setup.data["seed"] == 5 and setup.data["mode"] == "random"


def test_low_stimulation_profile_plays_softer(tmp_path):
    vel = {}
    for low in (False, True):
        audio = ClockedAudio()
        with run_test(data_dir=tmp_path / str(low), audio=audio, client="ari") as pilot:
            audio.clock = pilot.clock
            act = start(pilot, profile={"low_stimulation": low}, mode="live")
            wait_for_cue(pilot, "wave")
            pilot.wait(2000)
            vel[low] = [n.velocity for n in act.gen.notes_at(0, 0)]
            assert act.runner.current.music["dynamics"] == pytest.approx(0.6 * (0.7 if low else 1.0))
    assert max(vel[True]) < max(vel[False])


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_cue_card_screenshots(tmp_path, audio, size):
    import pygame

    w, h = size
    shots = []
    with run_test(data_dir=tmp_path, audio=audio, client="ari", size=size) as pilot:
        audio.clock = pilot.clock
        act = start(pilot, mode="live")
        for key, cue in (("t", "throw"), ("space", "freeze"), ("h", "hide")):
            pilot.press(key)
            wait_for_cue(pilot, cue, 2000)
            pilot.wait(400)
            shots.append(pilot.screenshot(ART / f"scarf_{cue}_{w}x{h}.png"))
            card = act.find_target("card")
            assert card.width >= 0.8 * w and pilot.app.surface.get_rect().contains(card.move(0, 72))
    for shot in shots:
        img = pygame.image.load(str(shot))
        assert img.get_size() == size
        colours = {img.get_at((x, y))[:3] for x in range(0, w, 23) for y in range(0, h, 29)}
        assert len(colours) > 4
    if size == (1280, 800):
        for shot in shots[:2]:
            publish(shot, shot.name.replace("_1280x800", ""))


def test_silence_all_freezes_the_music_until_the_therapist_goes_again(tmp_path):
    from prelude_play.shell.pilot import run_test
    from tests.fakes import RecordingAudio

    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, audio=audio, client="ari", activity="scarf_moves") as pilot:
        pilot.wait(2000)
        act = pilot.app.activity
        assert not act.gen.frozen and audio.calls
        pilot.panel()
        pilot.tap("panic")
        pilot.tap("close")
        n = len(audio.calls)
        pilot.wait(3000)
        assert act.gen.frozen and not act.auto
        # nothing new starts after the panic (only notes already scheduled before it, if any)
        late = [c for c in audio.calls[n:] if c["at_ns"] is None or c["at_ns"] > pilot.clock.now_ns() - 2_900_000_000]
        assert late == []
