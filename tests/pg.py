"""A throwaway PostgreSQL cluster for the clinic-sync tests: initdb in a temporary folder, TLS
with a clinic CA made here by openssl, run as an unprivileged user when the tests run as root
(postgres refuses to run as root), on a free TCP port and a private unix socket."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = ("/usr/local/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def pg_bin(name: str) -> str | None:
    for d in BIN_DIRS:
        p = Path(d) / name
        if p.exists():
            return str(p)
    return shutil.which(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(user: str | None, cmd: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def _make_tls(d: Path, user: str | None) -> Path:
    """A clinic CA and a server certificate for localhost / 127.0.0.1, signed by it."""
    def run(*a: str) -> None:
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test clinic CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
        "-out", "server.csr")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
    os.chmod(d / "server.key", 0o600)
    if user:
        pw = pwd.getpwnam(user)
        for f in ("server.key", "server.crt"):
            os.chown(d / f, pw.pw_uid, pw.pw_gid)
    return d / "ca.pem"


@dataclass
class Postgres:
    root: Path
    port: int
    user: str | None
    proc: subprocess.Popen | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sock(self) -> Path:
        return self.root / "sock"

    @property
    def ca(self) -> Path:
        return self.root / "tls" / "ca.pem"

    @property
    def admin_url(self) -> str:
        """The clinic administrator, over the private unix socket (trust: only this user can reach it)."""
        return f"postgresql://postgres@/clinic?host={self.sock}&port={self.port}"

    def device_url(self, port: int | None = None) -> str:
        """Where tablets connect: TCP with TLS verified against the clinic CA."""
        return f"postgresql://localhost:{port or self.port}/clinic"

    def start(self) -> None:
        log = open(self.root / "postgres.log", "ab")
        self.proc = subprocess.Popen(
            _as_user(self.user, [pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port),
                                 "-k", str(self.sock), "-c", "listen_addresses=127.0.0.1",
                                 "-c", "ssl=on", "-c", f"ssl_cert_file={self.root / 'tls' / 'server.crt'}",
                                 "-c", f"ssl_key_file={self.root / 'tls' / 'server.key'}",
                                 "-c", "fsync=on", "-c", "shared_buffers=64MB", "-c", "max_connections=60"]),
            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (self.sock / f".s.PGSQL.{self.port}").exists():
                import psycopg

                try:  # ready means accepting connections (not "starting up" after a crash)
                    with psycopg.connect(f"postgresql://postgres@/postgres?host={self.sock}&port={self.port}",
                                         connect_timeout=2):
                        return
                except psycopg.OperationalError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError((self.root / "postgres.log").read_text()[-2000:])
            time.sleep(0.05)
        raise RuntimeError("postgres did not start in 30 s")

    def kill(self) -> None:
        """SIGKILL to the postmaster and its children: a crash, recovered from WAL at the next start."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        for f in self.sock.glob(".s.PGSQL.*"):
            f.unlink(missing_ok=True)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None


def start_postgres(root: Path) -> Postgres:
    """initdb + start; the database ``clinic`` exists, owned by superuser ``postgres``."""
    initdb = pg_bin("initdb")
    if initdb is None or pg_bin("postgres") is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, postgres) not found: apt-get install postgresql")
    user = "nobody" if os.geteuid() == 0 else None
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("data", "sock", "tls"):
        (root / sub).mkdir(exist_ok=True)
    if user:
        pw = pwd.getpwnam(user)
        for p in (root, root / "data", root / "sock", root / "tls"):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        # every folder above must be traversable by that user
        p = root
        while p != p.parent:
            p = p.parent
            if p.stat().st_mode & 0o001 == 0:
                os.chmod(p, p.stat().st_mode | 0o001)
    _make_tls(root / "tls", user)
    subprocess.run(_as_user(user, [initdb, "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
                                   "--no-sync", "-E", "UTF8", "--locale=C"]),
                   check=True, capture_output=True)
    hba = root / "data" / "pg_hba.conf"
    hba.write_text("local all postgres trust\n"
                   "hostssl clinic all 127.0.0.1/32 scram-sha-256\n"
                   "host all all 0.0.0.0/0 reject\n")
    pg = Postgres(root, free_port(), user)
    pg.start()
    subprocess.run(_as_user(user, [pg_bin("psql") or "psql", "-h", str(pg.sock), "-p", str(pg.port), "-U",
                                   "postgres", "-c", "CREATE DATABASE clinic"]) if pg_bin("psql") else ["true"],
                   check=True, capture_output=True)
    if not pg_bin("psql"):
        import psycopg

        with psycopg.connect(f"postgresql://postgres@/postgres?host={pg.sock}&port={pg.port}", autocommit=True) as c:
            c.execute("CREATE DATABASE clinic")
    return pg
