"""The goal taxonomy: goal areas, the seven music-therapy domains, and clients' own goals.

Events carry goal tags. An area tag is its key (``speech_communication``); a client's own goal
is tagged ``client:<goal id>`` so progress can be tracked per written goal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prelude_play.config import find_key_line, load_toml, using
from prelude_play.errors import ConfigError, brief

DOMAINS = ("cognitive", "communicative", "emotional", "musical", "physical", "social", "spiritual")


@dataclass(frozen=True)
class GoalArea:
    key: str
    title: str
    domains: tuple[str, ...]
    parent: str | None = None


@dataclass(frozen=True)
class Goals:
    areas: dict[str, GoalArea]

    def domains_of(self, tag: str) -> tuple[str, ...]:
        area = self.areas.get(tag)
        return area.domains if area else ()

    def expand(self, tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """Tags plus their parent areas, so 'turn_taking' also counts under 'social'."""
        out: list[str] = []
        for tag in tags:
            t: str | None = tag
            while t is not None and t not in out:
                out.append(t)
                t = self.areas[t].parent if t in self.areas else None
        return tuple(out)

    def is_known(self, tag: str) -> bool:
        return tag in self.areas or tag.startswith("client:")


def parse_goals(path: Path) -> tuple[Goals, list[ConfigError]]:
    """Load goals.toml; bad entries are reported and skipped. Never raises: a file that cannot
    be read at all gives no goal areas (callers then check no goal tags) and says so."""
    problems: list[ConfigError] = []
    try:
        data, text = load_toml(path)
    except ConfigError as exc:
        return Goals({}), [using(exc, "no goal areas: goal tags are not checked")]
    areas: dict[str, GoalArea] = {}
    raw = data.get("areas") or {}
    if not isinstance(raw, dict):
        problems.append(ConfigError(f"areas must be tables [areas.KEY], not {brief(raw)}", path=path,
                                    line=find_key_line(text, "areas"), key="areas",
                                    hint="using no goal areas: goal tags are not checked"))
        raw = {}
    for key, spec in raw.items():
        line = find_key_line(text, f"areas.{key}")
        if not isinstance(spec, dict):
            problems.append(ConfigError("must be a table", path=path, line=line, key=f"areas.{key}",
                                        hint="write [areas.KEY] with title = ... and domains = [...]; skipped"))
            continue
        doms = spec.get("domains", [])
        if not isinstance(doms, list):
            problems.append(ConfigError(
                f"domains {brief(doms)} must be a list", path=path, line=find_key_line(text, f"areas.{key}.domains") or line,
                key=f"areas.{key}.domains", hint='e.g. domains = ["social"]; reading it as one'))
            doms = [doms]
        bad = [d for d in doms if not isinstance(d, str) or d not in DOMAINS]
        if bad:
            problems.append(ConfigError(
                f"unknown domain(s) {brief(bad)}", path=path, line=find_key_line(text, f"areas.{key}.domains") or line,
                key=f"areas.{key}.domains", hint=f"allowed: {', '.join(DOMAINS)}; the others are kept"))
            doms = [d for d in doms if isinstance(d, str) and d in DOMAINS]
        parent = spec.get("parent")
        if parent is not None and not isinstance(parent, str):
            problems.append(ConfigError(
                f"parent {brief(parent)} must be the key of a goal area", path=path,
                line=find_key_line(text, f"areas.{key}.parent") or line, key=f"areas.{key}.parent",
                hint="using no parent"))
            parent = None
        title = spec.get("title", key)
        if not isinstance(title, str):
            problems.append(ConfigError(
                f"title {brief(title)} must be text", path=path, line=find_key_line(text, f"areas.{key}.title") or line,
                key=f"areas.{key}.title", hint=f"using {key!r}"))
        areas[key] = GoalArea(key, title if isinstance(title, str) else key, tuple(dict.fromkeys(doms)), parent)
    for a in list(areas.values()):
        if a.parent is not None and a.parent not in areas:
            problems.append(ConfigError(
                f"parent {brief(a.parent)} is not a goal area", path=path,
                line=find_key_line(text, f"areas.{a.key}.parent"), key=f"areas.{a.key}.parent",
                hint=f"use one of {', '.join(sorted(areas))}; using no parent"))
            areas[a.key] = GoalArea(a.key, a.title, a.domains, None)
    _break_parent_cycles(areas, path, text, problems)
    return Goals(areas), problems


def _break_parent_cycles(areas: dict[str, GoalArea], path: Path, text: str, problems: list[ConfigError]) -> None:
    """A parent chain that comes back to itself (a → b → a) has its last link cut, so walking
    up from any area always ends."""
    for start in list(areas):
        seen: list[str] = []
        key: str | None = start
        while key is not None and key in areas:
            if key in seen:
                prev = seen[-1]
                a = areas[prev]
                problems.append(ConfigError(
                    f"parent {a.parent!r} makes a loop ({' → '.join(seen + [key])})", path=path,
                    line=find_key_line(text, f"areas.{prev}.parent"), key=f"areas.{prev}.parent",
                    hint="using no parent for this area"))
                areas[prev] = GoalArea(a.key, a.title, a.domains, None)
                break
            seen.append(key)
            key = areas[key].parent


def check_goals_file(path: Path) -> list[ConfigError]:
    return parse_goals(path)[1]
