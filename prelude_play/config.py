"""Typed configuration from TOML, passed in (never global).

A bad file or value never crashes the app: loading collects ConfigErrors (file, line, key, bad
value, what is allowed) and falls back to the defaults for that part. ``check-config`` prints
them all at once.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from prelude_play.errors import ConfigError, brief

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Find a shipped top-level folder (config, assets, activities) in a source tree or install.

    In a checkout/editable install they sit beside the package; a wheel installs config and
    assets into ``prelude_play/_data/<name>`` and activities as ``prelude_play/activities``.
    """
    for candidate in (PACKAGE_DIR.parent / name, PACKAGE_DIR / "_data" / name, PACKAGE_DIR / name):
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR.parent / name


MAX_FILE_BYTES = 1 << 20
"""A config, board, plan or instrument file is a few kB; anything over 1 MB is refused unread."""
MAX_DEPTH = 12
"""Tables and lists nested deeper than this are refused (the deepest shipped file nests 5)."""
MAX_PROBLEMS = 50
"""Problems reported per file; past this one line says how many more (8 000 unknown keys must
not become 8 000 notices)."""

_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_KEY_RE = re.compile(r"^\s*((?:[A-Za-z0-9_\-]+|\"[^\"\n]*\"|'[^'\n]*')"
                     r"(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"\n]*\"|'[^'\n]*'))*)\s*=")


def _unquote(dotted: str) -> str:
    """``a."b.c".d`` → ``a.b.c.d`` as a plain dotted name (quotes off, spaces around dots off)."""
    parts: list[str] = []
    cur: list[str] = []
    quote = ""
    for ch in dotted:
        if quote:
            if ch == quote:
                quote = ""
            else:
                cur.append(ch)
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return ".".join(parts)


class KeyLines:
    """Where each key and table of a TOML text is: built in one pass, looked up in O(1).

    tomllib reports no positions; the old look-up rescanned the whole text for every key, which
    made a file with 8 000 unknown keys take 12 s (and 10 MB never finish). Keys are indexed as
    ``table.key``; the n-th ``[[array]]`` also as ``array[n]`` (and its keys as
    ``array[n].key``); a bare key name falls back to its first line anywhere.
    """

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        self.bare: dict[str, int] = {}
        counts: dict[str, int] = {}
        table = ""
        indexed = ""
        for i, line in enumerate(text.splitlines(), start=1):
            m = _HEADER_RE.match(line)
            if m:
                table = _unquote(m.group(2))
                self.lines.setdefault(table, i)
                if m.group(1) == "[[":
                    n = counts[table] = counts.get(table, -1) + 1
                    indexed = f"{table}[{n}]"
                    self.lines.setdefault(indexed, i)
                else:
                    indexed = ""
                continue
            k = _KEY_RE.match(line)
            if k:
                key = _unquote(k.group(1))
                self.lines.setdefault(f"{table}.{key}" if table else key, i)
                if indexed:
                    self.lines.setdefault(f"{indexed}.{key}", i)
                self.bare.setdefault(key.rsplit(".", 1)[-1], i)

    def line(self, dotted_key: str) -> int | None:
        found = self.lines.get(dotted_key)
        if found is not None:
            return found
        return self.bare.get(dotted_key.rsplit(".", 1)[-1])


@functools.lru_cache(maxsize=8)
def key_lines(text: str) -> KeyLines:
    """The index of ``text``, made once per text (a loader asks for many keys of one file)."""
    return KeyLines(text)


def find_key_line(text: str, dotted_key: str) -> int | None:
    """Best line number of ``dotted_key`` in TOML ``text`` (tomllib reports none for values):
    the key inside its table, else its table's header, else the first ``key =`` anywhere."""
    return key_lines(text).line(dotted_key)


