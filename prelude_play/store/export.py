"""Export the event store to JSON Lines (full fidelity) or CSV (flat, opens in a spreadsheet).

Exports are pseudonymous by default (the client's code, never the display name), written to a
temporary file beside the target and renamed into place only when complete, so a full or pulled
drive never leaves a partial export looking complete. Files are created readable by the user only.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterable

from prelude_play import __version__
from prelude_play.errors import ExportError
from prelude_play.store.eventlog import EventLog, StoredEvent

CSV_COLUMNS = ["id", "session_id", "client", "activity", "kind", "actor", "source", "device", "t_ms",
               "wall", "goals", "prompt", "outcome", "corrects", "data"]


def event_rows(store: EventLog, events: Iterable[StoredEvent], *, names: bool = False) -> Iterable[dict[str, Any]]:
    """Events as dicts with the client shown by code (or by name when the therapist chose so)."""
    who = {c["id"]: (c["display_name"] if names else c["code"]) for c in store.clients(include_archived=True)}
    for ev in events:
        d = ev.as_dict()
        d["client"] = who.get(d.pop("client_id"), "?")
        yield d


def _atomic_write(out: Path, write: Any) -> Path:
    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial")
    old = os.umask(0o077)
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
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
                 events: Iterable[StoredEvent] | None = None, settings: dict[str, Any] | None = None) -> Path:
    """One header line (what produced the file), then one JSON object per event."""
    events = store.events() if events is None else events

    def write(fh: Any) -> None:
        header = {"type": "prelude_play_export", "app_version": __version__, "settings": settings or {},
                  "pseudonymous": not names,
                  "sessions": [{k: v for k, v in s.items() if k != "client_id"} for s in store.sessions()]}
        fh.write(json.dumps(header, default=str) + "\n")
        for row in event_rows(store, events, names=names):
            fh.write(json.dumps({"type": "event", **row}, default=str) + "\n")

    return _atomic_write(out, write)


def export_csv(store: EventLog, out: Path, *, names: bool = False,
               events: Iterable[StoredEvent] | None = None) -> Path:
    """One row per event, flat columns; goals joined with ';'; UTF-8 with BOM for Excel."""
    events = store.events() if events is None else events

    def write(fh: Any) -> None:
        fh.write("\ufeff")
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for row in event_rows(store, events, names=names):
            row["goals"] = ";".join(row["goals"])
            row["data"] = json.dumps(row["data"], ensure_ascii=False)
            w.writerow(row)

    return _atomic_write(out, write)
