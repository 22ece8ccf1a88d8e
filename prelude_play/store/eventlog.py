"""The event log: an embedded SQLite store, append-only, that survives ``kill -9``.

WAL mode with one commit per event: once ``log()`` returns an id, the row is in the WAL file
in the OS page cache, so the process dying at any moment cannot lose it (synchronous=NORMAL
is durable against process crashes; FULL, at a cost of an fsync per event, also against power
loss — configurable). If the disk is full the event is kept in memory, retried, and the shell
shows a notice; it is never dropped.

Corrections never overwrite: the events table refuses UPDATE and DELETE; an undo/edit is a new
event whose ``corrects`` names the original.

Ids are global (format 3): every event has a UUIDv7 ``id`` made before it is written, so stores
from several tablets merge without collisions; ``seq`` is only this store's own order. Events
that belong to a trial carry its ``trial_id`` (see ``prelude_play.session.trials``).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import uuid
from dataclasses import dataclass, field
from typing import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from prelude_play.clock import Clock, ms_since
from prelude_play.errors import StoreError
from prelude_play.events import LogEvent
from prelude_play.ids import uuid7
from prelude_play.os_specific import make_private_dir

SCHEMA_VERSION = 3
APP_ID = 0x50504C59  # "PPLY": tells our store from any other SQLite file

EVENTS_TABLE = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    client_id TEXT NOT NULL,
    activity TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    device TEXT NOT NULL,
    t_ms REAL NOT NULL,
    wall TEXT NOT NULL,
    goals TEXT NOT NULL,
    prompt TEXT,
    outcome TEXT,
    data TEXT NOT NULL,
    corrects TEXT,
    trial_id TEXT
);
"""

