"""A real PostgreSQL for the clinic tests: one throwaway cluster per test session (TLS with a
clinic CA made here), the clinic schema migrated, and helpers to enroll tablets."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

_n = itertools.count()


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    psycopg = pytest.importorskip("psycopg", reason="psycopg not installed: pip install -e '.[test]'")
    from tests.pg import pg_bin, start_postgres

    if pg_bin("initdb") is None or pg_bin("postgres") is None:
        pytest.skip("PostgreSQL server binaries not found: apt-get install postgresql (real-stack test)")
    # not under pytest's temporary root: pytest keeps that 0700, and postgres runs as another user
    root = Path(tempfile.mkdtemp(prefix="prelude-clinic-pg-"))
    server = start_postgres(root / "pg")
    from prelude_play.store import clinic_server

    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        clinic_server.migrate(conn)
    yield server
    server.kill()  # throwaway: no need to wait for a clean shutdown
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def admin(pg):
    import psycopg

    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        yield conn


@dataclass
class Tablet:
    name: str
    dir: Path
    device: str
    token: str
    cfg: object

    @property
    def db(self) -> Path:
        return self.dir / "prelude.db"

    def store(self):
        from prelude_play.clock import MonotonicClock
        from prelude_play.store.eventlog import EventLog

        return EventLog(self.db, MonotonicClock())

    def sync(self, **kw):
        from prelude_play.store import sync

        return sync.sync_once(self.db, self.cfg, **kw)


@pytest.fixture
def make_tablet(pg, admin, tmp_path):
    """make_tablet(name, port=None): a new data folder enrolled as a new device (via a port: a proxy)."""
    from prelude_play.store import clinic_server, sync

    def make(name: str, port: int | None = None, batch: int = 2000) -> Tablet:
        role, token = clinic_server.add_device(admin, f"{name} {next(_n)}")
        d = tmp_path / name
        d.mkdir()
        from prelude_play.clock import MonotonicClock
        from prelude_play.store.eventlog import EventLog

        EventLog(d / "prelude.db", MonotonicClock()).close()
        cfg = sync.ClinicConfig(pg.device_url(port), role, token, str(pg.ca), batch=batch)
        sync.enroll(d, cfg)
        return Tablet(name, d, role, token, cfg)

    return make
