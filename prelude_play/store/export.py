"""Export the event store to JSON Lines (full fidelity) or CSV (flat, opens in a spreadsheet).

Exports are pseudonymous by default (the client's code, never the display name), written to a
temporary file beside the target and renamed into place only when complete, so a full or pulled
drive never leaves a partial export looking complete. Files are created readable by the user only.

Private by construction: the header carries each session's provenance without the app's config
and without any key named like a secret (PIN, password, token); free text (notes, the summary,
the S/O/A/P note, plan names, a note event's text) is named in the header as free text and, in a
pseudonymous export, withheld unless asked for — it is the one field no code can check for a
name. CSV cells that a spreadsheet would run as a formula are neutralised.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Iterable, Iterator

from prelude_play import __version__
from prelude_play.errors import ExportError
from prelude_play.store.eventlog import EventLog, StoredEvent

CSV_COLUMNS = ["seq", "id", "session_id", "client", "activity", "kind", "actor", "source", "device", "t_ms",
               "wall", "goals", "prompt", "outcome", "corrects", "trial_id", "data", "app_version"]


SECRET_KEY = re.compile(r"pin|passw|secret|token|api_?key|credential", re.IGNORECASE)
NOT_EXPORTED = ("config", "config_sources", "config_problems")  # the device's settings stay on it
FREE_TEXT_SESSION = ("notes", "summary", "soap", "plan")
FREE_TEXT_DATA = ("note", "plan", "text")  # keys of an event's data that hold typed text
WITHHELD = "[free text withheld]"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_START)


def scrub(value: Any) -> Any:
    """``value`` without any dict key named like a secret (at any depth)."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not SECRET_KEY.search(str(k))}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading quote."""
    if value.__class__ is str and value[:1] in _FORMULA_FIRST and value:
        return "'" + value
    return value


def withhold_free_text(names: bool, free_text: bool | None) -> bool:
    """Free text is withheld from pseudonymous exports unless asked for (``free_text=True``)."""
    return not (free_text if free_text is not None else names)


def withheld_session(s: dict[str, Any]) -> dict[str, Any]:
    """A session row with its free text replaced by a marker (the S/O/A/P note keeps its keys)."""
    out = dict(s)
    for k in FREE_TEXT_SESSION:
        if isinstance(out.get(k), dict):
            out[k] = {sk: WITHHELD for sk, v in out[k].items() if v}
        elif out.get(k):
            out[k] = WITHHELD
    return out


def _withheld_data(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (WITHHELD if k in FREE_TEXT_DATA and v else v) for k, v in data.items()}


