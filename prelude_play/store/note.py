"""The one-page session note a therapist signs: PDF (fpdf2), plain text or JSON.

What is on it, in this order: the header (client code — or name, only when the therapist asks —
date, length, session plan, activities), the per-goal figures (scored trials, successes,
independent, trials by prompt level, not scored, level where there are enough trials), then S, O,
A and P (the therapist's edits kept with the session where present, the app's draft from the log
otherwise), notable moments, and a signature line.

Every figure comes from ``summary.summarize_stored`` (so from ``trials.goal_figures``): the
summary screen, ``prelude-play summary --json`` and the report print the same numbers. The note
is written in the session's language with its typography (``prelude_play.l10n``); the PDF embeds
DejaVu Sans (assets/fonts) so accents, « », no-break spaces and "–" print on any machine. Files
are written like the other exports: to a ``.partial`` beside the target, fsync'd, renamed, and
readable by the user only.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from prelude_play import __version__, l10n
from prelude_play.errors import ExportError
from prelude_play.store.eventlog import EventLog
from prelude_play.store.export import _atomic_write
from prelude_play.store.summary import StoredSummary, summarize_stored
from prelude_play.store.trials import GoalFigures

FORMATS = ("pdf", "txt", "json")
SOAP_LABELS = (("S", "Subjective"), ("O", "Objective"), ("A", "Assessment"), ("P", "Plan"))


@dataclass
class GoalRow:
    """One line of the figures table, already in words (the numbers stay numbers)."""

    tag: str
    title: str
    own: bool  # a client goal (else a goal area of the activities)
    figures: GoalFigures
    by_prompt: str
    level: str
    worked_on: bool


@dataclass
class SessionNote:
    """The note's content in the session's language; ``as_text``/``as_json``/``as_pdf`` lay it out."""

    stored: StoredSummary
    client_label: str
    header: list[tuple[str, str]]
    rows: list[GoalRow]
    soap: dict[str, str]
    edited: set[str]
    notable: list[str]
    legend: str
    written: datetime = field(default_factory=lambda: datetime.now().astimezone())

    @property
    def lang(self) -> str:
        return self.stored.language

    @property
    def t(self) -> Callable[[str], str]:
        return self.stored.t

    def typo(self, text: str) -> str:
        return l10n.typo(text, self.lang)

    def footer(self) -> str:
        sid = self.stored.session["id"]
        return self.typo(self.t("Prelude Play {version} · session {id} · written {date}").format(
            version=__version__, id=sid, date=l10n.date_long(self.written, self.lang)))

    # ---- plain text ----------------------------------------------------------------------

    def as_text(self, width: int = 100) -> str:
        t = self.t
        out = [self.typo(t("Session note")) + " — " + self.client_label, ""]
        for label, value in self.header:
            out += textwrap.wrap(self.typo(f"{label}: {value}"), width, subsequent_indent="    ")
        out.append("")
        heads = [t("Goal"), t("Trials"), t("Successful"), t("Independent"), t("By prompt"), t("Not scored"),
                 t("Level")]
        widths = [26, 8, 12, 13, 20, 8, 0]
        widths[-1] = max(12, width - sum(widths))
        numeric = {1, 2, 3, 5}
        out += _text_row([self.typo(h) for h in heads], widths, numeric)
        out.append("-" * width)
        for r in self.rows:
            if not r.worked_on:
                out += _text_row([r.title, self.typo(t("not worked on this session"))], [26, width - 26], set())
                continue
            g = r.figures
            out += _text_row([r.title, str(g.trials), str(g.successes), str(g.independent), r.by_prompt,
                              str(g.not_scored) if g.not_scored else l10n.DASH, r.level], widths, numeric)
        out.append("-" * width)
        out += textwrap.wrap(self.legend, width)
        for key, label in SOAP_LABELS:
            out.append("")
            out.append(self.typo(f"{key} — {t(label)}") + self._source(key))
            text = self.soap.get(key) or l10n.DASH
            for para in text.splitlines() or [""]:
                out += textwrap.wrap(para, width, initial_indent="  ", subsequent_indent="    ") or [""]
        if self.notable:
            out += ["", self.typo(t("Notable moments"))]
            out += [f"  - {n}" for n in self.notable]
        out += ["", self.typo(f"{t('Therapist')}: {'_' * 28}   {t('Signature')}: {'_' * 28}   {t('Date')}: {'_' * 12}"),
                "", self.footer()]
        return "\n".join(out) + "\n"

    def _source(self, key: str) -> str:
        return " (" + self.typo(self.t("written by the therapist") if key in self.edited
                                else self.t("drafted from the log")) + ")"

    # ---- JSON ----------------------------------------------------------------------------

    def as_json(self) -> dict[str, Any]:
        """``summary --json``'s figures (the same dict) plus the note's words."""
        return {**self.stored.json(), "note": {
            "language": self.lang,
            "header": [{"label": label, "value": value} for label, value in self.header],
            "soap": self.soap, "soap_written_by_therapist": sorted(self.edited),
            "notable": self.notable, "legend": self.legend, "footer": self.footer()}}

    # ---- PDF -----------------------------------------------------------------------------

    def as_pdf(self) -> bytes:
        return bytes(_render_pdf(self))


def _text_row(cells: list[str], widths: list[int], numeric: set[int]) -> list[str]:
    """One table row as text lines: each cell wrapped in its column, numbers right-aligned."""
    wrapped = [textwrap.wrap(c, max(4, w - 2)) or [""] for c, w in zip(cells, widths)]
    lines = []
    for i in range(max(len(w) for w in wrapped)):
        parts = []
        for col, (w, cell) in enumerate(zip(widths, wrapped)):
            text = cell[i] if i < len(cell) else ""
            parts.append(text.rjust(w - 2) + "  " if col in numeric else text.ljust(w))
        lines.append("".join(parts).rstrip())
    return lines


def build_note(store: EventLog, session: str | dict[str, Any], *, names: bool = False, registry: Any = None,
               language: str | None = None) -> SessionNote:
    """The note of one session (its id, the first characters of it, or its row)."""
    st = summarize_stored(store, session, registry=registry, language=language, names=names)
    sm, t, lang = st.summary, st.t, st.language
    typo = lambda text: l10n.typo(text, lang)  # noqa: E731
    row = st.session
    label = st.client["display_name"] if names else st.client["code"]
    if names and st.client.get("code"):
        label = f"{label} ({st.client['code']})"
    when = l10n.date_long(row["started"], lang) + ", " + l10n.time_short(row["started"], lang)
    header = [(t("Client"), label), (t("Date"), when), (t("Duration"), l10n.minutes(sm.duration_min, lang))]
    if row.get("plan"):
        header.append((t("Session plan"), str(row["plan"])))
    header.append((t("Activities"), ", ".join(st.info(a).title for a in sm.activities) or t("none")))
    header = [(typo(k), typo(v)) for k, v in header]
    rows = []
    for tag in sm.ordered_goals():
        g = sm.goals[tag]
        prompts = ", ".join(f"{t(p)}{l10n.NBSP}{n}" for p, n in sorted(g.prompts.items(), key=lambda kv: (-kv[1], kv[0])))
        level = g.level(sm.min_trials)
        if level is not None:
            shown = f"{t(level)} ({l10n.percent(g.pct_independent, lang)})"
        elif g.trials:  # too few scored trials for a level (the legend says how many it takes)
            shown = f"{l10n.DASH} ({g.trials}/{sm.min_trials})"
        else:
            shown = l10n.DASH
        rows.append(GoalRow(tag, typo(st.goal_title(tag)), tag.startswith("client:"), g, typo(prompts or l10n.DASH),
                            typo(shown), bool(g.trials or g.not_scored)))
    soap, edited = st.soap()
    soap = {k: typo(v) for k, v in soap.items()}
    o_text = soap.get("O", "")
    notable = [typo(n) for n in sm.notable if typo(n) not in o_text]  # the draft's O lists them already
    legend = typo(t("Trials: scored trials only; those not scored are counted apart and never in a "
                    "percentage. Independent: successful at the first prompt level ({level}). "
                    "A level (IMTAP wording) needs {min} scored trials of a goal.").format(
        level=t(sm.independent_level), min=sm.min_trials))
    return SessionNote(st, typo(label), header, rows, soap, edited, notable, legend)


def write_note(store: EventLog, session_id: str, out: Path | str, *, fmt: str = "pdf", names: bool = False,
               registry: Any = None, language: str | None = None) -> Path:
    """Write the session note as ``fmt`` (pdf, txt or json) to ``out``, atomically, private to the user.

    ``session_id`` may be the first characters of the id. Pseudonymous unless ``names``; in the
    session's language unless ``language`` says otherwise.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown note format {fmt!r}; use one of {', '.join(FORMATS)}")
    note = build_note(store, session_id, names=names, registry=registry, language=language)
    if fmt == "pdf":
        data = note.as_pdf()
        return _atomic_write(Path(out), lambda fh: fh.write(data), binary=True)
    if fmt == "txt":
        text = note.as_text()
    else:
        text = json.dumps(note.as_json(), ensure_ascii=False, indent=2) + "\n"
    return _atomic_write(Path(out), lambda fh: fh.write(text))


