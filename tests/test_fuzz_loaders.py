"""Property-based fuzzing (Hypothesis) of every loader and parser of a file or bytes from outside:
each one either succeeds or raises its documented error (ConfigError, AnalysisError,
UnknownSoundError, PictureProblem), within a bounded time — and, where memory is the risk
(sounds, WAVs, pictures), a bounded memory.

Inputs: valid TOML documents of random shapes (and shapes near each file's own, to get past
the first check), deep nesting, huge and odd values (2⁷⁰, NaN, ±inf, dates, unicode keys), raw
bytes; WAV headers and bytes; MIDI byte streams; PNG/JPEG headers; sound names.

The ``ci`` profile (tests/conftest.py) is derandomized and takes a few seconds per test; for a
long local session: ``HYPOTHESIS_PROFILE=long ./dev test tests/test_fuzz_loaders.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any, Callable

import pytest
import scipy.signal  # noqa: F401 - imported now, not timed inside the first example
from hypothesis import given, settings
from hypothesis import strategies as st

from prelude_play.config import resource_dir
from prelude_play.errors import AnalysisError, ConfigError, UnknownSoundError

CONFIG = resource_dir("config")
WORK = Path(tempfile.mkdtemp(prefix="pp-fuzz-"))
SECONDS = 3.0  # the most CPU time any one load may take (CPU, not wall: a loaded CI machine)
SOUND_SECONDS = 6.0  # the slowest sound: a 10-second vowel at 50 Hz (110 harmonics), ~2.5 s here


# ---- TOML documents ---------------------------------------------------------------------------

KEYS = st.one_of(st.text(max_size=12), st.sampled_from([
    "id", "title", "rows", "cols", "goals", "kind", "label", "picture", "sound", "echo", "note", "key",
    "colour", "device", "role", "map", "channel", "notes", "control", "controls", "range", "min_velocity",
    "tremor_ms", "name", "steps", "activity", "settings", "trials", "areas", "domains", "parent", "level",
    "window_ms", "onsets", "beats", "velocities", "cue", "seconds", "min_s", "max_s", "outcomes",
    "prompt_levels", "pin", "language", "keys", "pedal_buttons", "width", "fps", "0", "64", "127", "",
]))
SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, 1, -1, 127, 128, 2**63 - 1, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=30),
    st.sampled_from(["", "*", "success", "keys", "drum:38", "vowel:ah:60:600s", "../../etc/passwd", "a" * 300]),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)), st.dates(), st.times(),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(KEYS, inner, max_size=4), max_leaves=24)
DOCS = st.dictionaries(KEYS, VALUES, max_size=6)


def toml_key(k: str) -> str:
    return json.dumps(k, ensure_ascii=False)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict[str, Any]) -> str:
    """Tables as [headers] and lists of tables as [[arrays]] (as people write them), the rest inline."""
    head, rest = [], []
    for k, v in doc.items():
        if isinstance(v, dict) and v:
            rest.append(f"[{toml_key(k)}]")
            rest += [f"{toml_key(a)} = {toml_value(b)}" for a, b in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for x in v:
                rest.append(f"[[{toml_key(k)}]]")
                rest += [f"{toml_key(a)} = {toml_value(b)}" for a, b in x.items()]
        else:
            head.append(f"{toml_key(k)} = {toml_value(v)}")
    return "\n".join(head + rest) + "\n"


def near(template: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """Dicts with a file's own keys (each a plausible value or anything) plus stray keys."""
    known = st.fixed_dictionaries({}, optional={k: st.one_of(v, VALUES) for k, v in template.items()})
    return st.builds(lambda a, b: {**b, **a}, known, st.dictionaries(KEYS, VALUES, max_size=2))


SOUNDS = st.one_of(st.from_regex(r"(drum|keys|guitar|chimes):-?[0-9]{1,4}(\.[0-9])?", fullmatch=True),
                   st.from_regex(r"vowel:(ah|ee|oo|oh|eh|xx):[0-9]{1,4}(hz)?(:[0-9]{1,3}(\.[0-9])?s?)?", fullmatch=True),
                   st.sampled_from(["click:hi", "click:lo", "sample:drum_kick", "sample:../x", "vowel:ah:60:600s",
                                    "keys:nan", "vowel:ah:inf", "drum:1e999"]),
                   st.text(max_size=20))
