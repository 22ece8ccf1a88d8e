"""The HTML session / progress report: one self-contained file that reads on screen and prints well.

Per client: their goals with scored trials, % independent and the IMTAP-style consistency level
over the selection; a progress plot per goal across sessions (matplotlib, inline SVG so it prints
sharp) with dotted phase lines where the plan or the activities working on that goal changed;
then each session with its per-goal figures, the trial-by-trial marks, notable moments and the
therapist's notes.

Every figure comes from ``summary.summarize_stored`` (so from ``trials.read_trials`` and
``goal_figures``), exactly as the session note and ``prelude-play summary --json`` print them;
the period's totals are those per-session figures added up (``trials.merge_figures``). Trials not
scored are shown apart and never in a percentage; a level is shown only where a goal has enough
scored trials. The report is in the language of the latest session it covers (or ``language=``),
with that language's dates, numbers and typography (``prelude_play.l10n``). Written atomically
like the other exports, so a half-written report never looks complete.
"""

from __future__ import annotations

import html
import io
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from prelude_play import __version__, l10n
from prelude_play.store.clients import parse_target
from prelude_play.store.eventlog import EventLog, StoredEvent
from prelude_play.store.export import (RAW_COLUMNS, Selection, _atomic_write, raw_event_rows, select_sessions,
                                       shown_selection, withheld_session, withhold_free_text)
from prelude_play.store.summary import (SessionSummary, Wording, area_titles, goal_titler, session_language,
                                        summarize_stored)
from prelude_play.store.trials import GoalFigures, Trial, merge_figures

__all__ = ["build_html", "export_html", "area_titles", "goal_titler", "report_language", "ProgressPlotter"]

REPORT_KINDS = ("e.outcome IS NOT NULL OR e.trial_id IS NOT NULL OR e.actor = 'system' OR e.kind IN "
                "('correction', 'note', 'panic', 'filtered_touch', 'filtered_hit', 'plan_skip', 'plan_insert', "
                "'goals_targeted')")
TRIAL_MARKS = {"success": "I", "partial": "½", "not_yet": "×", "no_response": "–"}
OUTCOME_WORDS = {"success": "success", "partial": "partial", "not_yet": "not yet", "no_response": "no response"}

CSS = """
:root { --ink:#1d2330; --muted:#5b6478; --line:#d5d9e2; --accent:#b5651d; --good:#1f7a4d; }
* { box-sizing: border-box; }
body { font: 15px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1100px; padding: 24px 32px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 3px solid var(--accent); }
h3 { font-size: 17px; margin: 18px 0 6px; }
.meta { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f7; font-size: 13px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.level { font-weight: bold; padding: 1px 8px; border-radius: 10px; white-space: nowrap; }
.Consistent { background: #d8f0e2; color: #145a37; } .Inconsistent { background: #fbefd0; color: #7a5200; }
.Rarely { background: #fbe0dc; color: #8a2a1c; } .Never { background: #eceef3; color: #3e4659; }
.No { background: #eceef3; color: #5b6478; }
.marks { font-family: "DejaVu Sans Mono", monospace; font-size: 13px; letter-spacing: .05em; word-break: break-all; }
tr.idle td { color: var(--muted); }
td.marks { min-width: 8em; }
.plot svg { width: 100%; height: auto; }
.plots { display: grid; grid-template-columns: 1fr 1fr; gap: 10px 18px; }
.session { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; margin: 10px 0; }
.notes { white-space: pre-wrap; background: #fafaf5; border-left: 4px solid var(--accent); padding: 6px 10px; }
.legend { color: var(--muted); font-size: 12px; }
footer { margin-top: 30px; font-size: 12px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 8px; }
details pre { white-space: pre-wrap; font-size: 11px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  @page { size: A4; margin: 16mm 14mm; }
  h2 { break-after: avoid; } h3 { break-after: avoid; }
  .client { break-before: page; } .client:first-of-type { break-before: auto; }
  .plot, tr, .notes { break-inside: avoid; }
  .session { break-inside: auto; border: none; border-top: 1px solid var(--line); border-radius: 0; padding: 6px 0; }
  .plots { grid-template-columns: 1fr 1fr; }
  a { color: inherit; text-decoration: none; }
  details > *:not(summary) { display: block; }
}
"""


