"""The session note (PDF, text, JSON), ``summary --json`` and the report: the same figures, the
golden session's truth, in the session's language with its typography."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from prelude_play.cli import main
from prelude_play.errors import ExportError, StoreError
from prelude_play.l10n import NBSP, NNBSP
from prelude_play.store.note import build_note, write_note
from prelude_play.store.report import build_html
from prelude_play.store.summary import find_session
from tests.screens import publish
from tests.store.golden import LEVELS, MORE, TRUTH, TURN, VOWEL, make_golden

ROOT = Path(__file__).resolve().parents[2]
ART = ROOT / "tests" / "_artifacts"


def pdf_text(path: Path) -> tuple[int, str]:
    """(pages, text) of a PDF, read back by pypdf, whitespace made plain."""
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return len(reader.pages), re.sub(r"[ \t\u00a0\u202f]+", " ", text)


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace(NBSP, " ").replace(NNBSP, " ")).strip()


def render_png(pdf: Path, name: str, *, docs: bool = True) -> None:
    """PNG pages of the note for a person to look at (tests/_artifacts; reviewed copies go to
    docs/screenshots on request), where poppler's pdftoppm is installed."""
    if shutil.which("pdftoppm") is None:
        return
    ART.mkdir(parents=True, exist_ok=True)
    for old in ART.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "110", "-png", str(pdf), str(ART / name)], check=True, timeout=60)
    if docs:
        publish(ART / f"{name}-1.png", f"{name}.png")  # page 1: the note as signed


@pytest.fixture
def golden(tmp_path):
    g = make_golden(tmp_path / "prelude.db")
    yield g
    g.log.close()


def report_figures(text: str, session_id: str) -> dict[str, dict]:
    """The per-goal figures a report's session block shows, read back from its cells."""
    block = text[text.index(f'data-session="{session_id}"'):]
    block = block[:block.index("</table>")]
    out = {}
    for tag, row in re.findall(r'<tr data-goal="([^"]+)">(.*?)</tr>', block):
        cells = dict(re.findall(r'<td class="num (trials|successes|independent|not_scored)">(\d+)</td>', row))
        prompts = re.findall(r"<td>([^<]*)</td><td class=\"marks\">", row)[0]
        level = re.search(r'class="level (\w+)"', row).group(1)
        out[html.unescape(tag)] = {
            **{k: int(v) for k, v in cells.items()},
            "prompts": {p.rsplit(NBSP, 1)[0]: int(p.rsplit(NBSP, 1)[1]) for p in html.unescape(prompts).split(", ")
                        if NBSP in p},
            "level": None if level == "No" else level}
    return out


def test_note_in_text_json_and_pdf_gives_the_golden_truth(golden, tmp_path):
    g = golden
    out = {f: write_note(g.log, g.session_id, tmp_path / f"note.{f}", fmt=f) for f in ("txt", "json", "pdf")}
    data = json.loads(out["json"].read_text(encoding="utf-8"))
    for key, (trials, ok, ind, ns, prompts) in TRUTH.items():
        fig = data["goals"][g.goals[key]]
        assert (fig["trials"], fig["successes"], fig["independent"], fig["not_scored"], fig["prompts"]) == \
            (trials, ok, ind, ns, prompts), key
        assert fig["level"] == LEVELS[key]
    assert list(data["goals"])[:3] == [g.goals["turn"], g.goals["more"], g.goals["vowel"]]  # the profile's order
    assert data["client"] == "C-ROB" and data["not_scored"] == 1 and data["trials"] == 8
    assert data["note"]["soap"]["S"] == "Robin led the pulse today."
    assert "Waits for own turn on the drum: 4 of 5 trials successful; 2 independent" in data["note"]["soap"]["O"]
    assert f"{VOWEL}: not worked on this session" in data["note"]["soap"]["O"]
    assert "Not worked on this session: Matches 3 vowel sounds." in data["note"]["soap"]["P"]
    assert data["note"]["soap_written_by_therapist"] == []

    text = out["txt"].read_text(encoding="utf-8")
    assert text.startswith("Session note — C-ROB")
    assert re.search(r"Waits for own turn on\s+5\s+4\s+2\s+independent\s3,\s+1\s+Rarely", text)
    assert re.search(r"Matches 3 vowel sounds\s+not worked on this session", text)
    assert "Therapist: ____" in text and "Signature: ____" in text and "Robin Real-Name" not in text

    pages, pdf = pdf_text(out["pdf"])
    assert pages == 1  # a typical session fits one page
    assert out["pdf"].read_bytes().startswith(b"%PDF-")
    flat = words(pdf)
    for needle in ("Session note", "C-ROB", "Goals this session", TURN, "S — Subjective", "O — Objective",
                   "A — Assessment", "P — Plan", "Therapist", "Signature", "Robin led the pulse today.",
                   "rarely (40% independent over 5 trials)", "not worked on this session"):
        assert words(needle) in flat, needle
    assert re.search(r"Waits for own turn on the drum 5 4 2 independent 3, gestural 1, verbal 1 1 Rarely \(40%\)",
                     flat), flat[:800]
    assert "Robin Real-Name" not in flat
    for f in out.values():
        assert (os.stat(f).st_mode & 0o077) == 0  # private to the user
    render_png(out["pdf"], "note_en")


