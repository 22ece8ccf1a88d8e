"""The shell stays a set of small parts: the App wires them (and stays under 300 lines)."""

from __future__ import annotations

from pathlib import Path

SHELL = Path(__file__).resolve().parents[2] / "prelude_play" / "shell"


def test_app_is_wiring_not_a_god_class():
    lines = (SHELL / "app.py").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 300, f"shell/app.py has {len(lines)} lines: move a responsibility out"


def test_screens_depend_on_the_port_never_on_the_app():
    for name in ("screens.py", "therapist.py", "records.py", "forms.py", "host.py", "rail.py", "stack.py",
                 "actions.py", "navigation.py",
                 "router.py", "loop.py", "lifecycle.py"):
        text = (SHELL / name).read_text(encoding="utf-8")
        assert "shell.app import" not in text, name
