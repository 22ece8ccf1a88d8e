"""Records edited in two places: client profiles, goals, plans, session notes and summaries.

The clinic sync needs to know *which field* changed, *when*, and *what the editor had seen*, so
that two tablets edited offline can be merged without losing a value. Each field change becomes
a change row (``sync_changes``) stamped with a hybrid logical clock (HLC: wall milliseconds << 16
plus a counter, never going backwards, pushed past any clock it has seen) and naming the
change(s) it replaces (``supersedes``). A field's current versions are its *heads*: normally one;
two or more when edits were concurrent (neither saw the other). The row shows the head with the
highest HLC (last writer wins for display), and the others stay, visible as a conflict, until a
therapist resolves it (``resolve``) — no value is ever dropped silently.

Capture is done by SQLite triggers (installed when the tablet is enrolled): they only note
"this row changed at this time" in ``sync_dirty``; ``capture`` turns those notes into per-field
changes (profile keys are separate fields, so goals edited on one tablet and touch settings on
another never conflict). The event log's own code is untouched: ``eventlog.py`` needs no hook.

Format of the tablet's sync tables: ``meta.sync_format`` (see ``SYNC_MIGRATIONS``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from prelude_play.errors import StoreError
from prelude_play.ids import uuid7
from prelude_play.store.tx import immediate

SYNC_FORMAT = 1
SHARED = "*"  # the client id of a plan shared by every client

# entity (= table) -> its synced columns, in the order a new row's changes are made
FIELDS: dict[str, tuple[str, ...]] = {
    "clients": ("code", "display_name", "created", "archived", "profile"),
    "sessions": ("client_id", "started", "ended", "plan", "provenance", "notes", "summary", "soap", "duration_ms"),
    "plans": ("client_id", "name", "steps", "created", "updated", "archived"),
}
JSON_COLUMNS = {("clients", "profile"), ("sessions", "provenance"), ("sessions", "soap"), ("plans", "steps")}
PURGE = "_purge"  # the field of a client's purge change


def _sync_format_1(db: sqlite3.Connection) -> None:
    """Sync format 1: the change log, heads, the capture notes, cursors; and the capture triggers."""
    db.execute("CREATE TABLE IF NOT EXISTS sync_flag (applying INTEGER NOT NULL)")
    if db.execute("SELECT count(*) FROM sync_flag").fetchone()[0] == 0:
        db.execute("INSERT INTO sync_flag(applying) VALUES (0)")
    db.execute("CREATE TABLE IF NOT EXISTS sync_dirty (n INTEGER PRIMARY KEY AUTOINCREMENT, entity TEXT NOT NULL,"
               " entity_id TEXT NOT NULL, ms INTEGER NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS sync_changes (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
               " origin TEXT NOT NULL, entity TEXT NOT NULL, entity_id TEXT NOT NULL, client_id TEXT NOT NULL,"
               " field TEXT NOT NULL, value TEXT, hlc INTEGER NOT NULL, supersedes TEXT NOT NULL DEFAULT '[]')")
    db.execute("CREATE INDEX IF NOT EXISTS sync_changes_field ON sync_changes(entity, entity_id, field)")
    db.execute("CREATE INDEX IF NOT EXISTS sync_changes_client ON sync_changes(client_id)")
    db.execute("CREATE TABLE IF NOT EXISTS sync_heads (entity TEXT NOT NULL, entity_id TEXT NOT NULL,"
               " field TEXT NOT NULL, change_id TEXT NOT NULL, PRIMARY KEY (entity, entity_id, field, change_id))")
    db.execute("CREATE TABLE IF NOT EXISTS sync_superseded (change_id TEXT PRIMARY KEY)")
    db.execute("CREATE TABLE IF NOT EXISTS sync_remote_events (seq INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE IF NOT EXISTS sync_cursor (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    for table in FIELDS:
        for op in ("INSERT", "UPDATE"):
            db.execute(
                f"CREATE TRIGGER IF NOT EXISTS sync_{table}_{op.lower()} AFTER {op} ON {table}"
                " WHEN (SELECT applying FROM sync_flag) = 0 BEGIN"
                " INSERT INTO sync_dirty(entity, entity_id, ms) VALUES"
                f" ('{table}', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END")
    db.execute("CREATE TRIGGER IF NOT EXISTS sync_clients_delete AFTER DELETE ON clients"
               " WHEN (SELECT applying FROM sync_flag) = 0 BEGIN"
               " INSERT INTO sync_dirty(entity, entity_id, ms) VALUES"
               " ('clients', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)); END")
    # everything already in the store is new to the clinic: note it once
    now = int(time.time() * 1000)
    for table in FIELDS:
        db.execute(f"INSERT INTO sync_dirty(entity, entity_id, ms) SELECT '{table}', id, ? FROM {table}", (now,))


# from-format -> step to the next. The event store's own format (eventlog.SCHEMA_VERSION) is not
# changed: these tables sit beside it and are made only on a tablet that joins a clinic.
SYNC_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _sync_format_1}


def sync_format(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key='sync_format'").fetchone()
    return int(row[0]) if row else 0


def ensure_sync_schema(db: sqlite3.Connection) -> None:
    """Bring the tablet's sync tables up to ``SYNC_FORMAT`` (one transaction per step)."""
    version = sync_format(db)
    if version > SYNC_FORMAT:
        raise StoreError(f"the store's sync tables are format {version}; this version reads {SYNC_FORMAT}. "
                         "Update Prelude Play.")
    while version < SYNC_FORMAT:
        with immediate(db):
            SYNC_MIGRATIONS[version](db)
            version += 1
            db.execute("INSERT INTO meta(key, value) VALUES ('sync_format', ?) ON CONFLICT(key) DO UPDATE"
                       " SET value=excluded.value", (str(version),))


