"""Issue 14: nothing lost. Durable writes off the UI thread; every write guarded (full, read-only,
vanished store); a damaged store read as far as it goes; the clock that may jump.

The realstack tests use real filesystems (tests/store/realfs.py): an ext4 image on a loop device
for the power cut and the filesystem that turns read-only, a small tmpfs for the full disk.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from prelude_play.clock import FakeClock
from prelude_play.errors import StoreError
from prelude_play.events import LogEvent
from prelude_play.store import export
from prelude_play.store.eventlog import EventLog
from prelude_play.store.summary import summarize_stored
from prelude_play.store.writer import journal_path, read_journal
from tests.store.realfs import loop_mount, make_ext4, need_root, tmpfs, trigger_ext4_error

ROOT = Path(__file__).resolve().parents[2]


def _full(db: sqlite3.Connection) -> None:
    """SQLite's max_page_count makes the store "full" exactly as a full disk does."""
    db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}")


# ---- 1. durable, and off the UI thread ----------------------------------------------------------

def test_durable_is_the_default_and_log_never_waits_on_the_disk(tmp_path):
    log = EventLog(tmp_path / "s.db", FakeClock())
    assert log.durable == "FULL"
    seen: list[str] = []
    log.writer_call(lambda db: seen.append(db.execute("PRAGMA synchronous").fetchone()[0]))
    assert seen == [2]  # FULL on the connection that writes
    s = log.start_session("ari", {})
    stall = threading.Event()
    # The writer is stuck in the disk for as long as we like: log() must still return at once.
    threading.Thread(target=lambda: log.writer_call(lambda db: stall.wait(5)), daemon=True).start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    ids = [log.log(s, LogEvent("hit", data={"i": i})) for i in range(500)]
    assert time.perf_counter() - t0 < 0.5 and len(set(ids)) == 500
    stall.set()
    # A reader sees every event logged before it (it waits for the writer first).
    assert [e.data["i"] for e in log.events()] == list(range(500))
    log.close()


def test_a_full_queue_keeps_the_overflow_in_order(tmp_path):
    from prelude_play.store import writer

    log = EventLog(tmp_path / "s.db", FakeClock())
    log._writer._q.maxsize = 8  # a tiny queue, and a stalled disk behind it
    s = log.start_session("ari", {})
    stall = threading.Event()
    threading.Thread(target=lambda: log.writer_call(lambda db: stall.wait(5)), daemon=True).start()
    time.sleep(0.05)
    for i in range(200):
        log.log(s, LogEvent("hit", data={"i": i}))
    assert log._writer.held() and writer.QUEUE_MAX > 8
    stall.set()
    assert log.flush() == 0
    assert [e.data["i"] for e in log.events()] == list(range(200))
    log.close()


WRITER = r"""
import sys, time
from prelude_play.clock import MonotonicClock
from prelude_play.events import LogEvent
from prelude_play.store.eventlog import EventLog
log = EventLog(sys.argv[1], MonotonicClock(), durable=sys.argv[2])
s = log.start_session("burst", {})
i = 0
while True:
    burst = [(i + k, log.log(s, LogEvent("hit", data={"i": i + k}))) for k in range(5)]
    log.flush()  # the writer thread committed these (and, with FULL, fsynced them)
    print("".join(f"SAVED {n} {eid}\n" for n, eid in burst), end="", flush=True)
    i += 5
    time.sleep(0.005)
"""


