"""``prelude-play support-bundle``: what support needs, and nothing of the clients or the PIN."""

from __future__ import annotations

import json
import logging
import zipfile

from prelude_play.cli import main
from prelude_play.clock import FakeClock
from prelude_play.diagnostics import logs
from prelude_play.events import LogEvent
from prelude_play.store.eventlog import EventLog


def test_bundle_has_logs_versions_devices_config_and_no_client_data(tmp_path, monkeypatch, capsys):
    data, logdir = tmp_path / "data", tmp_path / "logs"
    monkeypatch.setenv("PRELUDE_PLAY_LOG_DIR", str(logdir))
    log = EventLog(data / "prelude.db", FakeClock())
    log.ensure_client("kid-7f3a", display_name="Zelda Quintero", code="C-ZQ9")
    s = log.start_session("kid-7f3a", {"app_version": "t"})
    log.log(s, LogEvent("choice", goals=("self_expression",), data={"card": "secret-card-word"}))
    log.close()
    (data / "config").mkdir()
    (data / "config" / "app.toml").write_text('[therapist]\npin = "4711"\npin_hash = "scrypt$abc$def"\n'
                                              '[ui]\nlanguage = "fr_CA"\n')
    logs.setup_logging(logdir)
    logging.getLogger("prelude_play.test").warning("could not open the store of Zelda Quintero (kid-7f3a)")
    (data / "selftest.json").write_text(json.dumps({"latency_ms": 9.5}))

    out = tmp_path / "support.zip"
    assert main(["support-bundle", "--data-dir", str(data), "--out", str(out)]) == 0
    assert "no client data" in capsys.readouterr().out
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        text = {n: z.read(n).decode() for n in names}
    assert {"versions.json", "doctor.json", "devices.json", "selftest.json", "config.json",
            f"logs/{logs.LOG_NAME}", "user-config/app.toml"} <= names
    assert not any(n.endswith((".db", ".db-wal", ".jsonl")) for n in names)
    everything = "\n".join(text.values())
    for secret in ("4711", "scrypt$", "Zelda", "Quintero", "kid-7f3a", "C-ZQ9", "secret-card-word"):
        assert secret not in everything, secret
    assert "could not open the store of [redacted] ([redacted])" in text[f"logs/{logs.LOG_NAME}"]
    cfg = json.loads(text["config.json"])
    assert cfg["therapist"]["pin_hash"] == "[redacted]" and cfg["ui"]["language"] == "fr_CA"
    assert json.loads(text["versions.json"])["prelude-play"]
    assert json.loads(text["selftest.json"]) == {"latency_ms": 9.5}