# ---- the PDF page ---------------------------------------------------------------------------------

LINE_H = 3.8  # mm per line of 8.5 pt body text
INK, MUTED, LINE, ACCENT, BAND = (29, 35, 48), (91, 100, 120), (200, 205, 215), (181, 101, 29), (243, 244, 247)


def font_paths() -> tuple[Path, Path]:
    """DejaVu Sans regular and bold, shipped in assets/fonts (see assets/LICENSES)."""
    from prelude_play.config import resource_dir

    folder = resource_dir("assets") / "fonts"
    regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
    for p in (regular, bold):
        if not p.is_file():
            raise ExportError(f"the note's font {p} is missing; reinstall Prelude Play")
    return regular, bold


def _render_pdf(note: SessionNote) -> bytearray:
    from fpdf import FPDF, FontFace

    regular, bold = font_paths()
    t, typo = note.t, note.typo
    footer_text = note.footer()

    class NotePDF(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("DejaVu", "", 7)
            self.set_text_color(*MUTED)
            self.cell(0, 4, footer_text, align="L")
            self.set_x(self.l_margin)
            self.cell(0, 4, typo(t("page {n} of {total}")).format(n=self.page_no(), total="{nb}"), align="R")

    # Letter: the paper of Canadian clinics (English and French alike).
    pdf = NotePDF(orientation="P", unit="mm", format="Letter")
    pdf.set_margins(16, 12, 16)
    pdf.set_auto_page_break(True, margin=14)
    pdf.add_font("DejaVu", "", str(regular))
    pdf.add_font("DejaVu", "B", str(bold))
    pdf.set_lang("fr-CA" if l10n.is_french(note.lang) else "en")
    pdf.set_title(typo(t("Session note")) + " — " + note.client_label)
    pdf.set_creator(f"Prelude Play {__version__}")
    pdf.set_creation_date(note.written)
    pdf.add_page()
    width = pdf.epw

    # Title and header
    pdf.set_text_color(*ACCENT)
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(width * 0.6, 8, typo(t("Session note")))
    pdf.set_text_color(*INK)
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(width * 0.4, 8, note.client_label, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font("DejaVu", "", 9)
    for label, value in note.header:
        if label == note.header[0][0]:
            continue  # the client, at the top right
        pdf.set_font("DejaVu", "B", 9)
        lw = pdf.get_string_width(label + " :") + 2
        pdf.cell(lw, 4.3, typo(label + ":"))
        pdf.set_font("DejaVu", "", 9)
        pdf.multi_cell(width - lw, 4.3, value, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.5)
    _rule(pdf)

    # Figures
    _heading(pdf, typo(t("Goals this session")))
    heads = [typo(t(h)) for h in ("Goal", "Trials", "Successful", "Independent", "By prompt", "Not scored", "Level")]
    pdf.set_font("DejaVu", "B", 7)
    # A number's column is as wide as its heading's longest word (headings wrap between words only);
    # the goal, the prompts and the level share the rest.
    cols = [0.0] * 7
    for i in (1, 2, 3, 5):
        cols[i] = max(11.0, max(pdf.get_string_width(word) for word in heads[i].split()) + 4.5)
    rest = width - sum(cols)
    cols[0], cols[4], cols[6] = rest * 0.38, rest * 0.38, rest * 0.24
    pdf.set_font("DejaVu", "", 7.5)
    pdf.set_draw_color(*LINE)
    with pdf.table(col_widths=cols, width=width, line_height=3.4, text_align="LEFT", align="LEFT",
                   borders_layout="HORIZONTAL_LINES", padding=(0.8, 1.2, 0.8, 1.2),
                   headings_style=FontFace(emphasis="BOLD", color=MUTED, fill_color=BAND, size_pt=7)) as table:
        head = table.row()
        for i, h in enumerate(heads):
            head.cell(h, align="LEFT" if i in (0, 4, 6) else "RIGHT")
        for r in note.rows:
            style = FontFace(emphasis="BOLD" if r.own else None, color=INK if r.worked_on else MUTED)
            row = table.row()
            row.cell(r.title, style=style)
            if not r.worked_on:
                row.cell(typo(t("not worked on this session")), colspan=6, style=FontFace(color=MUTED))
                continue
            g = r.figures
            plain = FontFace(color=INK)
            for v in (g.trials, g.successes, g.independent):
                row.cell(str(v), align="RIGHT", style=plain)
            row.cell(r.by_prompt, style=plain)
            row.cell(str(g.not_scored) if g.not_scored else l10n.DASH, align="RIGHT", style=plain)
            row.cell(r.level, style=plain)
    pdf.set_font("DejaVu", "", 6.5)
    pdf.set_text_color(*MUTED)
    pdf.ln(0.6)
    pdf.multi_cell(width, 3.0, note.legend, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)
    pdf.ln(1)

    # S, O, A, P
    for key, label in SOAP_LABELS:
        _heading(pdf, typo(f"{key} — {t(label)}"), note._source(key).strip())
        pdf.set_font("DejaVu", "", 8.5)
        text = note.soap.get(key) or l10n.DASH
        for para in text.splitlines() or [l10n.DASH]:
            _paragraph(pdf, para, width)

    if note.notable:
        _heading(pdf, typo(t("Notable moments")))
        pdf.set_font("DejaVu", "", 8.5)
        for n in note.notable:
            _paragraph(pdf, "- " + n, width)

    # Signature: kept whole, on a new page if it would not fit
    if pdf.get_y() + 15 > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.ln(3)
    y = pdf.get_y() + 8
    pdf.set_font("DejaVu", "", 8.5)
    pdf.set_text_color(*MUTED)
    parts = [(t("Therapist"), 0.42), (t("Signature"), 0.36), (t("Date"), 0.22)]
    x = pdf.l_margin
    for label, frac in parts:
        w = width * frac
        pdf.set_draw_color(*INK)
        pdf.line(x, y, x + w - 6, y)
        pdf.set_xy(x, y + 0.8)
        pdf.cell(w - 6, 4, typo(label))
        x += w
    pdf.set_text_color(*INK)
    return pdf.output()


def _paragraph(pdf: Any, para: str, width: float) -> None:
    """One paragraph, wrapped; "- " lines (the goal lines of O) get a hanging bullet."""
    if para.startswith("- "):
        if pdf.will_page_break(LINE_H):
            pdf.add_page()
        y = pdf.get_y()
        pdf.set_xy(pdf.l_margin + 0.5, y)
        pdf.cell(3.5, LINE_H, "•")
        pdf.set_xy(pdf.l_margin + 4, y)
        pdf.multi_cell(width - 4, LINE_H, para[2:], align="L", new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.multi_cell(width, LINE_H, para, align="L", new_x="LMARGIN", new_y="NEXT")


def _heading(pdf: Any, text: str, aside: str = "") -> None:
    """A section heading, never alone at the foot of a page."""
    if pdf.will_page_break(5.5 + 2 * LINE_H):
        pdf.add_page()
    pdf.ln(1.2)
    pdf.set_font("DejaVu", "B", 10)
    pdf.set_text_color(*ACCENT)
    w = pdf.get_string_width(text) + 2
    pdf.cell(w, 5.5, text)
    if aside:
        pdf.set_font("DejaVu", "", 7)
        pdf.set_text_color(*MUTED)
        pdf.cell(0, 5.5, aside)
    pdf.set_text_color(*INK)
    pdf.ln(5.8)


def _rule(pdf: Any) -> None:
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.5)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + pdf.epw, pdf.get_y())
    pdf.set_line_width(0.2)
    pdf.ln(1)