def _power_cut(tmp_path: Path, durable: str, n: int = 150) -> tuple[int, int]:
    """Run a writer on ext4 (loop device), cut the power, and count the events it reported saved
    that the disk does not have: returns (reported, lost).

    The power cut: the writer is frozen (SIGSTOP) right after it reported, then the loop device's
    backing file is copied. The loop device hands ext4's writes to that file as the disk would
    get them; what ext4 still holds in the page cache (written, never flushed) is not in it, as
    it would not be on a disk that lost power. The copy is then mounted (ext4 replays its own
    journal, as after a real power cut) and the store opened. The mount uses ``commit=60`` so
    ext4's periodic commit cannot make an unsynced write durable by luck within the test.
    """
    img = make_ext4(tmp_path / "disk.img")
    cut = tmp_path / "cut.img"
    reported: list[tuple[int, str]] = []
    with loop_mount(img, tmp_path / "m", "commit=60"):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "m" / "prelude.db"), durable],
                                stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert proc.stdout is not None
        out = proc.stdout

        def read() -> None:
            for line in out:
                parts = line.split()
                if len(parts) == 3 and parts[0] == "SAVED":
                    reported.append((int(parts[1]), parts[2]))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while len(reported) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(0.3)  # the lines already in the pipe were reported too
        saved = list(reported)
        shutil.copyfile(img, cut)  # the disk at the moment the power went
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(saved) >= n
    with loop_mount(cut, tmp_path / "after"):
        db = tmp_path / "after" / "prelude.db"
        stored: dict[str, int] = {}
        if db.exists():
            log = EventLog(db, FakeClock())
            stored = {e.id: e.data["i"] for e in log.events()}
            log.close()
    return len(saved), sum(1 for i, eid in saved if stored.get(eid) != i)


@pytest.mark.realstack
def test_power_cut_loses_no_event_reported_saved(tmp_path):
    """FULL (the default): every event reported saved is on the disk after the power cut; the
    same cut with NORMAL (the old default) loses events, which shows the cut is real."""
    need_root()
    reported, lost = _power_cut(tmp_path / "full", "FULL")
    assert lost == 0, f"{lost} of {reported} reported events lost with FULL"
    reported, lost = _power_cut(tmp_path / "normal", "NORMAL", n=60)
    assert lost > 0, "the simulated power cut lost nothing even without fsync: it proves nothing"


# ---- 2. every write guarded -------------------------------------------------------------------

def test_full_store_spills_to_a_private_journal_and_replays_once_at_next_start(tmp_path):
    spill = tmp_path / "state"
    log = EventLog(tmp_path / "data" / "prelude.db", FakeClock(), spill_dir=spill)
    s = log.start_session("ari", {})
    log.log(s, LogEvent("before"))
    log.writer_call(_full)
    held = [log.log(s, LogEvent("during", data={"i": i, "pad": "x" * 5000})) for i in range(30)]
    s2 = log.start_session("ari", {})  # starting and ending sessions never raise either
    log.log(s2, LogEvent("second"))
    log.end_session(s)
    log.end_session(s2)
    assert log.flush() == 31 and "full" in (log.last_error or "")
    assert log.poll() is not None and log.poll() is None  # told once, not every frame
    journal = journal_path(spill, log.path)
    assert log.where_held() == str(journal)
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    told = log.close()
    assert len(told) == 1 and str(journal) in told[0] and "31 event(s)" in told[0]
    ops, bad = read_journal(journal)
    assert bad == 0 and {a[0] for n, a in ops if n == "event"} >= set(held)
    again = EventLog(tmp_path / "data" / "prelude.db", FakeClock(), spill_dir=spill)
    assert any("added to the store" in n for n in again.notices) and not journal.exists()
    kinds = [e.kind for e in again.events()]
    assert kinds == ["before"] + ["during"] * 30 + ["second"]
    assert all(x["ended"] and x["duration_ms"] is not None for x in again.sessions())
    again.close()
    third = EventLog(tmp_path / "data" / "prelude.db", FakeClock(), spill_dir=spill)
    assert len(list(third.events())) == 32  # replayed once (idempotent by id)
    third.close()


def test_held_events_recover_in_session_when_space_returns(tmp_path):
    log = EventLog(tmp_path / "prelude.db", FakeClock(), spill_dir=tmp_path / "state")
    log._writer.retry_s = 0.05
    s = log.start_session("ari", {})
    log.writer_call(_full)
    for i in range(10):
        log.log(s, LogEvent("during", data={"pad": "x" * 5000}))
    assert log.flush() == 10 and journal_path(tmp_path / "state", log.path).exists()
    log.writer_call(lambda db: db.execute("PRAGMA max_page_count=1073741823"))
    deadline = time.monotonic() + 5
    while log._writer.held_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.flush() == 0 and len(list(log.events())) == 10
    assert not journal_path(tmp_path / "state", log.path).exists()  # cleared once in the store
    assert log.poll() == "saved" or log.poll() is None
    assert log.close() == []


