"""Issue 14, item 3: exports private by construction — no config or secret, ids never typed names,
nothing from a named export written back to the log, free text marked and withheld, CSV cells
that cannot run as formulas."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from prelude_play.clock import FakeClock
from prelude_play.events import LogEvent
from prelude_play.store import export
from prelude_play.store.clients import ClientBook
from prelude_play.store.eventlog import EventLog
from prelude_play.store.report import export_html

PROVENANCE = {"app_version": "t", "config": {"therapist": {"pin": "5678", "pin_hash": "pbkdf2-sha256$SECRETHASH"}},
              "config_sources": ["/home/therapist/.config/prelude-play/app.toml"],
              "midi": {"device": "pads", "sync_token": "tok-123", "nested": [{"Password": "hunter2"}]},
              "therapist_pin": "5678"}


@pytest.fixture
def emma(tmp_path):
    log = EventLog(tmp_path / "prelude.db", FakeClock())
    cid = ClientBook(log).find_or_create("Emma")
    s = log.start_session(cid, dict(PROVENANCE), plan="Emma's routine")
    log.log(s, LogEvent("hit", device="=HYPERLINK(\"http://x\",\"pad\")", data={"pad": 1}))
    log.log(s, LogEvent("hit", device="@SUM(A1)", source="-2+3", data={"pad": 2}))
    log.log(s, LogEvent("note", actor="therapist", data={"note": "Emma laughed at the drum"}))
    log.log(s, LogEvent("plan_start", actor="therapist", data={"plan": "Emma's routine", "id": "p1"}))
    log.end_session(s, notes="Emma was tired")
    log.set_session_soap(s.id, {"S": "Emma's mother says", "O": ""})
    yield log, cid
    log.close()


def test_a_typed_name_is_a_display_name_never_an_id(emma):
    log, cid = emma
    assert cid != "Emma" and log.client(cid)["display_name"] == "Emma"
    book = ClientBook(log)
    code = log.client(cid)["code"]
    assert book.find_or_create("Emma") == book.find_or_create(code) == book.find_or_create(cid) == cid
    assert len(log.clients()) == 1


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "html"])
def test_pseudonymous_exports_carry_no_name_config_pin_or_free_text(emma, tmp_path, fmt):
    log, cid = emma
    fn = {"jsonl": export.export_jsonl, "csv": export.export_csv, "html": export_html}[fmt]
    text = fn(log, tmp_path / f"out.{fmt}", selection=export.Selection(client=cid)).read_text(encoding="utf-8-sig")
    for secret in ("Emma", "5678", "SECRETHASH", "tok-123", "hunter2", "/home/therapist", "pin_hash"):
        assert secret not in text, (fmt, secret)
    if fmt == "jsonl":
        header = json.loads(text.splitlines()[0])
        assert header["free_text"]["withheld"] and "notes" in header["free_text"]["session_fields"]
        (sess,) = header["sessions"]
        assert "config" not in sess["provenance"] and sess["provenance"]["midi"]["device"] == "pads"
        assert sess["notes"] == sess["plan"] == export.WITHHELD and sess["soap"] == {"S": export.WITHHELD}


def test_free_text_is_kept_when_asked_for_and_with_names(emma, tmp_path):
    log, _ = emma
    kept = export.export_jsonl(log, tmp_path / "k.jsonl", free_text=True).read_text(encoding="utf-8")
    assert "Emma laughed at the drum" in kept and "Emma was tired" in kept
    assert '"Emma"' not in kept  # still pseudonymous: the client is its code
    named = export.export_jsonl(log, tmp_path / "n.jsonl", names=True).read_text(encoding="utf-8")
    assert "Emma laughed at the drum" in named and "5678" not in named
    held = export.export_jsonl(log, tmp_path / "w.jsonl", names=True, free_text=False).read_text(encoding="utf-8")
    assert "laughed" not in held


@pytest.mark.parametrize("names", [False, True])
def test_csv_cells_that_look_like_formulas_are_neutralised(emma, tmp_path, names):
    log, cid = emma
    log.rename_client(cid, "+Emma")
    out = export.export_csv(log, tmp_path / "e.csv", names=names)
    with open(out, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    cells = [c for row in rows[1:] for c in row]
    assert not any(c[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells)
    assert "'=HYPERLINK(\"http://x\",\"pad\")" in cells and "'@SUM(A1)" in cells and "'-2+3" in cells
    assert ("'+Emma" in cells) == names
    events = list(log.events())
    out2 = export.export_csv(log, tmp_path / "e2.csv", names=names, events=events)
    with open(out2, encoding="utf-8-sig", newline="") as fh:
        assert not any(c[:1] in ("=", "+", "-", "@") for row in list(csv.reader(fh))[1:] for c in row)


def test_a_named_export_folder_is_never_logged(tmp_path):
    from prelude_play.shell.pilot import run_test

    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        app = pilot.app
        app.store.rename_client("ari", "Emma Tremblay")
        app.therapist.export.roots = (str(tmp_path / "no-media"),)
        app.go_home()  # the session stays open, so the export is logged in it
        pilot.step()
        pilot.tap("tool:export")
        pilot.enter_pin()
        pilot.tap("names")
        assert app.therapist.export.names
        pilot.tap("export:go")
        folder = app.therapist.export.last_folder
        assert folder is not None and "Emma" in folder.name
        app.store.flush()
        logged = [e for e in app.store.events() if e.kind == "export"]
        assert logged and logged[-1].data["folder"] is None
        text = export.export_jsonl(app.store, tmp_path / "later.jsonl").read_text(encoding="utf-8")
        assert "Emma" not in text and "Tremblay" not in text


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "html"])
def test_a_store_from_before_with_a_name_as_client_id_does_not_leak_it(tmp_path, fmt):
    log = EventLog(tmp_path / "prelude.db", FakeClock())
    log.ensure_client("Emma")  # how `--client Emma` made clients before: the name as the id
    s = log.start_session("Emma", {"app_version": "t"})
    log.log(s, LogEvent("hit", data={"pad": 1}))
    log.end_session(s)
    fn = {"jsonl": export.export_jsonl, "csv": export.export_csv, "html": export_html}[fmt]
    text = fn(log, tmp_path / f"o.{fmt}", selection=export.Selection(client="Emma")).read_text(encoding="utf-8-sig")
    assert "Emma" not in text and log.client("Emma")["code"] in text
    log.close()


def test_cli_export_of_a_store_with_a_bad_row_says_what_it_skipped_and_keeps_free_text_on_request(emma, tmp_path):
    import sqlite3
    import subprocess
    import sys

    log, _ = emma
    log.close()
    con = sqlite3.connect(tmp_path / "prelude.db")
    sid, cid = con.execute("SELECT id, client_id FROM sessions").fetchone()
    con.execute("INSERT INTO events(id, session_id, client_id, activity, kind, actor, source, device, t_ms, wall,"
                " goals, data) VALUES ('bad', ?, ?, 'a', 'hit', 'c', 's', 'd', 1, 'w', '[]', '{broken')", (sid, cid))
    con.commit()
    con.close()
    root = Path(__file__).resolve().parents[2]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "prelude_play", "--data-dir", str(tmp_path), "export", *args],
                              capture_output=True, text=True, cwd=root, timeout=60)

    p = run("--format", "jsonl", "--out", str(tmp_path / "x.jsonl"))
    assert p.returncode == 0 and "1 unreadable row(s)" in p.stderr, p.stderr
    assert "laughed" not in (tmp_path / "x.jsonl").read_text(encoding="utf-8")
    p = run("--format", "jsonl", "--out", str(tmp_path / "y.jsonl"), "--free-text", "keep")
    assert p.returncode == 0 and "Emma laughed at the drum" in (tmp_path / "y.jsonl").read_text(encoding="utf-8")
