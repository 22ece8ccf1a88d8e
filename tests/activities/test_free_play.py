"""Free play has no trials of its own: hits are logged as music, the therapist's rail scores make
their own trials, and nothing the activity logs carries an outcome."""

from __future__ import annotations

from prelude_play.shell.pilot import run_test
from prelude_play.store.trials import read_trials
from tests.fakes import RecordingAudio


def events(pilot, kind=None):
    pilot.app.store.flush()
    return [e for e in pilot.app.store.events() if kind is None or e.kind == kind]


def test_free_play_logs_hits_without_outcomes_and_scores_make_their_own_trials(tmp_path):
    with run_test(data_dir=tmp_path, audio=RecordingAudio(), client="ari", activity="free_play") as pilot:
        pilot.tap("pad:0")
        pilot.midi(note=38)
        pilot.midi(note=60, role="therapist", device="therapist-keys", channel=0)
        assert read_trials(events(pilot)) == [] and pilot.app.activity.primary_action() is None
        pilot.score("+I")
        pilot.tap("pad:2")
        pilot.score("-")
        ts = read_trials(events(pilot))
        assert [(t.opportunity, t.outcome, t.scored_by) for t in ts] == \
            [("therapist", "success", "therapist"), ("therapist", "not_yet", "therapist")]
        hits = events(pilot, "hit")
        assert len(hits) == 4 and all(h.outcome is None and h.trial_id is None for h in hits)
        assert [(e.kind, e.outcome) for e in events(pilot) if e.outcome is not None and e.trial_id is None] == []


def test_repeats_are_filtered_per_pad_never_across_pads(tmp_path):
    """Two hands on two pads within the 250 ms repeat window both sound; a bounce on the same
    pad is filtered, and logged with its pad (by the shell and by free play)."""
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, audio=audio, client="ari", activity="free_play") as pilot:
        assert pilot.app.cfg.touch.ignore_repeat_ms == 250
        pilot.tap("pad:0")
        pilot.tap("pad:1")  # ~33 ms later, another pad: a two-handed hit
        pilot.tap("pad:2")  # a roll across a third
        assert audio.names() == ["drum:36", "drum:38", "drum:42"]
        assert [h.data["pad"] for h in events(pilot, "hit")] == [0, 1, 2]
        t0 = pilot.clock.now_ns()
        pilot.tap("pad:2")  # the same pad again within the window: a bounce
        assert audio.names() == ["drum:36", "drum:38", "drum:42"]
        assert [h.data["pad"] for h in events(pilot, "hit")] == [0, 1, 2]
        (shell,) = events(pilot, "filtered_touch")
        assert shell.data["reason"] == "repeat" and shell.data["target"] == "pad:2"
        (mine,) = events(pilot, "filtered_hit")
        assert (mine.data["pad"], mine.data["label"], mine.data["reason"]) == (2, "Hi-hat", "repeat")
        assert 0 < mine.data["since_last_ms"] < 250
        pilot.wait(260 - (pilot.clock.now_ns() - t0) / 1e6)
        pilot.tap("pad:2")  # once the window has passed the same pad plays again
        assert audio.names()[-1] == "drum:42" and len(events(pilot, "hit")) == 4