def device_id(db: sqlite3.Connection) -> str:
    return db.execute("SELECT value FROM meta WHERE key='device_id'").fetchone()[0]


# ---- the hybrid logical clock ---------------------------------------------------------------

def hlc_next(db: sqlite3.Connection, wall_ms: int) -> int:
    """A new HLC for a local change made at ``wall_ms``: above every HLC this tablet has seen."""
    last = _hlc_last(db)
    value = max(wall_ms << 16, last + 1)
    _hlc_store(db, value)
    return value


def hlc_observe(db: sqlite3.Connection, remote: int) -> None:
    """Move the clock past a change from another tablet (so a later local edit wins over it)."""
    if remote > _hlc_last(db):
        _hlc_store(db, remote)


def _hlc_last(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key='sync_hlc'").fetchone()
    return int(row[0]) if row else 0


def _hlc_store(db: sqlite3.Connection, value: int) -> None:
    db.execute("INSERT INTO meta(key, value) VALUES ('sync_hlc', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
               (str(value),))


def hlc_ms(hlc: int) -> int:
    return hlc >> 16


# ---- changes ---------------------------------------------------------------------------------

@dataclass
class Change:
    id: str
    origin: str
    entity: str
    entity_id: str
    client_id: str
    field: str
    value: str | None  # JSON text of the field's value; None only for a purge
    hlc: int
    supersedes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "origin": self.origin, "entity": self.entity, "entity_id": self.entity_id,
                "client_id": self.client_id, "field": self.field, "value": self.value, "hlc": self.hlc,
                "supersedes": list(self.supersedes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Change":
        sup = d.get("supersedes") or []
        if isinstance(sup, str):
            sup = json.loads(sup)
        return cls(d["id"], d["origin"], d["entity"], d["entity_id"], d["client_id"], d["field"], d.get("value"),
                   int(d["hlc"]), tuple(sup))


CHANGE_COLUMNS = "id, origin, entity, entity_id, client_id, field, value, hlc, supersedes"


def _change_from_row(r: tuple) -> Change:
    return Change(r[0], r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]), tuple(json.loads(r[8])))


def heads(db: sqlite3.Connection, entity: str, entity_id: str, field: str) -> list[Change]:
    """The field's current versions, the displayed one (highest HLC, then origin) first."""
    rows = db.execute(
        f"SELECT {', '.join('c.' + c.strip() for c in CHANGE_COLUMNS.split(','))} FROM sync_heads h"
        " JOIN sync_changes c ON c.id = h.change_id WHERE h.entity=? AND h.entity_id=? AND h.field=?",
        (entity, entity_id, field)).fetchall()
    return sorted((_change_from_row(r) for r in rows), key=lambda c: (c.hlc, c.origin), reverse=True)


