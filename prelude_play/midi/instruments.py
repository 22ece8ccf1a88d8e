"""Instrument maps: which device / channel / note does what, and who it belongs to.

Loaded from TOML (``config/instruments.toml``) into typed, frozen objects. Rules are tried in
order; the first rule whose device pattern, channel and note/control match decides the role
("client" or "therapist") and the sound map. Sounds are names for the audio SoundBank:
``drum:<note>``, ``keys:<note>``, ``guitar:<note>``, ``chimes:<note>``.

The therapist's scoring pedal is not a rule: it is the one ``[pedal]`` table, naming a device
and its control(s) or note(s), and there is none until it is set. A rule saying "CC64 of any
device is the pedal" let a client keyboard's sustain pedal (or garbage on a cable) score trials
as the therapist's; a pedal has to be named.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prelude_play.config import loads_toml, read_text
from prelude_play.errors import ConfigError, brief

ROLES = ("client", "therapist", "pedal")
RULE_ROLES = ("client", "therapist")  # the pedal is set by [pedal], never by a rule
MAX_PATTERN = 200
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
class PedalRule:
    """The therapist's scoring pedal: the controls (CC numbers) and/or notes of the device(s)
    whose name matches ``device`` (a pattern naming a device: never only wildcards)."""

    device: str
    controls: frozenset[int] = frozenset({64})
    notes: frozenset[int] = frozenset()
    channel: int | None = None  # 1–16 as printed on devices
    label: str = "scoring pedal"

    def matches(self, device: str, channel: int, number: int, kind: str) -> bool:
        if number not in (self.controls if kind == "cc" else self.notes):
            return False
        if self.channel is not None and self.channel != channel + 1:
            return False
        return fnmatch.fnmatchcase(device.casefold(), self.device.casefold())


def names_a_device(pattern: str) -> bool:
    """Whether a device pattern names something (not only ``*``, ``?`` and spaces)."""
    return bool(pattern.strip("*? \t"))


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
    pedal: PedalRule | None = None

    def resolve(self, device: str, channel: int, number: int, *, kind: str = "note") -> Resolution:
        """Who played and what it sounds like. ``channel`` is 0-based (as in mido);
        ``kind`` "note" for note numbers, "cc" for controller numbers. Only the configured
        pedal's own controls and notes are the pedal (``[pedal]``)."""
        pedal = self.pedal
        if pedal is not None and pedal.matches(device, channel, number, kind):
            return Resolution("pedal", None, pedal.label)
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
    """Every way a file can be shaped wrong is a ConfigError naming the table, key and line."""

    def __init__(self, text: str, path: Path | None) -> None:
        self.text = text
        self.path = path

    def error(self, msg: str, table: str, index: int | None, key: str | None, hint: str) -> ConfigError:
        line = find_line(self.text, table, index, key)
        if line is None and key is not None:
            line = find_line(self.text, table, index, None)
        where = table + (f"[{index}]" if index is not None else "") + (f".{key}" if key else "")
        return ConfigError(msg, path=self.path, line=line, key=where, hint=hint)

    def table(self, value: Any, tname: str, index: int | None, how: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(f"{tname} must be a table, not {brief(value)}", tname, index, None, how)
        return value

    def int_in(self, table: dict[str, Any], key: str, lo: int, hi: int, tname: str, index: int | None) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.error(f"{key} = {brief(value)} is not allowed", tname, index, key,
                             f"allowed: a whole number {lo}–{hi}")
        return value

    def ints_in(self, table: dict[str, Any], key: str, lo: int, hi: int, tname: str) -> list[int]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in value):
            raise self.error(f"{key} = {brief(value)} is not allowed", tname, None, key,
                             f"allowed: a list of whole numbers {lo}–{hi}")
        return value

    def load(self, data: dict[str, Any]) -> InstrumentMap:
        known = {"rule", "maps", "sensitivity", "pedal"}
        for k in data:
            if k not in known:
                raise self.error(f"unknown section {brief(k)}", k, None, None, f"allowed: {', '.join(sorted(known))}")
        raw_maps = self.table(data.get("maps", {}), "maps", None, "write [maps.NAME] tables")
        maps = {name: self.load_map(name, m) for name, m in raw_maps.items()}
        raw_rules = data.get("rule", [])
        if not isinstance(raw_rules, list):
            raise self.error(f"rule must be [[rule]] tables, not {brief(raw_rules)}", "rule", None, None,
                             "write each rule as [[rule]] (double brackets)")
        rules = tuple(self.load_rule(i, r, maps) for i, r in enumerate(raw_rules))
        sens = self.table(data.get("sensitivity", {}), "sensitivity", None, "write [sensitivity]")
        min_v = self.int_in(sens, "min_velocity", 0, 127, "sensitivity", None)
        tremor = sens.get("tremor_ms", 0)
        if isinstance(tremor, bool) or not isinstance(tremor, int | float) or not 0 <= tremor <= 1000:
            raise self.error(f"tremor_ms = {brief(tremor)} is not allowed", "sensitivity", None, "tremor_ms",
                             "allowed: a number of milliseconds 0–1000")
        pedal = self.load_pedal(data["pedal"]) if "pedal" in data else None
        return InstrumentMap(rules, maps, Sensitivity(1 if min_v is None else min_v, float(tremor)), self.path,
                             pedal)

    def load_pedal(self, raw: Any) -> PedalRule:
        p = self.table(raw, "pedal", None, "write [pedal] with device = \"...\" and control = N")
        allowed = ("device", "control", "controls", "note", "notes", "channel", "label")
        for k in p:
            if k not in allowed:
                raise self.error(f"unknown key {brief(k)}", "pedal", None, k, f"allowed: {', '.join(allowed)}")
        device = p.get("device")
        if not isinstance(device, str) or not names_a_device(device) or len(device) > MAX_PATTERN:
            raise self.error(f"device = {brief(device)} does not name one device", "pedal", None, "device",
                             "write the pedal's name as `prelude-play devices` lists it, e.g. \"FS-1*\" "
                             "(\"*\" alone would make every keyboard's pedal score)")
        controls = set(self.ints_in(p, "controls", 0, 127, "pedal"))
        notes = set(self.ints_in(p, "notes", 0, 127, "pedal"))
        one = self.int_in(p, "control", 0, 127, "pedal", None)
        if one is not None:
            controls.add(one)
        one = self.int_in(p, "note", 0, 127, "pedal", None)
        if one is not None:
            notes.add(one)
        if not controls and not notes:
            controls.add(64)  # a sustain-style footswitch
        label = p.get("label", "scoring pedal")
        if not isinstance(label, str):
            raise self.error(f"label = {brief(label)} is not allowed", "pedal", None, "label", "allowed: text")
        return PedalRule(device, frozenset(controls), frozenset(notes), self.int_in(p, "channel", 1, 16, "pedal", None),
                         label)

    def load_map(self, name: str, m: Any) -> SoundMap:
        tname = f"maps.{name}"
        if not isinstance(m, dict):
            raise self.error(f"map {brief(name)} must be a table", tname, None, None, "write [maps.NAME] with sound = ...")
        family = m.get("sound")
        if not isinstance(family, str) or family not in SOUND_FAMILIES:
            raise self.error(f"sound = {brief(family)} is not allowed", tname, None, "sound",
                             f"allowed: {', '.join(SOUND_FAMILIES)}")
        for k in m:
            if k not in ("sound", "notes", "range"):
                raise self.error(f"unknown key {brief(k)}", tname, None, k, "allowed: sound, notes, range")
        notes: dict[int, str] = {}
        raw_notes = m.get("notes", {})
        if not isinstance(raw_notes, dict):
            raise self.error(f"notes = {brief(raw_notes)} is not allowed", tname, None, "notes",
                             f"write [{tname}.notes] with note number = \"label\" lines")
        for k, label in raw_notes.items():
            if not (re.fullmatch(r"[0-9]{1,3}", k) and 0 <= int(k) <= 127) or not isinstance(label, str):
                raise self.error(f"{brief(k)} = {brief(label)} is not allowed", f"{tname}.notes", None, k,
                                 "allowed: a note number 0–127 = \"label\"")
            notes[int(k)] = label
        rng = m.get("range", [0, 127])
        if (not isinstance(rng, list) or len(rng) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 127 for x in rng)
                or rng[0] > rng[1]):
            raise self.error(f"range = {brief(rng)} is not allowed", tname, None, "range",
                             "allowed: [low, high] note numbers 0–127")
        return SoundMap(name, family, notes, (rng[0], rng[1]))

    def load_rule(self, i: int, r: Any, maps: dict[str, SoundMap]) -> Rule:
        if not isinstance(r, dict):
            raise self.error(f"rule {i + 1} must be a table, not {brief(r)}", "rule", i, None,
                             "write each rule as [[rule]] followed by its keys")
        allowed = ("device", "role", "map", "channel", "notes", "note", "control", "label")
        for k in r:
            if k not in allowed:
                raise self.error(f"unknown key {brief(k)}", "rule", i, k, f"allowed: {', '.join(allowed)}")
        device = r.get("device", "*")
        if not isinstance(device, str) or not device or len(device) > MAX_PATTERN:
            raise self.error(f"device = {brief(device)} is not allowed", "rule", i, "device",
                             "allowed: a device name pattern such as \"*Drum*\"")
        role = r.get("role", "client")
        if role == "pedal":
            raise self.error("role = \"pedal\" is no longer a rule", "rule", i, "role",
                             "name the scoring pedal in a [pedal] table (device = \"...\", control = 64), "
                             "or run `prelude-play pedal \"DEVICE\"`")
        if not isinstance(role, str) or role not in RULE_ROLES:
            raise self.error(f"role = {brief(role)} is not allowed", "rule", i, "role",
                             f"allowed: {', '.join(RULE_ROLES)}")
        map_name = r.get("map")
        if map_name is not None and (not isinstance(map_name, str) or map_name not in maps):
            raise self.error(f"map = {brief(map_name)} is not defined", "rule", i, "map",
                             f"defined maps: {', '.join(sorted(maps)) or 'none'}")
        channel = self.int_in(r, "channel", 1, 16, "rule", i)
        control = self.int_in(r, "control", 0, 127, "rule", i)
        note = self.int_in(r, "note", 0, 127, "rule", i)
        notes = r.get("notes")
        if notes is not None:
            if (not isinstance(notes, list) or len(notes) != 2
                    or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 127 for x in notes)
                    or notes[0] > notes[1]):
                raise self.error(f"notes = {brief(notes)} is not allowed", "rule", i, "notes",
                                 "allowed: [low, high] note numbers 0–127")
            notes = (notes[0], notes[1])
        if note is not None:
            notes = (note, note)
        if control is not None and notes is not None:
            raise self.error("a rule matches either notes or a control, not both", "rule", i, "control",
                             "split it into two [[rule]] tables")
        label = r.get("label")
        if label is not None and not isinstance(label, str):
            raise self.error(f"label = {brief(label)} is not allowed", "rule", i, "label", "allowed: text")
        return Rule(device, role, map_name, channel, notes, control, label)