def test_data_folder_deleted_mid_session_is_detected_rescued_and_replayed(tmp_path):
    data, spill = tmp_path / "data", tmp_path / "state"
    log = EventLog(data / "prelude.db", FakeClock(), spill_dir=spill)
    s = log.start_session("ari", {})
    early = [log.log(s, LogEvent("early", data={"i": i})) for i in range(20)]
    log.flush()
    shutil.rmtree(data)  # SQLite would go on writing into the unlinked file, silently
    late = [log.log(s, LogEvent("late", data={"i": i})) for i in range(100)]
    log.end_session(s)
    assert log.flush() == 100 and "gone" in (log.last_error or "")
    told = log.close()
    assert any("vanished" in t for t in told) and any(str(journal_path(spill, data / "prelude.db")) in t for t in told)
    # Next start: the rescued copy is put back and the held events are added to it.
    again = EventLog(data / "prelude.db", FakeClock(), spill_dir=spill)
    ids = [e.id for e in again.events()]
    assert ids == early + late
    assert again.sessions()[0]["ended"] is not None
    again.close()


def test_a_new_store_where_the_old_one_vanished_still_gets_the_held_events(tmp_path):
    data, spill = tmp_path / "data", tmp_path / "state"
    log = EventLog(data / "prelude.db", FakeClock(), spill_dir=spill)
    s = log.start_session("ari", {})
    log.flush()
    os.unlink(data / "prelude.db")
    late = [log.log(s, LogEvent("late")) for _ in range(5)]
    log.close()
    for p in spill.glob("rescued-*.db"):
        p.unlink()  # no rescue: the held rows go into a fresh store, session and client rows made
    again = EventLog(data / "prelude.db", FakeClock(), spill_dir=spill)
    assert [e.id for e in again.events()] == late and len(again.sessions()) == 1
    again.close()


def test_shutdown_of_the_app_with_an_unwritable_store_never_crashes(tmp_path):
    from prelude_play.shell.pilot import run_test

    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        pilot.app.store.writer_call(_full)
        for _ in range(5):
            pilot.app.log(LogEvent("hit", data={"pad": "x" * 5000}))
        pilot.app.store.flush()
        pilot.step()
        assert any("Saving is held" in n for n in pilot.app.notices)
    # run_test's exit ran shutdown (end_session, audio stats) and store.close() without raising


def _damage(path: Path) -> None:
    """Random bytes over pages in the middle of the store (not its header)."""
    import random

    rnd = random.Random(14)
    with open(path, "r+b") as fh:
        size = fh.seek(0, 2)
        for _ in range(6):
            fh.seek(rnd.randrange(8192, size - 4096))
            fh.write(bytes(rnd.randrange(256) for _ in range(2048)))


def _store_with(tmp_path: Path, n: int = 2000) -> Path:
    p = tmp_path / "prelude.db"
    log = EventLog(p, FakeClock())
    s = log.start_session("ari", {"app_version": "t"})
    for i in range(n):
        log.log(s, LogEvent("hit", goals=("musical",), data={"i": i, "pad": "p" * 40}))
    log.end_session(s)
    log.close()
    con = sqlite3.connect(p)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return p


def test_damaged_store_refuses_the_app_but_exports_what_it_can_read(tmp_path):
    from prelude_play.cli import _reading_store

    p = _store_with(tmp_path)
    _damage(p)
    with pytest.raises(StoreError, match="damaged") as info:
        EventLog(p, FakeClock())
    assert "prelude-play export" in str(info.value)  # what to do
    store = _reading_store(p)
    assert store.read_only and store.damaged and any("damaged" in n for n in store.notices)
    for fn, name in ((export.export_jsonl, "a.jsonl"), (export.export_csv, "a.csv")):
        out = fn(store, tmp_path / name)
        assert out.exists()
    lines = (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines[1:]]  # every line is valid JSON
    assert 0 < len(rows) < 2000 and store.skipped > 0
    store.close()


