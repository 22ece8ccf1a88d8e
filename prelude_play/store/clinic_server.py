"""The clinic server: PostgreSQL itself, no service of ours in front of it.

Tablets connect to PostgreSQL directly (psycopg 3, TLS verified against the clinic's CA), each
as its own PostgreSQL role made when the tablet is enrolled. A device role owns nothing and may
read or write no table: all it can do is call the few ``SECURITY DEFINER`` functions below
(``pp.hello``, ``pp.push_changes``, ``pp.push_events``, ``pp.pull_changes``, ``pp.pull_events``).
Each of them, in the same transaction as its work, checks that the device is not revoked, keeps
to the clients assigned to the device, and writes the audit rows — so no path around the audit
or the assignment exists, and there is no home-made server to run, secure or keep up.

Events are append-only here too (a trigger; only a purge, marked in its transaction, deletes).
Delivery is idempotent (the event's and change's global id is the primary key, ``ON CONFLICT DO
NOTHING``). Pushes take one advisory lock, so ``server_seq`` grows in commit order and a pull
cursor can never step over a row that commits later.

The schema is versioned: ``MIGRATIONS`` (pp.schema_version), applied by ``migrate``.
"""

from __future__ import annotations

import secrets
from typing import Any

SCHEMA = "pp"
DEVICE_GROUP = "pp_device"

