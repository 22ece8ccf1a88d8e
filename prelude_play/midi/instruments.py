"""Instrument maps: which device / channel / note does what, and who it belongs to.

Loaded from TOML (``config/instruments.toml``) into typed, frozen objects. Rules are tried in
order; the first rule whose device pattern, channel and note/control match decides the role
("client", "therapist", "pedal") and the sound map. Sounds are names for the audio SoundBank:
``drum:<note>``, ``keys:<note>``, ``guitar:<note>``, ``chimes:<note>``.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prelude_play.errors import ConfigError

ROLES = ("client", "therapist", "pedal")
SOUND_FAMILIES = ("drum", "keys", "guitar", "chimes")
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(note: int) -> str:
    """MIDI note number as a name, middle C (60) = C4."""
    return f"{_NOTE_NAMES[note % 12]}{note // 12 - 1}"


@dataclass(frozen=True, slots=True)
class Resolution:
    role: str
    sound: str | None
    label: str


@dataclass(frozen=True, slots=True)
class SoundMap:
    """Notes → sounds of one family. ``notes`` lists the playable notes with labels (a drum
    kit); without it every note in ``note_range`` plays and is labelled by its name."""

    name: str
    family: str
    notes: dict[int, str] = field(default_factory=dict)
    note_range: tuple[int, int] = (0, 127)

    def lookup(self, note: int) -> tuple[str | None, str]:
        if self.notes:
            label = self.notes.get(note)
            return (f"{self.family}:{note}", label) if label else (None, f"note {note}")
        lo, hi = self.note_range
        if lo <= note <= hi:
            return f"{self.family}:{note}", note_name(note)
        return None, note_name(note)


@dataclass(frozen=True, slots=True)
class Rule:
    device: str = "*"
    role: str = "client"
    map: str | None = None
    channel: int | None = None  # 1–16 as printed on devices
    notes: tuple[int, int] | None = None
    control: int | None = None
    label: str | None = None

    def matches_device(self, device: str, channel: int) -> bool:
        if self.channel is not None and self.channel != channel + 1:
            return False
        return fnmatch.fnmatchcase(device.casefold(), self.device.casefold())


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """Per-client: hits softer than ``min_velocity`` are logged "below threshold", and
    retriggers of the same note within ``tremor_ms`` are logged as "tremor"; neither sounds."""

    min_velocity: int = 1
    tremor_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_velocity <= 127:
            raise ConfigError(f"min_velocity {self.min_velocity!r} out of range", key="sensitivity.min_velocity",
                              hint="allowed: 0–127")
        if not 0 <= self.tremor_ms <= 1000:
            raise ConfigError(f"tremor_ms {self.tremor_ms!r} out of range", key="sensitivity.tremor_ms",
                              hint="allowed: 0–1000 ms")


class SensitivityFilter:
    """Marks (never drops) client hits below the threshold or within the tremor window.

    The tremor window runs from the previous onset on the same device/channel/note, filtered
    or not, so a whole tremor burst merges into its first hit. Runs on the MIDI thread(s):
    per-key state only, no locks (dict updates are atomic under the GIL).
    """

    def __init__(self, sensitivity: Sensitivity | None = None) -> None:
        self.sensitivity = sensitivity or Sensitivity()
        self._last: dict[tuple[str, int, int], int] = {}

    def check(self, device: str, channel: int, note: int, velocity: int, t_ns: int) -> str | None:
        """The filter reason for a note-on ("below_threshold", "tremor") or None to sound."""
        s = self.sensitivity
        key = (device, channel, note)
        last = self._last.get(key)
        self._last[key] = t_ns
        if velocity < s.min_velocity:
            return "below_threshold"
        if last is not None and s.tremor_ms > 0 and t_ns - last < s.tremor_ms * 1_000_000:
            return "tremor"
        return None


@dataclass(frozen=True, slots=True)
class InstrumentMap:
    rules: tuple[Rule, ...] = ()
    maps: dict[str, SoundMap] = field(default_factory=dict)
    sensitivity: Sensitivity = field(default_factory=Sensitivity)
    path: Path | None = None

    def resolve(self, device: str, channel: int, number: int, *, kind: str = "note") -> Resolution:
        """Who played and what it sounds like. ``channel`` is 0-based (as in mido);
        ``kind`` "note" for note numbers, "cc" for controller numbers."""
        fallback_role = "client"
        seen_device = False
        for rule in self.rules:
            if not rule.matches_device(device, channel):
                continue
            if kind == "cc":
                if rule.control == number:
                    return Resolution(rule.role, None, rule.label or f"CC{number}")
                if rule.control is None and not seen_device:
                    fallback_role, seen_device = rule.role, True
                continue
            if rule.control is not None:
                continue
            if rule.notes is not None and not rule.notes[0] <= number <= rule.notes[1]:
                continue
            sound, label = (None, note_name(number))
            if rule.map is not None:
                sound, label = self.maps[rule.map].lookup(number)
            return Resolution(rule.role, sound, rule.label or label)
        return Resolution(fallback_role, None, f"CC{number}" if kind == "cc" else note_name(number))

    def role_for(self, device: str, channel: int) -> str:
        """The role of a device/channel for messages without a note (pitch bend, program)."""
        return self.resolve(device, channel, -1, kind="cc").role


# --- loading ---------------------------------------------------------------------------------

def find_line(text: str, table: str, index: int | None, key: str | None) -> int | None:
    """The 1-based line of ``key`` inside table ``table`` (the ``index``-th ``[[table]]`` for
    arrays), or of the table header when ``key`` is None. tomllib reports no positions."""
    header = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
    key_re = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=") if key else None
    counts: dict[str, int] = {}
    inside = False
    for lineno, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m:
            name = m.group(2).strip()
            if m.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                inside = name == table and counts[name] == (index or 0)
            else:
                inside = name == table and index is None
            if inside and key_re is None:
                return lineno
            continue
        if inside and key_re is not None and key_re.match(line):
            return lineno
    return None


class _Loader:
    def __init__(self, text: str, path: Path | None) -> None:
        self.text = text
        self.path = path

    def error(self, msg: str, table: str, index: int | None, key: str | None, hint: str) -> ConfigError:
        line = find_line(self.text, table, index, key)
        if line is None and key is not None:
            line = find_line(self.text, table, index, None)
        where = table + (f"[{index}]" if index is not None else "") + (f".{key}" if key else "")
        return ConfigError(msg, path=self.path, line=line, key=where, hint=hint)

    def int_in(self, table: dict[str, Any], key: str, lo: int, hi: int, tname: str, index: int | None) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.error(f"{key} = {value!r} is not allowed", tname, index, key, f"allowed: a whole number {lo}–{hi}")
        return value

    def load(self, data: dict[str, Any]) -> InstrumentMap:
        known = {"rule", "maps", "sensitivity"}
        for k in data:
            if k not in known:
                raise self.error(f"unknown section {k!r}", k, None, None, f"allowed: {', '.join(sorted(known))}")
        maps = {name: self.load_map(name, m) for name, m in data.get("maps", {}).items()}
        rules = tuple(self.load_rule(i, r, maps) for i, r in enumerate(data.get("rule", [])))
        sens = data.get("sensitivity", {})
        min_v = self.int_in(sens, "min_velocity", 0, 127, "sensitivity", None)
        tremor = sens.get("tremor_ms", 0)
        if isinstance(tremor, bool) or not isinstance(tremor, int | float) or not 0 <= tremor <= 1000:
            raise self.error(f"tremor_ms = {tremor!r} is not allowed", "sensitivity", None, "tremor_ms",
                             "allowed: a number of milliseconds 0–1000")
        return InstrumentMap(rules, maps, Sensitivity(1 if min_v is None else min_v, float(tremor)), self.path)

    def load_map(self, name: str, m: Any) -> SoundMap:
        tname = f"maps.{name}"
        if not isinstance(m, dict):
            raise self.error(f"map {name!r} must be a table", tname, None, None, "write [maps.NAME] with sound = ...")
        family = m.get("sound")
        if family not in SOUND_FAMILIES:
            raise self.error(f"sound = {family!r} is not allowed", tname, None, "sound",
                             f"allowed: {', '.join(SOUND_FAMILIES)}")
        for k in m:
            if k not in ("sound", "notes", "range"):
                raise self.error(f"unknown key {k!r}", tname, None, k, "allowed: sound, notes, range")
        notes: dict[int, str] = {}
        for k, label in m.get("notes", {}).items():
            if not (k.isdigit() and 0 <= int(k) <= 127) or not isinstance(label, str):
                raise self.error(f"{k} = {label!r} is not allowed", f"{tname}.notes", None, k,
                                 "allowed: a note number 0–127 = \"label\"")
            notes[int(k)] = label
        rng = m.get("range", [0, 127])
        if (not isinstance(rng, list) or len(rng) != 2 or not all(isinstance(x, int) and 0 <= x <= 127 for x in rng)
                or rng[0] > rng[1]):
            raise self.error(f"range = {rng!r} is not allowed", tname, None, "range",
                             "allowed: [low, high] note numbers 0–127")
        return SoundMap(name, family, notes, (rng[0], rng[1]))

    def load_rule(self, i: int, r: Any, maps: dict[str, SoundMap]) -> Rule:
        allowed = ("device", "role", "map", "channel", "notes", "note", "control", "label")
        for k in r:
            if k not in allowed:
                raise self.error(f"unknown key {k!r}", "rule", i, k, f"allowed: {', '.join(allowed)}")
        device = r.get("device", "*")
        if not isinstance(device, str) or not device:
            raise self.error(f"device = {device!r} is not allowed", "rule", i, "device",
                             "allowed: a device name pattern such as \"*Drum*\"")
        role = r.get("role", "client")
        if role not in ROLES:
            raise self.error(f"role = {role!r} is not allowed", "rule", i, "role", f"allowed: {', '.join(ROLES)}")
        map_name = r.get("map")
        if map_name is not None and map_name not in maps:
            raise self.error(f"map = {map_name!r} is not defined", "rule", i, "map",
                             f"defined maps: {', '.join(sorted(maps)) or 'none'}")
        channel = self.int_in(r, "channel", 1, 16, "rule", i)
        control = self.int_in(r, "control", 0, 127, "rule", i)
        note = self.int_in(r, "note", 0, 127, "rule", i)
        notes = r.get("notes")
        if notes is not None:
            if (not isinstance(notes, list) or len(notes) != 2
                    or not all(isinstance(x, int) and 0 <= x <= 127 for x in notes) or notes[0] > notes[1]):
                raise self.error(f"notes = {notes!r} is not allowed", "rule", i, "notes",
                                 "allowed: [low, high] note numbers 0–127")
            notes = (notes[0], notes[1])
        if note is not None:
            notes = (note, note)
        if control is not None and notes is not None:
            raise self.error("a rule matches either notes or a control, not both", "rule", i, "control",
                             "split it into two [[rule]] tables")
        label = r.get("label")
        if label is not None and not isinstance(label, str):
            raise self.error(f"label = {label!r} is not allowed", "rule", i, "label", "allowed: text")
        return Rule(device, role, map_name, channel, notes, control, label)


def parse_instruments(text: str, path: str | Path | None = None) -> InstrumentMap:
    """Parse instrument-map TOML text; ConfigError names file, line, key, value, what is allowed."""
    p = Path(path) if path is not None else None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", path=p, line=int(m.group(1)) if m else None,
                          hint="check quotes, brackets and '=' on that line") from exc
    return _Loader(text, p).load(data)


def load_instruments(path: str | Path) -> InstrumentMap:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read instrument map: {exc.strerror or exc}", path=p,
                          hint="check the file exists and is readable") from exc
    return parse_instruments(text, p)
