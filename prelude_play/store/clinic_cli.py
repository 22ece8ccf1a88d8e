"""The clinic's commands: ``enroll``, ``sync``, ``conflicts`` on a tablet; ``clinic …`` for the
administrator (set up the database, make and revoke device credentials, assign clients, export
across tablets); ``export --server`` is the same export made from the server's rows.

Kept out of ``cli.py`` so that file gains one hook only; nothing here is imported unless one of
these commands runs, and only these commands ever open a network connection.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from prelude_play.errors import PreludeError

COMMANDS = ("enroll", "sync", "conflicts", "clinic")


def add_commands(sub: Any) -> None:
    """Add the clinic subcommands to the main parser's subparsers (and ``export --server``)."""
    en = sub.add_parser("enroll", help="join this tablet to the clinic server (credentials from the administrator)")
    en.add_argument("--server", required=True, help="postgresql://HOST:PORT/DATABASE (the device may be in it: DEVICE@HOST)")
    en.add_argument("--device", help="the device name the administrator gave (pp_dev_…)")
    en.add_argument("--clinic-token", required=True,
                    help="the token the administrator's add-device printed (DEVICE:TOKEN, or TOKEN with --device)")
    en.add_argument("--ca", type=Path, help="the clinic's CA certificate (PEM) that signed the server's")
    sy = sub.add_parser("sync", help="one sync round with the clinic server: exit 0 only when all is delivered")
    sy.add_argument("--server", help="this server instead of the enrolled one (postgresql://HOST:PORT/DATABASE)")
    sy.add_argument("--json", action="store_true", help="the round's figures as JSON")
    cf = sub.add_parser("conflicts", help="list record fields edited on two tablets at once; resolve one")
    cf.add_argument("--resolve", type=int, metavar="N", help="resolve conflict number N (as listed)")
    cf.add_argument("--keep", type=int, metavar="V", help="keep version V of it (as listed)")
    cf.add_argument("--value", help="or set this value (JSON)")
    cf.add_argument("--json", action="store_true")
    cl = sub.add_parser("clinic", help="administer the clinic server (run by the clinic administrator)")
    cl.add_argument("--db", required=True, help="the administrator's postgresql:// URL of the clinic database")
    csub = cl.add_subparsers(dest="clinic_command", required=True)
    ini = csub.add_parser("init", help="create or upgrade the clinic schema (versioned migrations)")
    ini.add_argument("--share-names", choices=["yes", "no"], help="send client names to the server (default no: codes only)")
    ad = csub.add_parser("add-device", help="make credentials for one tablet (shown once)")
    ad.add_argument("name")
    rv = csub.add_parser("revoke", help="revoke a tablet: it can no longer push or pull")
    rv.add_argument("device")
    asg = csub.add_parser("assign", help="let a tablet see a client")
    asg.add_argument("device")
    asg.add_argument("client")
    un = csub.add_parser("unassign", help="stop a tablet seeing a client")
    un.add_argument("device")
    un.add_argument("client")
    csub.add_parser("devices", help="list tablets")
    ex = sub.choices.get("export")
    if ex is not None:
        ex.add_argument("--server", help="export from the clinic server (administrator's postgresql:// URL) "
                                         "instead of this tablet: every tablet's sessions")


