"""Every shipped plan step names an installed activity (check-config fails otherwise), and a step
that did not run is marked skipped — on the child's strip, the activity's strip and the
therapist's schedule — never done."""

from __future__ import annotations

from pathlib import Path

from prelude_play.activity import discover
from prelude_play.cli import main
from prelude_play.config import resource_dir
from prelude_play.store.plans import (MISSING, LiveSchedule, Plan, PlanStep, check_plan_file,
                                      parse_plan_file)

BAD_PLAN = """# a plan written for a fuller set of activities
name = "Rainy day"

[[steps]]
activity = "free_play"
title = "Free play"

[[steps]]
title = "Rain stick"
settings = { speed = 2 }
activity = "rain_stick"
"""


def test_a_step_naming_a_missing_activity_is_a_problem_with_file_line_and_installed(tmp_path):
    path = tmp_path / "plans" / "rainy.toml"
    path.parent.mkdir()
    path.write_text(BAD_PLAN, encoding="utf-8")
    assert check_plan_file(path) == []  # the syntax alone is fine
    installed = discover(entry_points=False).names()
    [problem] = check_plan_file(path, installed)
    text = str(problem)
    assert problem.path == path and problem.line == 11  # the step's activity = line
    assert "rain_stick" in text and "step 2 (Rain stick)" in text
    assert "installed activities: " in text and all(name in text for name in installed)


def test_check_config_fails_on_a_plan_naming_a_missing_activity(tmp_path, capsys):
    plans = tmp_path / "data" / "config" / "plans"
    plans.mkdir(parents=True)
    (plans / "rainy.toml").write_text(BAD_PLAN, encoding="utf-8")
    assert main(["--data-dir", str(tmp_path / "data"), "check-config"]) == 1
    out = capsys.readouterr().out
    assert "rainy.toml, line 11" in out and "'rain_stick', which is not installed" in out
    assert "1 problem(s)" in out


def test_every_shipped_plan_step_names_an_installed_activity():
    installed = discover(entry_points=False).names()
    files = sorted((resource_dir("config") / "plans").glob("*.toml"))
    assert files
    for f in files:
        assert check_plan_file(f, installed) == [], f
    plan, _ = parse_plan_file(resource_dir("config") / "plans" / "hello_to_goodbye.toml")
    assert plan is not None
    assert [s.activity for s in plan.steps][0::5] == ["hello_song", "goodbye_song"]


def test_a_missing_step_is_marked_skipped_never_done():
    plan = Plan("p", "Test", [PlanStep("rain_stick", "Rain"), PlanStep("free_play", "Play"),
                              PlanStep("drum_turns", "Drums")])
    sch = LiveSchedule(plan, lambda a: a != "rain_stick")
    assert sch.marks() == ["pending", "pending", "pending"]
    sch.advance()
    assert sch.steps[0].state == MISSING
    assert sch.titles() == ["Rain", "Play", "Drums"]  # still shown, so the routine stays as planned
    assert sch.marks() == ["skipped", "current", "pending"]
    assert "schedule_marks" not in sch.settings_for(sch.current)  # the shell's strip reads the schedule itself
    sch.advance()
    assert sch.marks() == ["skipped", "done", "current"]
    sch.skip(2)  # nothing to skip: the current step moves on with advance
    assert "done" not in sch.marks()[:1]


def test_shipped_plan_runs_without_missing_steps():
    installed = set(discover(entry_points=False).names())
    plan, _ = parse_plan_file(Path(resource_dir("config")) / "plans" / "hello_to_goodbye.toml")
    assert plan is not None
    sch = LiveSchedule(plan, installed.__contains__)
    ran = []
    while (step := sch.advance()) is not None:
        ran.append(step.activity)
    assert ran == [s.activity for s in plan.steps]
    assert sch.marks() == ["done"] * len(plan.steps)
