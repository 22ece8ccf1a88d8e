"""One simulated tablet as its own process: runs sessions for its clients, logging events and
editing notes, and syncs with the clinic every few events (failures are counted, never fatal:
the tablet works offline). Prints a JSON line per sync attempt, and one at the end: what it
logged and how syncs went.

python -m tests.store.clinic.tablet DATA_DIR --clients a,b --sessions 3 --events 40 --sync-every 20
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prelude_play.clock import MonotonicClock
from prelude_play.errors import SyncError
from prelude_play.events import LogEvent
from prelude_play.store import sync
from prelude_play.store.eventlog import EventLog


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("data_dir", type=Path)
    p.add_argument("--clients", required=True)
    p.add_argument("--sessions", type=int, default=2)
    p.add_argument("--events", type=int, default=30)
    p.add_argument("--sync-every", type=int, default=20)
    a = p.parse_args(argv)
    cfg = sync.load_clinic(a.data_dir)
    store = EventLog(a.data_dir / "prelude.db", MonotonicClock())
    ok = failed = logged = 0
    ids: list[str] = []
    for cid in a.clients.split(","):
        for s_i in range(a.sessions):
            s = store.start_session(cid, {"tablet": str(a.data_dir.name)})
            for e_i in range(a.events):
                ids.append(store.log(s, LogEvent(kind="hit", data={"i": e_i, "tablet": a.data_dir.name})))
                logged += 1
                if logged % a.sync_every == 0:
                    try:
                        sync.sync_once(a.data_dir / "prelude.db", cfg)
                        ok += 1
                        print(json.dumps({"sync": "ok"}), flush=True)
                    except SyncError:
                        failed += 1
                        print(json.dumps({"sync": "failed"}), flush=True)
            store.end_session(s, notes=f"{a.data_dir.name} session {s_i}")
    store.close()
    print(json.dumps({"logged": logged, "ok": ok, "failed": failed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
