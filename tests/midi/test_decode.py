"""The decoder turns any byte stream into valid messages without raising or growing."""

import random

from prelude_play.midi.decode import MidiDecoder


def types(msgs):
    return [m.type for m in msgs]


def test_running_status_yields_one_message_per_data_pair():
    d = MidiDecoder()
    msgs = d.feed([0x90, 60, 100, 62, 90, 64, 0])
    assert [(m.type, m.note, m.velocity) for m in msgs] == [
        ("note_on", 60, 100), ("note_on", 62, 90), ("note_on", 64, 0)]
    # running status persists across feeds (one device, many callbacks)
    assert [m.note for m in d.feed([65, 70])] == [65]


def test_realtime_bytes_interleave_without_breaking_running_status():
    d = MidiDecoder(ignore_timing=False)
    msgs = d.feed([0x90, 60, 0xF8, 100, 0xFA, 61, 101])
    assert types(msgs) == ["clock", "note_on", "start", "note_on"]
    assert msgs[1].velocity == 100 and msgs[3].note == 61


def test_clock_active_sensing_and_sysex_ignored_by_default_and_counted():
    d = MidiDecoder()
    msgs = d.feed([0xF8] * 100 + [0xFE] * 10 + [0xF0, 1, 2, 3, 0xF7] + [0xC0, 5])
    assert types(msgs) == ["program_change"]
    assert d.ignored == 111


def test_sysex_delivered_when_asked_and_bounded():
    d = MidiDecoder(ignore_sysex=False, max_sysex=8)
    assert d.feed([0xF0, 0x7E, 1, 2, 0xF7])[0].data == (0x7E, 1, 2)
    assert d.feed([0xF0] + [1] * 100_000 + [0xF7]) == []  # too long: dropped, never stored
    assert len(d._sysex or []) == 0


def test_unterminated_sysex_is_cut_by_the_next_status():
    d = MidiDecoder(ignore_sysex=False)
    msgs = d.feed([0xF0, 1, 2, 0x90, 60, 100])
    assert types(msgs) == ["note_on"]


def test_garbage_never_raises_and_is_counted():
    rng = random.Random(7)
    d = MidiDecoder(ignore_sysex=False, max_sysex=64)
    count = 0
    for _ in range(2000):
        count += len(d.feed([rng.randrange(256) for _ in range(rng.randrange(1, 12))]))
    assert count > 0
    assert d.garbage > 0
    assert len(d._data) <= 2 and len(d._sysex or []) <= 64
    # still decodes properly after the noise
    d.feed([0xF7])
    assert types(d.feed([0x80, 60, 0])) == ["note_off"]


def test_stray_data_and_undefined_status_are_garbage():
    d = MidiDecoder()
    assert d.feed([60, 100, 0xF4, 60, 0xFD]) == []
    assert d.garbage == 5
    assert d.feed([300, -1, "x"]) == []  # not bytes at all
