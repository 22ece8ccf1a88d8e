"""The store's writer thread and its spill journal: the disk is never waited on by a frame.

``EventLog.log()`` hands a row to a bounded queue and returns the event's id at once; this
thread writes what is queued in one transaction per batch (group commit) with
``synchronous=FULL``, so the commit's fsync covers every row of the batch and a row is durable
a few milliseconds after ``log()`` returned. Readers call ``barrier()`` first, so they see
every row logged before them.

When a commit fails (disk full, filesystem turned read-only, I/O error) or the store file has
vanished (the data folder deleted: SQLite would go on writing into the unlinked file and lose
everything at exit), the rows are *held*: kept in memory, appended to a journal file in
another of the user's folders (0600, fsynced), and retried. At the next start the journal is
replayed into the store, idempotently by id, and removed only after that commit.

Between ``log()`` returning and that commit (a few milliseconds) a row would be lost if the
process were killed, so ``submit`` also appends it to a *pending log* (``pending_path``) with one
``write()`` and no fsync: once ``log()`` returns, the row is in the OS page cache, which survives
the process being killed (SIGKILL, a crash in the native core) as it did when rows were written
inline. The writer empties that file whenever everything submitted is committed; the next start
replays what it holds (idempotent by id). Power loss is what the commit's fsync covers.

Only the statements named in ``STATEMENTS`` are ever written (and replayed from a journal),
so a journal file can add rows but never run arbitrary SQL.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import queue
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

EVENT_INSERT = (
    "INSERT OR IGNORE INTO events(id, session_id, client_id, activity, kind, actor, source, device, t_ms,"
    " wall, goals, prompt, outcome, data, corrects, trial_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")

# Every write the session makes, by name. Each is idempotent, so a retry or a replay of a row
# that did land (the commit succeeded but the acknowledgement was lost) changes nothing.
STATEMENTS: dict[str, str] = {
    "event": EVENT_INSERT,
    "client": "INSERT OR IGNORE INTO clients(id, code, display_name, created) VALUES (?,?,?,?)",
    "session": "INSERT OR IGNORE INTO sessions(id, client_id, started, plan, provenance) VALUES (?,?,?,?,?)",
    "provenance": "UPDATE sessions SET provenance=? WHERE id=?",
    "end": "UPDATE sessions SET ended=?, duration_ms=? WHERE id=?",
    "end_notes": "UPDATE sessions SET ended=?, notes=?, duration_ms=? WHERE id=?",
    "soap": "UPDATE sessions SET soap=? WHERE id=?",
    "notes": "UPDATE sessions SET notes=? WHERE id=?",
    "summary": "UPDATE sessions SET summary=? WHERE id=?",
    "plan": "UPDATE sessions SET plan=? WHERE id=?",
    "profile": "UPDATE clients SET profile=? WHERE id=?",
    "rename": "UPDATE clients SET display_name=? WHERE id=?",
    "archive_client": "UPDATE clients SET archived=? WHERE id=?",
    "save_plan": (
        "INSERT INTO plans(id, client_id, name, steps, created, updated) VALUES (?,?,?,?,?,?)"
        " ON CONFLICT(id) DO UPDATE SET name=excluded.name, steps=excluded.steps,"
        " client_id=excluded.client_id, updated=excluded.updated, archived=0"),
    "archive_plan": "UPDATE plans SET archived=1 WHERE id=?",
}

Op = tuple[str, tuple]
QUEUE_MAX = 8192  # ~ minutes of the busiest activity; beyond it rows wait in the overflow list
BATCH_MAX = 2000


def journal_path(spill_dir: Path, store: Path) -> Path:
    """The journal of one store: named by a hash of its path, so a store finds only its own."""
    key = hashlib.sha256(str(store.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return spill_dir / f"held-{key}.jsonl"


def pending_path(folder: Path, store: Path) -> Path:
    """The pending log of one store (rows handed to the writer and not yet committed)."""
    return journal_path(folder, store).with_name(journal_path(folder, store).name.replace("held-", "pending-"))


def op_line(op: Op) -> bytes:
    name, args = op
    return (json.dumps({"op": name, "args": list(args)}, ensure_ascii=False) + "\n").encode("utf-8", "surrogateescape")


class Journal:
    """Append-only JSON lines of held writes, fsynced; created 0600 in a 0700 folder.

    A full disk is the likeliest reason to spill, and the journal's folder is usually on the
    same disk, so ``reserve()`` sets aside space for it at start (a preallocated file), and a
    full disk at spill time frees that space for the journal first.
    """

    RESERVE_BYTES = 8 << 20  # ~30 000 events

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.error: str | None = None

    @property
    def reserve_path(self) -> Path | None:
        return None if self.path is None else self.path.with_name(self.path.stem.replace("held-", "reserve-"))

    def reserve(self) -> None:
        """Set aside the journal's space on its disk (idempotent; silently skipped if impossible)."""
        r = self.reserve_path
        if r is None:
            return
        try:
            r.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if r.exists() and r.stat().st_size >= self.RESERVE_BYTES:
                return
            fd = os.open(r, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.RESERVE_BYTES)
            finally:
                os.close(fd)
        except (OSError, AttributeError):
            try:
                r.unlink()
            except OSError:
                pass

    def append(self, ops: Iterable[Op]) -> bool:
        if self.path is None:
            return False
        data = b"".join(op_line(op) for op in ops)
        for attempt in (1, 2):
            try:
                self._write(data)
            except OSError as exc:
                r = self.reserve_path
                if attempt == 1 and exc.errno == errno.ENOSPC and r is not None and r.exists():
                    r.unlink()  # the space set aside for this moment
                    continue
                self.error = f"{self.path}: {exc.strerror or exc}"
                return False
            break
        self.error = None
        return True

    def _write(self, data: bytes) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            try:
                os.write(fd, data)
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, end)  # no half line left behind for the retry
                raise
        finally:
            os.close(fd)

    def clear(self) -> None:
        if self.path is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.error = f"{self.path}: {exc.strerror or exc}"


