"""Offline-first sync of one tablet with the clinic's PostgreSQL (see ``clinic_server``).

A round is: note record edits as changes (``records.capture``), push the outbox — record changes,
then events after the push cursor — then pull other tablets' changes and events for the clients
assigned to this tablet. Every push is one server transaction; its cursor is saved only after the
server committed it, so a crash or a cut connection anywhere repeats at most one batch, which the
server ignores (ids are primary keys). Batches keep memory bounded whatever the backlog.

Nothing here runs, and nothing is imported that could open a socket, unless the tablet has been
enrolled (``clinic.json`` in its data folder). The background sync is a thread of its own with
its own SQLite connection; the audio, MIDI and UI threads never wait on the network.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from prelude_play.errors import SyncError
from prelude_play.store import records
from prelude_play.store.eventlog import EVENT_COLUMNS
from prelude_play.store.tx import immediate

CLINIC_FILE = "clinic.json"
# While the app runs, pulled rows are written 50 at a time (~1-2 ms of SQLite's write lock), 20 ms
# apart: a UI-thread write that finds the lock taken waits in SQLite's busy handler, which sleeps
# 1, 2, 5, 10 ms ... between tries, so long or back-to-back transactions would cost it frames.
BACKGROUND_APPLY_BATCH = 50
BACKGROUND_PAUSE_S = 0.02


@dataclass
class ClinicConfig:
    """How this tablet reaches the clinic: written by ``enroll``, read by ``sync``. The token is a
    password: the file is readable by this user only."""

    server: str  # postgresql://host:port/database (no credentials in it)
    device: str  # the PostgreSQL role made for this tablet
    token: str
    ca: str | None = None  # the clinic CA's certificate (PEM); None: the system's trusted CAs
    batch: int = 2000
    interval_s: float = 60.0
    connect_timeout_s: int = 10

    def connect_kwargs(self) -> dict[str, Any]:
        return {"conninfo": self.server, "user": self.device, "password": self.token,
                "sslmode": "verify-full", "sslrootcert": self.ca or "system",
                "connect_timeout": self.connect_timeout_s, "application_name": "prelude-play-sync",
                "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                "options": "-c statement_timeout=120000"}


def load_clinic(data_dir: Path) -> ClinicConfig | None:
    """The tablet's clinic settings, or None when it never joined a clinic (then: no network)."""
    path = Path(data_dir) / CLINIC_FILE
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return ClinicConfig(**{k: v for k, v in d.items() if k in ClinicConfig.__dataclass_fields__})
    except (ValueError, TypeError) as exc:
        raise SyncError(f"{path}: cannot read the clinic settings ({exc}); enroll the tablet again") from exc


def save_clinic(data_dir: Path, cfg: ClinicConfig) -> Path:
    path = Path(data_dir) / CLINIC_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(cfg), f, indent=2)
    os.replace(tmp, path)
    return path


def open_db(db_path: Path) -> sqlite3.Connection:
    """The sync's own connection to the tablet's store (the app keeps its own)."""
    if not Path(db_path).exists():
        raise SyncError(f"no event store at {db_path}; pass --data-dir with the folder that holds prelude.db")
    db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=10000")
    records.ensure_sync_schema(db)
    return db


def connect(cfg: ClinicConfig) -> Any:
    import psycopg

    try:
        return psycopg.connect(**cfg.connect_kwargs())
    except psycopg.OperationalError as exc:
        raise _explain(exc, cfg) from exc


