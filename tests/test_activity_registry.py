"""Activities load from the activities/ package; a broken one is named and the others still load."""

from __future__ import annotations

import sys
import textwrap

import pytest

from prelude_play.activity import Activity, ActivityContext, discover
from prelude_play.clock import FakeClock
from prelude_play.config import resource_dir
from prelude_play.goals import parse_goals


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    pkg = tmp_path / "fakeacts"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "good").mkdir()
    (pkg / "good" / "__init__.py").write_text(textwrap.dedent("""
        from prelude_play.activity import Activity
        class Good(Activity):
            name = "good"; title = "Good"; goals = ("musical",); settings = {"speed": 1, "size": 2}
        ACTIVITY = Good
    """))
    (pkg / "good" / "defaults.toml").write_text("speed = 3\n")
    (pkg / "broken").mkdir()
    (pkg / "broken" / "__init__.py").write_text("x = 1\nimport this_module_does_not_exist\n")
    (pkg / "badgoal.py").write_text(textwrap.dedent("""
        from prelude_play.activity import Activity
        class B(Activity):
            name = "badgoal"; goals = ("flying",)
    """))
    (pkg / "noclass.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "fakeacts"
    for m in [m for m in sys.modules if m.startswith("fakeacts")]:
        del sys.modules[m]


def test_broken_modules_are_named_and_others_load(fake_package):
    goals, _ = parse_goals(resource_dir("config") / "goals.toml")
    reg = discover(fake_package, entry_points=False, known_goals=goals.is_known)
    assert reg.names() == ["good"]
    errors = {e.activity: str(e) for e in reg.errors}
    assert "ModuleNotFoundError" in errors["broken"] and "line 2" in errors["broken"]
    assert "flying" in errors["badgoal"]
    assert "no Activity subclass" in errors["noclass"]
    entry = reg.get("good")
    assert entry.defaults == {"speed": 3, "size": 2}  # defaults.toml over class defaults
    assert entry.create({"size": 5}).config == {"speed": 3, "size": 5}


def test_builtin_activities_load_cleanly():
    goals, _ = parse_goals(resource_dir("config") / "goals.toml")
    reg = discover(known_goals=goals.is_known)
    assert "free_play" in reg.names()
    assert reg.errors == [], [str(e) for e in reg.errors]


def test_context_log_adds_activity_and_client_goals():
    logged = []
    ctx = ActivityContext(clock=FakeClock(), activity_name="x", goals=("speech_communication", "musical"),
                          settings={}, log_sink=lambda ev: logged.append(ev) or len(logged),
                          client={"goals": [{"id": "g1", "area": "speech_communication", "text": "3 vowels"}]})
    assert ctx.log("attempt", data={"v": "ah"}) == 1
    assert logged[0].goals == ("speech_communication", "musical", "client:g1")
    ctx.log("hit", goals=("musical",))
    assert logged[1].goals == ("musical",)
