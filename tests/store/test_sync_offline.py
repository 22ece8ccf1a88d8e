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


def test_the_therapist_hears_once_when_the_background_sync_fails_and_once_when_it_works_again(tmp_path):
    """The background sync's outcome reaches the therapist's notices (never the client's screen),
    once per change, in the app's language — not once per round."""
    import time

    from prelude_play.errors import SyncError
    from prelude_play.i18n import translator
    from prelude_play.shell.pilot import run_test

    state = {"fail": "connection refused"}

    def fake_round(db_path, cfg, apply_batch):
        if state["fail"]:
            raise SyncError(state["fail"])
        return None

    cfg = sync.ClinicConfig("postgresql://127.0.0.1:1/clinic", "pp_dev_x", "t", interval_s=0.02)
    bg = sync.BackgroundSync(tmp_path / "prelude.db", cfg, sync=fake_round, first_delay_s=0.01)

    def rounds_pass(n: int = 3) -> None:
        start = bg.rounds
        deadline = time.monotonic() + 5
        while bg.rounds < start + n and time.monotonic() < deadline:
            time.sleep(0.01)

    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        app.loop.watch(bg, sync.SYNC_OK, sync.SYNC_FAILED)
        bg.start()
        try:
            rounds_pass()
            pilot.step()
            rounds_pass()
            pilot.step()
            failed = [n for n in app.notices if "did not get through" in n]
            assert failed == [sync.SYNC_FAILED.format(err="connection refused")]  # once, not per round
            state["fail"] = None
            rounds_pass()
            pilot.step()
            rounds_pass()
            pilot.step()
            assert [n for n in app.notices if "works again" in n] == [sync.SYNC_OK]
            assert len([n for n in app.notices if "did not get through" in n]) == 1
        finally:
            bg.stop()
    fr = translator("fr_CA")
    assert fr(sync.SYNC_OK) != sync.SYNC_OK and "{err}" in fr(sync.SYNC_FAILED)
