"""Scarf moves through the real AudioEngine (offline backend): the freeze is silent exactly
from the stop, nothing clicks at the stop or at a tempo change, and changes land on the beat."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from prelude_play.activities.scarf_moves.render import measure, render

CUES = Path(__file__).resolve().parents[2] / "activities" / "scarf_moves" / "defaults.toml"


@pytest.fixture(scope="module")
def rendered():
    with CUES.open("rb") as fh:
        cues = tomllib.load(fh)["cues"]
    r = render(settings={"cues": {k: cues[k] for k in ("wave", "fast", "freeze")}})
    return r, measure(r)


def test_silent_exactly_from_the_stop_until_go(rendered):
    r, m = rendered
    assert m["silent_samples_after_stop"] > r.rate  # over a second of freeze
    assert m["nonzero_after_stop"] == 0 and m["max_abs_after_stop"] == 0.0
    # the music was really playing up to the ramp, and plays again after "go"
    assert m["max_abs_before_ramp"] > 0.1
    assert np.max(np.abs(r.audio[m["resume_frame"]: m["resume_frame"] + r.rate // 2])) > 0.1
    # the cue event's time is the stop frame: card and silence agree
    assert m["stop_frame"] == r.frame(r.onsets["freeze"])


def test_no_click_at_the_stop(rendered):
    _, m = rendered
    # a hard cut would jump by the signal's level; the ramp keeps steps within normal music
    assert m["hard_cut_step"] > 0.05
    assert m["max_step_at_stop"] < 0.25 * m["hard_cut_step"]
    assert m["max_step_at_stop"] <= m["normal_step_p99"]


def test_tempo_change_on_the_beat_without_a_click(rendered):
    r, m = rendered
    assert m["change_on_old_beat"] == pytest.approx(round(m["change_on_old_beat"]), abs=1e-6)
    assert m["voice_starts_at_change"] >= 1  # new notes start exactly on the change frame
    assert m["voice_start_spacing_after_change_frames"] == [round(m["fast_step_frames"])]
    # the only step at the change is a note attack of the same size as the music's others
    assert m["max_step_at_change"] <= 1.25 * m["normal_step_max"]
    assert m["late_starts"] == 0 and m["dropped_voices"] == 0
    assert m["peak"] < 0.71  # under the engine's -3 dBFS limiter