def test_bad_rows_and_bad_utf8_are_skipped_counted_and_never_fail_an_export(tmp_path):
    from prelude_play.cli import _reading_store
    from prelude_play.store.report import export_html

    p = _store_with(tmp_path, 50)
    con = sqlite3.connect(p)
    sid, cid = con.execute("SELECT id, client_id FROM sessions").fetchone()
    cols = ("id, session_id, client_id, activity, kind, actor, source, device, t_ms, wall, goals, data")
    con.execute(f"INSERT INTO events({cols}) VALUES ('bad1', ?, ?, 'a', 'hit', 'c', 's', 'd', 1, 'w', 'not json', '{{}}')",
                (sid, cid))
    con.execute(f"INSERT INTO events({cols}) VALUES ('bad2', ?, ?, 'a', 'hit', 'c', 's', 'd', 1, 'w', '[]', '{{broken')",
                (sid, cid))
    con.execute(f"INSERT INTO events({cols}) VALUES ('bad3', ?, ?, CAST(x'fffe41' AS TEXT), 'hit', 'c', 's', "
                "CAST(x'c328' AS TEXT), 1, 'w', '[]', '{}')", (sid, cid))
    con.execute("UPDATE sessions SET provenance='{oops' WHERE id=?", (sid,))
    con.commit()
    con.close()
    store = _reading_store(p)
    out = export.export_jsonl(store, tmp_path / "a.jsonl")
    ids = [json.loads(line).get("id") for line in out.read_text(encoding="utf-8").splitlines()[1:]]
    assert len(ids) == 51 and "bad3" in ids and "bad1" not in ids and store.skipped == 2
    export.export_csv(store, tmp_path / "a.csv")
    export_html(store, tmp_path / "a.html")
    assert sum(1 for _ in store.events()) == 49 + 2  # the decoder skips the two bad JSON rows too
    store.close()


def test_random_bytes_for_a_store_give_a_clear_error_never_a_crash(tmp_path):
    from prelude_play.cli import _reading_store

    p = tmp_path / "prelude.db"
    p.write_bytes(os.urandom(64 * 1024))
    with pytest.raises(StoreError, match="damaged"):
        EventLog(p, FakeClock())
    with pytest.raises(StoreError):
        _reading_store(p)


def test_backup_of_a_damaged_store_that_cannot_be_copied_does_not_crash(tmp_path, monkeypatch):
    p = tmp_path / "prelude.db"
    p.write_bytes(b"not a store" * 300)

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(shutil, "copy2", refuse)
    with pytest.raises(StoreError, match="No copy could be made"):
        EventLog(p, FakeClock())


@pytest.mark.realstack
def test_full_disk_tmpfs_keeps_every_event(tmp_path):
    """A real full disk (a 1 MB tmpfs): the session goes on, every event is held, spilled to
    the journal in another folder, named at exit, and in the store at the next start."""
    need_root()
    spill = tmp_path / "state"
    with tmpfs(tmp_path / "small", "1m") as data:
        log = EventLog(data / "prelude.db", FakeClock(), spill_dir=spill)
        s = log.start_session("ari", {})
        ids = [log.log(s, LogEvent("hit", data={"i": i, "pad": "x" * 4000})) for i in range(400)]
        log.end_session(s)
        held = log.flush(timeout=30)
        assert held > 0 and log.last_error
        told = log.close()
        assert told and str(journal_path(spill, data / "prelude.db")) in told[0]
        subprocess.run(["mount", "-o", "remount,size=16m", str(data)], check=True)
        again = EventLog(data / "prelude.db", FakeClock(), spill_dir=spill)
        assert [e.id for e in again.events()] == ids
        assert again.sessions()[0]["ended"] is not None
        again.close()


