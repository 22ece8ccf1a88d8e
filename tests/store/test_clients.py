"""Clients, plans and the store's format upgrades: edit, archive, delete only on purpose, migrate."""

from __future__ import annotations

import sqlite3

import pytest

from prelude_play.clock import FakeClock
from prelude_play.config import resource_dir
from prelude_play.errors import StoreError
from prelude_play.events import LogEvent
from prelude_play.store.clients import ClientBook, normalize_profile, parse_target
from prelude_play.store.eventlog import SCHEMA_VERSION, EventLog
from tests.store.old_formats import make_store
from prelude_play.store.plans import (DONE, MISSING, SKIPPED, LiveSchedule, Plan, PlanBook, PlanStep,
                                      parse_plan_file)


def test_create_edit_and_archive_a_client(tmp_path):
    log = EventLog(tmp_path / "s.db", FakeClock())
    book = ClientBook(log)
    cid = book.create("Kai Real-Name")
    c = book.get(cid)
    assert c["display_name"] == "Kai Real-Name" and c["code"].startswith("C-") and c["code"] != cid
    p = c["profile"]
    assert p["touch"] == {"ignore_repeat_ms": 250, "hold_to_select_ms": 0}
    assert p["access"]["method"] == "tap" and p["low_stimulation"] is False
    p["touch"]["hold_to_select_ms"] = 99_999
    p["access"]["method"] = "telepathy"
    p["low_stimulation"] = True
    problems = book.save(cid, display_name="Kai R.", profile=p)
    assert any("hold_to_select_ms" in x for x in problems) and any("access.method" in x for x in problems)
    c = book.get(cid)
    assert c["display_name"] == "Kai R." and c["profile"]["touch"]["hold_to_select_ms"] == 5000
    assert c["profile"]["access"]["method"] == "tap" and c["profile"]["low_stimulation"] is True
    gid = book.add_goal(cid, "Matches 3 vowels", "speech_communication", "80% of trials over 3 sessions")
    assert log.client_profile(cid)["goals"] == [{"id": gid, "text": "Matches 3 vowels",
                                                  "area": "speech_communication",
                                                  "target": "80% of trials over 3 sessions"}]
    s = log.start_session(cid, {})
    log.log(s, LogEvent("hit"))
    book.archive(cid)
    assert cid not in [x["id"] for x in log.clients()]
    assert cid in [x["id"] for x in log.clients(include_archived=True)]
    assert [e.kind for e in log.events(client_id=cid)] == ["hit"]  # archived, not deleted
    with pytest.raises(StoreError, match="name"):
        book.create("   ")


def test_unknown_profile_keys_survive_and_targets_parse():
    p, problems = normalize_profile({"mine": {"x": 1}, "goals": [{"text": ""}, {"text": "t", "area": "social"}]})
    assert p["mine"] == {"x": 1} and len(p["goals"]) == 1 and p["goals"][0]["id"]
    assert problems and "without text" in problems[0]
    t = parse_target("80% of trials over 3 sessions")
    assert (t.percent, t.sessions) == (80.0, 3)
    assert parse_target("at 70 % in 2 consecutive sessions").sessions == 2
    assert parse_target("when ready") is None


def test_hard_delete_needs_the_code_and_keeps_the_log_append_only(tmp_path):
    log = EventLog(tmp_path / "s.db", FakeClock())
    book = ClientBook(log)
    a, b = book.create("A"), book.create("B")
    for cid in (a, b):
        s = log.start_session(cid, {})
        log.log(s, LogEvent("hit"))
    with pytest.raises(StoreError, match="confirmation"):
        log.purge_client(a, confirm_code="wrong")
    assert len(list(log.events())) == 2
    assert log.purge_client(a, confirm_code=book.get(a)["code"]) == 1
    assert [e.client_id for e in log.events()] == [b] and log.client(a) is None
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        log.db.execute("DELETE FROM events")


def _v1_store(path):
    con = make_store(path, 1)
    con.execute("INSERT INTO clients(id, code, display_name, created) VALUES ('k','C-K','Kai','2025-01-01T10:00:00+00:00')")
    con.execute("INSERT INTO sessions(id, client_id, started, notes) VALUES ('s1','k','2025-01-01T10:00:00+00:00','old note')")
    con.commit()
    con.close()


