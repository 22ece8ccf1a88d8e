"""The event log: an embedded SQLite store, append-only, that survives a power cut.

``log()`` makes the event's id, queues the row and returns at once; the writer thread
(``store.writer``) commits queued rows in batches, WAL with ``synchronous=FULL``, so a row is on
the disk (fsynced) a few milliseconds later and the frame loop never waits on the disk. Every
read waits for the rows logged before it. A row ``log()`` returned survives ``kill -9`` at once
(it is also appended to a pending log, replayed at the next start) and power loss once
committed; ``flush()`` is the barrier after which it survives both. If the store refuses a write (disk full, read-only, its
folder deleted), the rows are held in memory and in a journal in another folder, retried, named
in a notice, and added to the store at the next start; never dropped.

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
from prelude_play.store.tx import immediate
from prelude_play.store.writer import STATEMENTS, Journal, Op, Writer, journal_path, pending_path, read_journal

SCHEMA_VERSION = 3
# A session's place in the record (see EventLog._order_key); 0 for sessions from before it.
ORDER_KEY = ("(CASE WHEN json_valid(provenance) THEN coalesce(CAST(json_extract(provenance, '$.order_ms') AS INTEGER), 0)"
             " ELSE 0 END)")
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


def _text(raw: bytes) -> str:
    """SQLite TEXT as str; bad UTF-8 (a damaged page) becomes U+FFFD instead of an exception."""
    return raw.decode("utf-8", "replace")


def _bad_text(exc: Exception) -> bool:
    """Is this the error of a TEXT value that is not UTF-8 (the sqlite3 module reports it as an
    OperationalError "Could not decode to UTF-8 ...")?"""
    return isinstance(exc, UnicodeDecodeError) or "decode" in str(exc)


def _writable(path: Path) -> bool:
    """Can this process write the store (and its -wal/-shm beside it)? Tried, not guessed from
    permissions: root passes every permission check, and an ext4 that aborted after an error
    is read-only while its mount flags still say rw."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return False
        os.close(os.open(path, os.O_RDWR))
        probe = path.parent / f".{path.name}.write-probe-{os.getpid()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError:
        return False
    return True