CARD = near({"label": st.text(max_size=10), "picture": st.sampled_from(["a.png", "b.svg", "x.gif", ""]),
             "sound": st.one_of(SOUNDS, st.lists(st.one_of(SOUNDS, st.fixed_dictionaries(
                 {"sound": SOUNDS}, optional={"at_ms": st.integers(-5, 20_000), "velocity": st.floats()})), max_size=20)),
             "echo": SOUNDS, "note": st.integers(-5, 200), "key": st.text(max_size=3),
             "colour": st.sampled_from(["blue", "red", "teal"])})
BOARD = near({"board": near({"id": st.text(max_size=70), "title": st.text(max_size=10), "rows": st.integers(-1, 5),
                             "cols": st.integers(-1, 5), "kind": st.sampled_from(["choice", "first_then", "x"]),
                             "goals": st.lists(st.sampled_from(["self_expression", "social", "nope"]), max_size=3)}),
              "card": st.lists(CARD, max_size=12)})
INSTRUMENTS = near({
    "rule": st.lists(near({"device": st.sampled_from(["*", "*pad*", "", "[", "?"]), "role": st.sampled_from(
        ["client", "therapist", "pedal", "x"]), "map": st.sampled_from(["k", "gm", "none"]),
        "channel": st.integers(0, 17), "notes": st.lists(st.integers(-1, 130), max_size=3),
        "note": st.integers(-1, 130), "control": st.integers(-1, 130), "label": st.text(max_size=5)}), max_size=4),
    "maps": st.dictionaries(st.sampled_from(["k", "gm"]), near({
        "sound": st.sampled_from(["keys", "drum", "kazoo"]), "range": st.lists(st.integers(-1, 130), max_size=3),
        "notes": st.dictionaries(st.sampled_from(["36", "200", "x", "²", "١"]), st.text(max_size=4))}), max_size=2),
    "sensitivity": near({"min_velocity": st.integers(-1, 200), "tremor_ms": st.floats()}),
    "pedal": near({"device": st.sampled_from(["*", "FS*", "", "FS-1"]), "control": st.integers(-1, 130),
                   "controls": st.lists(st.integers(-1, 130), max_size=3), "note": st.integers(-1, 130),
                   "channel": st.integers(0, 17)}),
})
APP = near({"ui": near({"language": st.sampled_from(["en", "fr_CA", "xx"]), "width": st.integers(0, 10_000),
                        "fps": st.integers(0, 300), "fullscreen": st.booleans()}),
            "scoring": near({"outcomes": st.lists(st.sampled_from(["success", "partial", "x", ""]), max_size=9),
                             "prompt_levels": st.lists(st.sampled_from(["independent", "gestural", "i"]), max_size=9),
                             "keys": st.dictionaries(st.text(max_size=5), st.sampled_from(["+I", "undo", "x"])),
                             "pedal_tap": st.sampled_from(["+I", "+Z", "undo"]),
                             "score_window_s": st.floats()}),
            "therapist": near({"pin": st.sampled_from(["1234", "x", ""]), "unlock_idle_min": st.floats()}),
            "audio": near({"backend": st.sampled_from(["null", "x"]), "master_volume": st.floats()})})
PLAN = near({"name": st.text(max_size=8), "id": st.text(max_size=70), "steps": st.lists(near({
    "activity": st.sampled_from(["free_play", "drum_turns", ""]), "title": st.text(max_size=5),
    "settings": st.dictionaries(KEYS, VALUES, max_size=3), "goals": st.lists(st.text(max_size=4), max_size=3),
    "trials": st.integers(-1, 300)}), max_size=60)})
GOALS = near({"areas": st.dictionaries(st.text(max_size=6), near({
    "title": st.text(max_size=6), "domains": st.lists(st.sampled_from(["social", "musical", "x"]), max_size=3),
    "parent": st.sampled_from(["social", "a", "b"])}), max_size=4)})
PATTERNS = near({"level": st.lists(near({"level": st.integers(-1, 30), "window_ms": st.floats(),
                                         "ioi_tolerance_pct": st.floats()}), max_size=3),
                 "pattern": st.lists(near({"name": st.text(max_size=4), "level": st.integers(0, 3),
                                           "beats": st.integers(-1, 10), "onsets": st.lists(st.floats(), max_size=70),
                                           "velocities": st.lists(st.integers(-1, 200), max_size=5)}), max_size=3)})