def test_summary_json_equals_the_note_and_the_report(golden, tmp_path, capsys):
    g = golden
    d = str(tmp_path)
    prefix = g.session_id[:13]
    assert main(["--data-dir", d, "summary", "--session", prefix, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert main(["--data-dir", d, "note", "--session", prefix, "--format", "json", "--out", f"{d}/n.json"]) == 0
    note = json.loads(Path(d, "n.json").read_text(encoding="utf-8"))
    assert note["goals"] == summary["goals"] and note["trial_list"] == summary["trial_list"]
    report = report_figures(build_html(g.log), g.session_id)
    for tag, fig in summary["goals"].items():
        if fig["trials"] == 0 and fig["not_scored"] == 0:
            assert tag not in report  # shown as not worked on, no figures
            continue
        shown = report[tag]
        assert {k: shown[k] for k in ("trials", "successes", "independent", "not_scored")} == \
            {k: fig[k] for k in ("trials", "successes", "independent", "not_scored")}, tag
        assert shown["prompts"] == fig["prompts"] and shown["level"] == fig["level"], tag
    assert summary["goals"][g.goals["turn"]]["trials"] == TRUTH["turn"][0]


def test_a_french_session_gives_a_french_note_with_fr_ca_typography(tmp_path):
    g = make_golden(tmp_path / "prelude.db", language="fr_CA", notes="Robin a dit \"encore\"; bravo!")
    try:
        note = build_note(g.log, g.session_id)
        text = note.as_text()
        assert text.startswith("Note de séance — C-ROB")
        assert f"Durée{NBSP}:" in text and f"Activités{NBSP}: Tambour à tour de rôle, Tableau de choix" in text
        assert re.search(r"Date\u00a0: \d{1,2} [a-zéû]+ \d{4}, \d\d h \d\d", text)  # "2 décembre 2026, 10 h 05"
        assert f"Robin a dit «{NBSP}encore{NBSP}»{NNBSP}; bravo{NNBSP}!" in text
        assert f"{TURN}{NBSP}: réussi 4 fois sur 5 essais{NNBSP}; 2 en autonomie" in text
        assert f"rarement (40{NBSP}% en autonomie sur 5 essais)" in text
        assert f"Requests «{NBSP}more{NBSP}» with sign" in text  # the goal as written, French quotes
        assert "not worked on" not in text and "Subjective" not in text
        pdf = write_note(g.log, g.session_id, tmp_path / "note.pdf")
        pages, flat = pdf_text(pdf)
        assert pages == 1
        for needle in ("Note de séance", "Objectifs de la séance", "S — Subjectif", "A — Analyse", "Thérapeute",
                       "Essais", "Réussis", "Par incitation", "Rarement (40 %)", "non travaillé pendant cette séance"):
            assert words(needle) in words(flat), needle
        render_png(pdf, "note_fr_CA")
        data = json.loads(write_note(g.log, g.session_id, tmp_path / "n.json", fmt="json").read_text("utf-8"))
        assert data["language"] == "fr_CA" and data["note"]["language"] == "fr_CA"
        assert data["goals"][g.goals["turn"]]["trials"] == 5  # the same figures in any language
        english = build_note(g.log, g.session_id, language="en").as_text()  # asked for explicitly
        assert english.startswith("Session note") and "4 of 5 trials successful" in english

        page = build_html(g.log)
        assert '<html lang="fr-CA">' in page and "Rapport de séances et de progrès" in page
        assert f"Objectifs sur la période" in page and f"40{NBSP}%" in page and "Rarement" in page
        assert "Moments marquants" in page and "Notable" not in page
        assert re.search(r"Séance 1 · \d{1,2} [a-zéû]+ \d{4}, \d\d h \d\d", page)
        assert "Session and progress report" in build_html(g.log, language="en")
    finally:
        g.log.close()


def test_the_therapists_edits_stand_in_place_of_the_draft(golden, tmp_path):
    g = golden
    g.log.set_session_soap(g.session_id, {"A": "Turn-taking is emerging; keep the drum step.", "O": "  "})
    note = build_note(g.log, g.session_id)
    assert note.soap["A"] == "Turn-taking is emerging; keep the drum step." and note.edited == {"A"}
    assert "4 of 5 trials successful" in note.soap["O"]  # a blank edit keeps the draft
    text = note.as_text()
    assert "A — Assessment (written by the therapist)" in text and "O — Objective (drafted from the log)" in text


def test_names_only_when_asked(golden, tmp_path):
    g = golden
    assert "Robin Real-Name" not in write_note(g.log, g.session_id, tmp_path / "a.txt", fmt="txt").read_text("utf-8")
    named = write_note(g.log, g.session_id, tmp_path / "b.txt", fmt="txt", names=True).read_text("utf-8")
    assert named.startswith("Session note — Robin Real-Name (C-ROB)")
    _, flat = pdf_text(write_note(g.log, g.session_id, tmp_path / "b.pdf", names=True))
    assert "Robin Real-Name" in flat


def test_a_long_note_continues_on_a_second_page_and_loses_no_text(tmp_path):
    long = " ".join(f"Sentence {i} of the therapist's long account, with détails «{i}»." for i in range(1, 90))
    g = make_golden(tmp_path / "prelude.db", notes=long)
    try:
        g.log.set_session_soap(g.session_id, {"P": "Plan line " + "x" * 400 + " END-OF-PLAN"})
        pdf = write_note(g.log, g.session_id, tmp_path / "long.pdf")
        pages, flat = pdf_text(pdf)
        assert pages == 2
        body = "\n".join(line for line in flat.splitlines() if not line.startswith("Prelude Play "))  # footers
        assert words(long).replace(" ", "") in words(body).replace(" ", "")  # wrapped across the page, never cut
        assert "END-OF-PLAN" in flat and "Signature" in flat and "page 2 of 2" in flat
        render_png(pdf, "note_long", docs=False)
    finally:
        g.log.close()


def test_note_errors_say_what_to_do(golden, tmp_path):
    g = golden
    with pytest.raises(ExportError, match="not there"):
        write_note(g.log, g.session_id, tmp_path / "unplugged" / "n.pdf")
    assert not (tmp_path / "unplugged").exists()
    with pytest.raises(ExportError, match="use one of pdf, txt, json"):
        write_note(g.log, g.session_id, tmp_path / "n.doc", fmt="doc")
    with pytest.raises(StoreError, match="no session 'zzz'.*latest are"):
        find_session(g.log, "zzz")
    second = g.log.start_session("robin", {})
    g.log.end_session(second)
    common = os.path.commonprefix([g.session_id, second.id])
    with pytest.raises(StoreError, match="start of 2 sessions.*give more characters"):
        find_session(g.log, common)
    assert find_session(g.log, second.id[:len(common) + 1])["id"] == second.id
