"""The data folder's privacy per OS (prelude_play/os_specific.py): enforced on Linux (and macOS,
the same POSIX code), stated on Windows, where the app cannot enforce it."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from prelude_play.os_specific import make_private_dir


def test_linux_makes_the_folder_owner_only(tmp_path):
    d = tmp_path / "a" / "data"
    assert make_private_dir(d) == []
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    d.chmod(0o755)  # an existing folder that others could read is closed too
    assert make_private_dir(d) == [] and stat.S_IMODE(d.stat().st_mode) == 0o700


def test_a_drive_that_ignores_permissions_gets_a_notice(tmp_path, monkeypatch):
    """FAT/exFAT sticks and some network shares accept chmod and keep their own modes."""
    d = tmp_path / "data"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    monkeypatch.setattr(os, "chmod", lambda *a, **k: None)
    (notice,) = make_private_dir(d)
    assert str(d) in notice and "readable by other accounts" in notice


def test_a_refused_chmod_gets_a_notice(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    (notice,) = make_private_dir(tmp_path / "data")
    assert "Could not make the data folder" in notice and "Operation not permitted" in notice


@pytest.fixture
def windows(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")


@pytest.fixture
def no_chmod(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("chmod protects nothing on Windows: it must not be relied on")

    monkeypatch.setattr(os, "chmod", refuse)


def test_windows_says_privacy_rests_on_the_user_account(tmp_path, windows, no_chmod):
    home = tmp_path / "Users" / "ana"
    d = home / "AppData" / "Local" / "prelude-play"
    (notice,) = make_private_dir(d, home=home)
    assert d.is_dir()
    assert "protected by your Windows user account, not by Prelude Play" in notice


def test_windows_warns_about_a_data_folder_outside_the_profile(tmp_path, windows, no_chmod):
    home = tmp_path / "Users" / "ana"
    notices = make_private_dir(tmp_path / "PreludeData", home=home)
    assert len(notices) == 2 and "outside your user folder" in notices[1]
    assert len(make_private_dir(tmp_path / "Users" / "ana2", home=home)) == 2  # not a prefix match


def test_the_event_log_shows_the_notice(tmp_path, windows):
    """EventLog.notices reach the therapist's notices (shell/therapist.py)."""
    from prelude_play.clock import FakeClock
    from prelude_play.store.eventlog import EventLog

    log = EventLog(tmp_path / "data" / "prelude.db", FakeClock())
    try:
        assert any("Windows user account" in n for n in log.notices)
    finally:
        log.close()