PRESET = near({"title": st.text(max_size=5), "loop": st.booleans(), "cue": st.lists(near({
    "cue": st.sampled_from(["wave", "freeze", "jump"]), "seconds": st.floats(), "min_s": st.floats(),
    "max_s": st.floats()}), max_size=4)})


def nested(depth: int, kind: int) -> str:
    if kind == 0:
        return "x = " + "[" * depth + "]" * depth + "\n"
    if kind == 1:
        return "x = " + "{a = " * depth + "1" + "}" * depth + "\n"
    if kind == 2:
        return "[" + ".".join("t" for _ in range(depth)) + "]\nk = 1\n"
    return "x = " + "[{a = " * depth + "1" + "}]" * depth + "\n"


NESTED_TEXT = st.builds(nested, st.integers(1, 3000), st.integers(0, 3))
RAW = st.one_of(st.binary(max_size=300), st.builds(lambda t, b: t.encode() + b, st.sampled_from(
    ["[board]\n", "[[card]]\nlabel = ", "[[rule]]\n", "a = ", "[maps.k]\n", "\ufeff[ui]\n"]), st.binary(max_size=80)))
TEXTS = st.one_of(DOCS.map(to_toml), NESTED_TEXT, st.text(max_size=300), RAW)


# ---- every TOML loader: succeed, or its documented error -------------------------------------------

def _load_app(p: Path) -> None:
    from prelude_play.config import check_app_file, load_app_config

    cfg = load_app_config([CONFIG / "app.toml", p])
    assert cfg.scoring.outcomes and "success" in cfg.scoring.outcomes and cfg.scoring.prompt_levels
    check_app_file(p)


def _load_goals(p: Path) -> None:
    from prelude_play.goals import parse_goals

    goals, _ = parse_goals(p)
    for key in goals.areas:
        goals.expand([key])


def _load_instruments(p: Path) -> None:
    from prelude_play.midi.instruments import check_instruments_file, load_instruments

    check_instruments_file(p)
    try:
        m = load_instruments(p)
    except ConfigError:
        return
    for device in ("Pad", "FS-1", "*"):
        for n in (0, 36, 64, 127):
            m.resolve(device, 0, n)
            m.resolve(device, 9, n, kind="cc")


def _load_board(p: Path) -> None:
    from prelude_play.activities.choice_board.boards import board_to_toml, load_board, parse_board

    board, problems = load_board(p, ["self_expression", "social", "functional_communication"])
    assert all(isinstance(e, ConfigError) for e in problems)
    if board is not None:  # what the editor saves loads again
        from prelude_play.config import loads_toml

        again, _ = parse_board(loads_toml(board_to_toml(board)), p)
        assert again is not None and len(again.cards) == len(board.cards)


def _load_plan(p: Path) -> None:
    from prelude_play.store.plans import parse_plan_file

    plan, problems = parse_plan_file(p)
    assert all(isinstance(e, ConfigError) for e in problems)
    if plan is not None:
        [s.label() for s in plan.steps]


def _load_patterns(p: Path) -> None:
    from prelude_play.activities.drum_turns.logic import load_library

    try:
        lib = load_library(p)
    except ConfigError:
        return
    lib.pick(lib.lowest, 3)


def _load_preset(p: Path) -> None:
    from prelude_play.activities.scarf_moves.logic import load_preset, parse_cues
    from prelude_play.config import load_toml

    cues = parse_cues(load_toml(resource_dir("activities") / "scarf_moves" / "defaults.toml")[0]["cues"])
    try:
        load_preset(p, cues)
    except ConfigError:
        pass


def _load_defaults(p: Path) -> None:
    from prelude_play.activity import _load_defaults

    folder = p.parent / "act"
    folder.mkdir(exist_ok=True)
    (folder / "defaults.toml").write_bytes(p.read_bytes())
    values, problem = _load_defaults(folder)
    assert isinstance(values, dict) and (problem is None or isinstance(problem, ConfigError))


def _set_setting(p: Path) -> None:
    from prelude_play.settings_file import set_user_setting

    data = p.parent / "data"
    (data / "config").mkdir(parents=True, exist_ok=True)
    (data / "config" / "app.toml").write_bytes(p.read_bytes())
    set_user_setting(data, "ui", "language", "fr_CA")


def _check_config(p: Path) -> None:
    from prelude_play.config import check_files

    check_files([p], {})