_V1 = r"""
CREATE SCHEMA IF NOT EXISTS pp;
REVOKE ALL ON SCHEMA pp FROM PUBLIC;
CREATE TABLE pp.settings (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO pp.settings VALUES ('share_names', 'false');
CREATE TABLE pp.devices (
    role text PRIMARY KEY, name text NOT NULL, created timestamptz NOT NULL DEFAULT now(),
    revoked timestamptz, tablet_id text);
CREATE TABLE pp.clients (
    id text PRIMARY KEY, created_by text NOT NULL, created timestamptz NOT NULL DEFAULT now(),
    purged timestamptz);
CREATE TABLE pp.assignments (
    device text NOT NULL REFERENCES pp.devices(role), client_id text NOT NULL REFERENCES pp.clients(id),
    PRIMARY KEY (device, client_id));
CREATE TABLE pp.events (
    id text PRIMARY KEY, server_seq bigint NOT NULL UNIQUE, origin text NOT NULL, origin_seq bigint NOT NULL,
    session_id text NOT NULL, client_id text NOT NULL, activity text NOT NULL, kind text NOT NULL,
    actor text NOT NULL, source text NOT NULL, device text NOT NULL, t_ms double precision NOT NULL,
    wall text NOT NULL, goals text NOT NULL, prompt text, outcome text, data text NOT NULL,
    corrects text, trial_id text, received timestamptz NOT NULL DEFAULT now());
CREATE INDEX events_client_seq ON pp.events(client_id, server_seq);
CREATE INDEX events_session ON pp.events(session_id);
CREATE TABLE pp.changes (
    id text PRIMARY KEY, server_seq bigint NOT NULL UNIQUE, origin text NOT NULL, entity text NOT NULL,
    entity_id text NOT NULL, client_id text NOT NULL, field text NOT NULL, value text, hlc bigint NOT NULL,
    supersedes text NOT NULL, received timestamptz NOT NULL DEFAULT now());
CREATE INDEX changes_client_seq ON pp.changes(client_id, server_seq);
CREATE SEQUENCE pp.feed;
CREATE TABLE pp.audit (
    n bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), device text NOT NULL,
    action text NOT NULL, client_id text, rows integer NOT NULL);

CREATE FUNCTION pp.no_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('pp.purging', true) = OLD.client_id THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'pp.%: rows are append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON pp.events
    FOR EACH ROW EXECUTE FUNCTION pp.no_change();
CREATE TRIGGER changes_append_only BEFORE UPDATE OR DELETE ON pp.changes
    FOR EACH ROW EXECUTE FUNCTION pp.no_change();
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON pp.audit
    FOR EACH ROW EXECUTE FUNCTION pp.no_change();

-- the calling device (its login role), refused when unknown or revoked
CREATE FUNCTION pp.me() RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pp, pg_temp AS $$
DECLARE d pp.devices;
BEGIN
    SELECT * INTO d FROM pp.devices WHERE role = session_user;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'not an enrolled device: %', session_user USING ERRCODE = '42501';
    END IF;
    IF d.revoked IS NOT NULL THEN
        RAISE EXCEPTION 'device % was revoked on %', d.name, d.revoked USING ERRCODE = '42501';
    END IF;
    RETURN d.role;
END $$;

CREATE FUNCTION pp.hello(tablet text) RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pp, pg_temp AS $$
DECLARE dev text := pp.me(); tid text;
BEGIN
    SELECT tablet_id INTO tid FROM pp.devices WHERE role = dev;
    IF tid IS NULL THEN
        UPDATE pp.devices SET tablet_id = tablet WHERE role = dev;
    ELSIF tid <> tablet THEN
        RAISE EXCEPTION 'these device credentials belong to another tablet (store %)', tid USING ERRCODE = '42501';
    END IF;
    INSERT INTO pp.audit(device, action, client_id, rows) VALUES (dev, 'hello', NULL, 0);
    RETURN jsonb_build_object(
        'device', dev,
        'share_names', (SELECT value FROM pp.settings WHERE key = 'share_names') = 'true',
        'clients', (SELECT coalesce(jsonb_agg(client_id ORDER BY client_id), '[]') FROM pp.assignments
                    WHERE device = dev));
END $$;

-- may this device write for this client? New clients are created and assigned to it.
CREATE FUNCTION pp.writable(dev text, cid text) RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pp, pg_temp AS $$
DECLARE c pp.clients;
BEGIN
    IF cid = '*' THEN RETURN true; END IF;
    SELECT * INTO c FROM pp.clients WHERE id = cid;
    IF NOT FOUND THEN
        INSERT INTO pp.clients(id, created_by) VALUES (cid, dev);
        INSERT INTO pp.assignments(device, client_id) VALUES (dev, cid);
        RETURN true;
    END IF;
    IF c.purged IS NOT NULL THEN RETURN false; END IF;  -- acknowledged, dropped
    IF NOT EXISTS (SELECT 1 FROM pp.assignments WHERE device = dev AND client_id = cid) THEN
        RAISE EXCEPTION 'client % is not assigned to this device', cid USING ERRCODE = '42501';
    END IF;
    RETURN true;
END $$;

CREATE FUNCTION pp.push_changes(batch jsonb) RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pp, pg_temp AS $$
DECLARE dev text := pp.me(); n integer := 0; r record; k integer;
BEGIN
    PERFORM pg_advisory_xact_lock(1919);
    FOR r IN SELECT * FROM jsonb_to_recordset(batch) AS x(id text, entity text, entity_id text, client_id text,
             field text, value text, hlc bigint, supersedes jsonb) LOOP
        IF NOT pp.writable(dev, r.client_id) THEN CONTINUE; END IF;
        INSERT INTO pp.changes(id, server_seq, origin, entity, entity_id, client_id, field, value, hlc, supersedes)
        VALUES (r.id, nextval('pp.feed'), dev, r.entity, r.entity_id, r.client_id, r.field, r.value, r.hlc,
                r.supersedes::text)
        ON CONFLICT (id) DO NOTHING;
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
        IF k = 1 AND r.field = '_purge' THEN  -- the client's data leaves the server; the purge stays
            PERFORM set_config('pp.purging', r.client_id, true);
            DELETE FROM pp.events WHERE client_id = r.client_id;
            DELETE FROM pp.changes WHERE client_id = r.client_id AND id <> r.id;
            PERFORM set_config('pp.purging', '', true);
            UPDATE pp.clients SET purged = now() WHERE id = r.client_id;
        END IF;
    END LOOP;
    INSERT INTO pp.audit(device, action, client_id, rows)
        SELECT dev, 'push_changes', x.client_id, count(*) FROM jsonb_to_recordset(batch) AS x(client_id text)
        GROUP BY x.client_id;
    RETURN n;
END $$;

CREATE FUNCTION pp.push_events(batch jsonb) RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pp, pg_temp AS $$
DECLARE dev text := pp.me(); n integer; cid text; dropped text[] := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(1919);
    FOR cid IN SELECT DISTINCT x.client_id FROM jsonb_to_recordset(batch) AS x(client_id text) LOOP
        IF NOT pp.writable(dev, cid) THEN dropped := dropped || cid; END IF;
    END LOOP;
    WITH rows AS (
        SELECT * FROM jsonb_to_recordset(batch) AS x(seq bigint, id text, session_id text, client_id text,
            activity text, kind text, actor text, source text, device text, t_ms double precision, wall text,
            goals text, prompt text, outcome text, data text, corrects text, trial_id text)
        WHERE NOT x.client_id = ANY(dropped) ORDER BY x.seq)
    INSERT INTO pp.events(id, server_seq, origin, origin_seq, session_id, client_id, activity, kind, actor, source,
                          device, t_ms, wall, goals, prompt, outcome, data, corrects, trial_id)
    SELECT id, nextval('pp.feed'), dev, seq, session_id, client_id, activity, kind, actor, source, device, t_ms,
           wall, goals, prompt, outcome, data, corrects, trial_id FROM rows
    ON CONFLICT (id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO pp.audit(device, action, client_id, rows)
        SELECT dev, 'push_events', x.client_id, count(*) FROM jsonb_to_recordset(batch) AS x(client_id text)
        GROUP BY x.client_id;
    RETURN n;
END $$;

-- Other devices' changes for the clients assigned to this one (and shared plans), after each
-- client's cursor, in server order. 'high': every row up to it was returned. One statement, so
-- one snapshot: the rows, 'high' and the client list agree (a later snapshot could count rows
-- committed after the rows were picked, and a cursor would step over them).
CREATE FUNCTION pp.pull_changes(cursors jsonb, lim integer) RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pp, pg_temp AS $$
DECLARE dev text := pp.me(); res jsonb;
BEGIN
    WITH mine AS (SELECT client_id FROM pp.assignments WHERE device = dev UNION ALL SELECT '*'),
    picked AS (
        SELECT c.* FROM mine m, LATERAL (
            SELECT * FROM pp.changes x WHERE x.client_id = m.client_id AND x.origin <> dev
              AND x.server_seq > coalesce((cursors ->> m.client_id)::bigint, 0)
            ORDER BY x.server_seq LIMIT lim) c
        ORDER BY c.server_seq LIMIT lim),
    agg AS (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'origin', origin, 'entity', entity,
                'entity_id', entity_id, 'client_id', client_id, 'field', field, 'value', value, 'hlc', hlc,
                'supersedes', supersedes, 'seq', server_seq) ORDER BY server_seq), '[]') AS rows,
                count(*) AS cnt, max(server_seq) AS mx FROM picked),
    top AS (SELECT coalesce(greatest((SELECT max(server_seq) FROM pp.changes),
                                     (SELECT max(server_seq) FROM pp.events)), 0) AS t)
    SELECT jsonb_build_object('rows', agg.rows, 'high', CASE WHEN agg.cnt < lim THEN top.t ELSE agg.mx END,
                              'clients', (SELECT coalesce(jsonb_agg(client_id), '[]') FROM mine WHERE client_id <> '*'))
      INTO res FROM agg, top;
    INSERT INTO pp.audit(device, action, client_id, rows)
        SELECT dev, 'pull_changes', r ->> 'client_id', count(*) FROM jsonb_array_elements(res -> 'rows') r GROUP BY 3;
    RETURN res;
END $$;

CREATE FUNCTION pp.pull_events(cursors jsonb, lim integer) RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pp, pg_temp AS $$
DECLARE dev text := pp.me(); res jsonb;
BEGIN
    WITH mine AS (SELECT client_id FROM pp.assignments WHERE device = dev),
    picked AS (
        SELECT e.* FROM mine m, LATERAL (
            SELECT * FROM pp.events x WHERE x.client_id = m.client_id AND x.origin <> dev
              AND x.server_seq > coalesce((cursors ->> m.client_id)::bigint, 0)
            ORDER BY x.server_seq LIMIT lim) e
        ORDER BY e.server_seq LIMIT lim),
    agg AS (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'session_id', session_id, 'client_id', client_id,
                'activity', activity, 'kind', kind, 'actor', actor, 'source', source, 'device', device,
                't_ms', t_ms, 'wall', wall, 'goals', goals, 'prompt', prompt, 'outcome', outcome, 'data', data,
                'corrects', corrects, 'trial_id', trial_id, 'seq', server_seq) ORDER BY server_seq), '[]') AS rows,
                count(*) AS cnt, max(server_seq) AS mx FROM picked),
    top AS (SELECT coalesce(greatest((SELECT max(server_seq) FROM pp.changes),
                                     (SELECT max(server_seq) FROM pp.events)), 0) AS t)
    SELECT jsonb_build_object('rows', agg.rows, 'high', CASE WHEN agg.cnt < lim THEN top.t ELSE agg.mx END,
                              'clients', (SELECT coalesce(jsonb_agg(client_id), '[]') FROM mine))
      INTO res FROM agg, top;
    INSERT INTO pp.audit(device, action, client_id, rows)
        SELECT dev, 'pull_events', r ->> 'client_id', count(*) FROM jsonb_array_elements(res -> 'rows') r GROUP BY 3;
    RETURN res;
END $$;

DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pp_device') THEN
        CREATE ROLE pp_device NOLOGIN;
    END IF;
END $$;
REVOKE ALL ON ALL TABLES IN SCHEMA pp FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA pp FROM PUBLIC;
GRANT USAGE ON SCHEMA pp TO pp_device;
GRANT EXECUTE ON FUNCTION pp.hello(text), pp.push_changes(jsonb), pp.push_events(jsonb),
    pp.pull_changes(jsonb, integer), pp.pull_events(jsonb, integer) TO pp_device;
"""

