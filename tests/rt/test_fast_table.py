"""Each activity's sound table (``Activity.fast_sound_table()``, read by ``hits.sound_for``: the
one form of "this hit makes this sound") gives, for every activity and a grid of hits, the sound
the activity means. The references below are the rules the activities used to write a second
time as Python methods (``fast_sound``, removed): kept here as independent oracles."""

from __future__ import annotations

import itertools

import pytest

from prelude_play.activities.free_play.logic import sound_for_midi
from prelude_play.events import InputEvent
from prelude_play.hits import sound_for, wants_sound
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


def free_play(act, ev):
    s = act.state
    return sound_for_midi(ev.note or 0, ev.channel, scale=s.scale, root=s.root, keys_sound=s.keys_sound,
                          mapped=ev.data.get("sound"))


def drum_turns(act, ev):
    own = act._therapist_sound if ev.role == "therapist" else act._client_sound
    return ev.data.get("sound") or own


def scarf_moves(act, ev):
    return None if ev.role == "therapist" else ev.data.get("sound")  # the therapist's keys cue, silently


def vowel_match(act, ev):
    return ev.data.get("sound")  # the instrument map's


def choice_board(act, ev):
    if ev.note is None or ev.note in act.switch_notes:
        return None
    if act.access.method != "play" and ev.role != "therapist":
        return None
    return act._note_sounds.get(ev.note)


REFERENCE = {"free_play": free_play, "drum_turns": drum_turns, "scarf_moves": scarf_moves,
             "vowel_match": vowel_match, "choice_board": choice_board}


def assert_same(act) -> int:
    table = act.fast_sound_table()
    reference = REFERENCE[act.name]
    checked = sounding = 0
    for ev in grid():
        want = reference(act, ev)
        assert (sound_for(table, ev) or None) == (want or None), (act.name, ev)  # "" = silent too
        checked += 1
        sounding += bool(want)
    assert checked == 128 * 4 * 2 * len(MAPPED)
    return sounding


@pytest.mark.parametrize("name", ["free_play", "drum_turns", "scarf_moves", "vowel_match"])
def test_table_gives_the_activitys_sound(tmp_path, name):
    with run_test(data_dir=tmp_path, audio=RecordingAudio(), client="c1", activity=name) as pilot:
        act = pilot.app.activity
        assert pilot.app.activity_name == name, pilot.app.notices
        sounding = assert_same(act)
        assert sounding > 0  # the comparison covers hits that sound, not only silent ones
        assert act.fast_sound_table() is act.fast_sound_table()  # stable: pushed only on change


@pytest.mark.parametrize("method", ["play", "tap", "scan"])
def test_choice_board_table_gives_the_cards_sound(tmp_path, method):
    access = {"method": method, "select_notes": [40], "move_notes": [41]}
    with board_app(tmp_path, access=access) as (pilot, _audio):
        act = pilot.app.activity
        sounding = assert_same(act)
        assert sounding > 0  # the therapist's pads sound whatever the client's access


def test_free_play_table_snaps_keys_and_keeps_mapped_drums(tmp_path):
    with run_test(data_dir=tmp_path, audio=RecordingAudio(), client="c1", activity="free_play") as pilot:
        table = pilot.app.activity.fast_sound_table()
    key = InputEvent(1, "midi", "note_on", note=61, channel=0, data={"sound": "keys:61"})
    assert sound_for(table, key) == "keys:60"  # C# is not in C major pentatonic
    drum = InputEvent(1, "midi", "note_on", note=38, channel=0, data={"sound": "drum:38"})
    assert sound_for(table, drum) == "drum:38"
    assert sound_for(table, InputEvent(1, "midi", "note_on", note=50, channel=9)) == "drum:50"


def test_no_table_is_the_instrument_map():
    ev = InputEvent(1, "midi", "note_on", note=38, data={"sound": "drum:38"})
    assert sound_for(None, ev) == "drum:38"
    assert wants_sound(ev)
    assert not wants_sound(InputEvent(1, "midi", "note_on", note=38, role="pedal"))
    assert not wants_sound(InputEvent(1, "midi", "note_on", note=38, data={"filtered": "tremor"}))
    assert not wants_sound(InputEvent(1, "midi", "note_off", note=38))
