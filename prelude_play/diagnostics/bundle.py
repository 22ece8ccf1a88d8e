"""``prelude-play support-bundle --out FILE``: one zip a therapist can send to support.

It holds the logs and crash reports, the versions of the app, Python and every library, the
devices and what ``doctor`` found, the last self-test, and the configuration in force — and,
on purpose, no client data: never the event store, never the PIN or its hash, and every client's
name, id and code that the store knows is blanked out of the text files (a log line or a crash
report could quote one). Why a zip built here rather than "send us your folder": the data folder
is the client record, which must not leave the clinic.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib.metadata
import json
import platform
import re
import sqlite3
import sys
import zipfile
from pathlib import Path
from typing import Any

REDACTED = "[redacted]"
PIN_KEYS = ("pin", "pin_hash")
LIBRARIES = ("pygame-ce", "numpy", "sounddevice", "soundfile", "soxr", "python-rtmidi", "mido", "JACK-Client",
             "platformdirs", "fpdf2", "babel", "matplotlib", "scipy")


def versions() -> dict[str, Any]:
    from prelude_play import __version__

    libs = {}
    for name in LIBRARIES:
        try:
            libs[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            libs[name] = None
    return {"prelude-play": __version__, "python": sys.version, "platform": platform.platform(),
            "machine": platform.machine(), "frozen": bool(getattr(sys, "frozen", False)), "libraries": libs}


def client_words(data_dir: Path) -> list[str]:
    """Every client's name, id and code in the store (read-only), longest first, to blank out."""
    db = data_dir / "prelude.db"
    if not db.is_file():
        return []
    words: set[str] = set()
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            cols = [r[1] for r in con.execute("PRAGMA table_info(clients)")]
            wanted = [c for c in cols if c in ("id", "display_name", "code", "name")]
            for row in con.execute(f"SELECT {', '.join(wanted)} FROM clients") if wanted else []:
                words.update(str(v) for v in row if v and len(str(v)) >= 2)
        finally:
            con.close()
    except sqlite3.Error:
        pass
    return sorted(words, key=len, reverse=True)


def scrub(text: str, words: list[str]) -> str:
    """Blank out client words and any ``pin``/``pin_hash`` value in ``text``."""
    for w in words:
        text = re.sub(rf"(?<!\w){re.escape(w)}(?!\w)", REDACTED, text, flags=re.IGNORECASE)
    text = re.sub(r"(?m)^(\s*(?:pin|pin_hash)\s*=\s*).*$", rf"\g<1>\"{REDACTED}\"", text)
    return re.sub(r"scrypt\$[^\s\"']+", REDACTED, text)


def effective_config(data_dir: Path) -> dict[str, Any]:
    """The settings in force (shipped + user's file), PIN fields replaced, problems as text."""
    from prelude_play.config import NOT_SECTIONS, default_config_paths, load_app_config

    cfg = load_app_config(default_config_paths(data_dir))
    out = {f.name: dataclasses.asdict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)
           if f.name not in NOT_SECTIONS}
    for key in PIN_KEYS:
        if key in out.get("therapist", {}):
            out["therapist"][key] = REDACTED if out["therapist"][key] else ""
    out["problems"] = [str(p) for p in cfg.problems]
    out["sources"] = [str(s) for s in cfg.sources]
    return out


def write_bundle(out: Path, data_dir: Path, log_dir: Path) -> Path:
    """Write the zip; returns its path. Raises OSError when ``out`` cannot be written."""
    from prelude_play.diagnostics.doctor import audio_devices, run_checks

    words = client_words(data_dir)
    files: dict[str, str] = {}
    files["versions.json"] = json.dumps(versions(), indent=2)
    devices, error = audio_devices()
    checks = run_checks(data_dir)
    files["doctor.json"] = json.dumps([dataclasses.asdict(c) for c in checks], indent=2, ensure_ascii=False)
    files["devices.json"] = json.dumps({"audio": devices, "audio_error": error}, indent=2, default=str)
    selftest = data_dir / "selftest.json"
    files["selftest.json"] = (selftest.read_text(encoding="utf-8") if selftest.is_file()
                              else json.dumps({"not_run": "run `prelude-play selftest` to measure"}))
    try:
        files["config.json"] = json.dumps(effective_config(data_dir), indent=2, default=str, ensure_ascii=False)
    except Exception as exc:  # noqa: BLE001 - a broken config is exactly what support needs to hear of
        files["config.json"] = json.dumps({"error": str(exc)})
    for name in ("app.toml", "instruments.toml"):  # the user's own settings files (boards/plans may name clients)
        path = data_dir / "config" / name
        if path.is_file():
            files[f"user-config/{name}"] = path.read_text(encoding="utf-8", errors="replace")
    user_cfg = data_dir / "config"
    if user_cfg.is_dir():
        files["user-config/files.txt"] = "\n".join(str(p.relative_to(user_cfg)) for p in sorted(user_cfg.rglob("*")))
    if log_dir.is_dir():
        for p in sorted(log_dir.iterdir()):
            if p.is_file() and (p.name.startswith(("prelude-play.log", "prelude-play-audio.log", "crash-", "native-crash"))):
                files[f"logs/{p.name}"] = p.read_text(encoding="utf-8", errors="replace")
    files["README.txt"] = (f"Prelude Play support bundle, {_dt.datetime.now().isoformat(timespec='seconds')}.\n"
                           "No event store, no PIN, client names and ids blanked out.\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, scrub(text, words))
    return out