def test_old_store_is_migrated_with_a_backup_kept(tmp_path):
    p = tmp_path / "prelude.db"
    _v1_store(p)
    log = EventLog(p, FakeClock())
    assert log.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    (s,) = log.sessions()
    assert s["notes"] == "old note" and s["summary"] == ""
    log.save_plan("p1", "Mine", [{"activity": "free_play"}], "k")
    assert log.stored_plans("k")[0]["name"] == "Mine"
    backups = list(tmp_path.glob("prelude.db.format1-*"))
    assert len(backups) == 1 and str(backups[0]) in log.notices[0]
    old = sqlite3.connect(backups[0])
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old.execute("SELECT notes FROM sessions").fetchone()[0] == "old note"
    old.close()
    log.close()
    again = EventLog(p, FakeClock())  # already current: no second backup
    assert again.notices == [] and len(list(tmp_path.glob("prelude.db.format1-*"))) == 1


def test_failed_migration_leaves_the_old_store_as_it_was(tmp_path, monkeypatch):
    from prelude_play.store import eventlog

    p = tmp_path / "prelude.db"
    _v1_store(p)

    def broken(db):
        db.execute("ALTER TABLE sessions ADD COLUMN summary TEXT NOT NULL DEFAULT ''")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setitem(eventlog.MIGRATIONS, 1, broken)
    with pytest.raises(StoreError, match="cannot open"):
        EventLog(p, FakeClock())
    con = sqlite3.connect(p)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "summary" not in [r[1] for r in con.execute("PRAGMA table_info(sessions)")]
    con.close()


def test_shipped_plans_parse_and_a_bad_plan_says_what_is_wrong(tmp_path):
    files = sorted((resource_dir("config") / "plans").glob("*.toml"))
    assert files
    for f in files:
        plan, problems = parse_plan_file(f)
        assert problems == [] and plan is not None and plan.steps
    bad = tmp_path / "bad.toml"
    bad.write_text('name = ""\n[[steps]]\ntitle = "no activity"\n')
    plan, problems = parse_plan_file(bad)
    text = "\n".join(str(p) for p in problems)
    assert "bad.toml" in text and "[name]" in text and "no activity name" in text


def test_plans_are_saved_per_client(tmp_path):
    log = EventLog(tmp_path / "s.db", FakeClock())
    book = PlanBook(log, [resource_dir("config") / "plans"])
    shipped = book.shipped[0]
    mine = book.save(Plan(shipped.id, "Kai's", shipped.steps, source=shipped.source), "kai")
    assert not mine.id.startswith("shipped:")
    names = [p.name for p in book.for_client("kai")]
    assert "Kai's" in names and shipped.name in names
    assert "Kai's" not in [p.name for p in book.for_client("other")]


def _schedule(available=("choice_board", "drum_turns", "free_play")):
    logged, notices = [], []
    plan = Plan("p", "Test", [PlanStep("hello_song", "Hello"), PlanStep("choice_board", "Choose"),
                              PlanStep("drum_turns", "Drums"), PlanStep("free_play", "Free"),
                              PlanStep("goodbye_song", "Bye")])
    sch = LiveSchedule(plan, lambda a: a in available, lambda k, d: logged.append((k, d)), notices.append)
    return sch, logged, notices


def test_live_schedule_skips_missing_activities_with_a_notice():
    sch, logged, notices = _schedule()
    assert sch.advance().activity == "choice_board"
    assert sch.steps[0].state == MISSING and "hello_song" in notices[0]
    assert sch.titles() == ["Hello", "Choose", "Drums", "Free", "Bye"]  # still shown
    assert sch.visible_index() == 1 and "schedule" not in sch.settings_for(sch.current)  # the shell draws it
    assert sch.advance().activity == "drum_turns" and sch.steps[1].state == DONE
    assert sch.advance().activity == "free_play"
    assert sch.advance() is None and sch.finished
    assert [k for k, _ in logged].count("plan_skip") == 2


def test_live_schedule_skip_reorder_insert_jump():
    sch, logged, _ = _schedule()
    sch.advance()  # choose
    sch.skip(3)  # free play
    assert sch.steps[3].state == SKIPPED and "Free" not in sch.titles()
    assert sch.move(2, 1) and [s.step.activity for s in sch.steps][2:4] == ["free_play", "drum_turns"]
    assert not sch.move(1, -1)  # the current step and the past stay put
    pos = sch.insert(PlanStep("free_play", "Extra"))
    assert pos == 2 and sch.next_label() == "Extra"
    step = sch.jump(4)  # drums now
    assert step.activity == "drum_turns" and sch.index == 2 and sch.steps[1].state == DONE
    assert [k for k, _ in logged] == ["plan_skip", "plan_step", "plan_skip", "plan_reorder", "plan_insert", "plan_step"]