def read_journal(path: Path) -> tuple[list[Op], int]:
    """The known writes in a journal, and how many lines could not be read (a torn last line)."""
    ops: list[Op] = []
    bad = 0
    with open(path, "rb") as fh:
        for line in fh:
            try:
                rec = json.loads(line.decode("utf-8", "surrogateescape"))
                name, args = rec["op"], tuple(rec["args"])
                if name not in STATEMENTS:
                    raise ValueError(name)
                ops.append((name, args))
            except (ValueError, KeyError, TypeError):
                bad += 1
    return ops, bad


@dataclass
class _Barrier:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


@dataclass
class _Call:
    """Run ``fn`` on the writer's own connection, in queue order (maintenance and tests)."""

    fn: Callable[[sqlite3.Connection], Any]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self, w: "Writer") -> None:
        try:
            if w._db is None:
                w._db = w._connect()
            self.fn(w._db)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            self.error = exc
        self.done.set()


class Writer:
    """One thread, one connection, a bounded queue. ``submit`` never blocks the caller."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], journal: Journal,
                 check: Callable[[], str | None], *, retry_s: float = 1.0, maxsize: int = QUEUE_MAX,
                 pending: Path | None = None) -> None:
        self._connect = connect
        self.pending = pending
        self.pending_error: str | None = None  # the pending log could not be written (rows still go on)
        self._pending_fd: int | None = None
        if pending is not None:
            try:
                pending.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._pending_fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            except OSError as exc:
                self.pending_error = f"{pending}: {exc.strerror or exc}"
        self._check = check
        self.rescued: Path | None = None  # a copy of a vanished store, read from the still-open file
        self.journal = journal
        self.retry_s = retry_s
        self._q: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._overflow: list[Op] = []  # only when the queue is full (a stalled disk): kept, in order
        self._lock = threading.Lock()
        self._held: list[Op] = []  # written to no store yet (in order); the writer thread's own
        self._spilled = 0  # how many of _held are already in the journal
        self.held_count = 0
        self.last_error: str | None = None
        self.submitted = 0  # ops handed in (UI side) ...
        self.processed = 0  # ... and how many of them the writer has committed or holds
        self._taken = 0
        self.committed = 0  # rows committed (benchmarks)
        self.commits = 0
        self._db: sqlite3.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="prelude-store-writer", daemon=True)
        self._thread.start()

    # ---- the caller's side (UI thread) ------------------------------------------------------

    def submit(self, op: Op) -> None:
        line = op_line(op) if self._pending_fd is not None else b""
        with self._lock:
            if self._pending_fd is not None:
                try:  # into the page cache: a killed process loses nothing handed in (no fsync here)
                    os.write(self._pending_fd, line)
                except OSError as exc:  # a full disk: the held journal takes over if the commit fails
                    self.pending_error = f"{self.pending}: {exc.strerror or exc}"
            self.submitted += 1
            if self._overflow:
                self._overflow.append(op)
                return
        try:
            self._q.put_nowait(op)
        except queue.Full:
            with self._lock:
                self._overflow.append(op)

    def barrier(self, timeout: float | None = 5.0) -> bool:
        """Wait until everything submitted so far was written (or held); False on timeout."""
        if not self._thread.is_alive() or (self.processed >= self.submitted and not self.held_count):
            return True  # nothing new, nothing held: a read costs no round trip
        b = _Barrier()
        try:
            self._q.put(b, timeout=timeout)
        except queue.Full:
            return False
        return b.done.wait(timeout)

    def call(self, fn: Callable[[sqlite3.Connection], Any], timeout: float = 10.0) -> None:
        """Run ``fn(connection)`` in the writer thread after what is queued; raises what it raised."""
        c = _Call(fn)
        self._q.put(c, timeout=timeout)
        if not c.done.wait(timeout):
            raise TimeoutError("the store's writer did not answer")
        if c.error is not None:
            raise c.error

    def preload(self, ops: list[Op]) -> None:
        """Writes an earlier run held (already in the journal): first in line, retried at once."""
        with self._lock:
            self._held[:0] = ops
            self._spilled += len(ops)
            self.held_count = len(self._held)
        self._q.put(_Barrier())

    def held(self) -> list[Op]:
        with self._lock:
            return list(self._held) + list(self._overflow)

    def close(self, timeout: float = 10.0) -> list[Op]:
        """Write what is queued, stop the thread; returns what is still held (spilled if possible)."""
        if self._thread.is_alive():
            try:
                self._q.put(_STOP, timeout=timeout)
            except queue.Full:
                pass
            self._thread.join(timeout)
        left = self.held()
        if self._thread.is_alive():  # wedged in the disk: spill what we know of from here
            self.journal.append(left)
        elif self._pending_fd is not None:
            os.close(self._pending_fd)
            self._pending_fd = None
            if not left and self.pending is not None:  # everything committed: nothing pending
                try:
                    self.pending.unlink()
                except OSError:
                    pass
        return left

    # ---- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._q.get(timeout=self.retry_s if self.held_count else None)
            except queue.Empty:
                self._commit()  # a retry of what is held
                self._empty_pending()
                continue
            items = [first]
            while len(items) < BATCH_MAX:
                try:
                    items.append(self._q.get_nowait())
                except queue.Empty:
                    break
            ops: list[Op] = []
            barriers: list[_Barrier] = []
            for it in items:
                if it is _STOP:
                    stop = True
                elif isinstance(it, _Barrier):
                    barriers.append(it)
                elif isinstance(it, _Call):  # in order: what came before is written first
                    self._take(ops)
                    ops = []
                    self._commit()
                    it.run(self)
                else:
                    ops.append(it)
            self._take(ops)
            if stop:  # the overflow too, whatever the queue holds
                with self._lock:
                    self._held.extend(self._overflow)
                    self._overflow.clear()
            self._commit()
            self.processed = self._taken
            self._empty_pending()
            for b in barriers:
                b.done.set()
        if self._held:
            self._spill()
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass

    def _empty_pending(self) -> None:
        """Everything handed in is committed: the pending log has nothing the store lacks."""
        if self._pending_fd is None:
            return
        with self._lock:  # submit appends under the same lock, so nothing slips in between
            if self.submitted == self._taken and not self._held and not self._overflow:
                try:
                    os.ftruncate(self._pending_fd, 0)
                except OSError:
                    pass

    def _take(self, ops: list[Op]) -> None:
        with self._lock:
            self._held.extend(ops)
            self._taken += len(ops)
            if self._overflow and not self._q.qsize():
                self._held.extend(self._overflow)
                self._taken += len(self._overflow)
                self._overflow.clear()
            self.held_count = len(self._held)

    def _commit(self) -> None:
        with self._lock:
            batch = list(self._held)
        if not batch:
            return
        problem = vanished = self._check()
        if problem is None:
            problem = self._write(batch)
            if problem is None:
                problem = vanished = self._check()  # vanished while we wrote: into an unlinked file
        if problem is not None:
            self.last_error = problem
            if vanished and self._db is not None and self.rescued is None and self.journal.path is not None:
                self._rescue()
            self._spill()
            self.held_count = len(self._held)
            return
        with self._lock:
            del self._held[:len(batch)]
            done_spilled = self._spilled > 0
            self._spilled = max(0, self._spilled - len(batch))
            self.held_count = len(self._held)
        self.committed += len(batch)
        self.commits += 1
        self.last_error = None
        if done_spilled and not self._held:
            self.journal.clear()

    def _write(self, batch: list[Op]) -> str | None:
        try:
            if self._db is None:
                self._db = self._connect()
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for name, args in batch:
                    db.execute(STATEMENTS[name], args)
            except sqlite3.IntegrityError:
                # A row the store refuses (not a disk problem): write the others one by one.
                db.execute("ROLLBACK")
                db.execute("BEGIN IMMEDIATE")
                for name, args in batch:
                    try:
                        db.execute(STATEMENTS[name], args)
                    except sqlite3.IntegrityError as exc:
                        self.last_error = f"a {name} row was refused by the store: {exc}"
            db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            if self._db is not None:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if getattr(exc, "sqlite_errorname", "SQLITE_FULL") != "SQLITE_FULL":
                    try:  # reconnect next time: the file may have come back, or the fs remounted
                        self._db.close()
                    except sqlite3.Error:
                        pass
                    self._db = None
            return str(exc)
        return None

    def _rescue(self) -> None:
        """The store file vanished (its folder deleted): our connection still reads the unlinked
        file, so copy everything it holds beside the journal before that connection closes."""
        assert self._db is not None and self.journal.path is not None
        dest = self.journal.path.with_name(self.journal.path.stem.replace("held-", "rescued-") + ".db")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.close(fd)
            target = sqlite3.connect(dest)
            try:
                self._db.backup(target)
            finally:
                target.close()
            self.rescued = dest
        except (sqlite3.Error, OSError) as exc:
            self.journal.error = f"could not rescue the vanished store to {dest}: {exc}"

    def _spill(self) -> None:
        with self._lock:
            new = self._held[self._spilled:]
        if new and self.journal.append(new):
            with self._lock:
                self._spilled += len(new)

