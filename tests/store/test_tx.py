"""store.tx.immediate: a block's writes land whole or not at all."""

from __future__ import annotations

import sqlite3

import pytest

from prelude_play.store.tx import immediate


@pytest.fixture()
def db(tmp_path):
    con = sqlite3.connect(tmp_path / "t.sqlite", isolation_level=None)
    con.execute("CREATE TABLE t(x INTEGER)")
    yield con
    con.close()


def test_the_block_commits(db):
    with immediate(db):
        db.execute("INSERT INTO t VALUES (1)")
        db.execute("INSERT INTO t VALUES (2)")
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 2


@pytest.mark.parametrize("exc", [ValueError, KeyboardInterrupt])
def test_any_exception_rolls_the_whole_block_back_and_goes_on(db, exc):
    with pytest.raises(exc):
        with immediate(db):
            db.execute("INSERT INTO t VALUES (1)")
            raise exc()
    assert not db.in_transaction
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 0


def test_the_write_lock_is_taken_at_the_start(db, tmp_path):
    """A second writer is refused at once (BEGIN IMMEDIATE), not after the block has read."""
    other = sqlite3.connect(tmp_path / "t.sqlite", isolation_level=None, timeout=0)
    with immediate(db):
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.close()
