"""Write settings chosen in the app into the user's override file, keeping what else is there."""

from __future__ import annotations

import os
import re
from pathlib import Path


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_user_setting(data_dir: Path, section: str, key: str, value: object) -> Path | None:
    """Set ``[section] key = value`` in ``<data dir>/config/app.toml`` (atomic replace).

    Never raises: it runs from a tap on a therapist screen. A file it cannot read as text (not
    UTF-8, too big, a folder) is left untouched rather than overwritten — it is the therapist's,
    and the next start names its problem — and a disk that refuses the write only means the
    choice lasts for this run. Returns the file written, or None when nothing was.
    """
    from prelude_play.config import read_text
    from prelude_play.errors import ConfigError

    path = data_dir / "config" / "app.toml"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = read_text(path) if path.exists() else ""
    except (ConfigError, OSError):
        return None
    lines = text.splitlines()
    line = f"{key} = {_toml_value(value)}"
    header = re.compile(r"^\s*\[([^\]]+)\]")
    start = next((i for i, l in enumerate(lines) if (m := header.match(l)) and m.group(1).strip() == section), None)
    if start is None:
        lines += ["", f"[{section}]", line]
    else:
        end = next((i for i in range(start + 1, len(lines)) if header.match(lines[i])), len(lines))
        for i in range(start + 1, end):
            if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
                lines[i] = line
                break
        else:
            lines.insert(start + 1, line)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text("\n".join(lines).lstrip("\n") + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError:
        return None
    return path


def remove_user_setting(data_dir: Path, section: str, key: str) -> bool:
    """Remove ``[section] key`` from ``<data dir>/config/app.toml``; True if it was there."""
    path = data_dir / "config" / "app.toml"
    if not path.exists():
        return False
    lines = path.read_text(encoding="utf-8").splitlines()
    header = re.compile(r"^\s*\[([^\]]+)\]")
    current, out, removed = "", [], False
    for line in lines:
        m = header.match(line)
        if m:
            current = m.group(1).strip()
        elif current == section and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            removed = True
            continue
        out.append(line)
    if removed:
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return removed


def migrate_plain_pin(data_dir: Path, plain_pin: str, pin_hash: str) -> bool:
    """A plain ``pin = "5678"`` in the user's file becomes ``pin_hash``: the PIN is never kept in
    clear. True if the file was rewritten."""
    path = data_dir / "config" / "app.toml"
    if not plain_pin or not path.exists() or not re.search(r"^\s*pin\s*=", path.read_text(encoding="utf-8"), re.M):
        return False
    set_user_setting(data_dir, "therapist", "pin_hash", pin_hash)
    return remove_user_setting(data_dir, "therapist", "pin")
