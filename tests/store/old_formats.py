"""The store's earlier formats, written out literally as old versions of Prelude Play made them,
so migrations are tested against what is really on therapists' tablets (never against today's
schema)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

FORMAT1_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    profile TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(id),
    started TEXT NOT NULL,
    ended TEXT,
    plan TEXT,
    provenance TEXT NOT NULL DEFAULT '{}',
    notes TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    client_id TEXT NOT NULL,
    activity TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL,
    device TEXT NOT NULL,
    t_ms REAL NOT NULL,
    wall TEXT NOT NULL,
    goals TEXT NOT NULL,
    prompt TEXT,
    outcome TEXT,
    data TEXT NOT NULL,
    corrects INTEGER REFERENCES events(id)
);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id);
CREATE INDEX IF NOT EXISTS events_client ON events(client_id);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: log a correction instead'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: log a correction instead'); END;
"""

FORMAT2_EXTRA = """
ALTER TABLE sessions ADD COLUMN summary TEXT NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS plans (id TEXT PRIMARY KEY, client_id TEXT, name TEXT NOT NULL,
 steps TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL, archived INTEGER NOT NULL DEFAULT 0);
"""


def make_store(path: Path, version: int) -> sqlite3.Connection:
    """An empty store of format 1 or 2 (an open connection: add rows, then commit and close)."""
    con = sqlite3.connect(path)
    con.executescript(FORMAT1_SCHEMA)
    if version >= 2:
        con.executescript(FORMAT2_EXTRA)
    con.execute("PRAGMA application_id=0x50504C59")
    con.execute(f"PRAGMA user_version={version}")
    return con