def _current_fields(db: sqlite3.Connection, entity: str, entity_id: str, share_names: bool
                    ) -> dict[str, str] | None:
    """The row's synced fields as JSON texts (profile split per key), or None if it is gone."""
    cols = FIELDS[entity]
    row = db.execute(f"SELECT {', '.join(cols)} FROM {entity} WHERE id=?", (entity_id,)).fetchone()
    if row is None:
        return None
    out: dict[str, str] = {}
    for col, value in zip(cols, row):
        if entity == "clients" and col == "display_name" and not share_names:
            continue  # names stay on the tablet unless the clinic says otherwise
        if entity == "clients" and col == "profile":
            try:
                prof = json.loads(value or "{}")
            except ValueError:
                prof = {}
            for k, v in (prof.items() if isinstance(prof, dict) else ()):
                out[f"profile.{k}"] = json.dumps(v, sort_keys=True, ensure_ascii=False)
            continue
        if (entity, col) in JSON_COLUMNS:
            try:
                value = json.loads(value) if value is not None else None
            except ValueError:
                pass
        out[col] = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return out


def _client_of(entity: str, entity_id: str, fields: dict[str, str]) -> str:
    if entity == "clients":
        return entity_id
    cid = json.loads(fields.get("client_id", "null"))
    return cid if cid else SHARED


def capture(db: sqlite3.Connection, *, share_names: bool) -> int:
    """Turn the triggers' notes into per-field changes (the outbox); returns how many were made.

    Runs in one transaction, so a crash leaves either the notes or the changes, never neither.
    """
    with immediate(db):
        return _capture(db, share_names)


def _capture(db: sqlite3.Connection, share_names: bool) -> int:
    """``capture`` inside the caller's transaction."""
    me = device_id(db)
    made = 0
    notes = db.execute("SELECT entity, entity_id, max(ms), max(n) FROM sync_dirty GROUP BY entity, entity_id"
                       " ORDER BY min(n)").fetchall()
    top = max((n[3] for n in notes), default=0)
    for entity, entity_id, ms, _ in notes:
        fields = _current_fields(db, entity, entity_id, share_names)
        if fields is None:
            if entity == "clients" and _known_entity(db, entity, entity_id):
                ch = Change(uuid7(), me, entity, entity_id, entity_id, PURGE, None, hlc_next(db, ms))
                _apply(db, ch)
                _forget_client(db, entity_id)  # the purge leaves no value behind in the change log
                made += 1
            continue
        client_id = _client_of(entity, entity_id, fields)
        for field, value in fields.items():
            hs = heads(db, entity, entity_id, field)
            if any(h.value == value for h in hs[:1]):
                continue  # what the row shows is already the field's displayed version
            ch = Change(uuid7(), me, entity, entity_id, client_id, field, value, hlc_next(db, ms),
                        (hs[0].id,) if hs else ())  # replaces only what this tablet showed
            _apply(db, ch)
            made += 1
    db.execute("DELETE FROM sync_dirty WHERE n <= ?", (top,))
    return made


def _known_entity(db: sqlite3.Connection, entity: str, entity_id: str) -> bool:
    return db.execute("SELECT 1 FROM sync_changes WHERE entity=? AND entity_id=? LIMIT 1",
                      (entity, entity_id)).fetchone() is not None


def _apply(db: sqlite3.Connection, ch: Change) -> bool:
    """Record a change and move the field's heads; returns False if it was already known."""
    cur = db.execute(f"INSERT OR IGNORE INTO sync_changes({CHANGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                     (ch.id, ch.origin, ch.entity, ch.entity_id, ch.client_id, ch.field, ch.value, ch.hlc,
                      json.dumps(list(ch.supersedes))))
    if cur.rowcount == 0:
        return False
    db.executemany("INSERT OR IGNORE INTO sync_superseded(change_id) VALUES (?)", [(s,) for s in ch.supersedes])
    db.executemany("DELETE FROM sync_heads WHERE entity=? AND entity_id=? AND field=? AND change_id=?",
                   [(ch.entity, ch.entity_id, ch.field, s) for s in ch.supersedes])
    if db.execute("SELECT 1 FROM sync_superseded WHERE change_id=?", (ch.id,)).fetchone() is None:
        db.execute("INSERT OR IGNORE INTO sync_heads(entity, entity_id, field, change_id) VALUES (?,?,?,?)",
                   (ch.entity, ch.entity_id, ch.field, ch.id))
    return True


