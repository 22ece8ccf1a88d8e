"""Config: a bad file or value names file, line, key, the value and what is allowed; defaults remain."""

from __future__ import annotations

from pathlib import Path

from prelude_play.cli import main
from prelude_play.config import AppConfig, load_app_config, resource_dir
from prelude_play.goals import parse_goals


def write(tmp_path: Path, text: str, name: str = "app.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_config_has_no_problems():
    cfg = load_app_config([resource_dir("config") / "app.toml"])
    assert cfg.problems == []
    assert cfg.scoring.prompt_levels == ["independent", "gestural", "verbal", "model", "physical"]


def test_bad_values_are_reported_with_line_and_fall_back(tmp_path):
    p = write(tmp_path, '[ui]\nlanguage = "de"\nfps = 5\n\n[touch]\nignore_repeat_ms = "soon"\n'
                        '[therapist]\npin = "12ab"\n[bogus]\nx = 1\n')
    cfg = load_app_config([p])
    msgs = [str(e) for e in cfg.problems]
    assert any("line 2" in m and "'de'" in m and "'fr_CA'" in m for m in msgs), msgs
    assert any("line 3" in m and "out of range" in m for m in msgs), msgs
    assert any("line 6" in m and "whole number" in m for m in msgs), msgs
    assert any("pin" in m.lower() and "line 8" in m for m in msgs), msgs
    assert any("unknown section [bogus]" in m for m in msgs), msgs
    d = AppConfig()
    assert (cfg.ui.language, cfg.ui.fps, cfg.touch.ignore_repeat_ms, cfg.therapist.pin_hash) == \
        (d.ui.language, d.ui.fps, d.touch.ignore_repeat_ms, d.therapist.pin_hash)
    assert all(str(p) in m for m in msgs)


def test_syntax_error_names_the_line_and_keeps_defaults(tmp_path):
    p = write(tmp_path, '[ui]\nfps = 30\nlanguage = "fr_CA\n')
    cfg = load_app_config([p])
    assert len(cfg.problems) == 1
    assert "line 3" in str(cfg.problems[0]) and "TOML" in str(cfg.problems[0])
    assert cfg.ui.fps == AppConfig().ui.fps


def test_user_override_merges_over_shipped(tmp_path):
    user = write(tmp_path, '[touch]\nhold_to_select_ms = 800\n')
    cfg = load_app_config([resource_dir("config") / "app.toml", user])
    assert cfg.touch.hold_to_select_ms == 800 and cfg.touch.ignore_repeat_ms == 250


def test_unknown_scoring_key_action_is_reported(tmp_path):
    p = write(tmp_path, '[scoring.keys]\nf1 = "great"\n')
    cfg = load_app_config([p])
    assert "f1" not in cfg.scoring.keys
    assert any("line 2" in str(e) and "'great'" in str(e) for e in cfg.problems)


def test_goals_map_every_area_to_the_seven_domains():
    goals, problems = parse_goals(resource_dir("config") / "goals.toml")
    assert problems == []
    for key in ("self_expression", "self_awareness", "attention_executive", "speech_communication",
                "academic", "motor", "social", "musical"):
        assert goals.areas[key].domains, key
    assert goals.expand(["turn_taking"]) == ("turn_taking", "social")
    assert goals.is_known("client:g1") and not goals.is_known("nonsense")


def test_check_config_reports_all_problems_and_exits_nonzero(tmp_path, capsys):
    bad = write(tmp_path, '[ui]\nfps = 1000\n[audio]\nbackend = "alsa"\n')
    bad_goals = write(tmp_path, '[areas.x]\ntitle = "X"\ndomains = ["cosmic"]\n', "goals.toml")
    assert main(["--data-dir", str(tmp_path / "d"), "check-config", str(bad), str(bad_goals)]) == 1
    out = capsys.readouterr().out
    assert "fps" in out and "backend" in out and "cosmic" in out and "3 problem(s)" in out


def test_check_config_passes_on_shipped_files(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "check-config"]) == 0, capsys.readouterr().out