LOADERS: dict[str, Callable[[Path], None]] = {
    "app.toml": _load_app, "goals.toml": _load_goals, "instruments.toml": _load_instruments,
    "board": _load_board, "plan": _load_plan, "drum patterns": _load_patterns, "scarf preset": _load_preset,
    "activity defaults": _load_defaults, "settings_file": _set_setting, "check-config": _check_config,
}
SHAPED = {"app.toml": APP, "goals.toml": GOALS, "instruments.toml": INSTRUMENTS, "board": BOARD, "plan": PLAN,
          "drum patterns": PATTERNS, "scarf preset": PRESET}


def run_loader(name: str, content: str | bytes) -> None:
    folder = Path(tempfile.mkdtemp(dir=WORK))
    p = folder / "file.toml"
    p.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
    t = time.process_time()
    try:
        LOADERS[name](p)
    except ConfigError:
        pass  # the documented error of every TOML loader
    took = time.process_time() - t
    assert took < SECONDS, f"{name} took {took:.1f} s"


@pytest.mark.parametrize("name", LOADERS)
@given(text=TEXTS)
def test_fuzz_any_text_or_bytes(name, text):
    run_loader(name, text)


@pytest.mark.parametrize("name", SHAPED)
@given(data=st.data())
def test_fuzz_shapes_near_each_files_own(name, data):
    run_loader(name, to_toml(data.draw(SHAPED[name])))


@settings(max_examples=30)
@given(text=st.text(max_size=2000), keys=st.lists(st.text(max_size=20), max_size=5))
def test_fuzz_key_line_index(text, keys):
    from prelude_play.config import KeyLines, find_key_line

    lines = KeyLines(text)
    for k in keys:
        n = find_key_line(text, k)
        assert n is None or 1 <= n <= len(text.splitlines())
        lines.line(k)


@given(data=st.dictionaries(KEYS, VALUES, max_size=8))
def test_fuzz_activity_settings(data):
    """Plan steps and client profiles hand activities any table: their checks say ConfigError."""
    from prelude_play.activities.drum_turns.logic import TurnSettings
    from prelude_play.activities.scarf_moves.logic import parse_cues
    from prelude_play.activities.vowel_match.logic import MatchSettings

    for check in (MatchSettings.from_config, lambda d: TurnSettings.from_config({**_drum_defaults(), **d}),
                  lambda d: parse_cues(d.get("cues", d))):
        try:
            check(data)
        except ConfigError:
            pass


def _drum_defaults() -> dict[str, Any]:
    from prelude_play.activities.drum_turns import DrumTurns

    return dict(DrumTurns.settings)


# ---- sound names ------------------------------------------------------------------------------------

@settings(max_examples=40)
@given(name=SOUNDS)
def test_fuzz_sound_names(name):
    from prelude_play.audio.bank import SoundBank, check_sound_name

    check_sound_name(name)
    tracemalloc.start()
    t = time.process_time()
    try:
        snd = SoundBank().get(name)
        assert snd.data.size > 0 and snd.data.nbytes <= 48000 * 4 * 11
    except UnknownSoundError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.process_time() - t < SOUND_SECONDS
    assert peak < 64 << 20, f"{name}: {peak >> 20} MB"  # 1.8 GB for vowel:ah:60:600s before


# ---- WAV headers and bytes -------------------------------------------------------------------------

def riff(tag: int, channels: int, rate: int, align: int, bits: int, data: bytes, declared: int | None,
         fmt_size: int, extra: bytes, cut: int | None) -> bytes:
    fmt = struct.pack("<HHIIHH", tag & 0xFFFF, channels & 0xFFFF, rate & 0xFFFFFFFF, 0, align & 0xFFFF, bits & 0xFFFF)
    fmt = (fmt + extra)[:max(0, fmt_size)] if fmt_size < 16 else fmt + extra
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt) if fmt_size >= 0 else 2**32 - 1) + fmt + b"data"
            + struct.pack("<I", (len(data) if declared is None else declared) & 0xFFFFFFFF) + data)
    out = b"RIFF" + struct.pack("<I", len(body)) + body
    return out[:cut] if cut is not None else out


WAVS = st.one_of(
    st.builds(riff, st.sampled_from([1, 3, 0xFFFE, 2, 0, 0xFFFF]), st.integers(0, 70_000), st.integers(0, 2**32 - 1),
              st.integers(0, 70_000), st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64, 65535]), st.binary(max_size=400),
              st.one_of(st.none(), st.integers(0, 2**32 - 1)), st.integers(-1, 60), st.binary(max_size=40),
              st.one_of(st.none(), st.integers(0, 500))),
    st.builds(lambda b: b"RIFF\x00\x00\x00\x00WAVE" + b, st.binary(max_size=200)),
    st.binary(max_size=200),
)