def handles(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS or (args.command == "export" and getattr(args, "server", None))


def run(args: argparse.Namespace, data_dir: Path) -> int:
    name = args.command
    try:
        if name == "enroll":
            return _enroll(args, data_dir)
        if name == "sync":
            return _sync(args, data_dir)
        if name == "conflicts":
            return _conflicts(args, data_dir)
        if name == "clinic":
            return _clinic(args)
        return _export(args)
    except PreludeError as exc:
        print(f"prelude-play {name}: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"prelude-play {name}: the clinic needs psycopg ({exc}); install prelude-play[clinic]", file=sys.stderr)
        return 2
    except Exception as exc:  # the database refused an administrator's command: say what it said
        if not type(exc).__module__.startswith("psycopg"):
            raise
        print(f"prelude-play {name}: the clinic database refused: {str(exc).strip()}", file=sys.stderr)
        return 1


def _enroll(args: argparse.Namespace, data_dir: Path) -> int:
    from prelude_play.clock import MonotonicClock
    from prelude_play.store import sync
    from prelude_play.store.eventlog import EventLog

    server, device = args.server, args.device
    if "@" in server:  # postgresql://DEVICE@HOST/DB
        scheme, rest = server.split("://", 1)
        device = device or rest.split("@", 1)[0]
        server = f"{scheme}://{rest.split('@', 1)[1]}"
    token = args.clinic_token
    if not device and ":" in token:  # DEVICE:TOKEN, as add-device prints it
        device, token = token.split(":", 1)
    if not device:
        print("prelude-play enroll: give --device (the name the administrator's add-device printed)", file=sys.stderr)
        return 2
    EventLog(data_dir / "prelude.db", MonotonicClock()).close()  # a new tablet: its store first
    ca = str(args.ca.resolve()) if args.ca else None
    hello = sync.enroll(data_dir, sync.ClinicConfig(server, device, token, ca))
    print(f"enrolled as {hello['device']}; {len(hello['clients'])} client(s) assigned. "
          f"Run `prelude-play sync` (the app also syncs by itself while it runs).")
    return 0


def _sync(args: argparse.Namespace, data_dir: Path) -> int:
    from prelude_play.store import sync

    cfg = sync.load_clinic(data_dir)
    if cfg is None:
        print(f"prelude-play sync: this tablet is not enrolled in a clinic ({data_dir / sync.CLINIC_FILE} missing). "
              "Ask the clinic administrator for credentials and run `prelude-play enroll`.", file=sys.stderr)
        return 2
    if args.server:
        cfg.server = args.server
    res = sync.sync_once(data_dir / "prelude.db", cfg)
    print(json.dumps(res.__dict__) if args.json else f"sync complete: {res.line()}")
    if res.conflicts and not args.json:
        print("some records were edited on two tablets at once: `prelude-play conflicts` lists them")
    return 0


def _conflicts(args: argparse.Namespace, data_dir: Path) -> int:
    from prelude_play.store import records, sync

    db = sync.open_db(data_dir / "prelude.db")
    try:
        found = records.conflicts(db)
        if args.resolve is not None:
            if not 1 <= args.resolve <= len(found):
                print(f"prelude-play conflicts: no conflict number {args.resolve} ({len(found)} listed)", file=sys.stderr)
                return 2
            c = found[args.resolve - 1]
            if args.value is not None:
                value = args.value
            elif args.keep is not None and 1 <= args.keep <= len(c.versions):
                value = c.versions[args.keep - 1].value or "null"
            else:
                print("prelude-play conflicts: say which version to keep (--keep V) or give --value", file=sys.stderr)
                return 2
            try:
                json.loads(value)
            except ValueError:
                value = json.dumps(value)  # plain text for a text field
            records.resolve(db, c.entity, c.entity_id, c.field, value)
            print(f"resolved: {c.entity} {c.entity_id} {c.field} = {value} (sent at the next sync)")
            return 0
        if args.json:
            print(json.dumps([c.as_dict() for c in found], ensure_ascii=False, indent=2))
            return 0
        if not found:
            print("no conflicts")
        for i, c in enumerate(found, 1):
            print(f"{i}. {c.entity} {c.entity_id} (client {c.client_id}) {c.field}:")
            for j, v in enumerate(c.as_dict()["versions"], 1):
                shown = " (shown now)" if j == 1 else ""
                print(f"   {j}. {json.dumps(v['value'], ensure_ascii=False)} — from {v['origin']}{shown}")
        return 0
    finally:
        db.close()


def _admin(url: str) -> Any:
    import psycopg

    from prelude_play.errors import SyncError

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise SyncError(f"cannot connect to the clinic database ({str(exc).strip()})") from exc


def _clinic(args: argparse.Namespace) -> int:
    from prelude_play.store import clinic_server as cs

    conn = _admin(args.db)
    try:
        cmd = args.clinic_command
        if cmd == "init":
            applied = cs.migrate(conn)
            if args.share_names:
                cs.set_share_names(conn, args.share_names == "yes")
            print(f"clinic schema version {cs.server_version(conn)}"
                  + (f" (applied {', '.join(map(str, applied))})" if applied else " (up to date)"))
        elif cmd == "add-device":
            role, token = cs.add_device(conn, args.name)
            print(f"device: {role}\ntoken: {token}\n"
                  f"on the tablet: prelude-play enroll --server postgresql://HOST:PORT/DATABASE "
                  f"--clinic-token {role}:{token} --ca clinic-ca.pem")
        elif cmd == "revoke":
            cs.revoke_device(conn, args.device)
            print(f"revoked {args.device}")
        elif cmd == "assign":
            cs.assign(conn, args.device, args.client)
            print(f"{args.client} assigned to {args.device}")
        elif cmd == "unassign":
            cs.unassign(conn, args.device, args.client)
            print(f"{args.client} no longer assigned to {args.device}")
        else:
            for d in cs.devices(conn):
                state = f"revoked {d['revoked']}" if d["revoked"] else "active"
                print(f"{d['role']}  {d['name']}  {state}  {d['clients']} client(s)")
    finally:
        conn.close()
    return 0


def _export(args: argparse.Namespace) -> int:
    from prelude_play.clock import MonotonicClock
    from prelude_play.store.clinic_server import server_store

    with tempfile.TemporaryDirectory(prefix="prelude-clinic-export-") as tmp:
        conn = _admin(args.server)
        try:  # a private temporary store, deleted after the export: memory stays bounded
            store = server_store(conn, MonotonicClock(), client=args.client, path=Path(tmp) / "clinic.db")
        finally:
            conn.close()
        return _export_from(store, args)


def _export_from(store: Any, args: argparse.Namespace) -> int:
    from prelude_play.store import export

    sel = export.Selection(session=args.session, client=args.client, since=args.since, until=args.until,
                           goal=args.goal)
    settings = {"format": args.format, "command": "prelude-play export --server"}
    try:
        if args.format == "html":
            from prelude_play.activity import discover
            from prelude_play.store.report import export_html

            out = export_html(store, args.out, names=args.names, selection=sel, settings=settings,
                              language=args.language, registry=discover())
        else:
            fn = export.export_jsonl if args.format == "jsonl" else export.export_csv
            out = fn(store, args.out, names=args.names, selection=sel, settings=settings)
    finally:
        store.close()
    print(f"wrote {out}")
    return 0
