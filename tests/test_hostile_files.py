"""Issue 14, item 4: every file breakage found from outside, reproduced — each one now a
ConfigError (or the loader's documented error) naming the file, with what is used instead.

Each test names the breakage it reproduces; ``tests/test_fuzz_loaders.py`` looks for more.
"""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import pytest

from prelude_play.config import AppConfig, load_app_config, load_toml, resource_dir
from prelude_play.errors import AnalysisError, ConfigError, UnknownSoundError

CONFIG = resource_dir("config")
DEEP_ARRAY = "x = " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_TABLE = "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"
DEEP_HEADER = "[" + ".".join(f"t{i}" for i in range(200)) + "]\nk = 1\n"
NESTED = {"array": DEEP_ARRAY, "inline": DEEP_TABLE, "header": DEEP_HEADER}


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ---- nested TOML: RecursionError in every loader ------------------------------------------------

@pytest.mark.parametrize("shape", NESTED)
def test_nested_toml_is_a_config_error_in_every_loader(tmp_path, shape):
    from prelude_play.activities.choice_board.boards import load_board
    from prelude_play.activities.drum_turns.logic import load_library
    from prelude_play.activities.scarf_moves.logic import load_preset
    from prelude_play.goals import parse_goals
    from prelude_play.midi.instruments import load_instruments
    from prelude_play.store.plans import parse_plan_file

    f = write(tmp_path / "nested.toml", NESTED[shape])
    with pytest.raises(ConfigError, match="nested") as info:
        load_toml(f)
    assert info.value.path == f
    cfg = load_app_config([CONFIG / "app.toml", f])
    assert cfg.ui == AppConfig().ui and any("nested" in str(p) and "using the defaults" in str(p) for p in cfg.problems)
    goals, problems = parse_goals(f)
    assert goals.areas == {} and "nested" in str(problems[0])
    for load in (load_instruments, load_library, lambda p: load_preset(p, {})):
        with pytest.raises(ConfigError, match="nested"):
            load(f)
    for load in (load_board, parse_plan_file):
        thing, problems = load(f)
        assert thing is None and "nested" in str(problems[0]) and str(f) in str(problems[0])


def test_one_nested_board_never_takes_the_others_down(tmp_path):
    from prelude_play.activities.choice_board.boards import load_boards

    for p in (CONFIG / "boards").glob("*.toml"):
        write(tmp_path / p.name, p.read_text(encoding="utf-8"))
    write(tmp_path / "aaa_nested.toml", DEEP_ARRAY)
    write(tmp_path / "zz_binary.toml", bytes(range(256)) * 4)
    boards, problems = load_boards([tmp_path])
    assert len(boards) == len(list((CONFIG / "boards").glob("*.toml")))
    assert {p.path.name for p in problems} == {"aaa_nested.toml", "zz_binary.toml"}
    assert all("the other boards are there" in str(p) for p in problems)


def test_activity_defaults_that_cannot_be_read_cost_only_those_settings(tmp_path, monkeypatch):
    from prelude_play.activity import _load_defaults

    folder = tmp_path / "act"
    write(folder / "defaults.toml", DEEP_ARRAY)
    values, problem = _load_defaults(folder)
    assert values == {} and "built-in settings" in str(problem)


# ---- the user's instruments.toml: non-UTF-8 or wrongly shaped ------------------------------------

