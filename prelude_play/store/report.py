"""The HTML session / progress report: one self-contained file that reads on screen and prints well.

Per client: their goals with trials, % independent and the IMTAP-style consistency level over the
selection; a progress plot per goal across sessions (matplotlib, inline SVG so it prints sharp)
with dotted phase lines where the activities working on that goal changed; then each session with
its per-goal trials, notable events and the therapist's notes. Corrections are applied (an undone
score does not count); the raw exports keep every event. Written atomically like the other
exports, so a half-written report never looks complete.
"""

from __future__ import annotations

import html
import io
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from prelude_play import __version__
from prelude_play.store.clients import parse_target
from prelude_play.store.eventlog import EventLog, StoredEvent
from prelude_play.store.export import RAW_COLUMNS, Selection, _atomic_write, raw_event_rows, select_sessions
from prelude_play.store.summary import SessionSummary, summarize_session
from prelude_play.store.trials import GoalFigures, Trial, merge_figures

REPORT_KINDS = ("e.outcome IS NOT NULL OR e.trial_id IS NOT NULL OR e.actor = 'system' OR e.kind IN "
                "('correction', 'note', 'panic', 'filtered_touch', 'filtered_hit', 'plan_skip', 'plan_insert', "
                "'goals_targeted')")
TRIAL_MARKS = {"success": "I", "partial": "½", "not_yet": "×", "no_response": "–"}

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
.trials { font-family: "DejaVu Sans Mono", monospace; font-size: 13px; letter-spacing: .05em; word-break: break-all; }
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


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f}%"


def _level_html(level: str | None) -> str:
    level = level or "No data"
    return f'<span class="level {level.split()[0]}">{_e(level)}</span>'


def area_titles() -> dict[str, str]:
    """Goal-area titles from the shipped goals.toml (keys fall back to themselves)."""
    try:
        from prelude_play.config import resource_dir
        from prelude_play.goals import parse_goals

        goals, _ = parse_goals(resource_dir("config") / "goals.toml")
        return {k: a.title for k, a in goals.areas.items()}
    except Exception:
        return {}


def goal_titler(areas: dict[str, str], clients: Iterable[dict[str, Any]]) -> Callable[[str], str]:
    own = {f"client:{g['id']}": g.get("text", g["id"]) for c in clients
           for g in c.get("profile", {}).get("goals", []) if isinstance(g, dict) and "id" in g}

    def title(tag: str) -> str:
        return own.get(tag) or areas.get(tag) or tag.replace("_", " ").capitalize()

    return title


def _goal_order(tag: str) -> tuple[int, str]:
    return (0 if tag.startswith("client:") else 1, tag)


@dataclass
class ClientData:
    client: dict[str, Any]
    label: str
    sessions: list[dict[str, Any]]
    events: dict[str, list[StoredEvent]]  # per session id, corrections applied


