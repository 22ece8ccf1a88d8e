"""Instrument maps: the shipped config resolves GM drums, keys and the pedal; bad values are
ConfigErrors naming file, line, key, value and what is allowed."""

import pytest

from prelude_play.errors import ConfigError
from prelude_play.midi.instruments import (
    Sensitivity, SensitivityFilter, find_line, load_instruments, note_name, parse_instruments)
from tests.midi.conftest import INSTRUMENTS


@pytest.fixture(scope="module")
def shipped():
    return load_instruments(INSTRUMENTS)


@pytest.mark.parametrize("note,label", [(35, "kick 2"), (36, "kick"), (37, "side stick"), (38, "snare"),
                                        (39, "hand clap"), (42, "hi-hat closed"), (46, "hi-hat open"),
                                        (41, "low floor tom"), (50, "high tom"), (49, "crash"), (51, "ride")])
def test_gm_drum_pad(shipped, note, label):
    r = shipped.resolve("Alesis SamplePad", 9, note)
    assert (r.role, r.sound, r.label) == ("client", f"drum:{note}", label)


def test_keyboard_and_ranges(shipped):
    assert shipped.resolve("Keystation 49", 0, 60).sound == "keys:60"
    assert shipped.resolve("Keystation 49", 0, 60).label == "C4"
    assert shipped.resolve("Keystation 49", 0, 10).sound is None  # below the piano range
    assert shipped.resolve("Keystation 49", 9, 36).sound == "drum:36"  # GM channel 10


def test_roles_by_device_and_control(shipped):
    assert shipped.resolve("Therapist Keys", 0, 60).role == "therapist"
    assert shipped.pedal is None  # no device is the scoring pedal until one is named
    assert shipped.resolve("Keystation", 0, 64, kind="cc").role == "client"
    assert shipped.resolve("Keystation", 0, 1, kind="cc").role == "client"
    assert shipped.resolve("Therapist Keys", 0, 1, kind="cc").role == "therapist"


def test_first_matching_rule_wins_and_channels_are_one_based():
    m = parse_instruments("""
[[rule]]
device = "*"
channel = 2
role = "therapist"
map = "k"
[[rule]]
note = 40
role = "therapist"
[[rule]]
map = "k"
[maps.k]
sound = "chimes"
""")
    assert m.resolve("X", 1, 60).role == "therapist"
    assert (m.resolve("X", 0, 40).role, m.resolve("X", 0, 40).sound) == ("therapist", None)
    assert m.resolve("X", 0, 41).sound == "chimes:41"


BAD = """# comment
[[rule]]
device = "*"
role = "client"

[[rule]]
device = "*drum*"
role = "drummer"
"""


def test_bad_role_names_file_line_value_and_allowed(tmp_path):
    p = tmp_path / "instruments.toml"
    p.write_text(BAD)
    with pytest.raises(ConfigError) as info:
        load_instruments(p)
    err = info.value
    assert err.path == p and err.line == 8 and err.key == "rule[1].role"
    assert "'drummer'" in str(err) and "client, therapist" in str(err)
    assert f"{p}, line 8" in str(err)


@pytest.mark.parametrize("text,line,key,allowed", [
    ("[[rule]]\nchannel = 17\n", 2, "rule[0].channel", "1–16"),
    ("[[rule]]\nmap = \"nope\"\n", 2, "rule[0].map", "defined maps"),
    ("[maps.k]\nsound = \"kazoo\"\n", 2, "maps.k.sound", "drum, keys, guitar, chimes"),
    ("[maps.k]\nsound = \"keys\"\n[maps.k.notes]\n36 = \"kick\"\n200 = \"x\"\n", 5, "maps.k.notes.200", "0–127"),
    ("[maps.k]\nsound = \"keys\"\nrange = [90, 20]\n", 3, "maps.k.range", "[low, high]"),
    ("[sensitivity]\nmin_velocity = 300\n", 2, "sensitivity.min_velocity", "0–127"),
    ("[[rule]]\nrole = \"client\"\nvelocity = 3\n", 3, "rule[0].velocity", "allowed: device"),
    ("[[rule]]\ncontrol = 64\nnote = 3\n", 2, "rule[0].control", "not both"),
])
def test_errors_carry_line_and_hint(text, line, key, allowed):
    with pytest.raises(ConfigError) as info:
        parse_instruments(text, "x.toml")
    assert (info.value.line, info.value.key) == (line, key)
    assert allowed in str(info.value)


def test_toml_syntax_error_has_line():
    with pytest.raises(ConfigError) as info:
        parse_instruments("[[rule]]\nrole = \"client\"\nmap = \n", "x.toml")
    assert info.value.line == 3


def test_find_line_counts_array_tables():
    text = "[[rule]]\nrole = 1\n[[rule]]\nrole = 2\n[maps.a]\nrole = 3\n"
    assert find_line(text, "rule", 1, "role") == 4
    assert find_line(text, "maps.a", None, "role") == 6
    assert find_line(text, "rule", 2, "role") is None


def test_shipped_sensitivity_and_filter_reasons(shipped):
    assert shipped.sensitivity == Sensitivity(1, 0.0)
    f = SensitivityFilter(Sensitivity(min_velocity=40, tremor_ms=50))
    ms = 1_000_000
    assert f.check("p", 9, 38, 100, 0) is None
    assert f.check("p", 9, 38, 100, 20 * ms) == "tremor"
    assert f.check("p", 9, 36, 100, 25 * ms) is None  # another pad: no tremor
    assert f.check("p", 9, 38, 100, 200 * ms) is None
    assert f.check("p", 9, 38, 10, 400 * ms) == "below_threshold"
    with pytest.raises(ConfigError):
        Sensitivity(min_velocity=200)


def test_note_names():
    assert [note_name(n) for n in (21, 60, 61, 108)] == ["A0", "C4", "C#4", "C8"]
