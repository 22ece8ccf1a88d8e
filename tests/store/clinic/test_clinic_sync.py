"""Clinic sync against a real PostgreSQL (started by the tests, see conftest.py): the union of
three tablets, faults (server SIGKILLed, tablet SIGKILLed, link cut, acknowledgement lost),
concurrent edits kept as conflicts, revocation, assignment, audit, names, TLS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from prelude_play.errors import SyncError
from prelude_play.events import LogEvent
from prelude_play.store import clinic_server, records, sync

pytestmark = pytest.mark.realstack
ROOT = Path(__file__).resolve().parents[3]


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def shared_client(admin, make_tablet, name_a: str, name_b: str, prefix: str, n: int, notes: str | None = None):
    """Two tablets sharing one client: a logs a session of ``n`` events and syncs, the client is
    assigned to b, b syncs. Returns (a, b, client)."""
    a, b = make_tablet(name_a), make_tablet(name_b)
    client = uid(prefix)
    log_session(a, client, n, notes=notes)
    a.sync()
    clinic_server.assign(admin, b.device, client)
    b.sync()
    return a, b, client


def log_session(t, client: str, n: int, notes: str | None = None) -> list[str]:
    st = t.store()
    try:
        st.ensure_client(client, display_name=f"Name of {client}")
        s = st.start_session(client, {"tablet": t.name})
        ids = [st.log(s, LogEvent(kind="hit", data={"i": i})) for i in range(n)]
        st.end_session(s, notes=notes)
        return ids
    finally:
        st.close()


def server_ids(admin, client: str) -> list[str]:
    return [r[0] for r in admin.execute("SELECT id FROM pp.events WHERE client_id=%s", (client,))]


def local_ids(t, client: str) -> list[str]:
    st = t.store()
    try:
        return [e.id for e in st.events(client_id=client)]
    finally:
        st.close()


def count_local(t, client: str) -> int:
    """Read-only, so polling never waits on (or holds up) the sync's writes."""
    import sqlite3

    con = sqlite3.connect(f"file:{t.db}?mode=ro", uri=True, timeout=1)
    try:
        return con.execute("SELECT count(*) FROM events WHERE client_id=?", (client,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prelude_play", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_server_schema_is_versioned_and_devices_only_call_functions(pg, admin, make_tablet):
    import psycopg

    assert clinic_server.server_version(admin) == clinic_server.SCHEMA_VERSION
    assert clinic_server.migrate(admin) == []  # a second run changes nothing
    admin.execute("DROP DATABASE IF EXISTS fresh")
    admin.execute("CREATE DATABASE fresh")
    with psycopg.connect(pg.admin_url.replace("/clinic?", "/fresh?"), autocommit=True) as fresh:
        assert clinic_server.server_version(fresh) == 0
        assert clinic_server.migrate(fresh) == [1]
        assert fresh.execute("SELECT version FROM pp.schema_version").fetchall() == [(1,)]
    t = make_tablet("plain")
    with sync.connect(t.cfg) as conn:  # the device role: no table at all, only the API
        for q in ("SELECT count(*) FROM pp.events", "SELECT count(*) FROM pp.audit",
                  "INSERT INTO pp.assignments VALUES ('x', 'y')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with conn.transaction():
                    conn.execute(q)
    with pytest.raises(psycopg.errors.RaiseException):  # append-only on the server too
        admin.execute("UPDATE pp.audit SET rows = 0")


def test_three_tablet_processes_offline_then_online_hold_the_union(pg, admin, make_tablet, request):
    from tests.store.clinic.proxy import Proxy

    proxy = Proxy(pg.port)
    request.addfinalizer(proxy.close)
    proxy.online = False  # the third tablet starts offline
    tablets = [make_tablet("t1"), make_tablet("t2")]
    proxy.online = True
    tablets.append(make_tablet("t3", port=proxy.port))
    proxy.online = False
    shared = uid("shared")
    own = [uid(f"own{i}") for i in range(3)]
    clinic_server.assign(admin, tablets[0].device, shared)
    for t in tablets[1:]:
        clinic_server.assign(admin, t.device, shared)
    procs = [subprocess.Popen([sys.executable, "-m", "tests.store.clinic.tablet", str(t.dir), "--clients",
                               f"{own[i]},{shared}", "--sessions", "2", "--events", "60", "--sync-every", "25"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True) for i, t in enumerate(tablets)]
    first = json.loads(procs[2].stdout.readline())  # the third tablet works on, offline ...
    assert first == {"sync": "failed"}
    proxy.online = True  # ... and comes back while the others still run
    outs = [json.loads(p.communicate(timeout=90)[0].strip().splitlines()[-1]) for p in procs]
    assert all(o["logged"] == 240 for o in outs)
    assert outs[0]["ok"] > 0 and outs[0]["failed"] == 0
    assert outs[2]["ok"] > 0  # synced after reconnecting, while sessions went on
    for _ in range(2):  # one final round each: the last events up, then everyone pulls them
        for t in tablets:
            t.sync()
    n_shared = len(server_ids(admin, shared))
    assert n_shared == 3 * 2 * 60
    assert admin.execute("SELECT count(*), count(DISTINCT id) FROM pp.events WHERE client_id = ANY(%s)",
                         (own + [shared],)).fetchone() == (720, 720)
    for i, t in enumerate(tablets):
        assert sorted(local_ids(t, shared)) == sorted(server_ids(admin, shared))  # everyone's shared sessions
        assert sorted(local_ids(t, own[i])) == sorted(server_ids(admin, own[i]))
        for j in range(3):
            if j != i:
                assert local_ids(t, own[j]) == []  # not assigned: never pulled
        st = t.store()
        notes = sorted(s["notes"] for s in st.sessions(shared))
        st.close()
        assert notes == sorted(f"t{k} session {s}" for k in (1, 2, 3) for s in range(2))
    proxy.close()


def test_server_killed_mid_push_then_restarted_nothing_lost_nothing_twice(pg, admin, make_tablet):
    import psycopg

    t = make_tablet("crashy", batch=300)
    client = uid("kill")
    ids = log_session(t, client, 3000)
    batches = []

    def kill_after_three(kind: str, n: int) -> None:
        batches.append(kind)
        if batches.count("push_events") == 3:
            pg.kill()

    with pytest.raises(SyncError) as err:
        t.sync(progress=kill_after_three)
    assert "sync again" in str(err.value)
    pg.start()
    with psycopg.connect(pg.admin_url, autocommit=True) as a:
        assert len(server_ids(a, client)) == 900  # the three acknowledged batches survived the crash
    # and at a moment nobody chose: from another thread, while a batch is on its way or committing
    ids += log_session(t, client, 6000)
    killer = threading.Timer(0.05, pg.kill)  # started by the first acknowledged batch of 20

    def arm(kind: str, n: int) -> None:
        if not killer.is_alive() and not killer.finished.is_set():
            killer.start()

    with pytest.raises(SyncError):
        t.sync(progress=arm)
    killer.join()
    pg.start()
    with psycopg.connect(pg.admin_url, autocommit=True) as a:
        assert len(server_ids(a, client)) < len(ids)
        t.sync()
        got = server_ids(a, client)
        assert len(got) == len(set(got)) and sorted(got) == sorted(ids)


def test_lost_acknowledgement_repeats_the_batch_and_adds_nothing(admin, make_tablet, monkeypatch):
    t = make_tablet("lostack", batch=100)
    client = uid("ack")
    ids = log_session(t, client, 250)
    real = records.set_cursor
    calls = {"n": 0}

    def crash_before_saving(db, name, value):
        if name == "push_events":
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("power lost after the server committed")
        return real(db, name, value)

    monkeypatch.setattr(records, "set_cursor", crash_before_saving)
    with pytest.raises(OSError):
        t.sync()
    assert len(server_ids(admin, client)) == 200  # committed, not acknowledged on the tablet
    monkeypatch.setattr(records, "set_cursor", real)
    res = t.sync()
    assert res.pushed_events == 150 and res.new_on_server == 50  # the lost batch again: nothing new
    assert sorted(server_ids(admin, client)) == sorted(ids)


def test_tablet_killed_mid_sync_then_resumes(pg, admin, make_tablet):
    t = make_tablet("killed", batch=100)  # 120 batches: the kill lands mid-round on any machine
    client = uid("tk")
    ids = log_session(t, client, 12000)
    p = subprocess.Popen([sys.executable, "-m", "prelude_play", "--data-dir", str(t.dir), "sync"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(server_ids(admin, client)) < 1000:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert 0 < len(server_ids(admin, client)) < 12000
    r = cli("--data-dir", str(t.dir), "sync")
    assert r.returncode == 0, r.stderr
    assert sorted(server_ids(admin, client)) == sorted(ids)
    # and killed while pulling: each pulled batch is applied with its cursors in one transaction
    other = make_tablet("killed-puller", batch=100)
    clinic_server.assign(admin, other.device, client)
    p = subprocess.Popen([sys.executable, "-m", "prelude_play", "--data-dir", str(other.dir), "sync"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and count_local(other, client) < 1000:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert 0 < count_local(other, client) < 12000
    assert cli("--data-dir", str(other.dir), "sync").returncode == 0
    got = local_ids(other, client)
    assert len(got) == len(set(got)) and sorted(got) == sorted(ids)


@pytest.mark.parametrize("way", ["up", "down"])
def test_connection_cut_mid_transfer(pg, admin, make_tablet, way, request):
    from tests.store.clinic.proxy import Proxy

    proxy = Proxy(pg.port)
    request.addfinalizer(proxy.close)
    t = make_tablet(f"cut{way}", port=proxy.port, batch=500)
    client = uid("cut")
    ids = log_session(t, client, 3000)
    if way == "up":
        proxy.cut_up = 200_000  # mid-request: that batch never commits
    else:
        proxy.cut_down = 3_300  # mid-answers (the whole round gets ~4 kB back): a commit may lose its answer
    r = cli("--data-dir", str(t.dir), "sync")
    assert r.returncode == 1 and proxy.cuts == 1
    assert "sync again" in r.stderr and "Traceback" not in r.stderr
    assert len(server_ids(admin, client)) < 3000
    proxy.cut_up = proxy.cut_down = None
    r = cli("--data-dir", str(t.dir), "sync")
    assert r.returncode == 0, r.stderr
    got = server_ids(admin, client)
    assert len(got) == len(set(got)) and sorted(got) == sorted(ids)
    proxy.close()


def test_same_field_on_two_offline_tablets_keeps_both_until_resolved(admin, make_tablet):
    a, b, client = shared_client(admin, make_tablet, "ca", "cb", "conf", 3, notes="first")
    sid = b.store().sessions(client)[0]["id"]
    # offline: both edit the same note; A edits touch, B edits goals (different fields: merged)
    sa, sb = a.store(), b.store()
    sa.set_session_notes(sid, "calm, used the drum")
    sb.set_session_notes(sid, "tired, short session")
    pa = sa.client_profile(client)
    sa.set_client_profile(client, {**pa, "touch": {"ignore_repeat_ms": 400}})
    pb = sb.client_profile(client)
    sb.set_client_profile(client, {**pb, "goals": [{"id": "g1", "text": "turn-taking", "area": "social"}]})
    sa.close(), sb.close()
    a.sync(), b.sync(), a.sync()
    for t in (a, b):
        st = t.store()
        prof = st.client_profile(client)
        assert prof["touch"] == {"ignore_repeat_ms": 400} and prof["goals"][0]["id"] == "g1"
        shown = st.session(sid)["notes"]
        st.close()
        db = sync.open_db(t.db)
        cs = records.conflicts(db)
        db.close()
        assert len(cs) == 1 and cs[0].field == "notes"
        assert {json.loads(v.value) for v in cs[0].versions} == {"calm, used the drum", "tired, short session"}
        assert shown == json.loads(cs[0].versions[0].value)  # both tablets show the same (last writer)
    r = cli("--data-dir", str(b.dir), "conflicts")
    assert r.returncode == 0 and "calm, used the drum" in r.stdout and "tired, short session" in r.stdout
    r = cli("--data-dir", str(b.dir), "conflicts", "--resolve", "1", "--value", "calm, then tired")
    assert r.returncode == 0, r.stderr
    b.sync(), a.sync()
    for t in (a, b):
        st = t.store()
        assert st.session(sid)["notes"] == "calm, then tired"
        st.close()
        assert "no conflicts" in cli("--data-dir", str(t.dir), "conflicts").stdout


def test_archive_and_purge_propagate(admin, make_tablet):
    a, b, client = shared_client(admin, make_tablet, "pa", "pb", "purge", 20)
    st = a.store()
    st.set_archived(client, True)
    st.close()
    a.sync(), b.sync()
    st = b.store()
    assert st.client(client)["archived"] is True
    code = st.client(client)["code"]
    assert st.purge_client(client, confirm_code=code) == 20
    st.close()
    b.sync(), a.sync()
    st = a.store()
    assert st.client(client) is None and list(st.events(client_id=client)) == []
    st.close()
    assert server_ids(admin, client) == []
    assert admin.execute("SELECT count(*) FROM pp.changes WHERE client_id=%s", (client,)).fetchone()[0] == 1
    assert admin.execute("SELECT purged IS NOT NULL FROM pp.clients WHERE id=%s", (client,)).fetchone()[0]


def test_revoked_device_can_neither_push_nor_pull(pg, admin, make_tablet):
    import psycopg

    t = make_tablet("rev")
    client = uid("rev")
    log_session(t, client, 5)
    t.sync()
    conn = sync.connect(t.cfg)  # a connection open when the device is revoked ends too
    clinic_server.revoke_device(admin, t.device)
    with pytest.raises(psycopg.Error):
        with conn.transaction():
            conn.execute("SELECT pp.pull_events('{}'::jsonb, 10)")
    log_session(t, client, 5)
    with pytest.raises(SyncError, match="revoked"):
        t.sync()
    r = cli("--data-dir", str(t.dir), "sync")
    assert r.returncode == 1 and "administrator" in r.stderr
    assert len(server_ids(admin, client)) == 5
    # even with the login re-enabled by mistake, the functions refuse it
    admin.execute(f'ALTER ROLE "{t.device}" LOGIN')
    with pytest.raises(SyncError, match="revoked"):
        t.sync()


def test_device_cannot_read_or_write_unassigned_clients(admin, make_tablet):
    import psycopg

    a, b = make_tablet("ua"), make_tablet("ub")
    secret = uid("secret")
    log_session(a, secret, 7)
    a.sync()
    res = b.sync()
    assert secret not in res.clients and local_ids(b, secret) == []
    with sync.connect(b.cfg) as conn:  # asking by name with a cursor of 0 returns nothing either
        out = conn.execute("SELECT pp.pull_events(%s::jsonb, 100)", (json.dumps({secret: 0}),)).fetchone()[0]
        assert out["rows"] == []
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not assigned"):
            conn.execute("SELECT pp.push_events(%s::jsonb)", (json.dumps([{
                "seq": 1, "id": str(uuid.uuid4()), "session_id": "s", "client_id": secret, "activity": "x",
                "kind": "hit", "actor": "client", "source": "x", "device": "", "t_ms": 0, "wall": "",
                "goals": "[]", "prompt": None, "outcome": None, "data": "{}", "corrects": None,
                "trial_id": None}]),))
    audit = admin.execute("SELECT device, action FROM pp.audit WHERE client_id=%s", (secret,)).fetchall()
    assert (a.device, "push_events") in audit and (a.device, "push_changes") in audit
    assert all(d == a.device for d, _ in audit)
    reads = admin.execute("SELECT count(*) FROM pp.audit WHERE device=%s AND action LIKE 'pull_%%'",
                          (b.device,)).fetchone()[0]
    assert reads >= 0
    assert admin.execute("SELECT count(*) FROM pp.audit WHERE device=%s AND action='hello'",
                         (b.device,)).fetchone()[0] >= 2


def test_every_read_and_write_is_audited(admin, make_tablet):
    a, b, client = shared_client(admin, make_tablet, "aa", "ab", "aud", 4)
    rows = dict(admin.execute("SELECT device || ' ' || action, sum(rows) FROM pp.audit WHERE client_id=%s"
                              " GROUP BY 1", (client,)).fetchall())
    assert rows[f"{a.device} push_events"] == 4 and rows[f"{b.device} pull_events"] == 4
    assert rows[f"{b.device} pull_changes"] == rows[f"{a.device} push_changes"]


def test_names_reach_the_server_only_when_the_clinic_says_so(admin, make_tablet):
    t = make_tablet("names")
    quiet, told = uid("quiet"), uid("told")
    log_session(t, quiet, 1)
    t.sync()
    clinic_server.set_share_names(admin, True)
    try:
        log_session(t, told, 1)
        t.sync()
    finally:
        clinic_server.set_share_names(admin, False)
    fields = lambda c: {r[0]: r[1] for r in admin.execute(  # noqa: E731
        "SELECT field, value FROM pp.changes WHERE entity='clients' AND entity_id=%s", (c,))}
    assert "display_name" not in fields(quiet) and "code" in fields(quiet)
    assert json.loads(fields(told)["display_name"]) == f"Name of {told}"
    assert not any(f"Name of {quiet}" in (r[0] or "") for r in admin.execute("SELECT value FROM pp.changes"))


def test_tls_is_verified_and_plain_connections_refused(pg, make_tablet, tmp_path):
    import psycopg

    t = make_tablet("tls")
    with sync.connect(t.cfg) as conn:
        assert conn.pgconn.ssl_in_use
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=evil",
                    "-keyout", str(tmp_path / "k"), "-out", str(other_ca)], check=True, capture_output=True)
    t.cfg.ca = str(other_ca)
    with pytest.raises(SyncError, match="identity"):
        t.sync()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.device_url(), user=t.device, password=t.token, sslmode="disable")


def test_export_from_the_server_covers_every_tablet(admin, pg, make_tablet, tmp_path):
    a, b, client = shared_client(admin, make_tablet, "ea", "eb", "exp", 6)
    log_session(b, client, 4)
    a.sync(), b.sync()
    out = tmp_path / "all.jsonl"
    r = cli("export", "--server", pg.admin_url, "--client", client, "--format", "jsonl", "--out", str(out))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sum(1 for x in lines if x.get("kind") == "hit") == 10
    html = tmp_path / "all.html"
    r = cli("export", "--server", pg.admin_url, "--client", client, "--format", "html", "--out", str(html))
    assert r.returncode == 0, r.stderr


def test_background_sync_thread_delivers_while_the_app_logs(admin, make_tablet):
    t = make_tablet("bg")
    t.cfg.interval_s = 0.2
    client = uid("bg")
    st = t.store()
    bg = sync.BackgroundSync(t.db, t.cfg).start()
    assert bg.thread.name == "clinic-sync" and bg.thread is not threading.main_thread()
    try:
        s = st.start_session(client, {})
        ids = [st.log(s, LogEvent(kind="hit", data={"i": i})) for i in range(200)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(server_ids(admin, client)) < 200:
            st.log(s, LogEvent(kind="tick"))
            time.sleep(0.05)
    finally:
        bg.stop()
        st.close()
    assert bg.last_error is None, bg.last_error
    assert set(ids) <= set(server_ids(admin, client))


def test_cli_enroll_and_admin_commands(pg, admin, tmp_path):
    r = cli("clinic", "--db", pg.admin_url, "init")
    assert r.returncode == 0 and "up to date" in r.stdout
    r = cli("clinic", "--db", pg.admin_url, "add-device", "Room 3 tablet")
    assert r.returncode == 0, r.stderr
    device = r.stdout.split("device: ")[1].split()[0]
    token = r.stdout.split("token: ")[1].split()[0]
    d = tmp_path / "new-tablet"
    r = cli("--data-dir", str(d), "enroll", "--server", pg.device_url(), "--clinic-token", f"{device}:{token}",
            "--ca", str(pg.ca))
    assert r.returncode == 0, r.stderr
    assert oct((d / "clinic.json").stat().st_mode & 0o777) == "0o600"
    r = cli("--data-dir", str(d), "sync")
    assert r.returncode == 0 and "sync complete" in r.stdout
    assert "Room 3 tablet" in cli("clinic", "--db", pg.admin_url, "devices").stdout
    r = cli("--data-dir", str(tmp_path / "other"), "enroll", "--server", pg.device_url(), "--device", device,
            "--clinic-token", "wrong", "--ca", str(pg.ca))
    assert r.returncode == 1 and "refused" in r.stderr


def test_the_app_syncs_in_the_background_when_enrolled(admin, make_tablet):
    import os

    t = make_tablet("app")
    t.cfg.interval_s = 0.5
    sync.save_clinic(t.dir, t.cfg)
    name = uid("app")
    env = dict(os.environ, SDL_AUDIODRIVER="dummy", SDL_VIDEODRIVER="dummy", PYGAME_HIDE_SUPPORT_PROMPT="1")
    p = subprocess.run([sys.executable, "-m", "prelude_play", "--headless", "--data-dir", str(t.dir),
                        "--audio-backend", "null", "--midi-api", "none", "--client", name, "--activity",
                        "free_play", "--for", "4"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    st = t.store()  # `--client NAME` made a client with a generated id and NAME as its display name
    try:
        (client,) = [c["id"] for c in st.clients() if c["display_name"] == name]
    finally:
        st.close()
    assert len(server_ids(admin, client)) >= 1  # activity_start went up while the app ran
    r = cli("--data-dir", str(t.dir), "sync")  # the rest (logged at the end) in one more round
    assert r.returncode == 0, r.stderr
    assert sorted(server_ids(admin, client)) == sorted(local_ids(t, client))
