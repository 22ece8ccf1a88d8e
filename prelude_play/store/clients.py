"""Client profiles: what the shell reads, with defaults and checked ranges.

A profile is a JSON object in the store (``clients.profile``). The shell and activities read
these keys: ``touch`` {ignore_repeat_ms, hold_to_select_ms}, ``access`` (scanning for choice
boards), ``sensitivity`` {min_velocity, tremor_ms}, ``audio`` {volume_cap_pct},
``low_stimulation``, ``preferences``
{instruments, songs, loves}, ``goals`` [{id, text, area, target}] and ``activities`` {name:
settings overrides}. The display name lives only on this device; exports use the code.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from typing import Any

from prelude_play.errors import StoreError
from prelude_play.store.eventlog import EventLog

# (key path, default, low, high): numeric settings the client editor steps through.
NUMERIC: tuple[tuple[str, str, int, int, int, int], ...] = (
    # section, key, default, low, high, step
    ("touch", "ignore_repeat_ms", 250, 0, 5000, 50),
    ("touch", "hold_to_select_ms", 0, 0, 5000, 100),
    ("sensitivity", "min_velocity", 1, 1, 127, 5),
    ("sensitivity", "tremor_ms", 0, 0, 1000, 10),
    ("access", "scan_ms", 1500, 300, 10000, 100),
    ("access", "dwell_ms", 1000, 300, 3000, 100),
    ("audio", "volume_cap_pct", 100, 10, 100, 10),  # a sound-sensitive client's ceiling (the app's level is lower)
)
# How the client chooses on choice boards (read by activities/choice_board/logic.py Access):
# tap, dwell (hold), scan (one switch, highlight moves by itself), step_scan (two switches), play (pads).
ACCESS_METHODS = ("tap", "dwell", "scan", "step_scan", "play")
SCAN_PATTERNS = ("linear", "row_column")


def default_profile() -> dict[str, Any]:
    p: dict[str, Any] = {"touch": {}, "sensitivity": {}, "audio": {},
                         "access": {"method": "tap", "pattern": "linear"},
                         "low_stimulation": False,
                         "preferences": {"instruments": [], "songs": [], "loves": []},
                         "goals": [], "activities": {}}
    for section, key, default, *_ in NUMERIC:
        p[section][key] = default
    return p


def normalize_profile(profile: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Fill missing keys with defaults and clamp bad values; returns (profile, problems).

    Unknown keys are kept (an activity may store its own), so nothing a newer version wrote is lost.
    """
    problems: list[str] = []
    out = copy.deepcopy(profile) if isinstance(profile, dict) else {}
    base = default_profile()
    for key, value in base.items():
        if key not in out or not isinstance(out[key], type(value)):
            if key in out:
                problems.append(f"{key}: expected {type(value).__name__}, reset to default")
            out[key] = copy.deepcopy(value)
    for section, key, default, lo, hi, _ in NUMERIC:
        v = out[section].get(key, default)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            problems.append(f"{section}.{key}: {v!r} is not a number, using {default}")
            v = default
        if not lo <= v <= hi:
            problems.append(f"{section}.{key}: {v} outside {lo}–{hi}, clamped")
            v = min(hi, max(lo, v))
        out[section][key] = int(v)
    for key, allowed in (("method", ACCESS_METHODS), ("pattern", SCAN_PATTERNS)):
        if out["access"].get(key, allowed[0]) not in allowed:
            problems.append(f"access.{key}: {out['access'][key]!r} not one of {', '.join(allowed)}")
            out["access"][key] = allowed[0]
        out["access"].setdefault(key, allowed[0])
    for k in ("instruments", "songs", "loves"):
        items = out["preferences"].get(k, [])
        out["preferences"][k] = [str(i) for i in items] if isinstance(items, list) else []
    goals = []
    for g in out["goals"]:
        if isinstance(g, dict) and g.get("text"):
            goals.append({"id": str(g.get("id") or new_goal_id()), "text": str(g["text"]),
                          "area": str(g.get("area", "")), "target": str(g.get("target", ""))})
        else:
            problems.append(f"goals: dropped an entry without text: {g!r}")
    out["goals"] = goals
    return out, problems


def new_goal_id() -> str:
    return "g" + uuid.uuid4().hex[:6]


@dataclass
class Target:
    """A goal's target parsed from text like '80% of trials over 3 sessions'."""

    percent: float
    sessions: int


def parse_target(text: str) -> Target | None:
    m = re.search(r"(\d+(?:\.\d+)?)\s*%", text or "")
    if not m:
        return None
    n = re.search(r"(\d+)\s*(?:consecutive\s+)?sessions?", text)
    return Target(float(m.group(1)), int(n.group(1)) if n else 1)


class ClientBook:
    """Create, edit and archive clients on top of the event store (no hard delete here)."""

    def __init__(self, store: EventLog) -> None:
        self.store = store

    def create(self, display_name: str, *, client_id: str | None = None, code: str | None = None,
               profile: dict[str, Any] | None = None) -> str:
        name = display_name.strip()
        if not name:
            raise StoreError("a client needs a name (it is only shown on this device)")
        cid = client_id or "c-" + uuid.uuid4().hex[:8]
        if self.store.client(cid) is not None:
            raise StoreError(f"client {cid!r} already exists")
        self.store.ensure_client(cid, display_name=name, code=code)
        self.store.set_client_profile(cid, normalize_profile(profile or {})[0])
        return cid

    def find_or_create(self, typed: str) -> str:
        """The client a therapist typed (``--client``): an existing id or code, else a display name
        (an existing one, or a new client). A new client's id is generated, never the typed text,
        so a name can never become an id that exports and merged stores carry."""
        text = typed.strip()
        everyone = self.store.clients(include_archived=True)
        for key in ("id", "code", "display_name"):
            match = [c["id"] for c in everyone if c[key] == text]
            if len(match) == 1:
                return match[0]
            if len(match) > 1:
                raise StoreError(f"{len(match)} clients are called {text!r}: pick one by its code "
                                 f"({', '.join(c['code'] for c in everyone if c['id'] in match)})")
        return self.create(text)

    def get(self, client_id: str) -> dict[str, Any]:
        c = self.store.client(client_id)
        if c is None:
            raise StoreError(f"no client {client_id!r}")
        c["profile"] = normalize_profile(c["profile"])[0]
        return c

    def save(self, client_id: str, *, display_name: str | None = None,
             profile: dict[str, Any] | None = None) -> list[str]:
        """Store edits; returns the problems that were corrected on the way in."""
        problems: list[str] = []
        if display_name is not None:
            if not display_name.strip():
                raise StoreError("a client needs a name (it is only shown on this device)")
            self.store.rename_client(client_id, display_name.strip())
        if profile is not None:
            clean, problems = normalize_profile(profile)
            self.store.set_client_profile(client_id, clean)
        return problems

    def add_goal(self, client_id: str, text: str, area: str, target: str = "") -> str:
        c = self.get(client_id)
        gid = new_goal_id()
        c["profile"]["goals"].append({"id": gid, "text": text, "area": area, "target": target})
        self.save(client_id, profile=c["profile"])
        return gid

    def remember_targets(self, client_id: str, activity: str, goals: list[str]) -> None:
        """The goals the therapist chose for this activity with this client: the next time the
        activity starts without a plan step naming its goals, it works on these."""
        c = self.get(client_id)
        acts = c["profile"].setdefault("activities", {})
        acts.setdefault(activity, {})["goals"] = list(goals)
        self.save(client_id, profile=c["profile"])

    def archive(self, client_id: str, archived: bool = True) -> None:
        self.store.set_archived(client_id, archived)