def apply_remote(db: sqlite3.Connection, changes: Iterable[Change], *, share_names: bool = False) -> int:
    """Apply other tablets' changes (in the server's order) to the change log and the rows.

    Runs inside the caller's write transaction: local edits not yet noted as changes are noted
    first (else the remote value written into the row would hide them), then the capture
    triggers are silenced while the rows are written.
    """
    _capture(db, share_names)
    n = 0
    db.execute("UPDATE sync_flag SET applying=1")
    try:
        for ch in changes:
            hlc_observe(db, ch.hlc)
            if ch.field == PURGE:
                if _apply(db, ch):
                    purge_local(db, ch.entity_id)
                    n += 1
                continue
            if db.execute("SELECT 1 FROM sync_changes WHERE id=? ", (ch.id,)).fetchone():
                continue
            if _purged(db, ch.client_id):
                continue
            _apply(db, ch)
            _write_field(db, ch.entity, ch.entity_id, ch.field)
            n += 1
    finally:
        db.execute("UPDATE sync_flag SET applying=0")
    return n


def _purged(db: sqlite3.Connection, client_id: str) -> bool:
    return db.execute("SELECT 1 FROM sync_changes WHERE entity='clients' AND entity_id=? AND field=?",
                      (client_id, PURGE)).fetchone() is not None


def purge_local(db: sqlite3.Connection, client_id: str) -> None:
    """A purge made on another tablet: the client's rows and events go here too (the same steps as
    ``EventLog.purge_client``, which asks for the code typed back; the therapist did that there)."""
    db.execute("DROP TRIGGER IF EXISTS events_no_delete")
    try:
        db.execute("DELETE FROM sync_remote_events WHERE seq IN (SELECT seq FROM events WHERE client_id=?)",
                   (client_id,))
        db.execute("DELETE FROM events WHERE client_id=?", (client_id,))
        db.execute("DELETE FROM sessions WHERE client_id=?", (client_id,))
        db.execute("DELETE FROM plans WHERE client_id=?", (client_id,))
        db.execute("DELETE FROM clients WHERE id=?", (client_id,))
    finally:
        db.execute("CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events BEGIN SELECT "
                   "RAISE(ABORT, 'events are append-only: log a correction instead'); END")
    _forget_client(db, client_id)


def _forget_client(db: sqlite3.Connection, client_id: str) -> None:
    """Drop a purged client's record history; only the purge marker stays (it must travel)."""
    db.execute("DELETE FROM sync_heads WHERE entity_id=? OR entity_id IN (SELECT entity_id FROM sync_changes"
               " WHERE client_id=?)", (client_id, client_id))
    db.execute("DELETE FROM sync_changes WHERE client_id=? AND field<>?", (client_id, PURGE))
    db.execute("DELETE FROM sync_remote_events WHERE seq NOT IN (SELECT seq FROM events)")


def ensure_row(db: sqlite3.Connection, entity: str, entity_id: str, client_id: str = SHARED,
               wall: str = "") -> None:
    """A placeholder row for a record whose first changes have not arrived yet (filled in by them)."""
    if db.execute(f"SELECT 1 FROM {entity} WHERE id=?", (entity_id,)).fetchone():
        return
    if entity == "clients":
        code = "C-" + entity_id[-6:].upper()
        if db.execute("SELECT 1 FROM clients WHERE code=?", (code,)).fetchone():
            code = "C-" + uuid7()[-8:].upper()
        db.execute("INSERT INTO clients(id, code, display_name, created) VALUES (?,?,?,?)",
                   (entity_id, code, code, wall))
    elif entity == "sessions":
        ensure_row(db, "clients", client_id, wall=wall)
        db.execute("INSERT INTO sessions(id, client_id, started) VALUES (?,?,?)", (entity_id, client_id, wall))
    else:
        db.execute("INSERT INTO plans(id, client_id, name, steps, created, updated) VALUES (?,?,?,?,?,?)",
                   (entity_id, None if client_id == SHARED else client_id, "", "[]", wall, wall))


