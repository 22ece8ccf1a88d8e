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