def _explain(exc: BaseException, cfg: ClinicConfig) -> SyncError:
    """A message a therapist can act on, for whatever the driver raised."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = str(exc).lower()
    host = cfg.server.split("@")[-1].split("/")[2] if "//" in cfg.server else cfg.server
    if "revoked" in low or "not permitted to log in" in low or "password authentication failed" in low:
        return SyncError(f"the clinic server refused this tablet ({text}). Its access may have been revoked: "
                         "ask the clinic administrator to enroll it again. Nothing on the tablet is lost.")
    if "not assigned" in low:
        return SyncError(f"the clinic server refused a record ({text}). Ask the clinic administrator to assign "
                         "this client to this tablet, then sync again. Nothing on the tablet is lost.")
    if "certificate" in low or "sslmode" in low or "ssl is not enabled" in low:
        return SyncError(f"the clinic server's identity could not be checked ({text}). Check the clinic CA "
                         f"file ({cfg.ca}) and the server name. Nothing was sent.")
    return SyncError(f"could not finish the sync with the clinic server at {host} ({text}). "
                     "Everything not yet delivered stays on this tablet; sync again when the network is back.")


@dataclass
class SyncResult:
    pushed_changes: int = 0
    pushed_events: int = 0
    new_on_server: int = 0
    pulled_changes: int = 0
    pulled_events: int = 0
    conflicts: int = 0
    outbox_left: int = 0
    clients: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"sent {self.pushed_changes} record change(s) and {self.pushed_events} event(s); "
                f"received {self.pulled_changes} record change(s) and {self.pulled_events} event(s) "
                f"for {len(self.clients)} client(s); {self.conflicts} conflict(s) to resolve")


def _call(conn: Any, sql: str, *args: Any) -> Any:
    """One server function call in its own transaction: when this returns, the server committed."""
    with conn.transaction():
        return conn.execute(sql, args).fetchone()[0]


def _event_batches(db: sqlite3.Connection, after: int, upto: int, n: int) -> Iterator[list[dict[str, Any]]]:
    cols = ", ".join("e." + c for c in EVENT_COLUMNS)
    while True:
        rows = db.execute(f"SELECT {cols} FROM events e WHERE e.seq > ? AND e.seq <= ? AND NOT EXISTS"
                          " (SELECT 1 FROM sync_remote_events r WHERE r.seq = e.seq) ORDER BY e.seq LIMIT ?",
                          (after, upto, n)).fetchall()
        if not rows:
            return
        yield [dict(zip(EVENT_COLUMNS, r)) for r in rows]
        after = rows[-1][0]


def outbox(db: sqlite3.Connection, upto_seq: int | None = None) -> tuple[int, int]:
    """What this tablet has not delivered: (record changes, events)."""
    me = records.device_id(db)
    ch = db.execute("SELECT count(*) FROM sync_changes WHERE origin=? AND n > ?",
                    (me, records.get_cursor(db, "push_changes"))).fetchone()[0]
    dirty = db.execute("SELECT count(DISTINCT entity || entity_id) FROM sync_dirty").fetchone()[0]
    upto = upto_seq if upto_seq is not None else db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    ev = db.execute("SELECT count(*) FROM events e WHERE seq > ? AND seq <= ? AND NOT EXISTS"
                    " (SELECT 1 FROM sync_remote_events r WHERE r.seq = e.seq)",
                    (records.get_cursor(db, "push_events"), upto)).fetchone()[0]
    return ch + dirty, ev


def sync_once(db_path: Path, cfg: ClinicConfig, *, conn: Any = None,
              progress: Callable[[str, int], None] | None = None, apply_batch: int | None = None) -> SyncResult:
    """One round: push everything noted so far, then pull. Raises SyncError (with what to do)
    if anything was not acknowledged; what was acknowledged stays acknowledged.

    ``apply_batch`` caps the rows applied per SQLite write transaction while pulling (and spaces
    them out): the app's UI thread waits for that lock when it logs, so the background sync keeps
    it short."""
    import psycopg

    db = open_db(db_path)
    own = conn is None
    res = SyncResult()
    try:
        if own:
            conn = connect(cfg)
        me = records.device_id(db)
        hello = _call(conn, "SELECT pp.hello(%s)", me)
        share = bool(hello.get("share_names"))
        upto = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]  # before capture: see module doc
        records.capture(db, share_names=share)
        # in the background, smaller batches: encoding or parsing one holds the GIL (~5 ms per 1 000 rows)
        size = min(cfg.batch, 4 * apply_batch) if apply_batch else cfg.batch
        # push record changes (they create clients and sessions before their events arrive)
        while True:
            after = records.get_cursor(db, "push_changes")
            rows = db.execute(f"SELECT n, {records.CHANGE_COLUMNS} FROM sync_changes WHERE origin=? AND n > ?"
                              " ORDER BY n LIMIT ?", (me, after, size)).fetchall()
            if not rows:
                break
            batch = [records._change_from_row(r[1:]).as_dict() for r in rows]
            res.new_on_server += _call(conn, "SELECT pp.push_changes(%s::jsonb)", json.dumps(batch))
            records.set_cursor(db, "push_changes", rows[-1][0])
            res.pushed_changes += len(rows)
            if progress:
                progress("push_changes", len(rows))
        for batch in _event_batches(db, records.get_cursor(db, "push_events"), upto, size):
            res.new_on_server += _call(conn, "SELECT pp.push_events(%s::jsonb)", json.dumps(batch))
            records.set_cursor(db, "push_events", batch[-1]["seq"])
            res.pushed_events += len(batch)
            if progress:
                progress("push_events", len(batch))
        pause = BACKGROUND_PAUSE_S if apply_batch else 0.0
        res.pulled_changes, res.clients = _pull(db, conn, "changes", size, progress, share, apply_batch, pause)
        res.pulled_events, _ = _pull(db, conn, "events", size, progress, share, apply_batch, pause)
        res.conflicts = len(records.conflicts(db))
        left = outbox(db, upto)
        res.outbox_left = left[0] + left[1]
        if res.outbox_left:
            raise SyncError(f"{res.outbox_left} item(s) were not delivered; sync again")
        return res
    except psycopg.Error as exc:
        raise _explain(exc, cfg) from exc
    finally:
        if own and conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a dead connection: nothing to close
                pass
        db.close()


def _pull(db: sqlite3.Connection, conn: Any, what: str, lim: int,
          progress: Callable[[str, int], None] | None, share_names: bool,
          chunk: int | None = None, pause_s: float = 0.0) -> tuple[int, list[str]]:
    """Pull one stream to the end. A batch is applied in SQLite write transactions of ``chunk``
    rows (``pause_s`` apart, so the app's own writes get the lock between them); its cursors are
    saved with the last one. A crash repeats the batch (applying is idempotent), never skips it."""
    total = 0
    clients: list[str] = []
    prefix = f"pull_{what}:"
    chunk = chunk or lim
    while True:
        cursors = records.cursors_with_prefix(db, prefix)
        out = _call(conn, f"SELECT pp.pull_{what}(%s::jsonb, %s)", json.dumps(cursors), lim)
        rows, high, clients = out["rows"], int(out["high"] or 0), list(out["clients"])
        starts = list(range(0, len(rows), chunk)) or [0]
        for i in starts:
            part = rows[i:i + chunk]
            if i and pause_s:
                time.sleep(pause_s)
            with immediate(db):
                if what == "changes":
                    records.apply_remote(db, (records.Change.from_dict(r) for r in part), share_names=share_names)
                else:
                    apply_events(db, part)
                if i == starts[-1]:
                    for cid in clients + ([records.SHARED] if what == "changes" else []):
                        records.set_cursor(db, prefix + cid, high)
            if pause_s:  # keep the WAL short, so the app's own commit never has a long checkpoint to do
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        total += len(rows)
        if progress and rows:
            progress(f"pull_{what}", len(rows))
        if len(rows) < lim:
            return total, clients
        if pause_s:
            time.sleep(pause_s)


def apply_events(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> int:
    """Other tablets' events into this store (ids keep them single); marked remote so they are
    never pushed back. Sessions whose record has not arrived yet get a placeholder row."""
    cols = [c for c in EVENT_COLUMNS if c != "seq"]
    n = 0
    db.execute("UPDATE sync_flag SET applying=1")
    try:
        for r in rows:
            records.ensure_row(db, "sessions", r["session_id"], r["client_id"], r["wall"])
            cur = db.execute(f"INSERT OR IGNORE INTO events({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                             [r[c] for c in cols])
            if cur.rowcount == 1:
                db.execute("INSERT INTO sync_remote_events(seq) VALUES (?)", (cur.lastrowid,))
                n += 1
    finally:
        db.execute("UPDATE sync_flag SET applying=0")
    return n


def enroll(data_dir: Path, cfg: ClinicConfig) -> dict[str, Any]:
    """Check the credentials against the server (binding them to this tablet's store), then keep them."""
    import psycopg

    db_path = Path(data_dir) / "prelude.db"
    db = open_db(db_path)
    try:
        conn = connect(cfg)
        try:
            hello = _call(conn, "SELECT pp.hello(%s)", records.device_id(db))
        except psycopg.Error as exc:
            raise _explain(exc, cfg) from exc
        finally:
            conn.close()
    finally:
        db.close()
    save_clinic(data_dir, cfg)
    return hello


# What the therapist is told when the background sync stops getting through and when it works
# again (msgids: the shell translates them; ``{err}`` is the reason).
SYNC_FAILED = ("Clinic sync did not get through ({err}). Nothing is lost: the sessions stay on this "
               "tablet and are sent when the clinic server can be reached.")
SYNC_OK = "Clinic sync works again: this tablet's sessions are delivered"


class BackgroundSync:
    """Sync every ``interval_s`` in a daemon thread of its own while the app runs. It never raises:
    the last outcome is in ``last_error`` / ``last_result`` for the therapist's overlay."""

    def __init__(self, db_path: Path, cfg: ClinicConfig, *, sync: Callable[..., SyncResult] = sync_once,
                 first_delay_s: float = 2.0) -> None:
        self.db_path = Path(db_path)
        self.first_delay_s = first_delay_s
        self.cfg = cfg
        self._sync = sync
        self._stop = threading.Event()
        self.last_error: str | None = None
        self.last_result: SyncResult | None = None
        self.rounds = 0
        self._reported: str | None = None
        self.thread = threading.Thread(target=self._run, name="clinic-sync", daemon=True)

    def start(self) -> "BackgroundSync":
        self.thread.start()
        return self

    def _run(self) -> None:
        delay = self.first_delay_s  # a first round soon after start
        while not self._stop.wait(delay):
            try:
                self.last_result = self._sync(self.db_path, self.cfg, apply_batch=BACKGROUND_APPLY_BATCH)
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - the app must never be taken down by the network
                self.last_error = str(exc)
            self.rounds += 1
            delay = self.cfg.interval_s

    def poll(self) -> str | None:
        """For the frame loop (never waits): the error when rounds start failing (or a new error),
        ``"ok"`` when a round succeeds after one, else None — so the therapist is told once."""
        if not self.rounds:
            return None
        err = self.last_error
        if err == self._reported:
            return None
        self._reported = err
        return "ok" if err is None else err

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)


def start_background_sync(data_dir: Path) -> BackgroundSync | None:
    """The app's background sync, or None (and no network at all) when the tablet is not enrolled."""
    try:
        cfg = load_clinic(data_dir)
    except SyncError:
        return None
    if cfg is None:
        return None
    return BackgroundSync(Path(data_dir) / "prelude.db", cfg).start()