@pytest.mark.realstack
def test_filesystem_turning_read_only_mid_session_keeps_every_event(tmp_path):
    need_root()
    spill = tmp_path / "state"
    img = make_ext4(tmp_path / "disk.img")
    with loop_mount(img, tmp_path / "m", "errors=remount-ro") as dev:
        db = tmp_path / "m" / "prelude.db"
        log = EventLog(db, FakeClock(), spill_dir=spill)
        s = log.start_session("ari", {})
        before = [log.log(s, LogEvent("before")) for _ in range(50)]
        assert log.flush() == 0
        trigger_ext4_error(dev)  # ext4 aborts its journal and turns read-only under the store
        after = [log.log(s, LogEvent("after")) for _ in range(100)]
        log.end_session(s)
        assert log.flush(timeout=30) >= 100 and log.last_error
        told = log.close()
        assert told and str(journal_path(spill, db)) in told[0]
        ops, _ = read_journal(journal_path(spill, db))
        assert {a[0] for n, a in ops if n == "event"} >= set(after)
        # A read-only store at start opens read-only (not "damaged"), for reading and export.
        ro = EventLog(db, FakeClock(), spill_dir=spill)
        assert ro.read_only and not ro.damaged and any("read-only" in n for n in ro.notices)
        assert any("wait in" in n for n in ro.notices)
        assert {e.id for e in ro.events()} >= set(before)
        ro.close()
    subprocess.run(["e2fsck", "-fy", str(img)], capture_output=True)  # the drive is repaired
    with loop_mount(img, tmp_path / "m"):
        again = EventLog(db, FakeClock(), spill_dir=spill)
        assert [e.id for e in again.events()] == before + after
        again.close()


# ---- 7. time ----------------------------------------------------------------------------------

def test_a_wall_clock_set_back_3_hours_gives_positive_lengths_and_store_order(tmp_path):
    clock = FakeClock()
    wall = [datetime(2026, 12, 2, 15, 0).astimezone()]
    log = EventLog(tmp_path / "prelude.db", clock,
                   wall=lambda: wall[0].isoformat(timespec="milliseconds"))
    first = log.start_session("ari", {})
    log.log(first, LogEvent("a"))
    clock.advance(ms=20 * 60_000)
    wall[0] -= timedelta(hours=3)  # the tablet's clock set back mid-session
    log.log(first, LogEvent("b"))
    log.end_session(first)
    clock.advance(ms=60_000)
    second = log.start_session("ari", {})  # its wall label is hours *before* the first one
    clock.advance(ms=5 * 60_000)
    log.end_session(second)
    rows = log.sessions()
    assert [r["id"] for r in rows] == [first.id, second.id]  # store order, not wall order
    assert rows[0]["ended"] < rows[0]["started"]  # the labels went backwards...
    assert rows[0]["duration_ms"] == 20 * 60_000 and rows[1]["duration_ms"] == 5 * 60_000  # ...the lengths did not
    assert summarize_stored(log, first.id).summary.duration_min == 20
    assert [e.kind for e in log.events(first.id)] == ["a", "b"]
    sel = export.select_sessions(log, export.Selection(client="ari"))
    assert [x["id"] for x in sel] == [first.id, second.id]
    log.close()


@pytest.mark.realstack
def test_full_disk_with_the_journal_on_the_same_disk_still_keeps_every_event(tmp_path):
    """The usual case: the data and the user's state folder on one disk that fills up. The space
    the journal set aside at start takes the held events."""
    need_root()
    with tmpfs(tmp_path / "disk", "12m") as disk:
        log = EventLog(disk / "data" / "prelude.db", FakeClock(), spill_dir=disk / "state")
        s = log.start_session("ari", {})
        with open(disk / "filler", "wb") as fh:  # another program fills the disk
            try:
                while True:
                    fh.write(b"\0" * (1 << 20))
                    fh.flush()
            except OSError:
                pass
        reserve = log.journal.reserve_path
        assert reserve is not None and reserve.exists()
        ids = [log.log(s, LogEvent("hit", data={"i": i, "pad": "x" * 4000})) for i in range(300)]
        log.end_session(s)
        log.flush(timeout=30)
        told = log.close()
        # The reserve was given up when the disk was full (the journal took the held rows; the
        # writer's retry may then have put them in the store too): nothing is lost either way.
        assert not reserve.exists()
        assert not told or "are added to the store at the next start" in told[0]
        (disk / "filler").unlink()
        again = EventLog(disk / "data" / "prelude.db", FakeClock(), spill_dir=disk / "state")
        assert [e.id for e in again.events()] == ids
        again.close()