def _write_field(db: sqlite3.Connection, entity: str, entity_id: str, field: str) -> None:
    """Show the field's displayed head in the row (profile keys inside the profile JSON)."""
    hs = heads(db, entity, entity_id, field)
    if not hs:
        return
    top = hs[0]
    ensure_row(db, entity, entity_id, top.client_id)
    value = json.loads(top.value) if top.value is not None else None
    if field.startswith("profile."):
        row = db.execute("SELECT profile FROM clients WHERE id=?", (entity_id,)).fetchone()
        try:
            prof = json.loads(row[0] or "{}")
        except ValueError:
            prof = {}
        prof[field.split(".", 1)[1]] = value
        db.execute("UPDATE clients SET profile=? WHERE id=?", (json.dumps(prof, ensure_ascii=False), entity_id))
        return
    if field not in FIELDS[entity]:
        return  # a field a newer version syncs: kept in the change log, not shown
    if (entity, field) in JSON_COLUMNS:
        value = json.dumps(value, ensure_ascii=False)
    if entity == "sessions" and field == "client_id":
        ensure_row(db, "clients", value)
    if entity == "clients" and field == "code" and db.execute(
            "SELECT 1 FROM clients WHERE code=? AND id<>?", (value, entity_id)).fetchone():
        value = f"{value}-{entity_id[-4:]}"  # two tablets made the same code: keep both clients
    if entity == "clients" and field == "code":  # a name not shared: the code stands in for it
        db.execute("UPDATE clients SET display_name=? WHERE id=? AND display_name=code", (value, entity_id))
    db.execute(f"UPDATE {entity} SET {field}=? WHERE id=?", (value, entity_id))


# ---- conflicts -------------------------------------------------------------------------------

@dataclass
class Conflict:
    """A field with concurrent versions: the first is the one shown (highest HLC)."""

    entity: str
    entity_id: str
    client_id: str
    field: str
    versions: list[Change]

    def as_dict(self) -> dict[str, Any]:
        return {"entity": self.entity, "entity_id": self.entity_id, "client_id": self.client_id,
                "field": self.field,
                "versions": [{"change": v.id, "origin": v.origin, "value": json.loads(v.value) if v.value else None,
                              "time_ms": hlc_ms(v.hlc)} for v in self.versions]}


def conflicts(db: sqlite3.Connection) -> list[Conflict]:
    """Every field with more than one head, oldest conflict first."""
    rows = db.execute("SELECT entity, entity_id, field FROM sync_heads GROUP BY entity, entity_id, field"
                      " HAVING count(*) > 1 ORDER BY entity, entity_id, field").fetchall()
    out = []
    for entity, entity_id, field in rows:
        hs = heads(db, entity, entity_id, field)
        out.append(Conflict(entity, entity_id, hs[0].client_id, field, hs))
    return out


def resolve(db: sqlite3.Connection, entity: str, entity_id: str, field: str, value_json: str) -> Change:
    """The therapist's choice: a new change that replaces every version, so the conflict ends on
    every tablet once it is synced. ``value_json`` is one of the versions' values or a new one."""
    json.loads(value_json)  # must be JSON
    hs = heads(db, entity, entity_id, field)
    if len(hs) < 2:
        raise StoreError(f"{entity} {entity_id} {field}: no conflict to resolve")
    with immediate(db):
        ch = Change(uuid7(), device_id(db), entity, entity_id, hs[0].client_id, field, value_json,
                    hlc_next(db, int(time.time() * 1000)), tuple(h.id for h in hs))
        db.execute("UPDATE sync_flag SET applying=1")
        _apply(db, ch)
        _write_field(db, entity, entity_id, field)
        db.execute("UPDATE sync_flag SET applying=0")
    return ch


# ---- cursors ---------------------------------------------------------------------------------

def get_cursor(db: sqlite3.Connection, name: str) -> int:
    row = db.execute("SELECT value FROM sync_cursor WHERE name=?", (name,)).fetchone()
    return int(row[0]) if row else 0


def set_cursor(db: sqlite3.Connection, name: str, value: int) -> None:
    db.execute("INSERT INTO sync_cursor(name, value) VALUES (?,?) ON CONFLICT(name) DO UPDATE"
               " SET value=max(value, excluded.value)", (name, value))


def cursors_with_prefix(db: sqlite3.Connection, prefix: str) -> dict[str, int]:
    return {n[len(prefix):]: v for n, v in db.execute("SELECT name, value FROM sync_cursor WHERE name LIKE ?",
                                                       (prefix + "%",))}