@pytest.mark.parametrize("text", [
    b"\xff\xfe[[rule]]\x00d\x00",  # UTF-16 from Notepad
    b"[[rule]]\ndevice = \"caf\xe9\"\n",  # Latin-1
    "maps = [1, 2]\n",  # AttributeError before
    "[[maps]]\nsound = \"keys\"\n",
    "rule = 5\n",
    "rule = [1, 2]\n",
    "[sensitivity]\nmin_velocity = 1\n[[rule]]\nmap = [\"keyboard\"]\n[maps.keyboard]\nsound = \"keys\"\n",  # TypeError
    "sensitivity = \"loud\"\n",
    "[maps.k]\nsound = \"keys\"\nnotes = [1]\n",
    "[maps.k]\nsound = [\"keys\"]\n",
    "[maps.k]\nsound = \"keys\"\n[maps.k.notes]\n\"²\" = \"x\"\n",
    "[pedal]\ndevice = \"*\"\n",
    "pedal = 64\n",
])
def test_a_broken_user_instrument_map_falls_back_to_the_shipped_one(tmp_path, text):
    from prelude_play.devices.build import load_instrument_map
    from prelude_play.midi.instruments import load_instruments

    f = write(tmp_path / "config" / "instruments.toml", text)
    with pytest.raises(ConfigError) as info:
        load_instruments(f)
    assert info.value.path == f
    m, notes = load_instrument_map(tmp_path)
    assert m.rules == load_instruments(CONFIG / "instruments.toml").rules and m.pedal is None
    assert len(notes) == 1 and str(f) in notes[0] and "using the shipped instrument map" in notes[0]


def test_a_fifo_or_folder_named_like_a_board_never_blocks_the_start(tmp_path):
    import os

    from prelude_play.activities.choice_board.boards import load_boards

    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "dir.toml").mkdir()
    boards, problems = load_boards([tmp_path])
    assert boards == {} and sorted(p.path.name for p in problems) == ["dir.toml", "fifo.toml"]


def test_not_utf8_names_the_line_of_the_bad_byte(tmp_path):
    f = write(tmp_path / "app.toml", b"[ui]\nfullscreen = false\nlanguage = \"fran\xe7ais\"\n")
    with pytest.raises(ConfigError) as info:
        load_toml(f)
    assert info.value.line == 3 and "UTF-8" in str(info.value)


# ---- app.toml -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["[]", '["yes", "no"]', '["success", "success"]', '["Success"]', '[""]'])
def test_unusable_outcomes_fall_back_to_the_defaults(tmp_path, value):
    from prelude_play.session.scoring import rail_codes, score_codes

    f = write(tmp_path / "app.toml", f"[scoring]\noutcomes = {value}\nprompt_levels = []\n")
    cfg = load_app_config([f])
    assert cfg.scoring.outcomes == AppConfig().scoring.outcomes
    assert cfg.scoring.prompt_levels == AppConfig().scoring.prompt_levels
    problem = next(p for p in cfg.problems if p.key == "scoring.outcomes")
    assert problem.line == 2 and "using the defaults" in str(problem)
    assert "+I" in score_codes(cfg.scoring.prompt_levels, cfg.scoring.outcomes)
    assert len(rail_codes(cfg.scoring.prompt_levels, cfg.scoring.outcomes)) == 8


