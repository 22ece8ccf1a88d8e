"""The command line as a user runs it: headless start, clean stop on SIGTERM, export, note, summary."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prelude_play.cli import main
from prelude_play.clock import FakeClock
from prelude_play.events import LogEvent
from prelude_play.store.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[1]


def run_app(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, SDL_AUDIODRIVER="dummy", PYGAME_HIDE_SUPPORT_PROMPT="1")
    return subprocess.Popen(
        [sys.executable, "-m", "prelude_play", "--headless", "--data-dir", str(tmp_path),
         "--audio-backend", "null", "--midi-api", "none", "--report-ready", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def test_headless_for_seconds_stops_by_itself(tmp_path):
    p = run_app(tmp_path, "--client", "newkid", "--activity", "free_play", "--for", "0.5",
                "--screenshot", str(tmp_path / "last.png"))
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out.startswith("READY")
    assert (tmp_path / "last.png").exists()
    log = EventLog(tmp_path / "prelude.db", FakeClock())
    (s,) = log.sessions()
    assert s["ended"] is not None
    # the typed name is the display name; the id is generated (a name never becomes an id)
    assert s["client_id"] != "newkid" and log.client(s["client_id"])["display_name"] == "newkid"
    kinds = [e.kind for e in log.events()]
    assert [k for k in kinds if k != "audio_stats"] == ["activity_start", "activity_stop"]
    assert kinds.count("audio_stats") == 1  # the engine's xruns/load recorded at the end


def test_sigterm_closes_the_session_cleanly(tmp_path):
    p = run_app(tmp_path, "--client", "ari", "--activity", "free_play")
    assert p.stdout is not None and p.stdout.readline().startswith("READY")
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=15)
    assert p.returncode == 0, p.stderr.read() if p.stderr else ""
    log = EventLog(tmp_path / "prelude.db", FakeClock())
    assert log.sessions()[0]["ended"] is not None
    assert [e.kind for e in log.events() if e.kind != "audio_stats"][-1] == "activity_stop"


def test_export_jsonl_and_csv_are_pseudonymous_and_complete(tmp_path, capsys):
    clock = FakeClock()
    log = EventLog(tmp_path / "prelude.db", clock)
    log.ensure_client("k1", display_name="Kai Real-Name", code="C-K1")
    s = log.start_session("k1", {"app_version": "t"})
    for i in range(5):
        clock.advance(ms=10.5)
        log.log(s, LogEvent("choice", goals=("functional_communication", "self_expression"),
                            data={"card": f"drum, \"big\" {i}", "i": i}))
    log.close()
    assert main(["--data-dir", str(tmp_path), "export", "--format", "jsonl", "--out", str(tmp_path / "e.jsonl")]) == 0
    assert main(["--data-dir", str(tmp_path), "export", "--format", "csv", "--out", str(tmp_path / "e.csv")]) == 0
    lines = [json.loads(l) for l in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "prelude_play_export" and lines[0]["pseudonymous"]
    evs = lines[1:]
    assert [e["data"]["i"] for e in evs] == list(range(5))
    assert all(e["client"] == "C-K1" and e["goals"] == ["functional_communication", "self_expression"] for e in evs)
    with open(tmp_path / "e.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and rows[2]["goals"] == "functional_communication;self_expression"
    assert json.loads(rows[3]["data"])["card"] == 'drum, "big" 3' and float(rows[0]["t_ms"]) == 10.5
    for f in ("e.jsonl", "e.csv"):
        text = (tmp_path / f).read_text(encoding="utf-8")
        assert "Kai Real-Name" not in text
        assert (os.stat(tmp_path / f).st_mode & 0o077) == 0


def test_export_to_a_missing_folder_fails_clearly_and_leaves_nothing(tmp_path, capsys):
    log = EventLog(tmp_path / "prelude.db", FakeClock())
    log.log(log.start_session("k", {}), LogEvent("x"))
    log.close()
    target = tmp_path / "unplugged-usb" / "e.csv"
    assert main(["--data-dir", str(tmp_path), "export", "--format", "csv", "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert "could not write" in err and "Nothing was changed" in err
    assert not target.parent.exists()


def test_note_and_summary_from_the_command_line(tmp_path, capsys, monkeypatch):
    from tests.store.golden import TURN, make_golden

    g = make_golden(tmp_path / "prelude.db")
    second = g.log.start_session("robin", {})
    g.log.end_session(second)
    g.log.close()
    d = str(tmp_path)
    monkeypatch.chdir(tmp_path)
    prefix = g.session_id[:13]
    assert main(["--data-dir", d, "note", "--session", prefix]) == 0  # PDF by default, named after the session
    out = capsys.readouterr().out.strip()
    assert out == f"wrote note-{prefix}.pdf" and (tmp_path / f"note-{prefix}.pdf").read_bytes().startswith(b"%PDF")
    assert main(["--data-dir", d, "summary", "--session", prefix]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Session note — C-ROB") and f"{TURN}: 4 of 5 turns successful" in text
    assert main(["--data-dir", d, "summary", "--session", prefix, "--json", "--names"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["session"] == g.session_id and data["client"] == "Robin Real-Name"
    assert main(["--data-dir", d, "--language", "fr_CA", "note", "--session", prefix, "--format", "txt",
                 "--out", "n.txt"]) == 0
    assert (tmp_path / "n.txt").read_text(encoding="utf-8").startswith("Note de séance")

    assert main(["--data-dir", d, "summary", "--session", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no session 'nope'" in err and "the latest are" in err
    common = os.path.commonprefix([g.session_id, second.id])
    assert main(["--data-dir", d, "note", "--session", common]) == 1
    assert "give more characters" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path / "empty"), "summary", "--session", prefix, "--json"]) == 2
    err = capsys.readouterr().err
    assert "no event store" in err and "pass --data-dir" in err

def test_gui_script_runs_the_app_without_console_streams(monkeypatch):
    """[project.gui-scripts] prelude-play-gui -> cli.gui_main: on Windows (pythonw) there is no
    sys.stdout/sys.stderr; gui_main gives them somewhere harmless to go and runs main."""
    import sys
    import tomllib
    from pathlib import Path

    from prelude_play import cli

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["gui-scripts"] == {"prelude-play-gui": "prelude_play.cli:gui_main"}
    assert pyproject["project"]["scripts"]["prelude-play"] == "prelude_play.cli:main"
    seen = []
    monkeypatch.setattr(cli, "main", lambda argv=None: seen.append(argv) or 0)
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    assert cli.gui_main(["--headless"]) == 0 and seen == [["--headless"]]
    print("lost", file=sys.stderr)
    sys.stderr.write("also lost\n")
    assert sys.stdout is not None
    sys.stdout.close()
    sys.stderr.close()


def test_global_options_before_or_after_the_subcommand(tmp_path, capsys):
    """``prelude-play export --data-dir D --out x.jsonl`` as README documents it, and the other order."""
    from prelude_play.cli import build_parser

    log = EventLog(tmp_path / "prelude.db", FakeClock())
    log.ensure_client("k1", display_name="Kai", code="C-K1")
    log.start_session("k1", {"app_version": "t"})
    log.close()
    assert main(["export", "--data-dir", str(tmp_path), "--out", str(tmp_path / "a.jsonl")]) == 0
    assert main(["--data-dir", str(tmp_path), "export", "--out", str(tmp_path / "b.jsonl")]) == 0
    assert (tmp_path / "a.jsonl").exists() and (tmp_path / "b.jsonl").exists()
    p = build_parser()
    a = p.parse_args(["--language", "fr_CA", "summary", "--session", "s", "--headless"])
    assert a.language == "fr_CA" and a.headless  # one given before is not reset by the subcommand
    assert p.parse_args(["--data-dir", "A", "note", "--session", "s", "--data-dir", "B"]).data_dir.name == "B"
    assert p.parse_args(["--client", "run-me", "export", "--out", "x", "--client", "C-1"]).client == "C-1"
    for command in ("export --out x", "note --session s", "summary --session s", "check-config", "devices",
                    "selftest", "pedal --none", "doctor", "support-bundle"):
        assert p.parse_args([*command.split(), "--data-dir", "D"]).data_dir.name == "D", command


def test_version(capsys):
    import pytest

    from prelude_play import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"prelude-play {__version__}"
