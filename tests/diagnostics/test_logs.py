"""The log file (rotating, private), the crash reports and the native crash file."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

from prelude_play.diagnostics import logs

ROOT = Path(__file__).resolve().parents[2]


def test_log_file_is_private_and_rotates(tmp_path, capsys):
    path = logs.setup_logging(tmp_path / "log")
    try:
        assert path == tmp_path / "log" / logs.LOG_NAME
        logging.getLogger("prelude_play.test").warning("a device went away")
        for _ in range(3000):
            logging.getLogger("prelude_play.test").info("x" * 500)
        assert "prelude-play: a device went away" in capsys.readouterr().err  # warnings reach a terminal
        assert stat.S_IMODE((tmp_path / "log").stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert (tmp_path / "log" / f"{logs.LOG_NAME}.1").exists()  # rotated at 1 MB
        assert len(list((tmp_path / "log").glob(logs.LOG_NAME + "*"))) <= logs.BACKUPS + 1
    finally:
        logs.setup_logging(tmp_path / "log2")


def test_crash_hook_keeps_the_session_safe_and_says_where_the_report_is(tmp_path, capsys):
    logs.setup_logging(tmp_path)
    guard = logs.install_crash_guard(tmp_path)
    closed = []
    guard.on_crash.append(lambda: closed.append("store"))
    try:
        try:
            raise RuntimeError("the frame loop broke")
        except RuntimeError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        (report,) = guard.report_paths
        assert closed == ["store"]
        assert "RuntimeError: the frame loop broke" in report.read_text()
        assert stat.S_IMODE(report.stat().st_mode) == 0o600
        err = capsys.readouterr().err
        assert str(report) in err and "support-bundle" in err and "saved" in err
        t = threading.Thread(target=lambda: 1 / 0, name="analyzer")
        t.start()
        t.join()
        assert len(guard.report_paths) == 2 and "ZeroDivisionError" in guard.report_paths[1].read_text()
        assert closed == ["store"]  # a worker's death does not close the store under the app
    finally:
        logs.uninstall_crash_guard(guard)
    assert sys.excepthook is sys.__excepthook__
    assert not (tmp_path / logs.NATIVE_CRASH_NAME).exists()  # empty: removed


def test_a_native_crash_leaves_its_stack_in_the_log_folder(tmp_path):
    """A segfault (as a bug in the ctypes core would be) writes the Python stacks to the crash file;
    the next start keeps it under its time and logs where it is."""
    code = ("import ctypes, pathlib; from prelude_play.diagnostics import logs;"
            f"logs.install_crash_guard(pathlib.Path({str(tmp_path)!r})); ctypes.string_at(0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode != 0
    text = (tmp_path / logs.NATIVE_CRASH_NAME).read_text()
    assert "Segmentation fault" in text and "string_at" in text
    logs.setup_logging(tmp_path)
    guard = logs.install_crash_guard(tmp_path)
    logs.uninstall_crash_guard(guard)
    (kept,) = tmp_path.glob("native-crash-*.log")
    assert "Segmentation fault" in kept.read_text()
    assert "native crash" in (tmp_path / logs.LOG_NAME).read_text()


def test_the_next_start_keeps_the_audio_process_native_crash_report_too(tmp_path):
    (tmp_path / logs.AUDIO_CRASH_NAME).write_text("Fatal Python error: Segmentation fault\n")
    guard = logs.install_crash_guard(tmp_path)
    logs.uninstall_crash_guard(guard)
    (kept,) = tmp_path.glob("native-crash-audio-*.log")
    assert "Segmentation fault" in kept.read_text() and not (tmp_path / logs.AUDIO_CRASH_NAME).exists()


def test_the_app_writes_its_log_where_the_platform_keeps_logs(tmp_path):
    env = dict(os.environ, PRELUDE_PLAY_LOG_DIR=str(tmp_path / "logs"))
    r = subprocess.run([sys.executable, "-m", "prelude_play", "--headless", "--for", "0.3", "--data-dir",
                        str(tmp_path / "data"), "--audio-backend", "null", "--midi-api", "none"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "starting" in (tmp_path / "logs" / logs.LOG_NAME).read_text()
    assert not (tmp_path / "logs" / logs.NATIVE_CRASH_NAME).exists()
    assert logs.default_log_dir() == Path(os.environ["PRELUDE_PLAY_LOG_DIR"])  # tests: a temp folder


def test_a_crash_in_the_app_keeps_what_was_logged_and_says_where_the_report_is(tmp_path, monkeypatch, capsys):
    from prelude_play.cli import main
    from prelude_play.clock import FakeClock
    from prelude_play.shell.app import App
    from prelude_play.store.eventlog import EventLog

    def broken_run(self, **kw):
        raise RuntimeError("a bug in the frame loop")

    monkeypatch.setenv("PRELUDE_PLAY_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(App, "run", broken_run)
    rc = main(["--headless", "--data-dir", str(tmp_path / "data"), "--audio-backend", "null", "--midi-api", "none",
               "--client", "kid", "--activity", "free_play"])
    assert rc == 70
    err = capsys.readouterr().err
    (report,) = (tmp_path / "logs").glob("crash-*.txt")
    assert str(report) in err and "a bug in the frame loop" in report.read_text()
    log = EventLog(tmp_path / "data" / "prelude.db", FakeClock())  # closed cleanly: opens, events there
    assert [e.kind for e in log.events()][:1] == ["activity_start"]
    log.close()
