"""The goal taxonomy: goal areas, the seven music-therapy domains, and clients' own goals.

Events carry goal tags. An area tag is its key (``speech_communication``); a client's own goal
is tagged ``client:<goal id>`` so progress can be tracked per written goal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prelude_play.config import find_key_line, load_toml
from prelude_play.errors import ConfigError

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
    """Load goals.toml; bad entries are reported and skipped."""
    problems: list[ConfigError] = []
    data, text = load_toml(path)
    areas: dict[str, GoalArea] = {}
    for key, spec in (data.get("areas") or {}).items():
        line = find_key_line(text, f"areas.{key}")
        if not isinstance(spec, dict):
            problems.append(ConfigError("must be a table", path=path, line=line, key=f"areas.{key}"))
            continue
        doms = spec.get("domains", [])
        bad = [d for d in doms if d not in DOMAINS] if isinstance(doms, list) else [doms]
        if bad:
            problems.append(ConfigError(
                f"unknown domain(s) {bad}", path=path, line=find_key_line(text, f"areas.{key}.domains") or line,
                key=f"areas.{key}.domains", hint=f"allowed: {', '.join(DOMAINS)}"))
            doms = [d for d in doms if d in DOMAINS] if isinstance(doms, list) else []
        areas[key] = GoalArea(key, str(spec.get("title", key)), tuple(doms), spec.get("parent"))
    for a in areas.values():
        if a.parent is not None and a.parent not in areas:
            problems.append(ConfigError(
                f"parent {a.parent!r} is not a goal area", path=path,
                line=find_key_line(text, f"areas.{a.key}.parent"), key=f"areas.{a.key}.parent",
                hint=f"use one of {', '.join(sorted(areas))}"))
            areas[a.key] = GoalArea(a.key, a.title, a.domains, None)
    return Goals(areas), problems


def check_goals_file(path: Path) -> list[ConfigError]:
    return parse_goals(path)[1]