def test_a_rail_with_a_checked_config_draws(tmp_path):
    from prelude_play.shell.pilot import run_test

    f = write(tmp_path / "app.toml", "[scoring]\noutcomes = []\n")
    with run_test(load_app_config([f]), data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        pilot.unlock()
        pilot.score("+I")
        assert [e.outcome for e in pilot.app.store.events() if e.kind == "score"] == ["success"]


def test_8000_unknown_keys_load_in_well_under_a_second(tmp_path):
    text = "[ui]\n" + "".join(f"unknown_{i} = {i}\n" for i in range(8000)) + "language = \"fr_CA\"\n"
    f = write(tmp_path / "app.toml", text)
    t = time.perf_counter()
    cfg = load_app_config([f])
    took = time.perf_counter() - t
    assert took < 2.0, took  # 12–26 s before (a quadratic line look-up); ~0.3 s here
    assert cfg.ui.language == "fr_CA"
    assert len(cfg.problems) == 51 and "7950 more" in str(cfg.problems[-1])  # capped for the notices
    assert cfg.problems[0].line == 2 and cfg.problems[49].line == 51
    from prelude_play.config import check_app_file

    assert len(check_app_file(f)) == 8000  # check-config still lists every one


def test_a_10_mb_app_toml_is_refused_at_once(tmp_path):
    f = write(tmp_path / "app.toml", "[ui]\n" + "".join(f"k{i} = {i}\n" for i in range(1_000_000)))
    t = time.perf_counter()
    cfg = load_app_config([CONFIG / "app.toml", f])
    assert time.perf_counter() - t < 2.0
    assert cfg.ui == load_app_config([CONFIG / "app.toml"]).ui
    assert "too big" in str(cfg.problems[0]) and "using the defaults" in str(cfg.problems[0])


def test_changing_a_setting_never_overwrites_or_crashes_on_a_broken_user_file(tmp_path):
    from prelude_play.settings_file import set_user_setting

    f = write(tmp_path / "config" / "app.toml", b"[ui]\nlanguage = \"fran\xe7ais\"\n")
    assert set_user_setting(tmp_path, "ui", "language", "fr_CA") is None
    assert f.read_bytes() == b"[ui]\nlanguage = \"fran\xe7ais\"\n"


# ---- goals.toml: AttributeError / TypeError ---------------------------------------------------------

@pytest.mark.parametrize("text", [
    "areas = [1, 2]\n",
    "areas = \"x\"\n",
    "[areas.a]\nparent = [\"b\"]\n",  # TypeError (unhashable) before
    "[areas.a]\ndomains = [[1]]\n",
    "[areas.a]\ndomains = \"social\"\ntitle = 5\n",
    "[areas.a]\nparent = \"b\"\n[areas.b]\nparent = \"a\"\n",
])
def test_goals_of_any_shape_are_reported_never_raised(tmp_path, text):
    from prelude_play.goals import parse_goals

    goals, problems = parse_goals(write(tmp_path / "goals.toml", text))
    assert problems and all(p.path is not None for p in problems)
    for key in goals.areas:
        assert goals.expand([key])  # parent chains end


# ---- pictures: a 20000² PNG is never decoded --------------------------------------------------------

def png(width: int, height: int, body: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_a_20000_square_png_shows_a_placeholder_without_decoding(tmp_path, monkeypatch):
    import pygame

    from prelude_play.activities.choice_board.view import Pictures

    z = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * 20000 * 3
    body = b"".join(z.compress(row) for _ in range(2000)) + z.flush()  # a tenth of it: same header
    write(tmp_path / "huge.png", png(20000, 20000, body))
    write(tmp_path / "ok.png", png(4, 2, zlib.compress((b"\x00" + b"\x80" * 12) * 2)))
    decoded = []
    real = pygame.image.load
    monkeypatch.setattr(pygame.image, "load", lambda p, *a: decoded.append(p) or real(p, *a))
    pics = Pictures([tmp_path])
    err = pics.load("huge.png")
    assert "20000 × 20000" in err and "too big" in err and pics.raw["huge.png"] is None
    assert decoded == []
    assert pics.load("ok.png") is None and pics.raw["ok.png"].get_size() == (4, 2)
    write(tmp_path / "gif.png", b"GIF89a" + b"\x00" * 20)
    assert "not a PNG or JPEG" in pics.load("gif.png")


def test_a_big_photo_is_kept_no_bigger_than_a_card_draws_it(tmp_path):
    import pygame

    from prelude_play.activities.choice_board.view import Pictures
    from prelude_play.ui.images import KEEP_SIDE

    surf = pygame.Surface((3000, 1500))
    surf.fill((200, 100, 50))
    pygame.image.save(surf, str(tmp_path / "photo.png"))
    pics = Pictures([tmp_path])
    assert pics.load("photo.png") is None
    assert pics.raw["photo.png"].get_size() == (KEEP_SIDE, KEEP_SIDE // 2)


def test_jpeg_size_is_read_from_its_frame_header():
    from prelude_play.ui.images import PictureProblem, header_size

    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 30000, 40000, 3)
    assert header_size(b"\xff\xd8" + app0 + sof) == ("jpeg", 40000, 30000)
    with pytest.raises(PictureProblem):
        header_size(b"\xff\xd8" + app0 + b"\xff\xda\x00\x02")


# ---- generated sounds: vowel:ah:60:600s --------------------------------------------------------------

def test_a_600_s_vowel_is_refused_at_once(tmp_path):
    from prelude_play.activities.choice_board.boards import parse_board
    from prelude_play.audio.bank import SoundBank

    t = time.perf_counter()
    with pytest.raises(UnknownSoundError, match="at most 10 s"):
        SoundBank().get("vowel:ah:60:600s")
    for name in ("vowel:ah:60:1e999s", "vowel:ah:1e999", "keys:1e400", "drum:99999999999999999999", "vowel:ah:nan"):
        with pytest.raises(UnknownSoundError):
            SoundBank().get(name)
    assert time.perf_counter() - t < 2.0  # 18 s and 1.8 GB before
    board, problems = parse_board({"card": [{"label": "A", "sound": "vowel:ah:60:600s"}, {"label": "B"}]},
                                  tmp_path / "b.toml")
    assert board is not None and board.cards[0].sound == ()
    assert "at most 10 s" in str(problems[0]) and problems[0].key == "card 1.sound"


def test_the_sound_bank_stops_at_its_memory_budget():
    from prelude_play.audio.bank import SoundBank

    bank = SoundBank()
    bank.max_bytes = 3 * 48000 * 4 * 11  # room for about three 10-second vowels
    made = []
    with pytest.raises(UnknownSoundError, match="no room"):
        for note in range(60, 72):
            made.append(bank.get(f"vowel:ee:{note}:10s"))
    assert 2 <= len(made) <= 3 and bank.bytes <= bank.max_bytes


# ---- WAV and MIDI bytes ----------------------------------------------------------------------------

def wav(rate=48000, channels=1, bits=16, frames=b"\x00\x00" * 10, tag=1, align=None, declared=None) -> bytes:
    align = align if align is not None else channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    size = len(frames) if declared is None else declared
    return (b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", size) + frames)


@pytest.mark.parametrize("data,match", [
    (wav(rate=1), "out of range"),  # resampling 1 Hz to 48 kHz would take 48 000× the memory
    (wav(channels=0), "zero channels"),
    (wav(channels=300, bits=16), "channels"),
    (wav(frames=b"\x00"), "no audio"),
    (b"ID3\x03" + bytes(60), "not a WAV"),
    (wav(tag=3, bits=64, frames=struct.pack("<d", 1e300)), "out of range"),
])
def test_hostile_wavs_are_analysis_errors(tmp_path, data, match):
    from prelude_play.audio.analysis.wavio import read_wav
    from prelude_play.audio.bank import read_wav as read_sample

    f = write(tmp_path / "x.wav", data)
    for read in (read_wav, lambda p: read_sample(p, 48000)):
        with pytest.raises(AnalysisError, match=match):
            read(f)


def test_a_huge_or_long_wav_is_refused_unread(tmp_path):
    from prelude_play.audio.bank import read_wav as read_sample

    f = write(tmp_path / "long.wav", wav(rate=8000, frames=b"\x00\x00" * 8000 * 61))
    with pytest.raises(AnalysisError, match="longer than 60 s"):
        read_sample(f, 48000)
    with pytest.raises(AnalysisError, match="over 32 MB"):
        read_sample(write(tmp_path / "big.wav", wav(frames=b"\x00" * (33 << 20))), 48000)


def test_midi_bytes_that_are_not_bytes_never_raise():
    from prelude_play.midi.decode import MidiDecoder

    d = MidiDecoder()
    out = d.feed([float("inf"), float("nan"), 10**100, -1, "x", None, 0x90, 60, 100])
    assert [m.type for m in out] == ["note_on"] and d.garbage == 6  # OverflowError before