# version -> SQL that brings the server from version-1 to it. Never edit a released step: add one.
MIGRATIONS: dict[int, str] = {1: _V1}
SCHEMA_VERSION = max(MIGRATIONS)


def server_version(conn: Any) -> int:
    """The clinic database's schema version (0: never set up)."""
    row = conn.execute("SELECT to_regclass('pp.schema_version')").fetchone()
    if row[0] is None:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM pp.schema_version").fetchone()[0]


def migrate(conn: Any) -> list[int]:
    """Apply the missing steps, each in its own transaction under a lock; returns those applied."""
    from prelude_play.errors import SyncError

    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(1918)")
        current = server_version(conn)
        if current > SCHEMA_VERSION:
            raise SyncError(f"the clinic database is schema version {current}; this Prelude Play knows "
                            f"{SCHEMA_VERSION}. Update Prelude Play on this machine.")
        for v in sorted(MIGRATIONS):
            if v <= current:
                continue
            conn.execute(MIGRATIONS[v])
            if v == 1:
                conn.execute("CREATE TABLE pp.schema_version (version integer PRIMARY KEY,"
                             " applied timestamptz NOT NULL DEFAULT now())")
            conn.execute("INSERT INTO pp.schema_version(version) VALUES (%s)", (v,))
            applied.append(v)
    return applied