# The current format, as a new store gets it. Older stores reach it through MIGRATIONS.
SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    profile TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    started TEXT NOT NULL,
    ended TEXT,
    plan TEXT,
    provenance TEXT NOT NULL DEFAULT '{}',
    notes TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    soap TEXT NOT NULL DEFAULT '{}',
    duration_ms REAL
);
CREATE TABLE IF NOT EXISTS plans (
    id TEXT PRIMARY KEY,
    client_id TEXT,
    name TEXT NOT NULL,
    steps TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
""" + EVENTS_TABLE

# Indexes and triggers, made (idempotently) after any migration.
FINISH = """
CREATE INDEX IF NOT EXISTS events_session ON events(session_id);
CREATE INDEX IF NOT EXISTS events_client ON events(client_id);
CREATE INDEX IF NOT EXISTS events_trial ON events(trial_id);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: log a correction instead'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: log a correction instead'); END;
"""


def _migrate_1_to_2(db: sqlite3.Connection) -> None:
    """Format 2: reusable session plans, and the end-of-session summary saved with the session."""
    db.execute("ALTER TABLE sessions ADD COLUMN summary TEXT NOT NULL DEFAULT ''")
    db.execute(
        "CREATE TABLE IF NOT EXISTS plans (id TEXT PRIMARY KEY, client_id TEXT, name TEXT NOT NULL,"
        " steps TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,"
        " archived INTEGER NOT NULL DEFAULT 0)")


def _migrate_2_to_3(db: sqlite3.Connection) -> None:
    """Format 3: global event ids (UUIDv7, made from each event's own wall time) and trial ids;
    a session keeps its signed note (S, O, A, P) and its length measured on the monotonic clock.

    The old integer id becomes ``seq`` (this store's order, unchanged); a correction's
    ``corrects`` becomes the global id of the event it names. Events logged before trials
    existed have no ``trial_id``; ``session.figures`` reads them by the old rules, marked as such.
    """
    db.execute("DROP TRIGGER IF EXISTS events_no_update")
    db.execute("DROP TRIGGER IF EXISTS events_no_delete")
    db.execute("DROP INDEX IF EXISTS events_session")
    db.execute("DROP INDEX IF EXISTS events_client")
    db.execute("ALTER TABLE sessions ADD COLUMN soap TEXT NOT NULL DEFAULT '{}'")
    db.execute("ALTER TABLE sessions ADD COLUMN duration_ms REAL")
    db.execute("ALTER TABLE events RENAME TO events_format2")
    db.execute(EVENTS_TABLE)  # one statement: execute, not executescript (which would commit)
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    ids: dict[int, str] = {}
    for seq, wall in db.execute("SELECT id, wall FROM events_format2 ORDER BY id"):
        try:
            ms = int(datetime.fromisoformat(wall).timestamp() * 1000)
        except (TypeError, ValueError):
            ms = None
        ids[seq] = uuid7(ms)
    rows = db.execute("SELECT id, session_id, client_id, activity, kind, actor, source, device, t_ms, wall,"
                      " goals, prompt, outcome, data, corrects FROM events_format2 ORDER BY id")
    db.executemany(
        "INSERT INTO events(seq, id, session_id, client_id, activity, kind, actor, source, device, t_ms, wall,"
        " goals, prompt, outcome, data, corrects, trial_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
        ((r[0], ids[r[0]], *r[1:14], ids.get(r[14]) if r[14] is not None else None) for r in rows))
    db.execute("DROP TABLE events_format2")


# from-version -> step to the next version. Each step runs in one transaction, after a backup.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2, 2: _migrate_2_to_3}

EVENT_COLUMNS = ("seq", "id", "session_id", "client_id", "activity", "kind", "actor", "source", "device",
                 "t_ms", "wall", "goals", "prompt", "outcome", "data", "corrects", "trial_id")


def wall_now() -> str:
    """Wall time as ISO 8601 with the local UTC offset (what a therapist reads in a report)."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds")


@dataclass
class Session:
    id: str
    client_id: str
    t0_ns: int
    started: str
    activity: str = "home"
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class StoredEvent:
    seq: int
    id: str
    session_id: str
    client_id: str
    activity: str
    kind: str
    actor: str
    source: str
    device: str
    t_ms: float
    wall: str
    goals: tuple[str, ...]
    prompt: str | None
    outcome: str | None
    data: dict[str, Any]
    corrects: str | None
    trial_id: str | None = None

    @classmethod
    def from_row(cls, row: tuple) -> "StoredEvent":
        d = dict(zip(EVENT_COLUMNS, row))
        d["goals"] = tuple(json.loads(d["goals"]))
        d["data"] = json.loads(d["data"])
        return cls(**d)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


class EventLog:
    """The append-only store. One instance per process, used from the UI thread."""

    def __init__(self, path: Path | str, clock: Clock, *, durable: str = "NORMAL") -> None:
        self.clock = clock
        self.path = Path(path) if path != ":memory:" else None
        self.pending: list[tuple] = []
        self.last_error: str | None = None
        self.notices: list[str] = []  # e.g. "upgraded from format 1, backup kept at ..."
        if self.path is not None:
            self.notices += make_private_dir(self.path.parent)  # per OS: prelude_play/os_specific.py
            self._check_existing(self.path)
            old = os.umask(0o077)
            try:
                self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            finally:
                os.umask(old)
        else:
            self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={durable}")
            self.db.execute("PRAGMA foreign_keys=ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: this store was written by a newer Prelude Play (format {version}, "
                    f"this version reads {SCHEMA_VERSION}). It was not changed. Update Prelude Play "
                    "or use --data-dir to open another folder.")
            self._create_or_migrate(version)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the event store ({exc})") from exc
        if self.path is not None:
            for p in (self.path, Path(str(self.path) + "-wal"), Path(str(self.path) + "-shm")):
                if p.exists():
                    os.chmod(p, stat.S_IRUSR | stat.S_IWUSR)

    def _create_or_migrate(self, version: int) -> None:
        """Create a new store, or bring an older one up to this format (backup kept first)."""
        has_tables = self.db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='events'").fetchone()[0]
        if not has_tables:  # a new store: the current schema at once
            self.db.executescript(SCHEMA)
            version = SCHEMA_VERSION
        elif version == 0:  # written before formats were numbered: the base schema
            version = 1
        if version == SCHEMA_VERSION and has_tables and not self._has_column("events", "trial_id"):
            version = 2  # marked current but laid out as format 2 (a hand-edited user_version)
        if version < SCHEMA_VERSION:
            backup = self._backup(f"format{version}") if has_tables else None
            self.db.execute("BEGIN IMMEDIATE")
            try:
                while version < SCHEMA_VERSION:
                    MIGRATIONS[version](self.db)
                    version += 1
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            if backup is not None:
                self.notices.append(
                    f"The event store was upgraded to format {SCHEMA_VERSION}; the old one is kept at {backup}.")
        self.db.executescript(FINISH)  # indexes and triggers, idempotent
        self.db.execute(f"PRAGMA application_id={APP_ID}")
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        row = self.db.execute("SELECT value FROM meta WHERE key='device_id'").fetchone()
        if row is None:  # this store's own id: a tablet's origin when stores are merged
            self.db.execute("INSERT INTO meta(key, value) VALUES ('device_id', ?)", (uuid7(),))
            row = self.db.execute("SELECT value FROM meta WHERE key='device_id'").fetchone()
        self.device_id: str = row[0]

    def _has_column(self, table: str, column: str) -> bool:
        return any(r[1] == column for r in self.db.execute(f"PRAGMA table_info({table})"))

    def _backup(self, label: str) -> Path | None:
        """A consistent copy of the whole store beside it (SQLite's online backup, WAL included)."""
        if self.path is None:
            return None
        dest = self.path.with_name(f"{self.path.name}.{label}-{datetime.now():%Y%m%d-%H%M%S}")
        old = os.umask(0o077)
        try:
            target = sqlite3.connect(dest)
            try:
                self.db.backup(target)
            finally:
                target.close()
        finally:
            os.umask(old)
        return dest

    @staticmethod
    def _check_existing(path: Path) -> None:
        """Detect a damaged or foreign store before touching it; keep a backup of a damaged one."""
        if not path.exists() or path.stat().st_size == 0:
            return
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                app_id = con.execute("PRAGMA application_id").fetchone()[0]
                ok = con.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            app_id, ok = None, str(exc)
        if ok != "ok" or app_id not in (0, APP_ID):
            backup = path.with_name(f"{path.name}.damaged-{datetime.now():%Y%m%d-%H%M%S}")
            shutil.copy2(path, backup)
            raise StoreError(
                f"{path}: the event store is damaged or is not a Prelude Play store ({ok}). "
                f"A copy was kept at {backup}. Move the damaged file away to start a new store, "
                "or restore a backup.")

    # ---- clients and sessions --------------------------------------------------------------

    def ensure_client(self, client_id: str, display_name: str | None = None,
                      code: str | None = None) -> None:
        """Create the client if new. Its pseudonymous code is what exports show by default."""
        row = self.db.execute("SELECT id FROM clients WHERE id=?", (client_id,)).fetchone()
        if row:
            return
        code = code or "C-" + uuid.uuid4().hex[:6].upper()
        self.db.execute(
            "INSERT INTO clients(id, code, display_name, created) VALUES (?,?,?,?)",
            (client_id, code, display_name or client_id, wall_now()))

    def clients(self, include_archived: bool = False) -> list[dict[str, Any]]:
        q = "SELECT id, code, display_name, archived, profile FROM clients"
        if not include_archived:
            q += " WHERE archived=0"
        rows = self.db.execute(q + " ORDER BY display_name").fetchall()
        return [{"id": r[0], "code": r[1], "display_name": r[2], "archived": bool(r[3]),
                 "profile": json.loads(r[4])} for r in rows]

    def client_profile(self, client_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT profile FROM clients WHERE id=?", (client_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def set_client_profile(self, client_id: str, profile: dict[str, Any]) -> None:
        self.db.execute("UPDATE clients SET profile=? WHERE id=?", (json.dumps(profile), client_id))

    def start_session(self, client_id: str, provenance: dict[str, Any], plan: str | None = None) -> Session:
        self.ensure_client(client_id)
        s = Session(uuid7(), client_id, self.clock.now_ns(), wall_now(), provenance=provenance)
        self.db.execute(
            "INSERT INTO sessions(id, client_id, started, plan, provenance) VALUES (?,?,?,?,?)",
            (s.id, client_id, s.started, plan, json.dumps(provenance, default=str)))
        return s

    def update_provenance(self, session: Session, **extra: Any) -> None:
        session.provenance.update(extra)
        self.db.execute("UPDATE sessions SET provenance=? WHERE id=?",
                        (json.dumps(session.provenance, default=str), session.id))

    def end_session(self, session: Session, notes: str | None = None) -> None:
        """Close the session: its length comes from the monotonic clock (a wall-clock jump during
        the session cannot make it negative); the wall time is only a label."""
        self.flush()
        duration = (self.clock.now_ns() - session.t0_ns) / 1e6
        if notes is None:
            self.db.execute("UPDATE sessions SET ended=?, duration_ms=? WHERE id=?",
                            (wall_now(), duration, session.id))
        else:
            self.db.execute("UPDATE sessions SET ended=?, notes=?, duration_ms=? WHERE id=?",
                            (wall_now(), notes, duration, session.id))

    def sessions(self, client_id: str | None = None) -> list[dict[str, Any]]:
        q = ("SELECT id, client_id, started, ended, plan, provenance, notes, summary, soap, duration_ms"
             " FROM sessions")
        args: tuple = ()
        if client_id:
            q += " WHERE client_id=?"
            args = (client_id,)
        rows = self.db.execute(q + " ORDER BY started", args).fetchall()
        return [{"id": r[0], "client_id": r[1], "started": r[2], "ended": r[3], "plan": r[4],
                 "provenance": json.loads(r[5]), "notes": r[6], "summary": r[7], "soap": json.loads(r[8] or "{}"),
                 "duration_ms": r[9]} for r in rows]

    def session(self, session_id: str) -> dict[str, Any] | None:
        """One session by id (or by the first characters of its id, when they name only one)."""
        rows = [s for s in self.sessions() if s["id"] == session_id]
        if not rows and session_id:
            rows = [s for s in self.sessions() if s["id"].startswith(session_id)]
        return rows[0] if len(rows) == 1 else None

    def set_session_soap(self, session_id: str, soap: dict[str, Any]) -> None:
        """The session note's S, O, A and P as the therapist edited them (kept with the session)."""
        self.db.execute("UPDATE sessions SET soap=? WHERE id=?", (json.dumps(soap, ensure_ascii=False), session_id))

    def set_session_notes(self, session_id: str, notes: str) -> None:
        """The therapist's free notes for the session (shown in its summary and reports)."""
        self.db.execute("UPDATE sessions SET notes=? WHERE id=?", (notes, session_id))

    def set_session_summary(self, session_id: str, summary: str) -> None:
        """The end-of-session summary text, kept with the session."""
        self.db.execute("UPDATE sessions SET summary=? WHERE id=?", (summary, session_id))

    def set_session_plan(self, session_id: str, plan: str | None) -> None:
        self.db.execute("UPDATE sessions SET plan=? WHERE id=?", (plan, session_id))

    # ---- client records (profile editing lives in store/clients.py) -------------------------

    def client(self, client_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT id, code, display_name, archived, profile, created FROM clients"
                              " WHERE id=?", (client_id,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "code": row[1], "display_name": row[2], "archived": bool(row[3]),
                "profile": json.loads(row[4]), "created": row[5]}

    def rename_client(self, client_id: str, display_name: str) -> None:
        self.db.execute("UPDATE clients SET display_name=? WHERE id=?", (display_name, client_id))

    def set_archived(self, client_id: str, archived: bool) -> None:
        """Archived clients leave the home list but keep every event (nothing is deleted)."""
        self.db.execute("UPDATE clients SET archived=? WHERE id=?", (int(archived), client_id))

    def purge_client(self, client_id: str, *, confirm_code: str) -> int:
        """Delete a client and ALL their data for good. Returns the number of events removed.

        The only way anything leaves the append-only log; it needs the client's code typed back
        (the app asks for a confirmation and offers an export first).
        """
        row = self.db.execute("SELECT code FROM clients WHERE id=?", (client_id,)).fetchone()
        if row is None:
            raise StoreError(f"no client {client_id!r}")
        if confirm_code != row[0]:
            raise StoreError(f"not deleted: the confirmation {confirm_code!r} is not the client's code")
        self.flush()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DROP TRIGGER events_no_delete")
            n = self.db.execute("DELETE FROM events WHERE client_id=?", (client_id,)).rowcount
            self.db.execute("DELETE FROM sessions WHERE client_id=?", (client_id,))
            self.db.execute("DELETE FROM plans WHERE client_id=?", (client_id,))
            self.db.execute("DELETE FROM clients WHERE id=?", (client_id,))
            self.db.execute("CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT "
                            "RAISE(ABORT, 'events are append-only: log a correction instead'); END")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return n

    # ---- session plans (see store/plans.py) ----------------------------------------------------

    def save_plan(self, plan_id: str, name: str, steps: list[dict[str, Any]],
                  client_id: str | None = None) -> None:
        """Create or replace a plan; ``client_id`` None means shared by every client."""
        now = wall_now()
        self.db.execute(
            "INSERT INTO plans(id, client_id, name, steps, created, updated) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(id) DO UPDATE SET name=excluded.name, steps=excluded.steps,"
            " client_id=excluded.client_id, updated=excluded.updated, archived=0",
            (plan_id, client_id, name, json.dumps(steps), now, now))

    def stored_plans(self, client_id: str | None = None) -> list[dict[str, Any]]:
        """Plans for ``client_id`` plus shared ones (all plans when None), not archived."""
        q = "SELECT id, client_id, name, steps, updated FROM plans WHERE archived=0"
        args: tuple = ()
        if client_id is not None:
            q += " AND (client_id=? OR client_id IS NULL)"
            args = (client_id,)
        rows = self.db.execute(q + " ORDER BY name", args).fetchall()
        return [{"id": r[0], "client_id": r[1], "name": r[2], "steps": json.loads(r[3]), "updated": r[4]}
                for r in rows]

    def archive_plan(self, plan_id: str) -> None:
        self.db.execute("UPDATE plans SET archived=1 WHERE id=?", (plan_id,))

    # ---- events ----------------------------------------------------------------------------

    def log(self, session: Session, ev: LogEvent) -> str:
        """Append one event; returns its global id (made here, before the write).

        The row is committed before this returns unless the disk refused it: then it is held in
        ``pending`` (kept in memory, retried by ``flush``) and ``last_error`` says why.
        """
        t_ns = ev.t_ns if ev.t_ns is not None else self.clock.now_ns()
        eid = ev.id or uuid7()
        row = (eid, session.id, session.client_id, session.activity, ev.kind, ev.actor, ev.source,
               ev.device, ms_since(session.t0_ns, t_ns), wall_now(), json.dumps(list(ev.goals)),
               ev.prompt, ev.outcome, json.dumps(ev.data, default=str), ev.corrects, ev.trial)
        if self.pending:
            self.flush()
        if self.pending:
            self.pending.append(row)
            return eid
        try:
            self._insert(row)
        except sqlite3.OperationalError as exc:  # disk full, I/O error, locked
            self.last_error = str(exc)
            self.pending.append(row)
        return eid

    def is_pending(self, event_id: str) -> bool:
        return any(r[0] == event_id for r in self.pending)

    def _insert(self, row: tuple) -> None:
        self.db.execute(
            "INSERT INTO events(id, session_id, client_id, activity, kind, actor, source, device, t_ms,"
            " wall, goals, prompt, outcome, data, corrects, trial_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            row)

    def flush(self) -> int:
        """Retry events held in memory; returns how many are still pending."""
        while self.pending:
            try:
                self._insert(self.pending[0])
            except sqlite3.IntegrityError:  # already written (the first try failed after the row landed)
                pass
            except sqlite3.OperationalError as exc:
                self.last_error = str(exc)
                break
            self.pending.pop(0)
        if not self.pending:
            self.last_error = None
        return len(self.pending)

    def events(self, session_id: str | None = None, client_id: str | None = None) -> Iterator[StoredEvent]:
        q = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
        cond, args = [], []
        if session_id:
            cond.append("session_id=?"); args.append(session_id)
        if client_id:
            cond.append("client_id=?"); args.append(client_id)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        for row in self.db.execute(q + " ORDER BY seq", args):
            yield StoredEvent.from_row(row)

    def latest_event_data(self, client_id: str, kind: str) -> dict[str, Any] | None:
        """The data of a client's latest event of ``kind`` (any session), or None."""
        row = self.db.execute("SELECT data FROM events WHERE client_id=? AND kind=? ORDER BY seq DESC LIMIT 1",
                              (client_id, kind)).fetchone()
        try:
            return json.loads(row[0]) if row else None
        except ValueError:
            return None

    def events_in(self, session_ids: list[str]) -> Iterator[StoredEvent]:
        """Events of several sessions, in log order (export selections)."""
        q = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE session_id IN (SELECT value FROM json_each(?))"
        for row in self.db.execute(q + " ORDER BY seq", (json.dumps(list(session_ids)),)):
            yield StoredEvent.from_row(row)

    def close(self) -> None:
        try:
            self.flush()
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass
        self.db.close()
