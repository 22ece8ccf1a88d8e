"""A tablet enrolled in a clinic whose server cannot be reached: ``sync`` says what to do, exits
non-zero, and keeps everything in the outbox."""

from __future__ import annotations

import socket

import pytest

from prelude_play.cli import main
from prelude_play.clock import FakeClock
from prelude_play.events import LogEvent
from prelude_play.store import sync
from prelude_play.store.eventlog import EventLog


def test_unreachable_server_exits_non_zero_with_a_message_and_keeps_the_outbox(tmp_path, capsys):
    pytest.importorskip("psycopg")
    st = EventLog(tmp_path / "prelude.db", FakeClock())
    s = st.start_session("c1", {})
    st.log(s, LogEvent(kind="hit"))
    st.close()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sync.save_clinic(tmp_path, sync.ClinicConfig(f"postgresql://127.0.0.1:{port}/clinic", "pp_dev_x", "t",
                                                 connect_timeout_s=2))
    assert oct((tmp_path / "clinic.json").stat().st_mode & 0o777) == "0o600"
    assert main(["--data-dir", str(tmp_path), "sync"]) == 1
    err = capsys.readouterr().err
    assert "could not finish the sync" in err and "stays on this tablet" in err and "Traceback" not in err
    db = sync.open_db(tmp_path / "prelude.db")
    assert sync.outbox(db) == (2, 1)  # the client and the session (noted, not yet sent), the event
    db.close()


def test_sync_without_enrolment_says_how_to_enroll(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "sync"]) == 2
    assert "prelude-play enroll" in capsys.readouterr().err
