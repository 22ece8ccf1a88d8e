"""Clinic sync benchmark (issue 19): T tablets × S sessions × E events against a real PostgreSQL.

Measures, on a throwaway PostgreSQL 15 started here (tests/pg.py, TLS on, fsync on):
- first full sync: every tablet pushes its whole store (one tablet after another, as tablets
  enrolled over a morning would), then a second round in which each tablet pulls the clients
  assigned to it (its own and its neighbour's: every client is seen on two tablets);
- steady state: one new session of E events on one tablet, then one round (push + pull), and
  a round with nothing new;
- server-side reports: one client's HTML report made from the server's rows (`export --server`,
  the tablet's exporter unchanged), and a clinic-wide SQL summary (trials per client and outcome);
- the UI thread while syncing: the latency of ``EventLog.log`` in a 60 Hz loop on the main thread
  while the background sync thread pushes a backlog, against the same loop with no sync.

Stores are built with bulk inserts (not timed) in the event store's own format.
Run: python -m bench.bench_clinic_sync [--tablets 20 --sessions 100 --events 500] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from prelude_play.clock import MonotonicClock  # noqa: E402
from prelude_play.events import LogEvent  # noqa: E402
from prelude_play.ids import uuid7  # noqa: E402
from prelude_play.store import clinic_server, sync  # noqa: E402
from prelude_play.store.eventlog import EventLog, wall_now  # noqa: E402

CLIENTS_PER_TABLET = 5


def build_tablet(d: Path, t: int, sessions: int, events: int) -> list[str]:
    """One tablet's store: 5 own clients, ``sessions`` sessions of ``events`` events each."""
    d.mkdir(parents=True)
    st = EventLog(d / "prelude.db", MonotonicClock())
    clients = [f"t{t:02d}-c{i}" for i in range(CLIENTS_PER_TABLET)]
    for c in clients:
        st.ensure_client(c, display_name=f"Client {c}", code=f"C-{t:02d}{c[-1]}")
        st.set_client_profile(c, {"goals": [{"id": "g1", "text": "turn-taking", "area": "social"}],
                                  "touch": {"ignore_repeat_ms": 250}})
    wall = wall_now()
    for s_i in range(sessions):
        s = st.start_session(clients[s_i % len(clients)], {"app": "bench", "tablet": t})
        rows = []
        for e in range(events):
            trial = f"tr-{s.id[:8]}-{e // 4}"
            rows.append((uuid7(), s.id, s.client_id, "drum_turns", "response" if e % 4 else "trial_open", "client",
                         "midi", "pad", e * 350.0, wall, '["social", "client:g1"]', "I" if e % 3 else None,
                         "correct" if e % 5 else "incorrect",
                         json.dumps({"pad": e % 8, "velocity": 60 + e % 60, "latency_ms": 4.2, "turn": e // 4}),
                         None, trial))
        st.db.execute("BEGIN")
        st.db.executemany(
            "INSERT INTO events(id, session_id, client_id, activity, kind, actor, source, device, t_ms, wall, goals,"
            " prompt, outcome, data, corrects, trial_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        st.db.execute("COMMIT")
        st.end_session(s, notes=f"session {s_i}")
    st.close()
    return clients


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def ui_loop(store: EventLog, seconds: float) -> list[float]:
    """A 60 Hz loop on this thread that logs one event per frame; returns log() times in ms."""
    s = store.start_session("ui-client", {})
    out = []
    period = 1 / 60
    end = time.perf_counter() + seconds
    nxt = time.perf_counter()
    while time.perf_counter() < end:
        t = time.perf_counter()
        store.log(s, LogEvent(kind="hit", data={"pad": 1}))
        out.append((time.perf_counter() - t) * 1000)
        nxt += period
        time.sleep(max(0.0, nxt - time.perf_counter()))
    store.end_session(s)
    return out


def run(tablets: int, sessions: int, events: int, batch: int) -> dict:
    import psycopg

    sys.setswitchinterval(0.001)  # as the app sets it (cli.cmd_run): the UI thread gets the GIL back soon
    from tests.pg import start_postgres

    root = Path(tempfile.mkdtemp(prefix="prelude-bench-clinic-"))
    pg = start_postgres(root / "pg")
    res: dict = {"tablets": tablets, "sessions_per_tablet": sessions, "events_per_session": events,
                 "events_total": tablets * sessions * events, "batch": batch}
    try:
        admin = psycopg.connect(pg.admin_url, autocommit=True)
        clinic_server.migrate(admin)
        t0 = time.perf_counter()
        tabs = []
        for t in range(tablets):
            d = root / f"tablet{t:02d}"
            clients = build_tablet(d, t, sessions, events)
            role, token = clinic_server.add_device(admin, f"tablet {t}")
            cfg = sync.ClinicConfig(pg.device_url(), role, token, str(pg.ca), batch=batch)
            sync.enroll(d, cfg)
            tabs.append((d, cfg, role, clients))
        res["build_s"] = round(time.perf_counter() - t0, 1)
        # first full sync: every tablet pushes
        per = []
        t0 = time.perf_counter()
        for d, cfg, *_ in tabs:
            t = time.perf_counter()
            r = sync.sync_once(d / "prelude.db", cfg)
            per.append(time.perf_counter() - t)
            assert r.pushed_events == sessions * events, r
        res["first_push_total_s"] = round(time.perf_counter() - t0, 1)
        res["first_push_per_tablet_s"] = {"median": round(statistics.median(per), 2), "max": round(max(per), 2)}
        n = admin.execute("SELECT count(*) FROM pp.events").fetchone()[0]
        assert n == tablets * sessions * events, n
        res["push_events_per_s"] = round(n / res["first_push_total_s"])
        # each client is seen on two tablets: its own and the next one
        for i, (_, _, _, clients) in enumerate(tabs):
            nb = tabs[(i + 1) % len(tabs)][2]
            for c in clients:
                clinic_server.assign(admin, nb, c)
        per = []
        pulled = 0
        t0 = time.perf_counter()
        for d, cfg, *_ in tabs:
            t = time.perf_counter()
            r = sync.sync_once(d / "prelude.db", cfg)
            per.append(time.perf_counter() - t)
            pulled += r.pulled_events
        res["first_pull_total_s"] = round(time.perf_counter() - t0, 1)
        res["first_pull_per_tablet_s"] = {"median": round(statistics.median(per), 2), "max": round(max(per), 2)}
        res["pulled_events"] = pulled
        # steady state: one new session on tablet 0, one round; then its neighbour pulls it
        d, cfg, _, clients = tabs[0]
        st = EventLog(d / "prelude.db", MonotonicClock())
        s = st.start_session(clients[0], {"app": "bench"})
        for e in range(events):
            st.log(s, LogEvent(kind="response", outcome="correct", data={"pad": e % 8}))
        st.end_session(s, notes="steady")
        st.close()
        t = time.perf_counter()
        r = sync.sync_once(d / "prelude.db", cfg)
        res["steady_one_session_push_s"] = round(time.perf_counter() - t, 3)
        assert r.pushed_events == events
        d1, cfg1, *_ = tabs[1]
        t = time.perf_counter()
        r = sync.sync_once(d1 / "prelude.db", cfg1)
        res["steady_one_session_pull_s"] = round(time.perf_counter() - t, 3)
        assert r.pulled_events == events, r
        t = time.perf_counter()
        sync.sync_once(d1 / "prelude.db", cfg1)
        res["idle_round_s"] = round(time.perf_counter() - t, 3)
        # server-side reports
        from prelude_play.activity import discover
        from prelude_play.store import export
        from prelude_play.store.report import export_html

        t = time.perf_counter()
        store = clinic_server.server_store(admin, MonotonicClock(), client=clients[0])
        res["report_load_one_client_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        export_html(store, root / "one.html", selection=export.Selection(client=clients[0]), registry=discover())
        res["report_html_one_client_s"] = round(time.perf_counter() - t, 2)
        res["report_one_client_events"] = sum(1 for _ in store.events())
        store.close()
        t = time.perf_counter()
        rows = admin.execute("SELECT client_id, outcome, count(*) FROM pp.events GROUP BY 1, 2").fetchall()
        res["report_clinic_summary_sql_s"] = round(time.perf_counter() - t, 2)
        res["report_clinic_summary_rows"] = len(rows)
        # the UI thread while the background sync pushes a backlog
        ui_dir = root / "ui"
        build_tablet(ui_dir, 99, max(1, sessions // 2), events)
        role, token = clinic_server.add_device(admin, "ui tablet")
        cfg = sync.ClinicConfig(pg.device_url(), role, token, str(pg.ca), batch=batch, interval_s=0.5)
        sync.enroll(ui_dir, cfg)
        for c in tabs[0][3]:  # and it pulls tablet 0's clients at the same time
            clinic_server.assign(admin, role, c)
        st = EventLog(ui_dir / "prelude.db", MonotonicClock())
        st.ensure_client("ui-client")
        quiet = ui_loop(st, 3.0)
        bg = sync.BackgroundSync(ui_dir / "prelude.db", cfg).start()
        time.sleep(2.1)  # its first round starts after 2 s
        busy = ui_loop(st, 8.0)
        bg.stop(60)
        st.close()
        res["ui_pulled_events"] = sum(1 for _ in EventLog(ui_dir / "prelude.db", MonotonicClock()).events(
            client_id=tabs[0][3][0]))
        res["ui_log_ms_no_sync"] = {"p50": round(pct(quiet, 50), 3), "p99": round(pct(quiet, 99), 3),
                                    "max": round(max(quiet), 2)}
        res["ui_log_ms_during_sync"] = {"p50": round(pct(busy, 50), 3), "p99": round(pct(busy, 99), 3),
                                        "max": round(max(busy), 2), "frames": len(busy),
                                        "frames_over_16ms": sum(1 for x in busy if x > 16.7)}
        res["ui_sync_rounds"] = bg.rounds
        res["server_db_mb"] = round(admin.execute("SELECT pg_database_size('clinic')").fetchone()[0] / 1e6)
        admin.close()
    finally:
        pg.kill()
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tablets", type=int, default=20)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="4 tablets × 20 sessions × 500 events")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.quick:
        a.tablets, a.sessions = 4, 20
    res = run(a.tablets, a.sessions, a.events, a.batch)
    print(json.dumps(res, indent=None if a.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