class ProgressPlotter:
    """Draws the per-goal progress plots as inline SVG, reusing one matplotlib figure.

    Building axes and tick objects is most of matplotlib's cost per plot, so the axes are made
    once per report and only the data artists change between goals (about 3x faster; the
    export benchmark's 100 sessions × 500 events needs it).
    """

    RC = {"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "prelude"}

    def __init__(self) -> None:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure

        with matplotlib.rc_context(self.RC):
            self.fig = Figure(figsize=(5.4, 2.5), dpi=100)
            FigureCanvasSVG(self.fig)
            ax = self.ax = self.fig.add_subplot()
            ax.set_ylim(0, 100)
            ax.set_yticks([0, 50, 100])  # few ticks on purpose: tick objects are the costly part
            ax.set_xlabel("session", labelpad=1)
            ax.set_ylabel("% of trials", labelpad=1)
            ax.spines[["top", "right"]].set_visible(False)
            ax.grid(axis="y", color="#e6e8ee", linewidth=0.6)
            self.fig.subplots_adjust(left=0.11, right=0.98, top=0.88, bottom=0.17)  # tight_layout is slow
        self._n: int | None = None

    def svg(self, title: str, points: list[tuple[int, str, GoalFigures | None]], phases: list[tuple[int, str]],
            target: float | None) -> str:
        """% independent (and % successful) per session, phase changes dotted, target dashed."""
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
                ax.text(0.995, target, f" target {target:.0f}%", transform=ax.get_yaxis_transform(), ha="right",
                        va="bottom", fontsize=8, color="#1f7a4d")
            for x, label in phases:
                ax.axvline(x - 0.5, color="#1d2330", linewidth=1, linestyle=":")
                ax.text(x - 0.55, 97, label if len(label) < 34 else label[:32] + "…", fontsize=6.5, rotation=90,
                        va="top", ha="right", color="#1d2330")
            n = max((p[0] for p in points), default=1)
            if n != self._n:
                ax.set_xlim(0.5, n + 0.5)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
                self._n = n
            ax.set_ylim(0, 100)
            ax.set_title(title if len(title) < 60 else title[:57] + "…", fontsize=10, loc="left", pad=8)
            buf = io.StringIO()
            self.fig.savefig(buf, format="svg")
        svg = buf.getvalue()
        return svg[svg.index("<svg"):]


def _trial_marks(trials: list[Trial], tag: str, independent: str) -> str:
    marks = []
    for e in trials:
        if tag not in e.goals:
            continue
        m = TRIAL_MARKS.get(e.outcome, "·")
        if e.outcome == "success" and (e.prompt or independent) != independent:
            m = (e.prompt or "p")[0].upper()
        marks.append(m)
    groups = ["".join(marks[i:i + 10]) for i in range(0, len(marks), 10)]
    return " ".join(groups)


def _phases(sessions: list[dict[str, Any]], per_session: dict[str, dict[str, GoalFigures]], tag: str) -> list[tuple[int, str]]:
    """Session numbers where a new phase began for ``tag``: the session plan changed, or the set
    of activities working on the goal changed (including the first activity after a gap)."""
    out: list[tuple[int, str]] = []
    prev_acts: frozenset[str] | None = None
    prev_plan: str | None = None
    for n, s in enumerate(sessions, start=1):
        g = per_session[s["id"]].get(tag)
        acts = frozenset(g.activities) if g is not None and g.trials else frozenset()
        labels = []
        if n > 1 and s.get("plan") != prev_plan and s.get("plan"):
            labels.append(f"plan: {s['plan']}")
        if acts and prev_acts is not None and acts != prev_acts:
            added = sorted(acts - prev_acts)
            labels.append(", ".join(a.replace("_", " ") for a in added) if added else "fewer activities")
        if labels:
            out.append((n, "; ".join(labels)))
        if acts or n == 1:
            prev_acts = acts
        prev_plan = s.get("plan")
    return out


def _target_met(points: list[GoalFigures | None], target_text: str) -> str:
    tgt = parse_target(target_text)
    if tgt is None:
        return ""
    recent = [g.pct_independent for g in points if g is not None and g.trials][-tgt.sessions:]
    if len(recent) < tgt.sessions:
        return f"not yet ({len(recent)} of {tgt.sessions} sessions so far)"
    return "met" if all(v is not None and v >= tgt.percent for v in recent) else "not yet"


def build_html(store: EventLog, *, names: bool = False, selection: Selection | None = None,
               settings: dict[str, Any] | None = None, independent: str = "independent") -> str:
    sel = selection or Selection()
    sessions = select_sessions(store, sel)
    all_clients = {c["id"]: c for c in store.clients(include_archived=True)}
    by_session: dict[str, list[StoredEvent]] = defaultdict(list)
    # Only what a report reads (trials, corrections, notes, system and plan events): plain hits,
    # usually half the log, are counted in SQL instead of being decoded.
    for r in raw_event_rows(store, sel, sessions, where=REPORT_KINDS):
        n = len(RAW_COLUMNS)
        d = dict(zip(RAW_COLUMNS, r[:n]))
        by_session[d["session_id"]].append(StoredEvent(**d, goals=tuple(json.loads(r[n])), data=json.loads(r[n + 1])))
    counts = dict(store.db.execute("SELECT session_id, count(*) FROM events GROUP BY session_id").fetchall())
    title = goal_titler(area_titles(), all_clients.values())
    plotter = ProgressPlotter() if sessions else None
    per_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in sessions:
        per_client[s["client_id"]].append(s)
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>Prelude Play report</title><style>{CSS}</style></head><body>"]
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    chosen = ", ".join(f"{k}={v}" for k, v in sel.describe().items()) or "everything"
    parts.append(f"<h1>Session and progress report</h1><div class=\"meta\">Prelude Play {_e(__version__)} · "
                 f"exported {when} · selection: {_e(chosen)} · "
                 f"{'names shown (therapist chose)' if names else 'pseudonymous codes'} · "
                 f"{len(sessions)} session(s)</div>")
    if not sessions:
        parts.append("<p>No sessions match this selection.</p>")
    for cid, sess in per_client.items():
        c = all_clients.get(cid, {"id": cid, "code": "?", "display_name": "?", "profile": {}})
        label = c["display_name"] if names else c["code"]
        parts.append(_client_section(c, label, sess, by_session, title, independent, counts, plotter))
    parts.append(_footer(store, sessions, sel, names, settings))
    parts.append("</body></html>")
    return "".join(parts)


def _client_section(c: dict[str, Any], label: str, sessions: list[dict[str, Any]],
                    by_session: dict[str, list[StoredEvent]], title: Callable[[str], str], independent: str,
                    counts: dict[str, int], plotter: "ProgressPlotter | None" = None) -> str:
    own_tags = [f"client:{g['id']}" for g in c.get("profile", {}).get("goals", []) if isinstance(g, dict)]
    summaries: dict[str, SessionSummary] = {
        s["id"]: summarize_session(s, by_session.get(s["id"], []), label, independent_level=independent,
                                   client_goals=own_tags)
        for s in sessions}
    per_session = {sid: sm.goals for sid, sm in summaries.items()}
    for sid, sm in summaries.items():
        sm.events = counts.get(sid, sm.events)
    total: dict[str, GoalFigures] = merge_figures(per_session.values())
    own_goals = {f"client:{g['id']}": g for g in c.get("profile", {}).get("goals", []) if isinstance(g, dict)}
    out = [f'<section class="client"><h2>Client {_e(label)}</h2>']
    out.append(f'<div class="meta">{len(sessions)} session(s), {_e(sessions[0]["started"][:10])} to '
               f'{_e(sessions[-1]["started"][:10])}</div>')
    out.append("<h3>Goals over this period</h3><table><thead><tr><th>Goal</th><th>Target</th><th>Trials</th>"
               "<th>Successful</th><th>% independent</th><th>Level</th><th>Target met</th></tr></thead>")
    tags = sorted(set(total) | set(own_goals), key=_goal_order)
    points_for: dict[str, list[tuple[int, str, GoalFigures | None]]] = {}
    for tag in tags:
        pts = [(n, s["started"][:10], per_session[s["id"]].get(tag)) for n, s in enumerate(sessions, start=1)]
        points_for[tag] = pts
        g = total.get(tag, GoalFigures(tag))
        target = own_goals.get(tag, {}).get("target", "")
        met = _target_met([p[2] for p in pts], target) if target else ""
        out.append(f"<tr><td>{_e(title(tag))}</td><td>{_e(target)}</td><td class=\"num\">{g.trials}</td>"
                   f"<td class=\"num\">{g.successes}</td><td class=\"num\">{_pct(g.pct_independent)}</td>"
                   f"<td>{_level_html(g.level())}</td><td>{_e(met)}</td></tr>")
    out.append("</table><div class=\"legend\">% independent: successful trials at the first prompt level. "
               "Level (IMTAP wording): Never 0% · Rarely &lt;50% · Inconsistent 50–79% · Consistent 80–100%."
               "</div>")
    # Plot the client's own goals, and the goal areas none of their own goals already follows.
    own_areas = {g.get("area") for g in own_goals.values()}
    plotted = [t for t in tags if total.get(t) and total[t].trials and t not in own_areas]
    if plotted:
        plotter = plotter or ProgressPlotter()
        out.append('<h3>Progress across sessions</h3><div class="plots">')
        for tag in plotted:
            tgt = parse_target(own_goals.get(tag, {}).get("target", ""))
            svg = plotter.svg(title(tag), points_for[tag], _phases(sessions, per_session, tag),
                              tgt.percent if tgt else None)
            out.append(f'<div class="plot">{svg}</div>')
        out.append("</div><div class=\"legend\"><b style=\"color:#b5651d\">━ % independent</b> · "
                   "<b style=\"color:#8a93a8\">╌ % successful (any prompt)</b> · "
                   "<b style=\"color:#1f7a4d\">╌ target</b> · dotted vertical lines: a new phase (the plan or "
                   "the activities working on the goal changed), labelled with what changed.</div>")
    out.append("<h3>Sessions</h3>")
    for n, s in enumerate(sessions, start=1):
        out.append(_session_block(n, s, summaries[s["id"]], summaries[s["id"]].trials, title, independent))
    out.append("</section>")
    return "".join(out)


def _session_block(n: int, s: dict[str, Any], sm: SessionSummary, events: list[Trial],
                   title: Callable[[str], str], independent: str) -> str:
    dur = f" · {sm.duration_min:.0f} min" if sm.duration_min is not None else ""
    plan = f" · plan: {_e(s['plan'])}" if s.get("plan") else ""
    acts = ", ".join(a.replace("_", " ") for a in sm.activities) or "none"
    out = [f'<div class="session"><h3>Session {n} · {_e(s["started"][:16].replace("T", " "))}{dur}{plan}</h3>',
           f'<div class="meta">Activities: {_e(acts)} · {sm.events} events'
           f'{f" · {sm.corrections} correction(s) applied" if sm.corrections else ""}'
           f' · app {_e(s["provenance"].get("app_version", "?"))}</div>']
    if sm.goals:
        out.append("<table><thead><tr><th>Goal</th><th>Trials</th><th>% indep.</th><th>Level</th><th>Prompts</th>"
                   "<th>Trial by trial</th></tr></thead>")
        for tag, g in sorted(sm.goals.items(), key=lambda kv: _goal_order(kv[0])):
            prompts = ", ".join(f"{p} {k}" for p, k in g.prompts.most_common())
            out.append(f"<tr><td>{_e(title(tag))}</td><td class=\"num\">{g.trials}</td>"
                       f"<td class=\"num\">{_pct(g.pct_independent)}</td><td>{_level_html(g.level())}</td>"
                       f"<td>{_e(prompts)}</td><td class=\"trials\">{_e(_trial_marks(events, tag, independent))}</td></tr>")
        out.append("</table><div class=\"legend\">Trial by trial: I independent success · G/V/M/P success at "
                   "that prompt level · ½ partial · × not yet · – no response.</div>")
    else:
        out.append("<p class=\"meta\">No scored trials.</p>")
    if sm.notable:
        out.append("<p><b>Notable:</b> " + "; ".join(_e(x) for x in sm.notable) + "</p>")
    if sm.notes:
        out.append('<div class="notes">' + "<br>".join(_e(x) for x in sm.notes) + "</div>")
    out.append("</div>")
    return "".join(out)


def _footer(store: EventLog, sessions: list[dict[str, Any]], sel: Selection, names: bool,
            settings: dict[str, Any] | None) -> str:
    versions = sorted({str(s["provenance"].get("app_version", "?")) for s in sessions})
    acts: dict[str, str] = {}
    for s in sessions:
        acts.update({k: str(v) for k, v in (s["provenance"].get("activities") or {}).items()})
    import json

    export_settings = {"selection": sel.describe(), "names": names, **(settings or {})}
    return (f"<footer>Produced by Prelude Play {_e(__version__)}. Sessions recorded with app version(s) "
            f"{_e(', '.join(versions) or '–')}; activity versions: "
            f"{_e(', '.join(f'{k} {v}' for k, v in sorted(acts.items())) or '–')}. "
            f"Export settings: <code>{_e(json.dumps(export_settings, default=str))}</code>. "
            "Each session's full configuration is in the JSON Lines export.</footer>")


def export_html(store: EventLog, out: Path, *, names: bool = False, selection: Selection | None = None,
                settings: dict[str, Any] | None = None) -> Path:
    """Write the report atomically (``.partial`` then rename), private to the user."""
    text = build_html(store, names=names, selection=selection, settings=settings)
    return _atomic_write(Path(out), lambda fh: fh.write(text))
