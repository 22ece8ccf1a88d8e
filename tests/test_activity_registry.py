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


def test_context_tags_events_with_the_targeted_goals_and_the_areas_never_guessed_goals():
    logged = []
    targets = ["client:g2"]
    ctx = ActivityContext(clock=FakeClock(), activity_name="x", goals=("speech_communication", "musical"),
                          settings={}, log_sink=lambda ev: logged.append(ev) or f"e{len(logged)}",
                          client={"goals": [{"id": "g1", "area": "speech_communication", "text": "3 vowels"},
                                            {"id": "g2", "area": "social", "text": "greets"}]},
                          targets=lambda: tuple(targets))
    assert ctx.log("attempt", data={"v": "ah"}) == "e1"
    # the step's targets, then the activity's areas; g1 shares an area but is not targeted: not tagged
    assert logged[0].goals == ("client:g2", "speech_communication", "musical")
    ctx.log("hit", goals=("musical",))
    assert logged[1].goals == ("client:g2", "musical")
    targets.clear()
    ctx.log("hit", goals=("musical",))
    assert logged[2].goals == ("musical",)  # nothing targeted: areas only, no client goal inferred


def test_a_trial_carries_its_goals_into_every_event_and_judging_closes_it():
    logged = []
    targets = ["client:g1"]
    ctx = ActivityContext(clock=FakeClock(), activity_name="x", goals=("speech_communication", "musical"),
                          settings={}, log_sink=lambda ev: logged.append(ev) or f"e{len(logged)}",
                          targets=lambda: tuple(targets), prompt_level=lambda: "gestural")
    tid = ctx.open_trial("call", areas=("speech_communication",), data={"vowel": "ah"})
    assert ctx.open_trials == [tid]
    ctx.log("vowel_attempt", goals=("musical",), data={"heard": "ah"}, trial=tid)  # goals= ignored in a trial
    targets.append("client:g2")  # the therapist targets one more goal while the trial is open
    ctx.judge(tid, "success", data={"rung": 4})
    assert [e.kind for e in logged] == ["trial_open", "vowel_attempt", "judgement", "trial_close"]
    assert {e.trial for e in logged} == {tid}
    assert logged[0].goals == logged[1].goals == ("client:g1", "speech_communication")
    assert logged[2].goals == ("client:g1", "client:g2", "speech_communication")
    assert logged[0].data == {"opportunity": "call", "areas": ["speech_communication"], "vowel": "ah"}
    assert (logged[2].outcome, logged[2].prompt) == ("success", "gestural") and logged[1].outcome is None
    assert logged[3].data == {"reason": "response"} and ctx.open_trials == []
    ctx.close_trial(tid, "ended")  # closing twice logs nothing
    assert len(logged) == 4
