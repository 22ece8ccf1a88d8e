"""The HTML report and exports: figures from trials only (the golden truth), the session's language,
filters, atomic and private files, and a real browser rendering it."""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from prelude_play.cli import main
from prelude_play.clock import FakeClock
from prelude_play.errors import ExportError
from prelude_play.l10n import NBSP
from prelude_play.store import export
from prelude_play.store.clients import ClientBook
from prelude_play.store.demo import ACTIVITIES, SessionWriter, provenance
from prelude_play.store.eventlog import EventLog
from prelude_play.store.report import build_html, export_html, report_language
from prelude_play.store.summary import summarize_stored, summary_text
from prelude_play.store.trials import consistency_level
from tests.screens import publish
from tests.store.golden import TRUTH, TURN, make_golden

ROOT = Path(__file__).resolve().parents[2]
ART = ROOT / "tests" / "_artifacts"


def add_other_client(log: EventLog, language: str = "en") -> str:
    """A second client with one short choice-board session (two trials, one left unscored)."""
    clock = log.clock
    assert isinstance(clock, FakeClock)
    cid = ClientBook(log).create("Other Person", client_id="oth", code="C-OTH")
    s = log.start_session(cid, provenance(language))
    w = SessionWriter(log, s, clock)
    w.start("choice_board", ACTIVITIES["choice_board"])
    tid = w.open("board_shown")
    w.respond(tid, "choice", {"card": "drum"})
    w.judge(tid, "success")
    w.close(tid)
    w.close(w.open("board_shown"), "timeout", ms=8000)
    w.stop()
    log.end_session(s)
    return s.id


@pytest.fixture
def store(tmp_path):
    g = make_golden(tmp_path / "prelude.db", notes="Kai <laughed> & waited")
    g.log.set_session_notes(g.session_id, "Good session")
    other = add_other_client(g.log)
    yield g, other
    g.log.close()


def test_consistency_levels_follow_imtap_bands_and_need_enough_trials():
    assert [consistency_level(v, 5) for v in (None, 0, 1, 49.9, 50, 79.9, 80, 100)] == \
        [None, "Never", "Rarely", "Rarely", "Inconsistent", "Inconsistent", "Consistent", "Consistent"]
    assert consistency_level(100, 4) is None and consistency_level(100, 4, min_trials=3) == "Consistent"