def parse_instruments(text: str, path: str | Path | None = None) -> InstrumentMap:
    """Parse instrument-map TOML text; ConfigError names file, line, key, value, what is allowed."""
    p = Path(path) if path is not None else None
    data = loads_toml(text, p)
    return _Loader(text, p).load(data)


def load_instruments(path: str | Path) -> InstrumentMap:
    """Read and parse an instrument map; any problem with the file (missing, too big, not UTF-8,
    bad TOML, wrong shapes) is a ConfigError naming it."""
    p = Path(path)
    return parse_instruments(read_text(p), p)


def check_instruments_file(path: Path) -> list[ConfigError]:
    """Everything ``prelude-play check-config`` says about an instrument map (the first problem:
    one stops the map loading)."""
    try:
        load_instruments(path)
    except ConfigError as exc:
        return [exc]
    return []


# --- the pedal, set from the command line ------------------------------------------------------

_PEDAL_HEADER = re.compile(r"^\s*\[\s*pedal\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def pedal_toml(device: str | None, *, control: int | None = 64, note: int | None = None) -> str:
    """The ``[pedal]`` table for ``device`` (None: the commented-out example, no pedal)."""
    if device is None:
        return ("# [pedal]            # no scoring pedal: `prelude-play pedal \"DEVICE\"` sets one\n"
                "# device = \"FS-1*\"\n# control = 64\n")
    name = device.replace("\\", "\\\\").replace('"', '\\"')
    lines = ["[pedal]", f'device = "{name}"']
    if control is not None:
        lines.append(f"control = {int(control)}")
    if note is not None:
        lines.append(f"note = {int(note)}")
    return "\n".join(lines) + "\n"


def set_pedal(path: Path, template: Path, device: str | None, *, control: int | None = 64,
              note: int | None = None) -> InstrumentMap:
    """Name the scoring pedal (``device`` None: no pedal) in the user's instrument map ``path``,
    starting from ``template`` (the shipped map) if there is none yet. The old ``[pedal]`` table
    goes, everything else stays; the result is checked before it replaces the file, so a wrong
    name or number is a ConfigError and the file is unchanged."""
    path = Path(path)
    text = read_text(path) if path.exists() else read_text(Path(template))
    out: list[str] = []
    skipping = False
    ours = set(pedal_toml(None).splitlines())  # an earlier "no pedal" note of ours goes too
    for line in text.splitlines():
        if line in ours:
            continue
        if _PEDAL_HEADER.match(line):
            skipping = True
            continue
        if skipping and _ANY_HEADER.match(line):
            skipping = False
        if not skipping:
            out.append(line)
    new = "\n".join(out).rstrip("\n") + "\n\n" + pedal_toml(device, control=control, note=note)
    result = parse_instruments(new, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)
    return result
