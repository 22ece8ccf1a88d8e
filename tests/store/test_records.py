"""Records edited on two tablets, merged without a server: per-field changes, the hybrid logical
clock, concurrent edits kept as a conflict until resolved, purge carried over; and the sync
tables' own versioned migration beside the event store's format."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from prelude_play.clock import FakeClock
from prelude_play.errors import StoreError
from prelude_play.store import records
from prelude_play.store.eventlog import EVENT_COLUMNS, SCHEMA_VERSION, EventLog
from prelude_play.store.sync import apply_events, load_clinic, start_background_sync


def tablet(tmp_path, name):
    st = EventLog(tmp_path / name / "prelude.db", FakeClock())
    records.ensure_sync_schema(st.db)
    return st


def ship(src: EventLog, dst: EventLog) -> None:
    """What a server round does, in order: the source's changes into the destination."""
    records.capture(src.db, share_names=True)
    rows = src.db.execute(f"SELECT {records.CHANGE_COLUMNS} FROM sync_changes ORDER BY n").fetchall()
    dst.db.execute("BEGIN IMMEDIATE")
    records.apply_remote(dst.db, [records._change_from_row(r) for r in rows])
    dst.db.execute("COMMIT")


def test_sync_tables_are_a_versioned_migration_beside_the_store(tmp_path):
    st = EventLog(tmp_path / "prelude.db", FakeClock())
    st.ensure_client("c1", "Alex")
    assert records.sync_format(st.db) == 0
    records.ensure_sync_schema(st.db)
    records.ensure_sync_schema(st.db)  # idempotent
    assert records.sync_format(st.db) == records.SYNC_FORMAT
    assert st.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # the store's format unchanged
    # what was in the store before enrolment is noted once, as new to the clinic
    assert st.db.execute("SELECT entity, entity_id FROM sync_dirty").fetchall() == [("clients", "c1")]
    st.db.execute("UPDATE meta SET value='99' WHERE key='sync_format'")
    with pytest.raises(StoreError, match="Update Prelude Play"):
        records.ensure_sync_schema(st.db)
    st.close()
    st = EventLog(tmp_path / "prelude.db", FakeClock())  # the event store still opens as before
    assert st.client("c1")["display_name"] == "Alex"


def test_profile_keys_are_separate_fields_and_merge(tmp_path):
    a, b = tablet(tmp_path, "a"), tablet(tmp_path, "b")
    a.ensure_client("c1", "Alex", code="C-1")
    a.set_client_profile("c1", {"touch": {"ignore_repeat_ms": 250}, "goals": []})
    ship(a, b)
    assert b.client("c1")["code"] == "C-1" and b.client_profile("c1")["touch"] == {"ignore_repeat_ms": 250}
    a.set_client_profile("c1", {**a.client_profile("c1"), "touch": {"ignore_repeat_ms": 500}})
    b.set_client_profile("c1", {**b.client_profile("c1"), "goals": [{"id": "g1", "text": "wait"}]})
    ship(a, b), ship(b, a)
    for st in (a, b):
        assert st.client_profile("c1") == {"touch": {"ignore_repeat_ms": 500}, "goals": [{"id": "g1", "text": "wait"}]}
        assert records.conflicts(st.db) == []


def test_concurrent_edits_are_kept_and_the_later_one_shown_then_resolved(tmp_path):
    a, b = tablet(tmp_path, "a"), tablet(tmp_path, "b")
    a.ensure_client("c1", "Alex", code="C-1")
    s = a.start_session("c1", {})
    ship(a, b)
    a.set_session_notes(s.id, "from a")
    b.set_session_notes(s.id, "from b")  # neither saw the other
    ship(a, b), ship(b, a)
    ca, cb = records.conflicts(a.db), records.conflicts(b.db)
    assert len(ca) == len(cb) == 1
    assert {json.loads(v.value) for v in ca[0].versions} == {"from a", "from b"}
    assert a.session(s.id)["notes"] == b.session(s.id)["notes"] == json.loads(ca[0].versions[0].value)
    assert ca[0].versions[0].hlc >= ca[0].versions[1].hlc  # the shown one is the last writer
    # an edit made on a tablet that showed one version replaces only that version: still a conflict
    records.resolve(b.db, "sessions", s.id, "notes", json.dumps("both: a then b"))
    assert records.conflicts(b.db) == []
    ship(b, a)
    assert records.conflicts(a.db) == [] and a.session(s.id)["notes"] == "both: a then b"