@settings(max_examples=150)
@given(data=WAVS)
def test_fuzz_wav_bytes(data):
    from prelude_play.audio.analysis.wavio import read_wav
    from prelude_play.audio.bank import read_wav as read_sample

    p = Path(tempfile.mkdtemp(dir=WORK)) / "x.wav"
    p.write_bytes(data)
    for read in (read_wav, lambda f: (read_sample(f, 48000), 48000)):
        tracemalloc.start()
        try:
            x, rate = read(p)
            assert x.dtype.name == "float32" and x.size > 0 and rate > 0
            assert bool((abs(x) < 1e30).all())
        except AnalysisError:
            pass
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < 32 << 20


# ---- MIDI byte streams ----------------------------------------------------------------------------

MIDI_BYTES = st.lists(st.one_of(st.integers(0, 255), st.sampled_from([0x90, 0x80, 0xB0, 0xF0, 0xF7, 0xF8, 0xFE, 0x99])),
                      max_size=300)


@given(chunks=st.lists(MIDI_BYTES, max_size=8), odd=st.lists(st.one_of(
    st.floats(), st.integers(-(2**80), 2**80), st.none(), st.text(max_size=2)), max_size=5))
def test_fuzz_midi_streams(chunks, odd):
    from prelude_play.clock import FakeClock
    from prelude_play.midi.decode import MidiDecoder
    from prelude_play.midi.hub import MidiConfig, MidiHub
    from prelude_play.midi.instruments import load_instruments
    from prelude_play.midi.virtual import VirtualBackend

    d = MidiDecoder(max_sysex=64)
    for c in chunks:
        d.feed(c)
    d.feed(odd)
    clock = FakeClock()
    backend = VirtualBackend(clock=clock)
    backend.add_device("Fuzz")
    got: list = []
    hub = MidiHub(backend, clock=clock, sink=got.append, config=MidiConfig(backend="virtual"),
                  instruments=load_instruments(CONFIG / "instruments.toml"))
    hub.poll()
    for i, c in enumerate(chunks):
        backend.inject("Fuzz", bytes(c), t_ns=clock.now_ns() + i * 1000)
    hub.flush_floods(final=True)
    assert hub.stats()["Fuzz"]["errors"] == 0 and hub.sink_errors == 0
    hub.stop()


# ---- pictures ------------------------------------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


PNGS = st.builds(lambda w, h, depth, ctype, body, cut: (
    b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))[:cut],
    st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.sampled_from([1, 8, 16, 3]), st.sampled_from([0, 2, 6, 7]),
    st.one_of(st.binary(max_size=64), st.builds(lambda n: zlib.compress(b"\x00" * n), st.integers(0, 5000))),
    st.integers(0, 400))
JPEGS = st.builds(lambda segs, tail: b"\xff\xd8" + b"".join(segs) + tail, st.lists(st.one_of(
    st.builds(lambda m, body: bytes([0xFF, m]) + struct.pack(">H", (len(body) + 2) & 0xFFFF) + body,
              st.integers(0xC0, 0xFE), st.binary(max_size=20)),
    st.binary(max_size=6)), max_size=5), st.binary(max_size=20))


@settings(max_examples=150)
@given(data=st.one_of(PNGS, JPEGS, st.binary(max_size=100)), ext=st.sampled_from([".png", ".jpg", ".jpeg", ".svg"]))
def test_fuzz_picture_files(data, ext):
    from prelude_play.activities.choice_board.view import Pictures
    from prelude_play.ui.images import MAX_PIXELS, PictureProblem, header_size

    try:
        _fmt, w, h = header_size(data)
        assert w >= 0 and h >= 0
    except PictureProblem:
        pass
    folder = Path(tempfile.mkdtemp(dir=WORK))
    (folder / f"p{ext}").write_bytes(data)
    pics = Pictures([folder])
    err = pics.load(f"p{ext}")
    surf = pics.raw[f"p{ext}"]
    assert (err is None) == (surf is not None)
    if surf is not None:
        assert surf.get_width() * surf.get_height() <= MAX_PIXELS
        assert pics.get(f"p{ext}", 64) is not None