def set_share_names(conn: Any, share: bool) -> None:
    with conn.transaction():
        conn.execute("UPDATE pp.settings SET value=%s WHERE key='share_names'", ("true" if share else "false",))


def add_device(conn: Any, name: str) -> tuple[str, str]:
    """A PostgreSQL role for one tablet; returns (role, token). The token is shown once."""
    from psycopg import sql

    role = "pp_dev_" + secrets.token_hex(4)
    token = secrets.token_urlsafe(24)
    with conn.transaction():
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pp_device").format(
            sql.Identifier(role), sql.Literal(token)))
        conn.execute("INSERT INTO pp.devices(role, name) VALUES (%s, %s)", (role, name))
    return role, token


def revoke_device(conn: Any, role: str) -> None:
    """From now on the device can neither log in nor call anything; its open connections end."""
    from psycopg import sql

    from prelude_play.errors import SyncError

    with conn.transaction():
        cur = conn.execute("UPDATE pp.devices SET revoked=now() WHERE role=%s AND revoked IS NULL", (role,))
        if cur.rowcount == 0 and conn.execute("SELECT 1 FROM pp.devices WHERE role=%s", (role,)).fetchone() is None:
            raise SyncError(f"no device {role!r} (prelude-play clinic devices lists them)")
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename=%s", (role,))