def test_a_later_edit_that_saw_the_first_is_not_a_conflict(tmp_path):
    a, b = tablet(tmp_path, "a"), tablet(tmp_path, "b")
    a.ensure_client("c1", "Alex", code="C-1")
    ship(a, b)
    a.rename_client("c1", "Alexandra")
    ship(a, b)
    b.rename_client("c1", "Sasha")  # b had seen Alexandra
    ship(b, a)
    assert records.conflicts(a.db) == [] and a.client("c1")["display_name"] == "Sasha"


def test_hlc_moves_past_a_remote_clock_ahead_of_ours(tmp_path):
    a = tablet(tmp_path, "a")
    far = (10**13) << 16  # a tablet whose clock is far ahead
    records.hlc_observe(a.db, far)
    assert records.hlc_next(a.db, 1000) == far + 1


def test_purge_on_one_tablet_purges_the_other(tmp_path):
    from prelude_play.events import LogEvent

    a, b = tablet(tmp_path, "a"), tablet(tmp_path, "b")
    a.ensure_client("c1", "Alex", code="C-1")
    s = a.start_session("c1", {})
    a.log(s, LogEvent(kind="hit"))
    ship(a, b)
    ev = [dict(zip(EVENT_COLUMNS, r)) for r in a.db.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events")]
    b.db.execute("BEGIN")
    apply_events(b.db, ev)
    apply_events(b.db, ev)  # twice: still once
    b.db.execute("COMMIT")
    assert len(list(b.events())) == 1
    a.purge_client("c1", confirm_code="C-1")
    ship(a, b)
    assert b.client("c1") is None and list(b.events()) == [] and b.sessions() == []
    for st in (a, b):  # no value of the client's is left in either change log: only the purge marker
        assert st.db.execute("SELECT field FROM sync_changes WHERE client_id='c1'").fetchall() == [("_purge",)]


def test_no_clinic_no_sync_no_network(tmp_path):
    """A tablet never enrolled starts no sync thread and imports no database driver for it."""
    assert load_clinic(tmp_path) is None
    assert start_background_sync(tmp_path) is None
    code = ("import sys; from pathlib import Path; import prelude_play.cli as c; "
            "from prelude_play.store.sync import start_background_sync as s; c.build_parser(); "
            f"assert s(Path({str(tmp_path)!r})) is None; print(sorted(m for m in sys.modules if 'psycopg' in m or m == 'socket'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "psycopg" not in out


def test_sessions_from_two_tablets_read_in_the_order_they_began(tmp_path):
    """A record merged from two tablets lists its sessions as they happened, not in the order
    they arrived; and one tablet's clock set back cannot move a later session before an earlier one."""
    from datetime import datetime, timedelta

    from prelude_play.events import LogEvent

    def at(hh, mm):
        return datetime(2026, 12, 2, hh, mm).astimezone().isoformat(timespec="milliseconds")

    wall_a, wall_b = [at(10, 0)], [at(10, 20)]
    a = EventLog(tmp_path / "a" / "prelude.db", FakeClock(), wall=lambda: wall_a[0])
    b = EventLog(tmp_path / "b" / "prelude.db", FakeClock(), wall=lambda: wall_b[0])
    for st in (a, b):
        records.ensure_sync_schema(st.db)
    a.ensure_client("c1", "Alex", code="C-1")
    ship(a, b)  # the client's record on both tablets
    a1 = a.start_session("c1", {})  # 10:00 on the first tablet, not yet synced
    a.log(a1, LogEvent("hit"))
    b1 = b.start_session("c1", {})  # 10:20 on the second tablet
    wall_a[0] = at(10, 40)
    a2 = a.start_session("c1", {})
    wall_a[0] = at(7, 0)  # the first tablet's clock set back by hours
    a3 = a.start_session("c1", {})
    ship(a, b)  # A1, A2 and A3 arrive after B1 was made here
    assert [s["id"] for s in b.sessions("c1")] == [a1.id, b1.id, a2.id, a3.id]
    assert [s["id"] for s in a.sessions("c1")] == [a1.id, a2.id, a3.id]
    a.close()
    b.close()