def check_shape(data: Any, path: Path | None, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse data nested deeper than ``max_depth`` (without recursion: the check itself must
    survive what it refuses); every loader's code and every message can then recurse safely."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth >= max_depth:
            raise ConfigError(f"tables or lists nested more than {max_depth} deep", path=path,
                              hint="this is not a file Prelude Play writes; fix or replace it")
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


def loads_toml(text: str, path: Path | None = None, *, max_bytes: int = MAX_FILE_BYTES) -> dict[str, Any]:
    """Parse TOML text into data every loader can walk safely: bounded in size and depth; any
    failure, whatever the text, is a ConfigError with the file and line."""
    if len(text) > max_bytes:
        raise ConfigError(f"file is too big ({len(text):,} characters; at most {max_bytes:,})", path=path,
                          hint="a settings file is a few kB: check it is the right file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            f"not valid TOML ({exc})",
            path=path,
            line=int(m.group(1)) if m else None,
            hint="fix the syntax there; strings need quotes, tables need [brackets]",
        ) from None
    except RecursionError:
        raise ConfigError(f"lists or tables nested too deeply (more than {MAX_DEPTH})", path=path,
                          hint="this is not a file Prelude Play writes; fix or replace it") from None
    except (ValueError, MemoryError) as exc:  # e.g. a number of more than 4 300 digits
        raise ConfigError(f"a value cannot be read ({brief(str(exc))})", path=path,
                          hint="check the numbers in the file") from None
    check_shape(data, path)
    return data


def read_text(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """A text file's contents, refusing a missing, unreadable, oversized or non-UTF-8 file with a
    ConfigError that says which (and, for bad bytes, the line they are on)."""
    if path.exists() and not path.is_file():  # a folder, or a FIFO that would block the start
        raise ConfigError("is not a regular file", path=path, hint="check the path")
    try:
        with open(path, "rb") as fh:  # read(n) allocates n bytes at once: ask for no more than is there
            raw = fh.read(min(os.fstat(fh.fileno()).st_size, max_bytes) + 1)
    except FileNotFoundError:
        raise ConfigError("file not found", path=path, hint="check the path") from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a file", path=path, hint="check the path") from None
    except OSError as exc:
        raise ConfigError(f"cannot be read ({exc.strerror or exc})", path=path,
                          hint="check the file exists and is readable") from None
    if len(raw) > max_bytes:
        raise ConfigError(f"file is too big (over {max_bytes:,} bytes)", path=path,
                          hint="a settings file is a few kB: check it is the right file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"not UTF-8 text (byte {exc.start + 1})", path=path, line=line,
                          hint="save the file as UTF-8 (any text editor can)") from None


def load_toml(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> tuple[dict[str, Any], str]:
    """Read and parse a TOML file: every way a file can be wrong is a ConfigError with the file
    and line (not found, too big, not UTF-8, bad syntax, nested too deep)."""
    path = Path(path)
    text = read_text(path, max_bytes=max_bytes)
    return loads_toml(text, path, max_bytes=max_bytes), text


def using(exc: ConfigError, fallback: str) -> ConfigError:
    """The same problem, saying what is used instead (``fallback``: "the shipped settings")."""
    hint = f"{exc.hint}; using {fallback}" if exc.hint else f"using {fallback}"
    new = ConfigError(exc.detail, path=exc.path, line=exc.line, key=exc.key, hint=hint)
    new.__cause__ = exc.__cause__
    return new


def capped(problems: list[ConfigError], path: Path | None, limit: int = MAX_PROBLEMS) -> list[ConfigError]:
    """At most ``limit`` problems of one file, then one saying how many more."""
    if len(problems) <= limit:
        return problems
    more = len(problems) - limit
    return problems[:limit] + [ConfigError(f"… and {more} more problem(s) like these", path=path,
                                           hint="run prelude-play check-config FILE to see them all")]


# ---- typed sections -----------------------------------------------------------------------

def _choice(*allowed: str) -> dict[str, Any]:
    return {"choices": allowed}


def _range(lo: float, hi: float) -> dict[str, Any]:
    return {"range": (lo, hi)}


@dataclass
class UIConfig:
    language: str = field(default="en", metadata=_choice("en", "fr_CA"))
    fullscreen: bool = False
    width: int = field(default=1280, metadata=_range(640, 7680))
    height: int = field(default=800, metadata=_range(480, 4320))
    fps: int = field(default=60, metadata=_range(20, 240))
    low_stimulation: bool = False
    on_screen_keyboard: str = field(default="auto", metadata=_choice("auto", "always", "never"))
    """The keyboard docked under a focused text field: "auto" for a field tapped with a finger,
    or while no physical key has been typed in this run; "always"; "never"."""


@dataclass
class TouchConfig:
    """Default touch accommodations; a client's own profile may override them."""

    ignore_repeat_ms: int = field(default=250, metadata=_range(0, 5000))
    hold_to_select_ms: int = field(default=0, metadata=_range(0, 5000))


DEFAULT_PIN = "1234"
DEFAULT_PIN_HASH = "scrypt$16384$8$1$cHJlbHVkZS1wbGF5LXBpbg==$16MmbTRGmzF2EBMSmT7nvIu5/NwmSwMqui4GZV4dmtQ="  # "1234"


@dataclass
class TherapistConfig:
    """``pin_hash``: the PIN as ``scrypt$...`` (see prelude_play/pin.py; the app writes it when the
    PIN is changed on screen). A plain ``pin = "5678"`` in a file is accepted, hashed at once, and
    rewritten as ``pin_hash`` in the user's file. ``require_pin = false`` turns the PIN off."""

    pin: str = ""
    pin_hash: str = DEFAULT_PIN_HASH
    require_pin: bool = True
    long_press_ms: int = field(default=1500, metadata=_range(500, 10000))
    corner: str = field(default="top_right", metadata=_choice("top_left", "top_right"))
    unlock_idle_min: float = field(default=10.0, metadata=_range(0.0, 240.0))


@dataclass
class ScoringConfig:
    outcomes: list[str] = field(default_factory=lambda: ["success", "partial", "not_yet", "no_response"])
    prompt_levels: list[str] = field(
        default_factory=lambda: ["independent", "gestural", "verbal", "model", "physical"]
    )
    keys: dict[str, str] = field(
        default_factory=lambda: {
            "f1": "+I", "f2": "±", "f3": "-", "f4": "NR", "f5": "prompt_next", "f6": "primary", "f8": "undo",
            "page down": "+I", "page up": "-",
        }
    )
    pedal_tap: str = "+I"
    pedal_double_tap: str = "-"
    pedal_hold: str = "undo"
    pedal_double_tap_ms: int = field(default=350, metadata=_range(100, 1500))
    pedal_hold_ms: int = field(default=700, metadata=_range(200, 5000))
    pedal_buttons: dict[str, str] = field(default_factory=dict)
    score_window_s: float = field(default=5.0, metadata=_range(0.0, 60.0))
    min_trials_for_level: int = field(default=5, metadata=_range(1, 100))


@dataclass
class AudioConfig:
    backend: str = field(default="auto", metadata=_choice("auto", "sounddevice", "sdl", "null"))
    device: str = ""
    rate: int = field(default=48000, metadata=_range(8000, 192000))
    period: int = field(default=128, metadata=_range(16, 4096))
    master_volume: float = field(default=0.8, metadata=_range(0.0, 1.0))
    max_volume: float = field(default=0.9, metadata=_range(0.0, 1.0))
    input_enabled: bool = True
    fast_path: str = field(default="steady", metadata=_choice("steady", "asap"))
    process: str = field(default="inline", metadata=_choice("inline", "separate"))
    core: str = field(default="auto", metadata=_choice("auto", "native", "python"))


@dataclass
class MidiConfig:
    api: str = field(default="auto", metadata=_choice("auto", "alsa", "jack", "rtmidi-jack", "coremidi", "winmm", "virtual", "none"))
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=lambda: ["Midi Through*", "RtMidi*", "prelude-play*"])
    watch_interval_s: float = field(default=1.0, metadata=_range(0.1, 2.0))
    output: str = ""


@dataclass
class AppConfig:
    ui: UIConfig = field(default_factory=UIConfig)
    touch: TouchConfig = field(default_factory=TouchConfig)
    therapist: TherapistConfig = field(default_factory=TherapistConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    midi: MidiConfig = field(default_factory=MidiConfig)
    problems: list[ConfigError] = field(default_factory=list, repr=False, compare=False)
    sources: list[str] = field(default_factory=list, compare=False)
    pin_problem: str = field(default="", repr=False, compare=False)
    """Set when the PIN setting is malformed: the therapist screens then refuse (never a default PIN)."""

    def pin_hash(self) -> str:
        """The PIN's hash in force ("" = no PIN, only with ``require_pin = false``)."""
        t = self.therapist
        if not t.require_pin:
            return ""
        if t.pin:
            from prelude_play.pin import hash_pin

            cached = getattr(self, "_plain_hash", None)
            if cached is None or cached[0] != t.pin:
                cached = (t.pin, hash_pin(t.pin))
                object.__setattr__(self, "_plain_hash", cached)
            return cached[1]
        return t.pin_hash


NOT_SECTIONS = ("problems", "sources", "pin_problem")
SECTIONS: dict[str, type] = {
    f.name: f.type if isinstance(f.type, type) else globals()[f.type]  # type: ignore[misc]
    for f in dataclasses.fields(AppConfig)
    if f.name not in NOT_SECTIONS
}


def _type_ok(value: Any, default: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(default, dict):
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return True


def _type_name(default: Any) -> str:
    for t, name in ((bool, "true or false"), (int, "a whole number"), (float, "a number"),
                    (str, "text in quotes"), (list, "a list of texts, e.g. [\"a\", \"b\"]"),
                    (dict, "a table of texts")):
        if isinstance(default, t):
            return name
    return type(default).__name__


def apply_section(obj: Any, values: dict[str, Any], *, section: str, path: Path, text: str,
                  problems: list[ConfigError]) -> None:
    """Set fields of dataclass ``obj`` from ``values``; each bad value becomes a ConfigError."""
    known = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in values.items():
        dotted = f"{section}.{key}"
        line = find_key_line(text, dotted)
        f = known.get(key)
        if f is None:
            problems.append(ConfigError(
                f"unknown setting {brief(key)}", path=path, line=line, key=brief(dotted)[1:-1],
                hint=f"allowed in [{section}]: {', '.join(sorted(known))}"))
            continue
        default = getattr(obj, key)
        if not _type_ok(value, default):
            problems.append(ConfigError(
                f"{brief(value)} is not {_type_name(default)}", path=path, line=line, key=dotted,
                hint=f"using the default {default!r}"))
            continue
        meta = f.metadata
        if "choices" in meta and value not in meta["choices"]:
            problems.append(ConfigError(
                f"{brief(value)} is not allowed", path=path, line=line, key=dotted,
                hint=f"choose one of {', '.join(map(repr, meta['choices']))}; using {default!r}"))
            continue
        if "range" in meta:
            lo, hi = meta["range"]
            if not lo <= value <= hi:
                problems.append(ConfigError(
                    f"{brief(value)} is out of range", path=path, line=line, key=dotted,
                    hint=f"allowed {lo}–{hi}; using the default {default!r}"))
                continue
        if isinstance(default, float):
            value = float(value)
        setattr(obj, key, value)


def _apply_file(cfg: AppConfig, path: Path) -> None:
    try:
        data, text = load_toml(path)
    except ConfigError as exc:
        cfg.problems.append(using(exc, "the defaults for every setting of this file"))
        return
    cfg.sources.append(str(path))
    for section, values in data.items():
        if section not in SECTIONS:
            cfg.problems.append(ConfigError(
                f"unknown section [{brief(section)[1:-1]}]", path=path, line=find_key_line(text, section),
                hint=f"allowed sections: {', '.join(SECTIONS)}"))
            continue
        if not isinstance(values, dict):
            cfg.problems.append(ConfigError(
                f"'{section}' must be a table", path=path, line=find_key_line(text, section),
                hint=f"write [{section}] on its own line and settings below it"))
            continue
        apply_section(getattr(cfg, section), values, section=section, path=path, text=text,
                      problems=cfg.problems)
    _cross_checks(cfg, path, text)


def _names_problem(values: list[str], required: str | None) -> str | None:
    """Why a list of outcome or prompt-level names cannot be used (None: it can). Every figure
    divides by how many there are, the rail has a button for each and the score codes take
    their first letters, so: 1–8 distinct plain names, and "success" among the outcomes."""
    if not 1 <= len(values) <= 8:
        return "must list 1 to 8 names"
    if len(set(values)) != len(values):
        return "lists a name twice"
    if not all(re.fullmatch(r"[a-z][a-z0-9_]{0,31}", v) for v in values):
        return "must be plain lower-case names such as \"not_yet\""
    if required and required not in values:
        return f"must include {required!r}"
    return None


def _cross_checks(cfg: AppConfig, path: Path, text: str) -> None:
    from prelude_play.session.scoring import check_action

    s = cfg.scoring
    for name, required in (("outcomes", "success"), ("prompt_levels", None)):
        values = getattr(s, name)
        problem = _names_problem(values, required)
        if problem:
            cfg.problems.append(ConfigError(
                f"{name} {brief(values)} {problem}", path=path, line=find_key_line(text, f"scoring.{name}"),
                key=f"scoring.{name}", hint=f"using the defaults {getattr(ScoringConfig(), name)}"))
            setattr(s, name, getattr(ScoringConfig(), name))
    for table, mapping in (("keys", s.keys), ("pedal_buttons", s.pedal_buttons)):
        for key, action in list(mapping.items()):
            problem = check_action(action, s.prompt_levels or ScoringConfig().prompt_levels, s.outcomes)
            if problem:
                cfg.problems.append(ConfigError(
                    f"{brief(key)} is mapped to unknown action {brief(action)}", path=path,
                    line=find_key_line(text, f"scoring.{table}.{key}"), key=f"scoring.{table}.{key}",
                    hint=problem))
                del mapping[key]
    for name in ("pedal_tap", "pedal_double_tap", "pedal_hold"):
        action = getattr(s, name)
        problem = check_action(action, s.prompt_levels or ScoringConfig().prompt_levels, s.outcomes)
        if problem:
            default = getattr(ScoringConfig(), name)
            cfg.problems.append(ConfigError(
                f"unknown action {brief(action)}", path=path, line=find_key_line(text, f"scoring.{name}"),
                key=f"scoring.{name}", hint=f"{problem}; using {default!r}"))
            setattr(s, name, default)
    if cfg.audio.max_volume < cfg.audio.master_volume:
        cfg.audio.master_volume = cfg.audio.max_volume
    from prelude_play.pin import PIN_RE, valid_hash

    for problem in cfg.problems:  # a PIN of the wrong type never silently becomes the default one
        if problem.key in ("therapist.pin", "therapist.pin_hash") and problem.path == path:
            cfg.pin_problem = str(problem)
    if cfg.therapist.pin and not PIN_RE.fullmatch(cfg.therapist.pin):
        err = ConfigError("the PIN must be 4–8 digits (it is not shown here)", path=path,
                          line=find_key_line(text, "therapist.pin"), key="therapist.pin",
                          hint="the therapist screens stay locked until it is fixed (write it in quotes, "
                               'e.g. pin = "5678")')
        cfg.problems.append(err)
        cfg.pin_problem = str(err)
        cfg.therapist.pin = ""
    if not valid_hash(cfg.therapist.pin_hash):
        err = ConfigError("pin_hash is not a PIN hash this version wrote", path=path,
                          line=find_key_line(text, "therapist.pin_hash"), key="therapist.pin_hash",
                          hint="remove the line and set a new PIN with pin = \"...\" (4–8 digits)")
        cfg.problems.append(err)
        cfg.pin_problem = str(err)
        cfg.therapist.pin_hash = DEFAULT_PIN_HASH


def load_app_config(paths: Iterable[Path]) -> AppConfig:
    """Load shipped defaults then each override file in order; collect problems, never raise.
    At most ``MAX_PROBLEMS`` problems per file are kept (``check-config`` lists them all)."""
    cfg = AppConfig()
    for p in paths:
        if p.exists():
            found = len(cfg.problems)
            _apply_file(cfg, p)
            cfg.problems[found:] = capped(cfg.problems[found:], p)
    return cfg


def default_config_paths(data_dir: Path | None) -> list[Path]:
    """Shipped ``config/app.toml`` then the user's ``<data dir>/config/app.toml``."""
    paths = [resource_dir("config") / "app.toml"]
    if data_dir is not None:
        paths.append(data_dir / "config" / "app.toml")
    return paths


# ---- check-config ------------------------------------------------------------------------

Checker = Callable[[Path], list[ConfigError]]


def check_app_file(path: Path) -> list[ConfigError]:
    cfg = AppConfig()
    _apply_file(cfg, path)
    return cfg.problems


def check_files(paths: Iterable[Path], checkers: dict[str, Checker]) -> list[ConfigError]:
    """Run the checker registered for each file name (plain TOML syntax check otherwise)."""
    problems: list[ConfigError] = []
    for p in paths:
        checker = None
        for prefix, c in checkers.items():  # a folder first: boards/instruments.toml is a board
            if prefix.endswith("/") and p.parent.name == prefix[:-1]:
                checker = c
                break
        if checker is None:
            checker = checkers.get(p.name)
        if checker is None:
            try:
                load_toml(p)
            except ConfigError as exc:
                problems.append(exc)
            continue
        try:
            problems.extend(checker(p))
        except ConfigError as exc:
            problems.append(exc)
    return problems
