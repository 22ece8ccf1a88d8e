"""The child-side fast path (``sound_from_table`` on ``Activity.fast_sound_table()``) plays the
same sound the inline ``Activity.fast_sound`` would, for every activity and a grid of hits."""

from __future__ import annotations

import itertools

import pytest

from prelude_play.events import InputEvent
from prelude_play.rt.fastpath import sound_from_table, wants_fast_sound
from prelude_play.shell.pilot import run_test
from tests.activities.choice_helpers import board_app
from tests.fakes import RecordingAudio

MAPPED = (None, "", "drum:38", "drum:49", "keys:60", "chimes:84")


def grid():
    for note, channel, role, mapped in itertools.product(range(128), (0, 3, 9, None), ("client", "therapist"),
                                                         MAPPED):
        data = {} if mapped is None else {"sound": mapped}
        yield InputEvent(1, "midi", "note_on", device="pad", note=note, velocity=90, channel=channel,
                         role=role, data=data)


def assert_same(act) -> int:
    table = act.fast_sound_table()
    checked = sounding = 0
    for ev in grid():
        try:
            inline = act.fast_sound(ev)
        except Exception:  # inline, a fast_sound error means silence (App.midi_sink swallows it)
            inline = None
        assert (sound_from_table(table, ev) or None) == (inline or None), (act.name, ev)  # "" = silent too
        checked += 1
        sounding += bool(inline)
    assert checked == 128 * 4 * 2 * len(MAPPED)
    return sounding


@pytest.mark.parametrize("name", ["free_play", "drum_turns", "scarf_moves", "vowel_match"])
def test_table_matches_fast_sound(tmp_path, name):
    with run_test(data_dir=tmp_path, audio=RecordingAudio(), client="c1", activity=name) as pilot:
        act = pilot.app.activity
        assert pilot.app.activity_name == name, pilot.app.notices
        sounding = assert_same(act)
        assert sounding > 0  # the comparison covers hits that sound, not only silent ones
        assert act.fast_sound_table() is act.fast_sound_table()  # stable: resent only on change


@pytest.mark.parametrize("method", ["play", "tap", "scan"])
def test_choice_board_table_matches_fast_sound(tmp_path, method):
    access = {"method": method, "select_notes": [40], "move_notes": [41]}
    with board_app(tmp_path, access=access) as (pilot, _audio):
        act = pilot.app.activity
        sounding = assert_same(act)
        assert sounding > 0  # the therapist's pads sound whatever the client's access


def test_free_play_table_snaps_keys_and_keeps_mapped_drums(tmp_path):
    with run_test(data_dir=tmp_path, audio=RecordingAudio(), client="c1", activity="free_play") as pilot:
        table = pilot.app.activity.fast_sound_table()
    key = InputEvent(1, "midi", "note_on", note=61, channel=0, data={"sound": "keys:61"})
    assert sound_from_table(table, key) == "keys:60"  # C# is not in C major pentatonic
    drum = InputEvent(1, "midi", "note_on", note=38, channel=0, data={"sound": "drum:38"})
    assert sound_from_table(table, drum) == "drum:38"
    assert sound_from_table(table, InputEvent(1, "midi", "note_on", note=50, channel=9)) == "drum:50"


def test_no_table_is_the_instrument_map():
    ev = InputEvent(1, "midi", "note_on", note=38, data={"sound": "drum:38"})
    assert sound_from_table(None, ev) == "drum:38"
    assert wants_fast_sound(ev)
    assert not wants_fast_sound(InputEvent(1, "midi", "note_on", note=38, role="pedal"))
    assert not wants_fast_sound(InputEvent(1, "midi", "note_on", note=38, data={"filtered": "tremor"}))
    assert not wants_fast_sound(InputEvent(1, "midi", "note_off", note=38))
