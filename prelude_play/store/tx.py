"""One write transaction on a SQLite connection opened in autocommit mode (isolation_level None).

Why a helper: the store's writes that must land whole (migrations, a client's deletion, the
sync outbox, a resolved conflict, a pulled chunk) all take the write lock up front with
``BEGIN IMMEDIATE`` -- so a second writer waits at the start, not half-way -- commit, and roll
back on *any* exception, KeyboardInterrupt included, before letting it go on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``with immediate(db): ...`` commits what the block wrote, or none of it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
