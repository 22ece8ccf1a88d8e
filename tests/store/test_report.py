"""Summaries and the HTML report: corrections applied, IMTAP levels, filters, atomic, private."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from prelude_play.cli import main
from prelude_play.clock import FakeClock
from prelude_play.errors import ExportError
from prelude_play.events import LogEvent
from prelude_play.store import export
from prelude_play.store.clients import ClientBook
from prelude_play.store.eventlog import EventLog
from prelude_play.store.report import build_html, export_html
from prelude_play.store.summary import (apply_corrections, consistency_level, goal_stats, summarize_session,
                                        summary_text)

ROOT = Path(__file__).resolve().parents[2]
ART = ROOT / "tests" / "_artifacts"
DOCS = ROOT / "docs" / "screenshots"

# (outcome, prompt) per trial; the 3rd is undone, the 5th is edited to a success.
TRIALS = [("success", "independent"), ("success", "verbal"), ("success", "independent"),
          ("not_yet", "independent"), ("partial", "gestural"), ("success", "independent")]


@pytest.fixture
def store(tmp_path):
    clock = FakeClock()
    log = EventLog(tmp_path / "prelude.db", clock)
    book = ClientBook(log)
    kai = book.create("Kai Real-Name", client_id="kai", code="C-KAI")
    gid = book.add_goal(kai, "Waits for own turn", "turn_taking", "80% of trials over 2 sessions")
    other = book.create("Other Person", client_id="oth", code="C-OTH")
    s = log.start_session(kai, {"app_version": "9.9"})
    s.activity = "drum_turns"
    log.log(s, LogEvent("activity_start", actor="system", goals=("turn_taking",), data={"settings": {"bpm": 90}}))
    ids = []
    for o, p in TRIALS:
        clock.advance(ms=1500)
        ids.append(log.log(s, LogEvent("score", actor="therapist", goals=("turn_taking", f"client:{gid}"),
                                       outcome=o, prompt=p)))
    log.log(s, LogEvent("correction", actor="therapist", corrects=ids[2], goals=("turn_taking",),
                        data={"action": "undo"}))
    log.log(s, LogEvent("correction", actor="therapist", corrects=ids[4], goals=("turn_taking",),
                        data={"action": "edit", "outcome": "success", "prompt": "independent"}))
    log.log(s, LogEvent("note", actor="therapist", data={"note": "Kai <laughed> & waited"}))
    log.log(s, LogEvent("filtered_touch", data={"reason": "repeat"}))
    log.end_session(s)
    log.set_session_notes(s.id, "Good session")
    s2 = log.start_session(other, {"app_version": "9.9"})
    s2.activity = "choice_board"
    log.log(s2, LogEvent("choice", goals=("functional_communication",), outcome="success", prompt="independent"))
    log.end_session(s2)
    yield log, gid, s.id, s2.id
    log.close()


def test_consistency_levels_follow_imtap_bands():
    assert [consistency_level(v) for v in (None, 0, 1, 49.9, 50, 79.9, 80, 100)] == \
        ["No data", "Never", "Rarely", "Rarely", "Inconsistent", "Inconsistent", "Consistent", "Consistent"]


def test_corrections_apply_in_summaries_but_raw_export_keeps_both(store, tmp_path):
    log, gid, sid, _ = store
    evs = list(log.events(session_id=sid))
    eff = apply_corrections(evs)
    scores = [e for e in eff if e.kind == "score"]
    assert len(scores) == 5 and scores[3].outcome == "success" and scores[3].prompt == "independent"
    g = goal_stats(evs)[f"client:{gid}"]
    # after corrections: success/ind, success/verbal, not_yet, success/ind (edited), success/ind
    assert (g.trials, g.success, g.independent) == (5, 4, 3) and g.level == "Inconsistent"
    out = export.export_jsonl(log, tmp_path / "raw.jsonl")
    kinds = [l for l in out.read_text().splitlines()[1:]]
    assert sum('"kind": "score"' in k for k in kinds) == 6 and sum('"kind": "correction"' in k for k in kinds) == 2


def test_undo_of_an_undo_restores_the_score(tmp_path):
    log = EventLog(tmp_path / "s.db", FakeClock())
    s = log.start_session("a", {})
    e1 = log.log(s, LogEvent("score", goals=("musical",), outcome="success"))
    c1 = log.log(s, LogEvent("correction", corrects=e1, data={"action": "undo"}))
    assert goal_stats(log.events()) == {}
    log.log(s, LogEvent("correction", corrects=c1, data={"action": "undo"}))
    assert goal_stats(log.events())["musical"].trials == 1


def test_session_summary_text_is_ready_for_a_soap_note(store):
    log, gid, sid, _ = store
    sess = next(x for x in log.sessions() if x["id"] == sid)
    sm = summarize_session(sess, log.events(session_id=sid), "C-KAI")
    text = summary_text(sm, lambda tag: {"turn_taking": "Turn-taking", f"client:{gid}": "Waits for own turn"}.get(tag, tag))
    lines = text.splitlines()
    assert lines[0].startswith("Session ") and "C-KAI" in lines[0]
    assert lines[1] == "S: Kai <laughed> & waited / Good session"
    assert "Waits for own turn: 4/5 successful, 60% independent" in text
    assert "1 touches filtered (repeat)" in text and "2 scoring corrections applied" in text
    assert any(l.startswith("A: ") and "inconsistent" in l for l in lines) and lines[-1] == "P: "


def test_html_report_has_goals_levels_plots_and_prints(store, tmp_path):
    log, gid, sid, _ = store
    out = export_html(log, tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "@media print" in text and text.count("<svg") == 2  # own goal (covers turn-taking), functional comm.
    row = re.search(r"<tr><td>Waits for own turn</td><td>80% of trials over 2 sessions</td>(.*?)</tr>", text)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    assert cells[:3] == ["5", "4", "60%"] and "Inconsistent" in cells[3] and cells[4].startswith("not yet")
    assert "Kai &lt;laughed&gt; &amp; waited" in text and "<laughed>" not in text  # escaped
    assert "Kai Real-Name" not in text and "C-KAI" in text and "C-OTH" in text
    assert "Prelude Play" in text and "9.9" in text and "Export settings" in text
    assert (os.stat(out).st_mode & 0o077) == 0
    named = build_html(log, names=True, selection=export.Selection(client="C-KAI"))
    assert "Kai Real-Name" in named and "Other Person" not in named and "names shown" in named


def test_filters_by_client_session_date_and_goal(store, tmp_path):
    log, gid, sid, sid2 = store
    day = log.sessions()[0]["started"][:10]
    sel = export.Selection
    ids = lambda s: {e.session_id for e in export.select_events(log, s)}  # noqa: E731
    assert ids(sel(client="C-OTH")) == {sid2} and ids(sel(client="kai")) == {sid}
    assert ids(sel(session=sid[:8])) == {sid}
    assert ids(sel(since=day, until=day)) == {sid, sid2}
    assert ids(sel(until="2000-01-01")) == set() and ids(sel(since="2999-01-01")) == set()
    goal = list(export.select_events(log, sel(goal=f"client:{gid}")))
    assert [e.kind for e in goal] == ["score"] * 6 + ["correction"] * 2  # corrections of kept events too
    with pytest.raises(ExportError, match="YYYY-MM-DD"):
        list(export.select_events(log, sel(since="last tuesday")))
    with pytest.raises(ExportError, match="no client"):
        export.select_sessions(log, sel(client="nobody"))


def test_cli_export_flags(store, tmp_path, capsys):
    log, gid, sid, sid2 = store
    d = str(tmp_path)
    day = log.sessions()[0]["started"][:10]
    assert main(["--data-dir", d, "export", "--format", "csv", "--out", f"{d}/k.csv", "--client", "C-KAI",
                 "--since", day, "--until", day, "--goal", "turn_taking"]) == 0
    import csv

    with open(f"{d}/k.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["client"] for r in rows} == {"C-KAI"} and all("turn_taking" in r["goals"].split(";") for r in rows)
    assert {r["app_version"] for r in rows} == {"9.9"}
    assert main(["--data-dir", d, "export", "--format", "html", "--out", f"{d}/s.html", "--session", sid2]) == 0
    assert "C-OTH" in Path(f"{d}/s.html").read_text() and "C-KAI" not in Path(f"{d}/s.html").read_text()
    assert main(["--data-dir", d, "export", "--format", "html", "--out", f"{d}/none/x.html"]) == 1
    assert "not there" in capsys.readouterr().err


def _snapshot(log):
    return [e.as_dict() for e in log.events()], log.sessions(), log.clients(include_archived=True)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "html"])
def test_full_drive_fails_clearly_leaves_nothing_and_the_store_untouched(store, tmp_path, monkeypatch, fmt):
    log = store[0]
    before = _snapshot(log)
    fn = {"csv": export.export_csv, "jsonl": export.export_jsonl, "html": export_html}[fmt]
    out = tmp_path / "usb" / f"e.{fmt}"
    out.parent.mkdir()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ExportError, match="free space") as info:
        fn(log, out)
    assert "No space left" in str(info.value) and "Nothing was changed" in str(info.value)
    assert list(out.parent.iterdir()) == []  # no partial file, nothing looking complete
    monkeypatch.undo()
    with pytest.raises(ExportError, match="drive removed"):
        fn(log, tmp_path / "gone" / f"e.{fmt}")
    assert _snapshot(log) == before


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    """A realistic multi-session report rendered by a real browser; the PNG is reviewed by eye."""
    from prelude_play.store.demo import make_store

    log = EventLog(tmp_path / "prelude.db", FakeClock())
    make_store(log, sessions=10, events_per_session=120, seed=3)
    html = export_html(log, tmp_path / "report.html")
    png = ART / "report_chromium.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    profile = tmp_path / "chromium-profile"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,2000",
                    html.resolve().as_uri()], check=True, capture_output=True, timeout=90, cwd=tmp_path)
    pdf = tmp_path / "report.pdf"  # and it prints: A4 pages from the @media print rules
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                    html.resolve().as_uri()], check=True, capture_output=True, timeout=90, cwd=tmp_path)
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf.read_bytes()))
    assert 2 <= pages <= 12
    import pygame

    img = pygame.image.load(str(png))
    assert img.get_size() == (1280, 2000)
    # Not blank: the page has dark text and the accent-coloured plot lines somewhere.
    colours = {tuple(img.get_at((x, y)))[:3] for x in range(0, 1280, 7) for y in range(0, 2000, 7)}
    assert len(colours) > 50
    log.close()