class ProgressPlotter:
    """Draws the per-goal progress plots as inline SVG, reusing one matplotlib figure.

    Building axes and tick objects is most of matplotlib's cost per plot, so the axes are made
    once per report and only the data artists change between goals (about 3x faster; the
    export benchmark's 100 sessions × 500 events needs it).
    """

    RC = {"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "prelude"}

    def __init__(self, t: Callable[[str], str] = lambda s: s) -> None:
        try:  # an optional dependency (the "reports" extra): without it the report says so
            import matplotlib
        except ImportError:
            self.fig = None
            self.missing = t("Progress plot not drawn: matplotlib is not installed "
                             "(pip install \"prelude-play[reports]\").")
            return

        matplotlib.use("Agg", force=False)
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure

        with matplotlib.rc_context(self.RC):
            self.fig = Figure(figsize=(5.4, 2.5), dpi=100)
            FigureCanvasSVG(self.fig)
            ax = self.ax = self.fig.add_subplot()
            ax.set_ylim(0, 100)
            ax.set_yticks([0, 50, 100])  # few ticks on purpose: tick objects are the costly part
            ax.set_xlabel(t("session"), labelpad=1)
            ax.set_ylabel(t("% of scored trials"), labelpad=1)
            ax.spines[["top", "right"]].set_visible(False)
            ax.grid(axis="y", color="#e6e8ee", linewidth=0.6)
            self.fig.subplots_adjust(left=0.11, right=0.98, top=0.88, bottom=0.17)  # tight_layout is slow
        self._n: int | None = None
        self.target_word = t("target")

    def svg(self, title: str, points: list[tuple[int, str, GoalFigures | None]], phases: list[tuple[int, str]],
            target: float | None, pct: Callable[[float], str] = lambda v: f"{v:.0f}%") -> str:
        """% independent (and % successful) per session, phase changes dotted, target dashed."""
        if self.fig is None:
            import html

            return f'<p class="noplot">{html.escape(self.missing)}</p>'
        import matplotlib
        from matplotlib.ticker import MaxNLocator

        ax = self.ax
        with matplotlib.rc_context(self.RC):
            for artist in list(ax.lines) + list(ax.texts):
                artist.remove()
            xs = [n for n, _, g in points if g is not None and g.trials]
            ind = [g.pct_independent for _, _, g in points if g is not None and g.trials]
            suc = [g.pct_success for _, _, g in points if g is not None and g.trials]
            ax.plot(xs, suc, color="#8a93a8", linestyle="--", linewidth=1.2, marker=".")
            ax.plot(xs, ind, color="#b5651d", linewidth=2, marker="o", markersize=4)
            if target is not None:
                ax.axhline(target, color="#1f7a4d", linewidth=1, linestyle=(0, (6, 3)))
                ax.text(0.995, target, f" {self.target_word} {pct(target)}", transform=ax.get_yaxis_transform(), ha="right",
                        va="bottom", fontsize=8, color="#1f7a4d")
            for x, label in phases:
                ax.axvline(x - 0.5, color="#1d2330", linewidth=1, linestyle=":")
                ax.text(x - 0.55, 97, label if len(label) < 34 else label[:32] + "…", fontsize=6.5, rotation=90,
                        va="top", ha="right", color="#1d2330")
            n = max((p[0] for p in points), default=1)
            if n != self._n:
                ax.set_xlim(0.5, n + 0.5)
                if n <= 6:
                    ax.set_xticks(range(1, n + 1))
                else:
                    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
                self._n = n
            ax.set_ylim(0, 100)
            ax.set_title(title if len(title) < 60 else title[:57] + "…", fontsize=10, loc="left", pad=8)
            buf = io.StringIO()
            self.fig.savefig(buf, format="svg")
        svg = buf.getvalue()
        return svg[svg.index("<svg"):]


class Doc:
    """One report's language: words (gettext), dates, numbers and typography, escaped for HTML."""

    def __init__(self, wording: Wording) -> None:
        self.w = wording
        self.lang = wording.language
        self.t = wording.t

    def e(self, text: Any) -> str:
        """Text as HTML: the language's typography first, then escaped."""
        return html.escape(l10n.typo(str(text), self.lang), quote=True)

    def pct(self, v: float | None) -> str:
        return l10n.percent(v, self.lang)

    def date(self, iso: str) -> str:
        return l10n.date_long(iso, self.lang)

    def when(self, iso: str) -> str:
        return f"{l10n.date_long(iso, self.lang)}, {l10n.time_short(iso, self.lang)}"

    def level(self, g: GoalFigures, min_trials: int) -> str:
        level = g.level(min_trials)
        if level is not None:
            return f'<span class="level {level}">{self.e(self.t(level))}</span>'
        if g.trials:  # too few scored trials: no level (the legend says how many it takes)
            return f'<span class="level No">{self.e(l10n.DASH)} ({g.trials}/{min_trials})</span>'
        return f'<span class="level No">{self.e(self.t("No data"))}</span>'


def report_language(sessions: list[dict[str, Any]], language: str | None = None) -> str:
    """``language`` if given, else the language of the latest of ``sessions`` (English if none)."""
    if language:
        return "fr_CA" if l10n.is_french(language) else "en"
    if not sessions:
        return "en"
    return session_language(sessions[-1])  # the latest in store order (a wall clock set back cannot reorder)


def _trial_marks(doc: Doc, trials: list[Trial], tag: str, independent: str) -> str:
    """The goal's scored trials in order, ten to a group; each mark says its trial on hover."""
    t = doc.t
    marks = []
    for x in trials:
        if tag not in x.goals or not x.is_scored:
            continue
        m = TRIAL_MARKS.get(x.outcome, "·")
        if x.outcome == "success" and (x.prompt or independent) != independent:
            m = (x.prompt or "p")[0].upper()
        who = t("scored by the therapist") if x.scored_by == "therapist" else t("judged by the activity")
        tip = f"#{x.order} {doc.w.info(x.activity).title}: {t(OUTCOME_WORDS.get(x.outcome, x.outcome))}" + \
            (f", {t(x.prompt)}" if x.prompt else "") + f" ({who})"
        marks.append(f'<span title="{doc.e(tip)}">{html.escape(m)}</span>')
    groups = ["".join(marks[i:i + 10]) for i in range(0, len(marks), 10)]
    return " ".join(groups)


def _phases(doc: Doc, sessions: list[dict[str, Any]], per_session: dict[str, dict[str, GoalFigures]],
            tag: str) -> list[tuple[int, str]]:
    """Session numbers where a new phase began for ``tag``: the session plan changed, or the set
    of activities working on the goal changed (including the first activity after a gap)."""
    t = doc.t
    out: list[tuple[int, str]] = []
    prev_acts: frozenset[str] | None = None
    prev_plan: str | None = None
    for n, s in enumerate(sessions, start=1):
        g = per_session[s["id"]].get(tag)
        acts = frozenset(g.activities) if g is not None and g.trials else frozenset()
        labels = []
        if n > 1 and s.get("plan") != prev_plan and s.get("plan"):
            labels.append(t("plan") + f": {s['plan']}")
        if acts and prev_acts is not None and acts != prev_acts:
            added = sorted(acts - prev_acts)
            labels.append(", ".join(doc.w.info(a).title for a in added) if added else t("fewer activities"))
        if labels:
            out.append((n, l10n.typo("; ".join(labels), doc.lang)))
        if acts or n == 1:
            prev_acts = acts
        prev_plan = s.get("plan")
    return out


def _target_met(doc: Doc, points: list[GoalFigures | None], target_text: str) -> str:
    tgt = parse_target(target_text)
    if tgt is None:
        return ""
    t = doc.t
    recent = [g.pct_independent for g in points if g is not None and g.trials][-tgt.sessions:]
    if len(recent) < tgt.sessions:
        return t("not yet ({n} of {m} sessions so far)").format(n=len(recent), m=tgt.sessions)
    return t("met") if all(v is not None and v >= tgt.percent for v in recent) else t("not yet")


def build_html(store: EventLog, *, names: bool = False, selection: Selection | None = None,
               settings: dict[str, Any] | None = None, language: str | None = None, registry: Any = None,
               free_text: bool | None = None) -> str:
    """The report. Free text (notes, plan names) is withheld when pseudonymous unless ``free_text``."""
    sel = selection or Selection()
    withhold = withhold_free_text(names, free_text)
    sessions = select_sessions(store, sel)
    if withhold:
        sessions = [withheld_session(s) for s in sessions]
    doc = Doc(Wording.of(report_language(sessions, language), registry))
    t, e = doc.t, doc.e
    all_clients = {c["id"]: c for c in store.clients(include_archived=True)}
    by_session: dict[str, list[StoredEvent]] = defaultdict(list)
    # Only what a report reads (trials, corrections, notes, system and plan events): plain hits,
    # usually half the log, are counted in SQL instead of being decoded.
    for r in raw_event_rows(store, sel, sessions, where=REPORT_KINDS, withhold=withhold):
        n = len(RAW_COLUMNS)
        d = dict(zip(RAW_COLUMNS, r[:n]))
        by_session[d["session_id"]].append(StoredEvent(**d, goals=tuple(json.loads(r[n])), data=json.loads(r[n + 1])))
    counts = dict(store.db.execute("SELECT session_id, count(*) FROM events GROUP BY session_id").fetchall())
    plotter = ProgressPlotter(t) if sessions else None
    per_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in sessions:
        per_client[s["client_id"]].append(s)
    html_lang = "fr-CA" if doc.lang == "fr_CA" else "en"
    parts = [f"<!DOCTYPE html><html lang=\"{html_lang}\"><head><meta charset=\"utf-8\">"
             f"<title>{e(t('Prelude Play report'))}</title><style>{CSS}</style></head><body>"]
    now = datetime.now().astimezone().isoformat()
    chosen = ", ".join(f"{k}={v}" for k, v in shown_selection(store, sel, names).items()) or t("everything")
    privacy = t("names shown (therapist chose)") if names else t("pseudonymous codes")
    parts.append(f"<h1>{e(t('Session and progress report'))}</h1><div class=\"meta\">Prelude Play "
                 f"{e(__version__)} · {e(t('exported {when}').format(when=doc.when(now)))} · "
                 f"{e(t('selection') + ': ' + chosen)} · {e(privacy)} · "
                 f"{e(t('{n} session(s)').format(n=len(sessions)))}</div>")
    if not sessions:
        parts.append(f"<p>{e(t('No sessions match this selection.'))}</p>")
    for cid, sess in per_client.items():
        c = all_clients.get(cid, {"id": cid, "code": "?", "display_name": "?", "profile": {}})
        label = c["display_name"] if names else c["code"]
        summaries = [summarize_stored(store, s, events=by_session.get(s["id"], []), wording=doc.w, names=names)
                     for s in sess]
        for st in summaries:
            st.summary.events = counts.get(st.session["id"], st.summary.events)
        parts.append(_client_section(doc, c, label, summaries, plotter))
    parts.append(_footer(doc, sessions, shown_selection(store, sel, names), names, settings))
    parts.append("</body></html>")
    return "".join(parts)


def _client_section(doc: Doc, c: dict[str, Any], label: str, summaries: list[Any],
                    plotter: "ProgressPlotter | None" = None) -> str:
    t, e = doc.t, doc.e
    sessions = [st.session for st in summaries]
    title = doc.w.goal_title(c)
    per_session = {st.session["id"]: st.summary.goals for st in summaries}
    latest = summaries[-1].summary
    total: dict[str, GoalFigures] = merge_figures(per_session.values())
    own_goals = {f"client:{g['id']}": g for g in c.get("profile", {}).get("goals", []) if isinstance(g, dict)}
    out = [f'<section class="client"><h2>{e(t("Client") + " " + label)}</h2>']
    out.append(f'<div class="meta">{e(t("{n} session(s), {first} to {last}").format(n=len(sessions), first=doc.date(sessions[0]["started"]), last=doc.date(sessions[-1]["started"])))}</div>')
    heads = [t("Goal"), t("Target"), t("Trials"), t("Successful"), t("Independent"), t("% independent"),
             t("Not scored"), t("Level"), t("Target met")]
    out.append(f"<h3>{e(t('Goals over this period'))}</h3><table class=\"period\"><thead><tr>"
               + "".join(f"<th>{e(h)}</th>" for h in heads) + "</tr></thead>")
    rank = {tag: i for i, tag in enumerate(own_goals)}
    tags = sorted(set(total) | set(own_goals), key=lambda tag: (not tag.startswith("client:"), rank.get(tag, 99), tag))
    points_for: dict[str, list[tuple[int, str, GoalFigures | None]]] = {}
    for tag in tags:
        pts = [(n, s["started"][:10], per_session[s["id"]].get(tag)) for n, s in enumerate(sessions, start=1)]
        points_for[tag] = pts
        g = total.get(tag, GoalFigures(tag))
        target = own_goals.get(tag, {}).get("target", "")
        met = _target_met(doc, [p[2] for p in pts], target) if target else ""
        if not (g.trials or g.not_scored):
            out.append(f"<tr data-goal=\"{html.escape(tag)}\" class=\"idle\"><td>{e(title(tag))}</td><td>{e(target)}</td>"
                       f"<td colspan=\"7\">{e(t('not worked on in this period'))}</td></tr>")
            continue
        out.append(f"<tr data-goal=\"{html.escape(tag)}\"><td>{e(title(tag))}</td><td>{e(target)}</td>"
                   f"<td class=\"num\">{g.trials}</td><td class=\"num\">{g.successes}</td>"
                   f"<td class=\"num\">{g.independent}</td><td class=\"num\">{e(doc.pct(g.pct_independent))}</td>"
                   f"<td class=\"num\">{g.not_scored}</td><td>{doc.level(g, latest.min_trials)}</td>"
                   f"<td>{e(met)}</td></tr>")
    out.append("</table><div class=\"legend\">" + e(
        t("Trials: scored trials; trials not scored are counted apart and never in a percentage. "
          "% independent: successful trials at the first prompt level ({level}). "
          "Level (IMTAP wording), from {min} scored trials: Never 0% · Rarely <50% · Inconsistent 50–79% · "
          "Consistent 80–100%.").format(level=t(latest.independent_level), min=latest.min_trials)) + "</div>")
    # Plot the client's own goals, and the goal areas none of their own goals already follows.
    own_areas = {g.get("area") for g in own_goals.values()}
    plotted = [tag for tag in tags if total.get(tag) and total[tag].trials and tag not in own_areas]
    if plotted:
        plotter = plotter or ProgressPlotter(t)
        out.append(f"<h3>{e(t('Progress across sessions'))}</h3><div class=\"plots\">")
        for tag in plotted:
            tgt = parse_target(own_goals.get(tag, {}).get("target", ""))
            svg = plotter.svg(l10n.typo(title(tag), doc.lang), points_for[tag], _phases(doc, sessions, per_session, tag),
                              tgt.percent if tgt else None, doc.pct)
            out.append(f'<div class="plot">{svg}</div>')
        out.append("</div><div class=\"legend\"><b style=\"color:#b5651d\">━ " + e(t("% independent")) + "</b> · "
                   "<b style=\"color:#8a93a8\">╌ " + e(t("% successful (any prompt)")) + "</b> · "
                   "<b style=\"color:#1f7a4d\">╌ " + e(t("target")) + "</b> · " +
                   e(t("dotted vertical lines: a new phase (the plan or the activities working on the goal "
                       "changed), labelled with what changed.")) + "</div>")
    out.append(_activity_tables(doc, [x for st in summaries for x in st.summary.trials]))
    out.append(f"<h3>{e(t('Sessions'))}</h3>")
    for n, st in enumerate(summaries, start=1):
        out.append(_session_block(doc, n, st.session, st.summary, title))
    out.append("</section>")
    return "".join(out)


def _activity_tables(doc: Doc, trials: list[Trial]) -> str:
    """Each activity's own tables over the period (``Activity.report_tables``), under its title."""
    e = doc.e
    by_act: dict[str, list[Trial]] = defaultdict(list)
    for x in trials:
        by_act[x.activity].append(x)
    out = []
    for act, ts in by_act.items():
        for title, heads, rows in doc.w.info(act).tables(ts, doc.t):
            out.append(f'<h3 class="activity-table" data-activity="{html.escape(act)}">{e(title)}</h3><table>'
                       "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in heads) + "</tr></thead>"
                       + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
                       + "</table>")
    return "".join(out)


def _session_block(doc: Doc, n: int, s: dict[str, Any], sm: SessionSummary, title: Callable[[str], str]) -> str:
    t, e = doc.t, doc.e
    head = [t("Session {n}").format(n=n), doc.when(s["started"])]
    if sm.duration_min is not None:
        head.append(l10n.minutes(sm.duration_min, doc.lang))
    if s.get("plan"):
        head.append(t("plan") + f": {s['plan']}")
    acts = ", ".join(doc.w.info(a).title for a in sm.activities) or t("none")
    meta = [t("Activities") + f": {acts}", t("{n} events").format(n=sm.events),
            t("{n} trials, {k} not scored").format(n=len(sm.trials), k=sm.not_scored)]
    if sm.corrections:
        meta.append(t("{n} correction(s) applied").format(n=sm.corrections))
    meta.append(t("app") + f" {s['provenance'].get('app_version', '?')}")
    out = [f'<div class="session" data-session="{html.escape(s["id"])}"><h3>{e(" · ".join(head))}</h3>',
           f'<div class="meta">{e(" · ".join(meta))}</div>']
    tags = sm.ordered_goals()
    if any(sm.goals[tag].trials or sm.goals[tag].not_scored for tag in tags):
        heads = [t("Goal"), t("Trials"), t("Successful"), t("Independent"), t("% indep."), t("Not scored"),
                 t("Level"), t("By prompt"), t("Trial by trial")]
        out.append("<table class=\"figures\"><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in heads)
                   + "</tr></thead>")
        for tag in tags:
            g = sm.goals[tag]
            if not (g.trials or g.not_scored):
                out.append(f"<tr data-goal=\"{html.escape(tag)}\" class=\"idle\"><td>{e(title(tag))}</td>"
                           f"<td colspan=\"8\" class=\"meta\">{e(t('not worked on this session'))}</td></tr>")
                continue
            prompts = ", ".join(f"{t(p)}{l10n.NBSP}{k}" for p, k in sorted(g.prompts.items(), key=lambda kv: (-kv[1], kv[0])))
            out.append(f"<tr data-goal=\"{html.escape(tag)}\"><td>{e(title(tag))}</td>"
                       f"<td class=\"num trials\">{g.trials}</td><td class=\"num successes\">{g.successes}</td>"
                       f"<td class=\"num independent\">{g.independent}</td>"
                       f"<td class=\"num\">{e(doc.pct(g.pct_independent))}</td>"
                       f"<td class=\"num not_scored\">{g.not_scored}</td><td>{doc.level(g, sm.min_trials)}</td>"
                       f"<td>{e(prompts or l10n.DASH)}</td>"
                       f"<td class=\"marks\">{_trial_marks(doc, sm.trials, tag, sm.independent_level)}</td></tr>")
        out.append("</table><div class=\"legend\">" + e(t(
            "Trial by trial (scored trials only): I independent success · G/V/M/P success at that prompt level · "
            "½ partial · × not yet · – no response. Point at a mark to see the trial.")) + "</div>")
    else:
        out.append(f"<p class=\"meta\">{e(t('No trials were recorded.'))}</p>")
    if sm.notable:
        out.append(f"<p><b>{e(t('Notable moments'))}:</b> " + e("; ".join(sm.notable)) + "</p>")
    if sm.notes:
        out.append('<div class="notes">' + "<br>".join(e(x) for x in sm.notes) + "</div>")
    out.append("</div>")
    return "".join(out)


def _footer(doc: Doc, sessions: list[dict[str, Any]], selection: dict[str, str], names: bool,
            settings: dict[str, Any] | None) -> str:
    t, e = doc.t, doc.e
    versions = sorted({str(s["provenance"].get("app_version", "?")) for s in sessions})
    acts: dict[str, str] = {}
    for s in sessions:
        acts.update({k: str(v) for k, v in (s["provenance"].get("activities") or {}).items()})
    export_settings = {"selection": selection, "names": names, "language": doc.lang, **(settings or {})}
    text = t("Produced by Prelude Play {version}. Sessions recorded with app version(s) {versions}; activity "
             "versions: {activities}.").format(
        version=__version__, versions=", ".join(versions) or l10n.DASH,
        activities=", ".join(f"{k} {v}" for k, v in sorted(acts.items())) or l10n.DASH)
    kept = t("The device's configuration and PIN are never exported.")
    return (f"<footer>{e(text)} {e(t('Export settings'))}: <code>{html.escape(json.dumps(export_settings, default=str))}"
            f"</code>. {e(kept)}</footer>")


def export_html(store: EventLog, out: Path, *, names: bool = False, selection: Selection | None = None,
                settings: dict[str, Any] | None = None, language: str | None = None, registry: Any = None,
                free_text: bool | None = None) -> Path:
    """Write the report atomically (``.partial`` then rename), private to the user."""
    text = build_html(store, names=names, selection=selection, settings=settings, language=language,
                      registry=registry, free_text=free_text)
    return _atomic_write(Path(out), lambda fh: fh.write(text))