@dataclass(frozen=True)
class Selection:
    """What to export: any of one session, one client (id or code), a date range, one goal tag.

    Dates are inclusive calendar days (``YYYY-MM-DD``) or full ISO times, compared with each
    session's start. A goal selection keeps the events tagged with it plus the corrections of
    those events, so summaries of the export still apply them.
    """

    session: str | None = None
    client: str | None = None
    since: str | None = None
    until: str | None = None
    goal: str | None = None

    def describe(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


def shown_selection(store: EventLog, sel: Selection, names: bool) -> dict[str, str]:
    """The selection as an export shows it: a client by its code when pseudonymous (a store made
    before ids were generated may have a name as a client's id)."""
    shown = sel.describe()
    if sel.client and not names:
        match = [c["code"] for c in store.clients(include_archived=True) if sel.client in (c["id"], c["code"])]
        shown["client"] = match[0] if match else "?"
    return shown


def _bound(text: str, end: bool) -> datetime:
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime.combine(d, time.max if end else time.min)
        return datetime.fromisoformat(text)
    except ValueError:
        raise ExportError(f"{text!r} is not a date; use YYYY-MM-DD (e.g. 2025-03-01)") from None


def _local(ts: str) -> datetime:
    """A stored wall time as naive local time of where it was written (for calendar-day filters)."""
    return datetime.fromisoformat(ts).replace(tzinfo=None)


def select_sessions(store: EventLog, sel: Selection) -> list[dict[str, Any]]:
    clients = store.clients(include_archived=True)
    client_id = None
    if sel.client:
        match = [c["id"] for c in clients if sel.client in (c["id"], c["code"])]
        if not match:
            raise ExportError(f"no client with id or code {sel.client!r}")
        client_id = match[0]
    sessions = store.sessions(client_id)
    if sel.session:
        sessions = [s for s in sessions if s["id"] == sel.session or s["id"].startswith(sel.session)]
        if not sessions:
            raise ExportError(f"no session {sel.session!r}" + (f" for client {sel.client}" if sel.client else ""))
    lo = _bound(sel.since, False).replace(tzinfo=None) if sel.since else None
    hi = _bound(sel.until, True).replace(tzinfo=None) if sel.until else None
    if lo or hi:
        sessions = [s for s in sessions if (lo is None or _local(s["started"]) >= lo)
                    and (hi is None or _local(s["started"]) <= hi)]
    return sessions


def select_events(store: EventLog, sel: Selection, sessions: list[dict[str, Any]] | None = None) -> Iterator[StoredEvent]:
    """The selected events in log order (every event when the selection is empty)."""
    if sel == Selection():
        events: Iterable[StoredEvent] = store.events()
    else:
        sessions = select_sessions(store, sel) if sessions is None else sessions
        events = store.events_in([s["id"] for s in sessions])
    if not sel.goal:
        yield from events
        return
    kept: set[str] = set()
    for e in events:
        if sel.goal in e.goals or (e.kind == "correction" and e.corrects in kept):
            kept.add(e.id)
            yield e


RAW_COLUMNS = ("seq", "id", "session_id", "client_id", "activity", "kind", "actor", "source", "device", "t_ms",
               "wall", "prompt", "outcome", "corrects", "trial_id")
N_RAW = len(RAW_COLUMNS)


def raw_event_rows(store: EventLog, sel: Selection, sessions: list[dict[str, Any]] | None = None,
                   where: str | None = None, *, withhold: bool = False) -> Iterator[tuple]:
    """The selected events straight from SQLite: (*RAW_COLUMNS, goals JSON, data JSON, goals joined ';').

    The fast path for CSV/JSONL: the stored JSON text is written as it is, never parsed and
    re-encoded in Python (50 000 events in well under the 5 s target).
    """
    cond: list[str] = []
    args: list[Any] = []
    if any((sel.session, sel.client, sel.since, sel.until)):
        sessions = select_sessions(store, sel) if sessions is None else sessions
        cond.append("session_id IN (SELECT value FROM json_each(?))")
        args.append(json.dumps([s["id"] for s in sessions]))
    if sel.goal:
        has = ("EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid({t}.goals) THEN {t}.goals ELSE '[]' END)"
               " WHERE value=?)")
        cond.append(f"({has.format(t='e')} OR (e.kind='correction' AND e.corrects IN "
                    f"(SELECT id FROM events o WHERE {has.format(t='o')})))")
        args += [sel.goal, sel.goal]
    if where:
        cond.append(f"({where})")
    data = "e.data"
    if withhold:
        paths = ", ".join(f"'$.{k}', '{WITHHELD}'" for k in FREE_TEXT_DATA)
        data = ("CASE WHEN json_type(e.data) = 'object' THEN json_replace(e.data, " + paths + ") ELSE e.data END")
    # A row whose goals or data is not valid JSON (a damaged store) comes back with NULLs and is
    # skipped and counted by the caller, never spliced into the output or failing the export.
    goals_ok = "json_valid(e.goals)"
    q = (f"SELECT {', '.join('e.' + c for c in RAW_COLUMNS)}, "
         f"CASE WHEN {goals_ok} THEN e.goals END, CASE WHEN json_valid(e.data) THEN {data} END, "
         f"(SELECT group_concat(value, ';') FROM json_each(CASE WHEN {goals_ok} THEN e.goals ELSE '[]' END))"
         " FROM events e")
    if cond:
        q += " WHERE " + " AND ".join(cond)
    for row in store.tolerant_rows(q, args, "e.seq"):
        if row[N_RAW] is None or row[N_RAW + 1] is None:
            store.skipped += 1
            continue
        yield row


def event_rows(store: EventLog, events: Iterable[StoredEvent], *, names: bool = False,
               withhold: bool = False) -> Iterable[dict[str, Any]]:
    """Events as dicts with the client shown by code (or by name when the therapist chose so)."""
    who = {c["id"]: (c["display_name"] if names else c["code"]) for c in store.clients(include_archived=True)}
    version = {s["id"]: s["provenance"].get("app_version", "") for s in store.sessions()}
    for ev in events:
        d = ev.as_dict()
        d["client"] = who.get(d.pop("client_id"), "?")
        d["app_version"] = version.get(ev.session_id, "")
        if withhold and isinstance(d["data"], dict):
            d["data"] = _withheld_data(d["data"])
        yield d


def _who(store: EventLog, names: bool) -> dict[str, str]:
    return {c["id"]: (c["display_name"] if names else c["code"]) for c in store.clients(include_archived=True)}


def export_header(store: EventLog, sel: Selection, *, names: bool, fmt: str,
                  settings: dict[str, Any] | None = None, withhold: bool = False) -> dict[str, Any]:
    """What produced this export: app version, the export's own settings, and the sessions (their
    provenance without the device's config or any secret; free text named, and withheld if asked)."""
    who = {c["id"]: (c["display_name"] if names else c["code"]) for c in store.clients(include_archived=True)}
    sessions = select_sessions(store, sel) if sel != Selection() else store.sessions()
    out = []
    for s in sessions:
        row = {k: v for k, v in s.items() if k != "client_id"}
        row["provenance"] = scrub({k: v for k, v in (s.get("provenance") or {}).items() if k not in NOT_EXPORTED})
        if withhold:
            row = withheld_session(row)
        row["client"] = who.get(s["client_id"], "?")
        out.append(row)
    return {"type": "prelude_play_export", "app_version": __version__, "format": fmt,
            "exported": datetime.now().astimezone().isoformat(timespec="seconds"),
            "settings": scrub(settings or {}), "selection": shown_selection(store, sel, names),
            "pseudonymous": not names,
            "free_text": {"session_fields": list(FREE_TEXT_SESSION), "event_data_keys": list(FREE_TEXT_DATA),
                          "withheld": withhold},
            "sessions": out}


def _atomic_write(out: Path, write: Any, *, binary: bool = False) -> Path:
    """Write to ``.<name>.partial`` beside ``out``, fsync, then rename: never a complete-looking partial."""
    out = Path(out)
    if not out.parent.is_dir():
        raise ExportError(
            f"could not write {out}: the folder {out.parent} is not there (was the drive removed?). "
            "Nothing was changed in the store; plug the drive in or pick another folder, then export again.")
    tmp = out.with_name(f".{out.name}.partial")
    old = os.umask(0o077)
    try:
        mode = "wb" if binary else "w"
        kw: dict[str, Any] = {} if binary else {"encoding": "utf-8", "newline": ""}
        with open(tmp, mode, **kw) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
        os.chmod(out, 0o600)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise ExportError(
            f"could not write {out}: {exc.strerror or exc}. Nothing was changed in the store; "
            "check that the drive is plugged in and has free space, then export again.") from exc
    finally:
        os.umask(old)
    return out


def export_jsonl(store: EventLog, out: Path, *, names: bool = False,
                 events: Iterable[StoredEvent] | None = None, settings: dict[str, Any] | None = None,
                 selection: Selection | None = None, free_text: bool | None = None) -> Path:
    """One header line (what produced the file, the sessions), then one JSON object per event.
    ``free_text``: include typed text (default: only when ``names``)."""
    sel = selection or Selection()
    withhold = withhold_free_text(names, free_text)
    header = export_header(store, sel, names=names, fmt="jsonl", settings=settings, withhold=withhold)

    def write(fh: Any) -> None:
        fh.write(json.dumps(header, default=str) + "\n")
        if events is not None:
            for row in event_rows(store, events, names=names, withhold=withhold):
                fh.write(json.dumps({"type": "event", **row}, default=str) + "\n")
            return
        who = _who(store, names)
        version = {s["id"]: s["provenance"].get("app_version", "") for s in store.sessions()}
        dumps = json.dumps
        for r in raw_event_rows(store, sel, withhold=withhold):
            fixed = dict(zip(RAW_COLUMNS, r[:N_RAW]))
            fixed["client"] = who.get(fixed.pop("client_id"), "?")
            fixed["app_version"] = version.get(fixed["session_id"], "")
            # The stored goals/data JSON is spliced in as it is (checked valid JSON by SQLite).
            fh.write('{"type": "event", ' + dumps(fixed)[1:-1] + ', "goals": ' + r[N_RAW] + ', "data": '
                     + r[N_RAW + 1] + "}\n")

    return _atomic_write(out, write)


def export_csv(store: EventLog, out: Path, *, names: bool = False,
               events: Iterable[StoredEvent] | None = None, settings: dict[str, Any] | None = None,
               selection: Selection | None = None, free_text: bool | None = None) -> Path:
    """One row per event, flat columns; goals joined with ';'; UTF-8 with BOM for Excel.

    Every row names the app version that logged it; the activity_start rows carry the
    activity's settings in their data column. A cell starting with = + - @ (or a tab or CR) gets
    a leading quote, so a device or client name can never run as a spreadsheet formula.
    """
    sel = selection or Selection()
    withhold = withhold_free_text(names, free_text)

    def write(fh: Any) -> None:
        fh.write("\ufeff")
        if events is not None:
            w = csv.writer(fh)
            w.writerow(CSV_COLUMNS)
            for row in event_rows(store, events, names=names, withhold=withhold):
                row["goals"] = ";".join(row["goals"])
                row["data"] = json.dumps(row["data"], ensure_ascii=False)
                w.writerow([cell(row.get(c, "")) for c in CSV_COLUMNS])
            return
        who = _who(store, names)
        version = {s["id"]: s["provenance"].get("app_version", "") for s in store.sessions()}
        w2 = csv.writer(fh)
        w2.writerow(CSV_COLUMNS)
        for r in raw_event_rows(store, sel, withhold=withhold):
            # seq, id, session, client, activity, kind, actor, source, device, t_ms, wall, goals, prompt,
            # outcome, corrects, trial_id, data, app_version — the order of CSV_COLUMNS.
            # Ids, numbers and times cannot start like a formula; the text columns are checked.
            w2.writerow((r[0], r[1], r[2], cell(who.get(r[3], "?")), cell(r[4]), cell(r[5]), cell(r[6]),
                         cell(r[7]), cell(r[8]), r[9], r[10], cell(r[N_RAW + 2] or ""), cell(r[11]), cell(r[12]),
                         r[13], r[14], cell(r[N_RAW + 1]), cell(version.get(r[2], ""))))

    return _atomic_write(out, write)