def test_corrections_apply_in_summaries_but_the_raw_export_keeps_every_event(store, tmp_path):
    g, _ = store
    st = summarize_stored(g.log, g.session_id)
    turn = st.summary.goals[g.goals["turn"]]
    assert (turn.trials, turn.successes, turn.independent) == TRUTH["turn"][:3]
    assert st.summary.corrections == 5
    out = export.export_jsonl(g.log, tmp_path / "raw.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    mine = [r for r in rows if r["session_id"] == g.session_id]
    assert sum(r["kind"] == "score" for r in mine) == 5 and sum(r["kind"] == "correction" for r in mine) == 5
    assert sum(r["kind"] == "judgement" for r in mine) == 7
    trial_kinds = {"trial_open", "trial_close", "judgement", "score", "copy", "choice"}
    assert all(r["trial_id"] for r in mine if r["kind"] in trial_kinds)  # every trial event carries its trial
    assert {r["trial_id"] for r in mine if r["kind"] == "trial_open"} == set(g.trial_ids.values())


def test_session_summary_text_is_ready_for_a_soap_note(store):
    g, _ = store
    st = summarize_stored(g.log, g.session_id)
    text = summary_text(st.summary, st.goal_title, st.t, info=st.info)
    lines = text.splitlines()
    assert lines[0].startswith("Session ") and "C-ROB" in lines[0]
    assert lines[1] == "S: Kai <laughed> & waited / Good session"
    assert f"{TURN}: 4 of 5 trials successful; 2 independent; with prompts: gestural 1, verbal 1" in text
    assert "1 touch not counted (repeat)" in text and "5 scoring corrections applied" in text
    assert any(line.startswith("A: ") and "rarely (40% independent over 5 trials)" in line for line in lines)
    assert lines[-1].startswith("P: Continue: ") or any(line.startswith("P: Continue:") for line in lines)


def test_html_report_shows_the_trials_apart_levels_plots_and_prints(store, tmp_path):
    g, other = store
    out = export_html(g.log, tmp_path / "r.html", free_text=True)  # notes asked for in a pseudonymous report
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert '<html lang="en">' in text and "@media print" in text
    row = re.search(rf'<tr data-goal="{g.goals["turn"]}"><td>{TURN}</td><td>80% of trials over 3 sessions</td>(.*?)</tr>',
                    text)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    # trials, successful, independent, % independent, not scored, level, target met
    assert cells[:5] == ["5", "4", "2", "40%", "1"] and "Rarely" in cells[5] and cells[6].startswith("not yet")
    idle = re.search(rf'<tr data-goal="{g.goals["vowel"]}" class="idle">(.*?)</tr>', text).group(1)
    assert "not worked on in this period" in idle
    # The drum trials, in order: I (judged), G (therapist), I (score undone), V (edited), × (undo of undo).
    drum = re.search(rf'data-session="{g.session_id}".*?<tr data-goal="{g.goals["turn"]}">(.*?)</tr>', text, re.S)
    marks = re.findall(r'<span title="([^"]*)">([^<]*)</span>', drum.group(1))
    assert "".join(m for _, m in marks) == "IGIV×"
    assert "judged by the activity" in marks[0][0] and "scored by the therapist" in marks[1][0]
    assert "Kai &lt;laughed&gt; &amp; waited" in text and "<laughed>" not in text  # escaped
    assert "Robin Real-Name" not in text and "C-ROB" in text and "C-OTH" in text
    oth = re.search(rf'data-session="{other}".*?<tr data-goal="functional_communication">(.*?)</tr>', text, re.S)
    assert re.findall(r'<td class="num (?:trials|not_scored)">(\d+)</td>', oth.group(1)) == ["1", "1"]
    assert re.search(r'<td class="num">100%</td>', oth.group(1))  # 1 of 1 scored: the unscored one is apart
    assert "– (1/5)" in oth.group(1)  # no level from one trial
    assert "Prelude Play" in text and "0.1.0" in text and "Export settings" in text
    assert (os.stat(out).st_mode & 0o077) == 0
    named = build_html(g.log, names=True, selection=export.Selection(client="C-ROB"))
    assert "Robin Real-Name" in named and "Other Person" not in named and "names shown" in named


def test_a_report_over_several_sessions_speaks_the_latest_sessions_language(tmp_path):
    g = make_golden(tmp_path / "prelude.db", language="en")
    try:
        add_other_client(g.log, language="fr_CA")  # the latest session is French
        assert report_language(g.log.sessions()) == "fr_CA"
        text = build_html(g.log)
        assert '<html lang="fr-CA">' in text and "Rapport de séances et de progrès" in text
        assert f"Essai par essai (essais notés seulement){NBSP}:" in text and f"40{NBSP}%" in text
        assert "Cible atteinte" in text and "Tambour à tour de rôle" in text
        assert f"Requests «{NBSP}more{NBSP}» with sign" in text  # French quotes, escaped as text
        en = build_html(g.log, language="en")
        assert '<html lang="en">' in en and "Goals over this period" in en and "Rapport" not in en
        only_en = build_html(g.log, selection=export.Selection(client="C-ROB"))
        assert '<html lang="en">' in only_en  # the latest session of this selection is English
    finally:
        g.log.close()


def test_filters_by_client_session_date_and_goal(store):
    g, other = store
    log = g.log
    day = log.sessions()[0]["started"][:10]
    sel = export.Selection
    ids = lambda s: {e.session_id for e in export.select_events(log, s)}  # noqa: E731
    assert ids(sel(client="C-OTH")) == {other} and ids(sel(client="robin")) == {g.session_id}
    assert ids(sel(session=g.session_id[:13])) == {g.session_id}
    assert ids(sel(since=day, until=day)) == {g.session_id, other}
    assert ids(sel(until="2000-01-01")) == set() and ids(sel(since="2999-01-01")) == set()
    tag = g.goals["turn"]
    kept = list(export.select_events(log, sel(goal=tag)))
    kept_ids = {e.id for e in kept}
    assert kept and all(tag in e.goals or (e.kind == "correction" and e.corrects in kept_ids) for e in kept)
    assert {e.trial_id for e in kept if e.kind == "trial_open"} == \
        {g.trial_ids[k] for k in ("t1", "t2", "t3", "t4", "t5", "t6", "t7")}
    with pytest.raises(ExportError, match="YYYY-MM-DD"):
        list(export.select_events(log, sel(since="last tuesday")))
    with pytest.raises(ExportError, match="no client"):
        export.select_sessions(log, sel(client="nobody"))


def test_cli_export_flags(store, tmp_path, capsys):
    g, other = store
    d = str(tmp_path)
    day = g.log.sessions()[0]["started"][:10]
    assert main(["--data-dir", d, "export", "--format", "csv", "--out", f"{d}/k.csv", "--client", "C-ROB",
                 "--since", day, "--until", day, "--goal", "turn_taking"]) == 0
    with open(f"{d}/k.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["client"] for r in rows} == {"C-ROB"} and all("turn_taking" in r["goals"].split(";") for r in rows
                                                           if r["kind"] != "correction")
    assert {r["app_version"] for r in rows} == {"0.1.0"} and all(r["trial_id"] for r in rows if r["kind"] == "score")
    assert main(["--data-dir", d, "export", "--format", "html", "--out", f"{d}/s.html", "--session", other]) == 0
    assert "C-OTH" in Path(f"{d}/s.html").read_text() and "C-ROB" not in Path(f"{d}/s.html").read_text()
    assert main(["--data-dir", d, "--language", "fr_CA", "export", "--format", "html", "--out", f"{d}/f.html"]) == 0
    assert '<html lang="fr-CA">' in Path(f"{d}/f.html").read_text(encoding="utf-8")
    assert main(["--data-dir", d, "export", "--format", "html", "--out", f"{d}/none/x.html"]) == 1
    assert "not there" in capsys.readouterr().err


def _snapshot(log):
    return [e.as_dict() for e in log.events()], log.sessions(), log.clients(include_archived=True)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "html", "note"])
