"""The hello song through the real AudioEngine (offline backend): it sounds like a song — sane
levels, no clicks, the chords it says it plays, every note on its frame, the tune in tune — and
the app's own accompaniment in the client's turn is not heard as the client's voice."""

from __future__ import annotations

import pytest

from prelude_play.activities._greeting_songs.render import heard_as_voice, measure, melody_in_tune, render, write_wav


@pytest.fixture(scope="module")
def rendered():
    r = render("hello", bpm=120, verses=["hello", "play"])
    return r, measure(r)


def test_levels_sit_under_the_therapists_guitar_and_the_turn_is_quieter(rendered, tmp_path):
    r, m = rendered
    assert m["samples_at_limit"] == 0 and -12 < m["peak_dbfs"] < -3
    assert -30 < m["rms_dbfs"] < -18
    sec = m["rms_by_section_dbfs"]
    assert sec["answer"] < sec["call"] - 4  # the client's turn leaves room for the client
    assert m["silent_tail_max"] == 0.0  # nothing rings on after the song
    wav = write_wav(r, tmp_path / "hello.wav")
    assert wav.stat().st_size == 44 + 2 * len(r.audio)


def test_no_clicks(rendered):
    _, m = rendered
    # the only sharp edges are plucks starting; none where a note ends (each fades over 80 ms)
    assert m["edge_max_elsewhere"] < 0.25 * m["edge_max_in_attacks"]
    assert m["note_ends_checked"] > 50
    assert m["edge_ratio_max_at_note_ends"] <= 1.2 * m["edge_ratio_max_at_random_points"]


def test_the_chords_heard_are_the_chords_written_and_every_note_is_on_time(rendered):
    _, m = rendered
    assert m["bars_chord_notes_in_top4"] == m["bars_chord_checked"] > 10
    assert m["bars_strongest_triad_is_the_chord"] >= 0.8 * m["bars_chord_checked"]
    assert m["notes_started_on_their_frame"] == m["notes_planned"]
    assert (m["late_starts"], m["stolen_voices"], m["dropped_voices"]) == (0, 0, 0)


def test_the_tune_is_in_tune():
    t = melody_in_tune(render("hello", music="melody", bpm=120, verses=["hello"]))
    assert t["notes"] >= 10 and t["max_abs_cents"] < 10


def test_the_apps_own_turn_accompaniment_is_not_heard_as_a_voice(rendered):
    r, _ = rendered
    assert heard_as_voice(r)["turn"] == 0
