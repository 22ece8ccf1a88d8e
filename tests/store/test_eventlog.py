"""The event log: append-only, private, survives kill -9, never drops an event on a full disk."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prelude_play.clock import FakeClock
from prelude_play.errors import StoreError
from prelude_play.events import LogEvent
from prelude_play.store.eventlog import SCHEMA_VERSION, EventLog


def test_event_has_every_field_and_t_ms_resolution(tmp_path):
    clock = FakeClock()
    log = EventLog(tmp_path / "s.db", clock)
    s = log.start_session("ari", {"app_version": "x"})
    clock.advance(1_234_567)  # 1.234567 ms
    eid = log.log(s, LogEvent("hit", actor="client", source="midi", device="pad", goals=("musical",),
                              prompt="independent", outcome="success", data={"velocity": 90}))
    ev = next(log.events())
    assert ev.id == eid
    assert (ev.session_id, ev.client_id, ev.kind, ev.actor, ev.source, ev.device) == \
        (s.id, "ari", "hit", "client", "midi", "pad")
    assert ev.t_ms == 1.23
    assert ev.goals == ("musical",) and ev.prompt == "independent" and ev.outcome == "success"
    assert ev.data == {"velocity": 90}
    assert ev.wall[10] == "T" and ev.wall[-6] in "+-"  # ISO 8601 with a UTC offset
    assert log.sessions()[0]["provenance"] == {"app_version": "x"}


def test_events_cannot_be_overwritten_only_corrected(tmp_path):
    log = EventLog(tmp_path / "s.db", FakeClock())
    s = log.start_session("ari", {})
    eid = log.log(s, LogEvent("score", outcome="success"))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        log.db.execute("UPDATE events SET outcome='not_yet' WHERE id=?", (eid,))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        log.db.execute("DELETE FROM events")
    cid = log.log(s, LogEvent("correction", corrects=eid, data={"action": "undo"}))
    evs = list(log.events())
    assert [e.id for e in evs] == [eid, cid] and evs[1].corrects == eid


def test_store_is_private_to_the_user(tmp_path):
    log = EventLog(tmp_path / "data" / "s.db", FakeClock())
    log.log(log.start_session("ari", {}), LogEvent("x"))
    assert stat.S_IMODE(os.stat(tmp_path / "data").st_mode) == 0o700
    for name in ("s.db", "s.db-wal"):
        assert stat.S_IMODE(os.stat(tmp_path / "data" / name).st_mode) == 0o600


def test_store_from_a_newer_version_is_refused_untouched(tmp_path):
    p = tmp_path / "s.db"
    EventLog(p, FakeClock()).close()
    con = sqlite3.connect(p)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.close()
    before = p.read_bytes()
    with pytest.raises(StoreError, match="newer"):
        EventLog(p, FakeClock())
    assert p.read_bytes() == before


def test_damaged_store_is_detected_and_backed_up(tmp_path):
    p = tmp_path / "s.db"
    p.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="damaged") as info:
        EventLog(p, FakeClock())
    backups = list(tmp_path.glob("s.db.damaged-*"))
    assert len(backups) == 1 and str(backups[0]) in str(info.value)


def test_full_disk_keeps_events_pending_then_writes_them(tmp_path):
    log = EventLog(tmp_path / "s.db", FakeClock())
    s = log.start_session("ari", {})
    log.log(s, LogEvent("before"))
    # SQLite's max_page_count makes the database "full" exactly like a full disk does.
    # (per connection: set on the writer thread's own connection)
    log.writer_call(lambda db: db.execute(f"PRAGMA max_page_count={db.execute('PRAGMA page_count').fetchone()[0]}"))
    held = [log.log(s, LogEvent("during", data={"i": i, "pad": "x" * 2000})) for i in range(20)]
    log.flush()
    assert any(log.is_pending(h) for h in held) and log.pending and "full" in (log.last_error or "")
    assert len(set(held)) == 20  # every event has its global id even while it waits
    log.writer_call(lambda db: db.execute("PRAGMA max_page_count=1073741823"))
    assert log.flush() == 0
    kinds = [e.kind for e in log.events()]
    assert kinds == ["before"] + ["during"] * 20
    assert [e.data["i"] for e in log.events() if e.kind == "during"] == list(range(20))


WRITER = r"""
import sys
from prelude_play.clock import MonotonicClock
from prelude_play.events import LogEvent
from prelude_play.store.eventlog import EventLog
log = EventLog(sys.argv[1], MonotonicClock())
s = log.start_session("burst", {})
print("SESSION", s.id, flush=True)
i = 0
while True:
    eid = log.log(s, LogEvent("hit", data={"i": i}))
    print("LOGGED", i, eid, flush=True)  # reported as logged the moment log() returns (no flush)
    i += 1
"""


def test_sigkill_during_a_burst_loses_no_reported_event(tmp_path):
    """Killed mid-burst (rows queued for the writer thread, a commit in flight): every event whose
    ``log()`` had returned is there after the next start — the pending log held what the writer
    had not committed yet."""
    db = tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    reported: list[tuple[int, str]] = []
    assert proc.stdout is not None
    proc.stdout.readline()
    deadline = time.monotonic() + 20
    while len(reported) < 2000 and time.monotonic() < deadline:
        parts = proc.stdout.readline().split()
        if parts and parts[0] == "LOGGED":
            reported.append((int(parts[1]), parts[2]))
    os.kill(proc.pid, signal.SIGKILL)  # mid-burst, no chance to clean up
    proc.wait()
    for line in proc.stdout:  # whatever was already printed counts as reported too
        parts = line.split()
        if len(parts) == 3 and parts[0] == "LOGGED":
            reported.append((int(parts[1]), parts[2]))
    assert len(reported) >= 2000
    log = EventLog(db, FakeClock())
    stored = {e.id: e.data["i"] for e in log.events()}
    missing = [(i, eid) for i, eid in reported if stored.get(eid) != i]
    assert missing == []