def test_full_drive_fails_clearly_leaves_nothing_and_the_store_untouched(store, tmp_path, monkeypatch, fmt):
    g, _ = store
    log = g.log
    before = _snapshot(log)
    from prelude_play.store.note import write_note

    fn = {"csv": export.export_csv, "jsonl": export.export_jsonl, "html": export_html,
          "note": lambda lg, out: write_note(lg, g.session_id, out)}[fmt]
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
    publish(png)
    log.close()


def test_an_activity_contributes_its_own_table_to_the_report(store):
    """``Activity.report_tables``: a table over the period's trials, escaped, in the report's language."""
    from prelude_play.activity import Activity, ActivityEntry, Registry

    g, _ = store
    seen: list[int] = []

    class Board(Activity):
        name, title = "choice_board", "Choice board"

        @classmethod
        def report_tables(cls, trials, t):
            seen.append(len(trials))
            return [(t("Trials") + " <per card>", ["Card", "n"], [["drum & bells", str(len(trials))]])]

    reg = Registry({"choice_board": ActivityEntry("choice_board", Board, "x")})
    page = build_html(g.log, registry=reg)
    assert 'data-activity="choice_board"' in page and "Trials &lt;per card&gt;" in page
    assert "<td>drum &amp; bells</td>" in page and seen and all(n > 0 for n in seen)
    assert 'class="activity-table"' not in build_html(g.log)  # no registry, no activity tables