def assign(conn: Any, role: str, client_id: str) -> None:
    """Let a device see (and write for) a client that another device created."""
    with conn.transaction():
        conn.execute("INSERT INTO pp.clients(id, created_by) VALUES (%s, 'admin') ON CONFLICT DO NOTHING", (client_id,))
        conn.execute("INSERT INTO pp.assignments(device, client_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     (role, client_id))


def unassign(conn: Any, role: str, client_id: str) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM pp.assignments WHERE device=%s AND client_id=%s", (role, client_id))


def devices(conn: Any) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT d.role, d.name, d.created, d.revoked, count(a.client_id) FROM pp.devices d"
                        " LEFT JOIN pp.assignments a ON a.device = d.role GROUP BY d.role ORDER BY d.created").fetchall()
    return [{"role": r[0], "name": r[1], "created": r[2].isoformat(), "revoked": r[3].isoformat() if r[3] else None,
             "clients": r[4]} for r in rows]


def server_store(conn: Any, clock: Any, *, client: str | None = None, batch: int = 5000,
                 path: Any = ":memory:") -> Any:
    """The clinic's records and events as an event store (in memory, or at ``path``: a private
    temporary file keeps memory bounded for a whole-clinic export), so every exporter and report
    made for a tablet works unchanged across tablets. ``client`` (id or code) loads only that
    client's rows. Rows are read in batches through a server-side cursor."""
    import json as _json

    from prelude_play.store import records
    from prelude_play.store.eventlog import EventLog
    from prelude_play.store.sync import apply_events

    store = EventLog(path, clock)
    records.ensure_sync_schema(store.db)
    where, args = "", ()
    if client:
        row = conn.execute("SELECT client_id FROM pp.changes WHERE (client_id=%s) OR (entity='clients' AND"
                           " field='code' AND value=%s) LIMIT 1", (client, _json.dumps(client))).fetchone()
        where, args = " WHERE client_id = %s", (row[0] if row else client,)
    with conn.transaction():
        with conn.cursor(name="pp_changes") as cur:
            cur.itersize = batch
            cur.execute("SELECT id, origin, entity, entity_id, client_id, field, value, hlc, supersedes"
                        f" FROM pp.changes{where} ORDER BY server_seq", args)
            while rows := cur.fetchmany(batch):
                store.db.execute("BEGIN")
                records.apply_remote(store.db, (records.Change(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                                                               tuple(_json.loads(r[8]))) for r in rows))
                store.db.execute("COMMIT")
    cols = ("id", "session_id", "client_id", "activity", "kind", "actor", "source", "device", "t_ms", "wall",
            "goals", "prompt", "outcome", "data", "corrects", "trial_id")
    with conn.transaction():
        with conn.cursor(name="pp_events") as cur:
            cur.itersize = batch
            cur.execute(f"SELECT {', '.join(cols)} FROM pp.events{where} ORDER BY server_seq", args)
            while rows := cur.fetchmany(batch):
                store.db.execute("BEGIN")
                apply_events(store.db, [dict(zip(cols, r)) for r in rows])
                store.db.execute("COMMIT")
    return store
