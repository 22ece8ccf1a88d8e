"""Greeting songs, pure: the song files, the song's course in time (changes on the bar line,
the therapist's "Your turn" / "Next verse", waiting, live mode), the accompaniment's notes, and
what counts as taking part."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelude_play.activities._greeting_songs.logic import (CHORDS, KEY_NAMES, SongRun, SongSettings, absence_outcome,
                                              chord_pcs, counts, key_pc, load_song, pad_table, parse_melody,
                                              pentatonic_note, step_semitones, tonic_note, with_name)
from prelude_play.activities._greeting_songs.music import SHAKER, bar_notes, sound_names
from prelude_play.errors import ConfigError
from prelude_play.events import InputEvent
from prelude_play.hits import sound_for
from prelude_play.i18n import load_entries

SONGS = Path(__file__).resolve().parents[2] / "activities" / "_greeting_songs" / "songs"
S = 1_000_000_000
FAR = 10_000 * S


@pytest.fixture(scope="module")
def hello():
    return load_song(SONGS / "hello.toml")


@pytest.fixture(scope="module")
def goodbye():
    return load_song(SONGS / "goodbye.toml")


def run_of(song, **kw) -> SongRun:
    return SongRun(song, SongSettings(kw.pop("bpm", song.bpm), kw.pop("key", song.key), **kw), lead_ns=0)


def marks(run, until=FAR):
    run.decide(until)
    return [(m.kind, m.verse) for m in run.due(until)]


# ---- the song files -------------------------------------------------------------------------

def test_shipped_songs_load_with_every_line_in_french(hello, goodbye):
    fr = load_entries("fr_CA")
    for song in (hello, goodbye):
        words = [song.title] + [w for v in song.verses for w in (v.label, v.prompt, *v.lyrics) if w]
        missing = [w for w in words if w not in fr]
        assert not missing, f"add to activities/_greeting_songs/locale/fr_CA.po: {missing}"
        assert all("{name}" in fr[w] for w in words if "{name}" in w)  # the name is sung in French too
        assert all(len(fr[w]) <= 24 for w in words)  # a sung line fits one line on a child's screen
    assert [v.id for v in hello.verses] == ["hello", "how_are_you", "wave", "play"]
    assert [v.opportunity for v in goodbye.verses] == ["sing", "wave", "play", ""]
    assert hello.verses[0].picture == goodbye.verses[0].picture == "@client"
    assert all(name in fr for name in KEY_NAMES)


def test_every_bar_fills_four_beats_and_every_melody_note_sits_in_the_singing_range(hello, goodbye):
    for song in (hello, goodbye):
        for v in song.verses:
            for bar in v.call:
                assert bar.chord in CHORDS
                if bar.melody:
                    last = bar.melody[-1]
                    assert last.beat + last.beats <= 4
            for k in range(12):  # in every key the therapist can choose
                tonic = tonic_note(k)
                pitches = [tonic + step_semitones(m.step) for bar in v.call for m in bar.melody]
                assert all(52 <= p <= 79 for p in pitches), (song.id, v.id, k, pitches)  # E3..G5


def test_melody_notation_and_its_mistakes():
    notes = parse_melody("1:1 3:1 5,:0.5 r:0.5 1':1")
    assert [(n.step, n.beat, n.beats) for n in notes] == [(0, 0, 1), (2, 1, 1), (-3, 2, 0.5), (7, 3, 1)]
    with pytest.raises(ValueError, match="degree:beats"):
        parse_melody("do:1")
    with pytest.raises(ValueError, match="5 beats"):
        parse_melody("1:2 1:3")


def test_a_bad_song_file_names_its_line(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[song]\ntitle = "x"\nkey = "H"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 3.*unknown key 'H'"):
        load_song(f)
    f.write_text('[song]\ntitle = "x"\n[[verse]]\nid = "a"\nlyrics = ["a"]\nopportunity = "sing"\n'
                 'call = [["I", "1:4"], ["Q", "1:4"]]\nanswer = ["I"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="chord 'Q'"):
        load_song(f)
    f.write_text('[song]\ntitle = "x"\n[[verse]]\nid = "a"\nlyrics = ["a"]\nopportunity = "sing"\n'
                 'call = [["I", "1:4"]]\nanswer = ["I"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="at least 2 bars"):
        load_song(f)


def test_keys_and_names():
    assert key_pc("D") == 2 and key_pc("Bb") == key_pc("A#") == 10 and key_pc("f#") == 6
    assert [tonic_note(k) for k in (9, 0, 2, 8)] == [57, 60, 62, 68]
    assert chord_pcs("V", 2) == (9, 1, 4)  # A C# E in D
    assert with_name("Bonjour, {name}!", "Léa") == "Bonjour, Léa!"


# ---- the song in time -----------------------------------------------------------------------

def test_the_song_runs_intro_then_call_and_answer_per_verse_then_ending(hello):
    run = run_of(hello)
    run.start(0)
    bars = run.decide(FAR)
    assert [b.t_ns for b in bars[1:]] == [b.end_ns for b in bars[:-1]]  # no gap, no overlap
    beat = 60 * S / hello.bpm
    assert bars[0].t_ns == 0 and bars[1].t_ns == pytest.approx(4 * beat, abs=1)
    assert [(m.kind, m.verse) for m in run.due(FAR)] == [
        ("verse", 0), ("answer", 0), ("verse", 1), ("answer", 1), ("verse", 2), ("answer", 2),
        ("verse", 3), ("answer", 3), ("ending", -1), ("done", -1)]
    assert run.state == "done" and bars[-1].final and bars[-1].section == "ending"
    assert sum(b.section == "call" for b in bars) == 4 + 4 + 4 + 2


def test_bars_are_decided_only_as_far_as_asked_and_changes_land_on_the_next_bar_line(hello):
    run = run_of(hello)
    run.start(0)
    first = run.decide(100_000_000)  # the lookahead: only the first bar
    assert len(first) == 1 and first[0].section == "intro"
    run.s.bpm = 120  # the therapist: faster; key: up a tone
    run.s.key = 4
    second = run.decide(first[0].end_ns)
    assert len(second) == 1 and second[0].t_ns == first[0].end_ns
    assert second[0].beat_ns == pytest.approx(0.5 * S) and second[0].tonic == 64
    assert first[0].beat_ns == pytest.approx(60 * S / hello.bpm)  # the bar already decided keeps its tempo


def test_next_verse_and_your_turn_land_on_the_bar_line_while_the_music_plays(hello):
    run = run_of(hello)
    run.start(0)
    run.decide(1)
    assert run.next_verse(1)  # skip the intro
    bars = run.decide(run.next_ns)
    assert bars[0].section == "call" and bars[0].verse == 0 and bars[0].t_ns == run.due(FAR)[0].t_ns
    assert run.your_turn(bars[0].t_ns + 1)  # cut the call short: the client's turn from the next bar
    nxt = run.decide(run.next_ns)
    assert nxt[0].section == "answer" and nxt[0].t_ns == bars[0].end_ns
    assert [m.kind for m in run.due(FAR)] == ["answer"]
    assert run.next_verse(nxt[0].t_ns + 1)
    assert run.decide(run.next_ns)[0].section == "call" and run.verse == 1


def test_wait_for_me_vamps_the_answer_until_next_verse(hello):
    run = run_of(hello, wait=True)
    run.start(0)
    bars = run.decide(60 * S)
    sections = [b.section for b in bars]
    assert "wait" in sections and run.verse == 0 and sections[-1] == "wait"
    assert [m.kind for m in run.due(FAR)] == ["verse", "answer", "wait"]
    run.next_verse(bars[-1].t_ns)
    assert run.decide(run.next_ns)[0].section == "call" and run.verse == 1
    run.set_wait(False, 0)
    assert "wait" not in [b.section for b in run.decide(FAR)]


def test_verses_switched_off_are_not_sung(hello):
    run = run_of(hello, enabled=[True, False, False, True])
    run.start(0)
    assert [k for k in marks(run) if k[0] == "verse"] == [("verse", 0), ("verse", 3)]
    assert run.order() == [0, 3]


def test_live_mode_waits_for_the_therapist_at_each_call(hello):
    run = run_of(hello, music="off")
    run.start(0)
    assert marks(run) == [("verse", 0)] and run.state == "held"  # no intro: the therapist starts
    assert run.decide(FAR) == [] and run.next_bar_ns is None
    assert run.your_turn(10 * S)  # at once, not on a bar line
    bars = run.decide(FAR)
    assert bars[0].section == "answer" and bars[0].t_ns == 10 * S and bars[0].music == "off"
    assert bar_notes(bars[0]) == []  # silent: the bars only time the client's turn
    assert marks(run) == [("answer", 0), ("verse", 1)] and run.state == "held"
    run.next_verse(100 * S)  # skip a verse while waiting: at once
    assert marks(run) == [("verse", 2)]
    run.set_music("full", 101 * S)  # the app plays again: the call starts from now
    bars = run.decide(run.next_ns)
    assert bars[0].section == "call" and bars[0].t_ns == 101 * S and bar_notes(bars[0])


def test_stop_and_start_again(hello):
    run = run_of(hello)
    run.start(0)
    run.decide(10 * S)
    run.stop(10 * S)
    assert run.state == "done" and run.decide(FAR) == []
    run.start(20 * S)
    assert run.state == "playing" and run.decide(20 * S)[0].section == "intro"


# ---- the accompaniment ----------------------------------------------------------------------

def _bar(song, section, **kw):
    run = run_of(song, **kw)
    run.start(0)
    return next(b for b in run.decide(FAR) if b.section == section and b.verse == kw.get("verse_of", b.verse))


def test_the_tune_plays_in_the_call_and_rests_in_the_clients_turn(hello):
    call = _bar(hello, "call")
    answer = _bar(hello, "answer")
    assert {n.part for n in bar_notes(call)} == {"chord", "bass", "melody"}
    assert "melody" not in {n.part for n in bar_notes(answer)}
    # a sung turn: chords on beats 1 and 3 only, softer
    strums = sorted({n.t_ns for n in bar_notes(answer) if n.part == "chord"})
    assert len(strums) == 6 and max(n.velocity for n in bar_notes(answer) if n.part == "chord") < \
        max(n.velocity for n in bar_notes(call) if n.part == "chord")
    # every chord note is in the chord, in the key
    for b in (call, answer):
        pcs = set(chord_pcs(b.bar.chord, b.key))
        assert {int(n.sound.split(":")[1]) % 12 for n in bar_notes(b) if n.part == "chord"} == pcs
    # the melody starts on its beats, on the tune's scale degrees
    mel = [n for n in bar_notes(call) if n.part == "melody"]
    assert [n.t_ns for n in mel] == [call.beat_time(m.beat) for m in call.bar.melody]


def test_a_played_turn_keeps_a_pulse_and_modes_choose_parts(hello):
    run = run_of(hello)
    run.start(0)
    play = next(b for b in run.decide(FAR) if b.section == "answer" and b.opportunity == "play")
    assert sum(n.sound == SHAKER for n in bar_notes(play)) == 4
    call = _bar(hello, "call")
    from dataclasses import replace

    assert {n.part for n in bar_notes(replace(call, music="chords"))} == {"chord", "bass"}
    assert {n.part for n in bar_notes(replace(call, music="melody"))} == {"melody"}
    assert bar_notes(replace(call, music="off")) == []
    names = set(sound_names(hello, 2))
    for b in (call, play):
        assert {n.sound for n in bar_notes(b)} <= names  # prepare() renders them all


# ---- taking part ----------------------------------------------------------------------------

def test_what_counts_as_taking_part():
    assert counts("hit", True, False) and counts("touch", True, False)
    assert counts("voice", True, True) and not counts("voice", True, False)  # not listening
    assert not counts("hit", False, True) and not counts("voice", False, True)  # not the client's turn
    assert absence_outcome("sing", listening=True, judge_absence=True) == "no_response"
    assert absence_outcome("sing", listening=False, judge_absence=True) is None  # could not have heard it
    assert absence_outcome("wave", listening=True, judge_absence=True) is None  # cannot see a wave
    assert absence_outcome("play", listening=False, judge_absence=True) == "no_response"
    assert absence_outcome("play", listening=True, judge_absence=False) is None


def test_pads_play_the_songs_pentatonic_and_drums_stay_drums():
    table = pad_table(2)  # D major
    assert pentatonic_note(61, 2) == 62 and pentatonic_note(65, 2) == 64 and pentatonic_note(67, 2) == 66

    def hit(note, channel=0, role="client", mapped=None):
        return InputEvent(0, "midi", "note_on", note=note, channel=channel, role=role,
                          data={"sound": mapped} if mapped else {})

    assert sound_for(table, hit(61)) == "keys:62"
    assert sound_for(table, hit(38, channel=9)) == "drum:38"
    assert sound_for(table, hit(50, mapped="drum:38")) == "drum:38"
    assert sound_for(table, hit(61, role="therapist", mapped="guitar:61")) == "guitar:61"