def _ro_connect(path: Path) -> sqlite3.Connection:
    """A read-only connection; on a read-only drive where SQLite cannot use the WAL index, the
    file is opened as immutable (what the last checkpoint wrote; the notice says so)."""
    uri = path.resolve().as_uri()
    last: Exception | None = None
    for mode in ("mode=ro", "immutable=1"):
        try:
            con = sqlite3.connect(f"{uri}?{mode}", uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            last = exc
            continue
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return con
        except sqlite3.Error as exc:
            last = exc
            con.close()
    raise StoreError(f"{path}: cannot open the event store for reading ({last}). It is damaged or not a "
                     "Prelude Play store; restore a backup.")


def _json(text: Any, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except (ValueError, TypeError):
        return default


class InlineWriter:
    """The writer of an in-memory or read-only store: writes run at once on the reading
    connection; a refused write is held in memory and retried by ``barrier``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._held: list[Op] = []
        self.last_error: str | None = None
        self.journal = Journal(None)
        self.committed = 0
        self.commits = 0

    @property
    def held_count(self) -> int:
        return len(self._held)

    def preload(self, ops: list[Op]) -> None:
        self._held.extend(ops)

    def submit(self, op: Op) -> None:
        self._held.append(op)
        self.barrier()

    def barrier(self, timeout: float | None = None) -> bool:
        while self._held:
            name, args = self._held[0]
            try:
                self.db.execute(STATEMENTS[name], args)
            except sqlite3.IntegrityError as exc:
                self.last_error = f"a {name} row was refused by the store: {exc}"
            except sqlite3.Error as exc:
                self.last_error = str(exc)
                return True
            self._held.pop(0)
            self.committed += 1
        self.last_error = None
        return True

    def held(self) -> list[Op]:
        return list(self._held)

    def close(self, timeout: float = 0.0) -> list[Op]:
        self.barrier()
        return self.held()


@dataclass
class Session:
    id: str
    client_id: str
    t0_ns: int
    started: str
    activity: str = "home"
    provenance: dict[str, Any] = field(default_factory=dict)
    order_ms: int = 0  # where it sorts among sessions (EventLog._order_key); 0: not set


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


def _without_order(provenance: Any) -> Any:
    """A session's provenance as it was given (the order key is the store's own)."""
    if isinstance(provenance, dict):
        provenance.pop("order_ms", None)
    return provenance


class EventLog:
    """The append-only store. One instance per process, used from the UI thread.

    Writes go through a writer thread (``store.writer``): ``log()`` returns at once and the row
    is durable (``synchronous=FULL``) a few milliseconds later; every read waits for the rows
    logged before it. ``spill_dir`` is where held writes go when the store cannot take them
    (another of the user's folders); ``read_only`` opens for reading only (export, a damaged
    store); ``wall`` is the wall clock, a label only.
    """

    def __init__(self, path: Path | str, clock: Clock, *, durable: str = "FULL",
                 spill_dir: Path | None = None, read_only: bool = False,
                 wall: Callable[[], str] | None = None, allow_old: bool = False) -> None:
        if durable.upper() not in ("FULL", "EXTRA", "NORMAL", "OFF"):
            raise StoreError(f"durable={durable!r}: use FULL (survives power loss), EXTRA, NORMAL or OFF")
        self.clock = clock
        self.wall = wall or wall_now
        self.durable = durable.upper()
        self.path = Path(path) if path != ":memory:" else None
        self.notices: list[str] = []  # e.g. "upgraded from format 1, backup kept at ..."
        self.damaged: str | None = None  # why a store opened read-only for export is damaged
        self.skipped = 0  # rows a read could not decode (a damaged store), counted, never fatal
        self.read_only = read_only
        self._identity: tuple[int, int] | None = None
        self._reported: str | None = None
        self._last_order: int | None = None  # the order key of this device's latest session
        if self.path is not None:
            self.notices += make_private_dir(self.path.parent) if not read_only else []
            if spill_dir is not None and not read_only:
                self._restore_rescued(journal_path(spill_dir, self.path))
            problem = self._check_existing(self.path, for_export=read_only)
            if problem is not None:
                self.damaged, self.read_only = problem, True
            if not self.read_only and self.path.exists() and not _writable(self.path):
                self.read_only = True
                self.notices.append(
                    f"The event store {self.path} is read-only (the file, its folder or the drive). "
                    "It opened for reading; new sessions are kept in memory" +
                    (f" and in {journal_path(spill_dir, self.path)}" if spill_dir else "") +
                    ". Make the folder writable (or free the drive) and restart to add them.")
            if self.read_only:
                self._db = _ro_connect(self.path)
            else:
                old = os.umask(0o077)
                try:
                    self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                finally:
                    os.umask(old)
        else:
            self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        if self.damaged:
            self._db.text_factory = _text  # bad UTF-8 is read, marked, never raised
        try:
            self._db.execute("PRAGMA busy_timeout=10000")
            if not self.read_only:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={self.durable}")
                self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: this store was written by a newer Prelude Play (format {version}, "
                    f"this version reads {SCHEMA_VERSION}). It was not changed. Update Prelude Play "
                    "or use --data-dir to open another folder.")
            self.format = version if version else 1
            if self.read_only:
                self._open_read_only(version, allow_old)
            else:
                self._create_or_migrate(version)
                self.format = SCHEMA_VERSION
        except sqlite3.DatabaseError as exc:
            self._db.close()
            what = ("Free some space on its drive, then start again." if "full" in str(exc) else
                    "Move it away to start a new one, or open it with `prelude-play export` to save what can "
                    "be read.")
            raise StoreError(f"{self.path}: cannot open the event store ({exc}). {what}") from exc
        held: list[Op] = []
        self.journal = Journal(journal_path(spill_dir, self.path) if spill_dir and self.path else None)
        if self.journal.path is not None and self.journal.path.exists():
            held = self._replay_journal(self.journal.path)
        pending = (pending_path(spill_dir or self.path.parent, self.path)
                   if self.path is not None and not self.read_only else None)
        if pending is not None and pending.exists():  # the process was killed with rows not yet committed
            held += self._replay_journal(pending, pending=True)
        if not read_only:
            self.journal.reserve()
        if self.path is not None and not self.read_only:
            for p in (self.path, Path(str(self.path) + "-wal"), Path(str(self.path) + "-shm")):
                if p.exists():
                    os.chmod(p, stat.S_IRUSR | stat.S_IWUSR)
            st = os.stat(self.path)
            self._identity = (st.st_dev, st.st_ino)
        self._writer: Writer | InlineWriter
        if self.path is not None and not read_only:
            self._writer = Writer(self._connect_writer, self.journal, self._vanished, pending=pending)
        else:
            self._writer = InlineWriter(self._db)
        if held:
            self._writer.preload(held)

    def _restore_rescued(self, journal: Path) -> None:
        """The store vanished at an earlier run and was rescued: put the copy back (its held
        events are then replayed into it), unless a store was made there since."""
        assert self.path is not None
        rescued = journal.with_name(journal.stem.replace("held-", "rescued-") + ".db")
        if not rescued.exists():
            return
        if self.path.exists():
            self.notices.append(f"A copy of an earlier store that vanished is kept at {rescued}; "
                                f"{self.path} is a newer store, so it was left as it is.")
            return
        try:
            shutil.copy2(rescued, self.path)
            os.chmod(self.path, stat.S_IRUSR | stat.S_IWUSR)
            rescued.unlink()
        except OSError as exc:
            self.notices.append(f"Could not put the rescued store {rescued} back as {self.path}: "
                                f"{exc.strerror or exc}. It is kept.")
            return
        self.notices.append(f"The event store that vanished at an earlier run was put back from {rescued}.")

    @property
    def db(self) -> sqlite3.Connection:
        """The reading connection, after every write submitted so far (a barrier)."""
        self._writer.barrier()
        return self._db

    def _connect_writer(self) -> sqlite3.Connection:
        """The writer thread's own connection (SQLite connections are not shared across threads)."""
        assert self.path is not None
        if self.read_only and not self.path.exists():
            raise sqlite3.OperationalError(f"{self.path} is not there")
        if not _writable(self.path):
            raise sqlite3.OperationalError(f"{self.path} is read-only")
        db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None,
                             check_same_thread=False)
        db.execute("PRAGMA busy_timeout=10000")
        db.execute(f"PRAGMA synchronous={self.durable}")
        db.execute("PRAGMA foreign_keys=ON")
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        return db

    def _vanished(self) -> str | None:
        """Why the store file is no longer the one we opened (its folder deleted or replaced)."""
        if self.path is None or self._identity is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return (f"the event store {self.path} is gone (was the data folder {self.path.parent} deleted or "
                    "its drive removed?)")
        if (st.st_dev, st.st_ino) != self._identity:
            return f"the event store {self.path} was replaced by another file while the app ran"
        return None

    def _open_read_only(self, version: int, allow_old: bool = False) -> None:
        """Read-only: no schema change, no migration; a damaged store is read as far as it goes."""
        try:
            row = self._read_one("SELECT value FROM meta WHERE key='device_id'")
        except sqlite3.DatabaseError:
            row = None
        self.device_id = row[0] if row else ""
        if version < SCHEMA_VERSION and not allow_old and not self.damaged:
            raise StoreError(f"{self.path}: this store is in the older format {version} and is read-only, so it "
                             "cannot be upgraded. Copy it to a writable folder and open it there.")
        if self.damaged:
            self.notices.append(f"The event store {self.path} is damaged ({self.damaged}); it opened read-only "
                                "and reads skip what cannot be read (the count is reported).")

    def _replay_journal(self, journal: Path, *, pending: bool = False) -> list[Op]:
        """Add the writes held at an earlier run (idempotent by id); returns what still waits.
        ``pending``: the pending log of a run that was killed (rows handed in, maybe not committed)."""
        try:
            ops, bad = read_journal(journal)
        except OSError as exc:
            self.notices.append(f"Held events in {journal} could not be read ({exc.strerror or exc}); "
                                "the file is kept.")
            return []
        n_events = sum(1 for name, _ in ops if name == "event")
        torn = f" ({bad} unreadable line(s) skipped)" if bad else ""
        if self.read_only:
            self.notices.append(f"{n_events} event(s) from an earlier session wait in {journal}{torn}; "
                                "they are added when the store can be written.")
            return ops
        db = self._db
        before = db.execute("SELECT count(*) FROM events").fetchone()[0]
        try:
            db.execute("PRAGMA foreign_keys=OFF")  # rows whose session/client row was lost with the store
            db.execute("BEGIN IMMEDIATE")
            for name, args in ops:
                if name in ("event", "session"):
                    client = args[2] if name == "event" else args[1]
                    db.execute("INSERT OR IGNORE INTO clients(id, code, display_name, created) VALUES (?,?,?,?)",
                               (client, "C-" + uuid.uuid4().hex[:6].upper(), client, self.wall()))
                if name == "event":
                    db.execute("INSERT OR IGNORE INTO sessions(id, client_id, started) VALUES (?,?,?)",
                               (args[1], args[2], args[9]))
                db.execute(STATEMENTS[name], args)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self.notices.append(f"{n_events} event(s) from an earlier session wait in {journal}{torn} "
                                f"({exc}); they are added when the store can be written.")
            return ops
        finally:
            db.execute("PRAGMA foreign_keys=ON")
        try:
            journal.unlink()
        except OSError:
            pass
        if pending:
            added = db.execute("SELECT count(*) FROM events").fetchone()[0] - before
            if added:
                self.notices.append(f"{added} event(s) logged just before Prelude Play stopped were added to the "
                                    f"store from {journal}{torn}.")
            return []
        self.notices.append(f"{n_events} event(s) held at an earlier session (the store could not be written) "
                            f"were added to the store from {journal}{torn}.")
        return []

    def _create_or_migrate(self, version: int) -> None:
        """Create a new store, or bring an older one up to this format (backup kept first)."""
        has_tables = self._db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='events'").fetchone()[0]
        if not has_tables:  # a new store: the current schema at once
            self._db.executescript(SCHEMA)
            version = SCHEMA_VERSION
        elif version == 0:  # written before formats were numbered: the base schema
            version = 1
        if version == SCHEMA_VERSION and has_tables and not self._has_column("events", "trial_id"):
            version = 2  # marked current but laid out as format 2 (a hand-edited user_version)
        if version < SCHEMA_VERSION:
            backup = self._backup(f"format{version}") if has_tables else None
            with immediate(self._db):
                while version < SCHEMA_VERSION:
                    MIGRATIONS[version](self._db)
                    version += 1
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            if backup is not None:
                self.notices.append(
                    f"The event store was upgraded to format {SCHEMA_VERSION}; the old one is kept at {backup}.")
        self._db.executescript(FINISH)  # indexes and triggers, idempotent
        self._db.execute(f"PRAGMA application_id={APP_ID}")
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        row = self._db.execute("SELECT value FROM meta WHERE key='device_id'").fetchone()
        if row is None:  # this store's own id: a tablet's origin when stores are merged
            self._db.execute("INSERT INTO meta(key, value) VALUES ('device_id', ?)", (uuid7(),))
            row = self._db.execute("SELECT value FROM meta WHERE key='device_id'").fetchone()
        self.device_id: str = row[0]

    def _has_column(self, table: str, column: str) -> bool:
        return any(r[1] == column for r in self._db.execute(f"PRAGMA table_info({table})"))

    def _backup(self, label: str) -> Path | None:
        """A consistent copy of the whole store beside it (SQLite's online backup, WAL included)."""
        if self.path is None:
            return None
        dest = self.path.with_name(f"{self.path.name}.{label}-{datetime.now():%Y%m%d-%H%M%S}")
        old = os.umask(0o077)
        try:
            target = sqlite3.connect(dest)
            try:
                self._db.backup(target)
            finally:
                target.close()
        finally:
            os.umask(old)
        return dest

    @staticmethod
    def _check_existing(path: Path, *, for_export: bool = False) -> str | None:
        """Detect a damaged or foreign store before touching it. For the app: refuse it (a copy is
        kept); for export (``for_export``): return why, so it opens read-only and reads what it can."""
        if not path.exists() or path.stat().st_size == 0:
            return None
        try:
            con = _ro_connect(path)
            con.text_factory = _text
            try:
                app_id = con.execute("PRAGMA application_id").fetchone()[0]
                ok = con.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                con.close()
        except (sqlite3.DatabaseError, StoreError) as exc:
            app_id, ok = None, str(exc)
        if ok == "ok" and app_id in (0, APP_ID):
            return None
        if for_export:
            return str(ok)
        backup = path.with_name(f"{path.name}.damaged-{datetime.now():%Y%m%d-%H%M%S}")
        try:
            shutil.copy2(path, backup)
            kept = f"A copy was kept at {backup}."
        except OSError as exc:
            kept = f"No copy could be made beside it ({exc.strerror or exc})."
        raise StoreError(
            f"{path}: the event store is damaged or is not a Prelude Play store ({ok}). {kept} "
            "Save what can be read with `prelude-play export`, then move the damaged file away to start a "
            "new store, or restore a backup.")

    # ---- clients and sessions --------------------------------------------------------------

    def _read(self, sql: str, args: Any = ()) -> list[tuple]:
        """All rows of a read. Text is decoded by SQLite's own (fast) UTF-8 decoder; the first bad
        UTF-8 (a damaged row) switches this store to a decoder that marks it instead of raising."""
        db = self.db if hasattr(self, "_writer") else self._db  # (while opening: no writer yet)
        try:
            return db.execute(sql, args).fetchall()
        except (UnicodeDecodeError, sqlite3.OperationalError) as exc:
            if not _bad_text(exc) or self._db.text_factory is _text:
                raise
            self._db.text_factory = _text
            return db.execute(sql, args).fetchall()

    def _read_one(self, sql: str, args: Any = ()) -> tuple | None:
        rows = self._read(sql, args)
        return rows[0] if rows else None

    def _write(self, name: str, *args: Any) -> None:
        """Queue one named write (see ``store.writer.STATEMENTS``); never waits on the disk."""
        self._writer.submit((name, args))

    def ensure_client(self, client_id: str, display_name: str | None = None,
                      code: str | None = None) -> None:
        """Create the client if new. Its pseudonymous code is what exports show by default."""
        row = self._read_one("SELECT id FROM clients WHERE id=?", (client_id,))
        if row:
            return
        code = code or "C-" + uuid.uuid4().hex[:6].upper()
        self._write("client", client_id, code, display_name or client_id, self.wall())

    def clients(self, include_archived: bool = False) -> list[dict[str, Any]]:
        q = "SELECT id, code, display_name, archived, profile FROM clients"
        if not include_archived:
            q += " WHERE archived=0"
        rows = self._read(q + " ORDER BY display_name")
        return [{"id": r[0], "code": r[1], "display_name": r[2], "archived": bool(r[3]),
                 "profile": _json(r[4], {})} for r in rows]

    def client_profile(self, client_id: str) -> dict[str, Any]:
        row = self._read_one("SELECT profile FROM clients WHERE id=?", (client_id,))
        return _json(row[0], {}) if row else {}

    def set_client_profile(self, client_id: str, profile: dict[str, Any]) -> None:
        self._write("profile", json.dumps(profile), client_id)

    def start_session(self, client_id: str, provenance: dict[str, Any], plan: str | None = None) -> Session:
        """Open a session. Never raises on a failing disk: the rows are held like events are."""
        try:
            self.ensure_client(client_id)
        except sqlite3.Error:  # the store unreadable now: the session goes on (idempotent insert)
            self._write("client", client_id, "C-" + uuid.uuid4().hex[:6].upper(), client_id, self.wall())
        started = self.wall()
        s = Session(uuid7(), client_id, self.clock.now_ns(), started, provenance=provenance,
                    order_ms=self._order_key(started))
        self._write("session", s.id, client_id, s.started, plan, self._provenance_json(s))
        return s

    @staticmethod
    def _provenance_json(s: Session) -> str:
        """The stored provenance: the session's, with its order key (which syncs with it to other
        tablets; readers never see it — ``sessions()`` takes it out)."""
        return json.dumps({**s.provenance, "order_ms": s.order_ms} if s.order_ms else s.provenance, default=str)

    def _order_key(self, started: str) -> int:
        """Where a new session sorts among all sessions: its wall time in ms, but never before the
        previous session of this device (a clock set back cannot reorder them); sessions from
        other tablets carry theirs, so a merged record reads in the order the sessions began."""
        if self._last_order is None:
            try:
                row = self._read(f"SELECT max({ORDER_KEY}) FROM sessions")
                self._last_order = int(row[0][0] or 0) if row else 0
            except (sqlite3.Error, ValueError, TypeError):
                self._last_order = 0
        try:
            wall_ms = int(datetime.fromisoformat(started).timestamp() * 1000)
        except ValueError:
            wall_ms = 0
        self._last_order = max(wall_ms, self._last_order + 1)
        return self._last_order

    def update_provenance(self, session: Session, **extra: Any) -> None:
        session.provenance.update(extra)
        self._write("provenance", self._provenance_json(session), session.id)

    def end_session(self, session: Session, notes: str | None = None) -> None:
        """Close the session: its length comes from the monotonic clock (a wall-clock jump during
        the session cannot make it negative); the wall time is only a label. Never raises on a
        failing disk (held like events)."""
        duration = max(0.0, (self.clock.now_ns() - session.t0_ns) / 1e6)
        if notes is None:
            self._write("end", self.wall(), duration, session.id)
        else:
            self._write("end_notes", self.wall(), notes, duration, session.id)

    def sessions(self, client_id: str | None = None) -> list[dict[str, Any]]:
        """Sessions in the order they began: by each session's order key (``_order_key``: wall
        time that never goes back on one device), then store order — never by the wall-clock
        label alone, which a therapist or a time zone can set back. Sessions from before the key
        (older stores) come first, in store order."""
        q = ("SELECT id, client_id, started, ended, plan, provenance, notes, summary, soap, duration_ms"
             " FROM sessions")
        args: tuple = ()
        if client_id:
            q += " WHERE client_id=?"
            args = (client_id,)
        rows = self._read(q + f" ORDER BY {ORDER_KEY}, rowid", args)
        return [{"id": r[0], "client_id": r[1], "started": r[2], "ended": r[3], "plan": r[4],
                 "provenance": _without_order(_json(r[5], {})), "notes": r[6], "summary": r[7], "soap": _json(r[8], {}),
                 "duration_ms": r[9]} for r in rows]

    def session(self, session_id: str) -> dict[str, Any] | None:
        """One session by id (or by the first characters of its id, when they name only one)."""
        rows = [s for s in self.sessions() if s["id"] == session_id]
        if not rows and session_id:
            rows = [s for s in self.sessions() if s["id"].startswith(session_id)]
        return rows[0] if len(rows) == 1 else None

    def set_session_soap(self, session_id: str, soap: dict[str, Any]) -> None:
        """The session note's S, O, A and P as the therapist edited them (kept with the session)."""
        self._write("soap", json.dumps(soap, ensure_ascii=False), session_id)

    def set_session_notes(self, session_id: str, notes: str) -> None:
        """The therapist's free notes for the session (shown in its summary and reports)."""
        self._write("notes", notes, session_id)

    def set_session_summary(self, session_id: str, summary: str) -> None:
        """The end-of-session summary text, kept with the session."""
        self._write("summary", summary, session_id)

    def set_session_plan(self, session_id: str, plan: str | None) -> None:
        self._write("plan", plan, session_id)

    # ---- client records (profile editing lives in store/clients.py) -------------------------

    def client(self, client_id: str) -> dict[str, Any] | None:
        row = self._read_one("SELECT id, code, display_name, archived, profile, created FROM clients"
                             " WHERE id=?", (client_id,))
        if row is None:
            return None
        return {"id": row[0], "code": row[1], "display_name": row[2], "archived": bool(row[3]),
                "profile": _json(row[4], {}), "created": row[5]}

    def rename_client(self, client_id: str, display_name: str) -> None:
        self._write("rename", display_name, client_id)

    def set_archived(self, client_id: str, archived: bool) -> None:
        """Archived clients leave the home list but keep every event (nothing is deleted)."""
        self._write("archive_client", int(archived), client_id)

    def purge_client(self, client_id: str, *, confirm_code: str) -> int:
        """Delete a client and ALL their data for good. Returns the number of events removed.

        The only way anything leaves the append-only log; it needs the client's code typed back
        (the app asks for a confirmation and offers an export first).
        """
        db = self.db
        row = db.execute("SELECT code FROM clients WHERE id=?", (client_id,)).fetchone()
        if row is None:
            raise StoreError(f"no client {client_id!r}")
        if confirm_code != row[0]:
            raise StoreError(f"not deleted: the confirmation {confirm_code!r} is not the client's code")
        with immediate(db):
            db.execute("DROP TRIGGER events_no_delete")
            n = db.execute("DELETE FROM events WHERE client_id=?", (client_id,)).rowcount
            db.execute("DELETE FROM sessions WHERE client_id=?", (client_id,))
            db.execute("DELETE FROM plans WHERE client_id=?", (client_id,))
            db.execute("DELETE FROM clients WHERE id=?", (client_id,))
            db.execute("CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT "
                       "RAISE(ABORT, 'events are append-only: log a correction instead'); END")
        return n

    # ---- session plans (see store/plans.py) ----------------------------------------------------

    def save_plan(self, plan_id: str, name: str, steps: list[dict[str, Any]],
                  client_id: str | None = None) -> None:
        """Create or replace a plan; ``client_id`` None means shared by every client."""
        now = self.wall()
        self._write("save_plan", plan_id, client_id, name, json.dumps(steps), now, now)

    def stored_plans(self, client_id: str | None = None) -> list[dict[str, Any]]:
        """Plans for ``client_id`` plus shared ones (all plans when None), not archived."""
        q = "SELECT id, client_id, name, steps, updated FROM plans WHERE archived=0"
        args: tuple = ()
        if client_id is not None:
            q += " AND (client_id=? OR client_id IS NULL)"
            args = (client_id,)
        rows = self._read(q + " ORDER BY name", args)
        return [{"id": r[0], "client_id": r[1], "name": r[2], "steps": _json(r[3], []), "updated": r[4]}
                for r in rows]

    def archive_plan(self, plan_id: str) -> None:
        self._write("archive_plan", plan_id)

    # ---- events ----------------------------------------------------------------------------

    def log(self, session: Session, ev: LogEvent) -> str:
        """Append one event; returns its global id (made here, before the write) at once.

        The writer thread commits it (with an fsync, ``durable=FULL``) within milliseconds; if the
        store refuses it, it is held (memory, then the spill journal) and retried — never dropped.
        """
        t_ns = ev.t_ns if ev.t_ns is not None else self.clock.now_ns()
        eid = ev.id or uuid7()
        self._writer.submit(("event", (
            eid, session.id, session.client_id, session.activity, ev.kind, ev.actor, ev.source, ev.device,
            ms_since(session.t0_ns, t_ns), self.wall(), json.dumps(list(ev.goals)), ev.prompt, ev.outcome,
            json.dumps(ev.data, default=str), ev.corrects, ev.trial)))
        return eid

    @property
    def pending(self) -> list[tuple]:
        """The event rows written to no store yet (held in memory and, if possible, the journal)."""
        return [args for name, args in self._writer.held() if name == "event"]

    @property
    def last_error(self) -> str | None:
        return self._writer.last_error

    def is_pending(self, event_id: str) -> bool:
        return any(r[0] == event_id for r in self.pending)

    def flush(self, timeout: float = 5.0) -> int:
        """Wait until every write so far is committed or held; returns how many events are held."""
        self._writer.barrier(timeout)
        return len(self.pending)

    def writer_call(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        """Run ``fn`` on the connection that writes (tests that make the store full; maintenance)."""
        if isinstance(self._writer, Writer):
            self._writer.call(fn)
        else:
            fn(self._db)

    def poll(self) -> str | None:
        """For the frame loop (never waits): the error when saving became held (or a new error),
        ``"saved"`` when it works again after one, else None — so the therapist is told once."""
        err = self._writer.last_error if self._writer.held_count else None
        if err == self._reported:
            return None
        self._reported = err
        return "saved" if err is None else err

    def where_held(self) -> str:
        """Where held writes are kept, for the therapist's notice."""
        j = self._writer.journal
        if j.path is not None and j.error is None and j.path.exists():
            return str(j.path)
        return "memory only" if j.path is None else f"memory only ({j.error or 'journal not written yet'})"

    def events(self, session_id: str | None = None, client_id: str | None = None) -> Iterator[StoredEvent]:
        """Events in store order. A row that cannot be decoded (a damaged store) is skipped and
        counted in ``skipped``; a damaged page ends the read (counted) instead of failing it."""
        q = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
        cond, args = [], []
        if session_id:
            cond.append("session_id=?"); args.append(session_id)
        if client_id:
            cond.append("client_id=?"); args.append(client_id)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        yield from self._decoded(self.tolerant_rows(q, args, "seq"))

    def _decoded(self, rows: Iterator[tuple]) -> Iterator[StoredEvent]:
        for row in rows:
            try:
                yield StoredEvent.from_row(row)
            except (ValueError, TypeError, KeyError):
                self.skipped += 1

    PAGE = 10000

    def tolerant_rows(self, query: str, args: list[Any], seq: str) -> Iterator[tuple]:
        """Rows of ``query`` (no ORDER BY; its first column is ``seq``, the store order) in that
        order, a page at a time, reading past damaged pages: after an error the read resumes
        beyond the last good row, and what is passed over is counted in ``skipped``.

        Each page is fetched whole, so no statement stays open between pages: an open one would
        pin this connection to an old snapshot, and rows the writer thread commits later (on its
        own connection) would stay invisible to every later read."""
        col = seq.rsplit(".", 1)[-1]
        last: int | None = None
        jump = 1
        while True:
            q, a = f"SELECT * FROM ({query})", list(args)
            if last is not None:
                q, a = q + f" WHERE {col} > ?", [*args, last]
            q += f" ORDER BY {col} LIMIT {self.PAGE}"
            try:
                rows = self._read(q, a)
            except sqlite3.DatabaseError as exc:
                if str(exc).startswith(("near ", "no such ", "ambiguous ")):
                    raise  # a mistake in the query, not a damaged store
                good = self._rows_until_error(q, a)  # this page up to the damage
                yield from good
                last = (good[-1][0] if good else (last or 0)) + jump
                self.skipped += jump
                jump *= 2
                if jump > 1 << 40:
                    return
                continue
            jump = 1
            yield from rows
            if len(rows) < self.PAGE:
                return
            last = rows[-1][0]

    def _rows_until_error(self, query: str, args: list[Any]) -> list[tuple]:
        rows: list[tuple] = []
        self._db.text_factory = _text  # damaged: mark bad UTF-8 from here on
        cur = self.db.cursor()
        try:
            for row in cur.execute(query, args):
                rows.append(row)
        except sqlite3.DatabaseError:
            pass
        finally:
            cur.close()
        return rows

    def latest_event_data(self, client_id: str, kind: str) -> dict[str, Any] | None:
        """The data of a client's latest event of ``kind`` (any session), or None."""
        row = self._read_one("SELECT data FROM events WHERE client_id=? AND kind=? ORDER BY seq DESC LIMIT 1",
                             (client_id, kind))
        return _json(row[0], None) if row else None

    def events_in(self, session_ids: list[str]) -> Iterator[StoredEvent]:
        """Events of several sessions, in log order (export selections)."""
        q = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE session_id IN (SELECT value FROM json_each(?))"
        yield from self._decoded(self.tolerant_rows(q, [json.dumps(list(session_ids))], "seq"))

    def close(self) -> list[str]:
        """Write what is queued and stop the writer. Never raises; returns what the therapist must be
        told (held events and where they are), also added to ``notices``."""
        held = self._writer.close()
        told: list[str] = []
        n = sum(1 for name, _ in held if name == "event")
        rescued = getattr(self._writer, "rescued", None)
        if rescued is not None:
            told.append(f"The event store {self.path} vanished while the app ran; everything it held was "
                        f"copied to {rescued}. Put that file back as {self.path} (after this one's held "
                        "events are added) or keep it safe.")
        if held:
            where = self.where_held()
            lost = where.startswith("memory only")
            told.append(f"{n} event(s) (and {len(held) - n} other change(s)) could not be saved to {self.path}"
                        f" ({self._writer.last_error or 'the store refused them'}). "
                        + ("They could not be kept anywhere else and are lost." if lost else
                           f"They are kept in {where} and are added to the store at the next start."))
        try:
            if not self.read_only:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass
        try:
            self._db.close()
        except sqlite3.Error:
            pass
        self.notices += told
        return told
