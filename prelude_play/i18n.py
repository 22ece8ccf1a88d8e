"""UI language through gettext catalogs (English source strings, Canadian French shipped).

Catalogs are ``.po`` files in ``prelude_play/locale/<lang>/LC_MESSAGES/prelude_play.po``. They
are compiled to gettext's binary ``.mo`` form in memory at load (no msgfmt needed at install)
and read by the standard ``gettext.GNUTranslations``. The translate function is passed in to
screens and activities; nothing global is installed.
"""

from __future__ import annotations

import ast
import gettext
import io
import struct
from pathlib import Path
from typing import Callable

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "prelude_play"
LANGUAGES = {"en": "English", "fr_CA": "Français (Canada)"}


def parse_po(text: str) -> dict[str, str]:
    """msgid → msgstr for a .po file (single-form entries; empty translations skipped)."""
    entries: dict[str, str] = {}
    msgid: list[str] | None = None
    msgstr: list[str] | None = None
    current: list[str] | None = None

    def commit() -> None:
        if msgid is not None and msgstr is not None:
            k, v = "".join(msgid), "".join(msgstr)
            if v:
                entries[k] = v

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgid "):
            commit()
            msgid, msgstr = [ast.literal_eval(line[6:])], None
            current = msgid
        elif line.startswith("msgstr "):
            msgstr = [ast.literal_eval(line[7:])]
            current = msgstr
        elif line.startswith('"') and current is not None:
            current.append(ast.literal_eval(line))
    commit()
    return entries


def compile_mo(entries: dict[str, str]) -> bytes:
    """The GNU .mo binary for ``entries`` (the format gettext.GNUTranslations reads)."""
    keys = sorted(entries)
    ids = b"".join(k.encode() + b"\0" for k in keys)
    strs = b"".join(entries[k].encode() + b"\0" for k in keys)
    n = len(keys)
    header = 7 * 4
    o_ids = header
    o_strs = o_ids + n * 8
    data_start = o_strs + n * 8
    id_table, str_table = [], []
    off = data_start
    for k in keys:
        b = k.encode()
        id_table.append((len(b), off)); off += len(b) + 1
    for k in keys:
        b = entries[k].encode()
        str_table.append((len(b), off)); off += len(b) + 1
    out = struct.pack("<7I", 0x950412DE, 0, n, o_ids, o_strs, 0, 0)
    out += b"".join(struct.pack("<2I", *t) for t in id_table)
    out += b"".join(struct.pack("<2I", *t) for t in str_table)
    return out + ids + strs


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalog_files(lang: str) -> list[Path]:
    """The app's catalog plus each activity's own ``activities/<name>/locale/<lang>.po``."""
    from prelude_play.config import resource_dir

    files = [catalog_path(lang)]
    files += sorted(resource_dir("activities").glob(f"*/locale/{lang}.po"))
    return [f for f in files if f.exists()]


def load_entries(lang: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for f in catalog_files(lang):
        entries.update(parse_po(f.read_text(encoding="utf-8")))
    entries.pop("", None)
    return entries


def translator(lang: str) -> Callable[[str], str]:
    """A gettext function for ``lang``; English (the source language) needs no catalog."""
    if lang == "en":
        return gettext.NullTranslations().gettext
    entries = load_entries(lang)
    if not entries:
        return gettext.NullTranslations().gettext
    entries[""] = "Content-Type: text/plain; charset=UTF-8\n"
    return gettext.GNUTranslations(io.BytesIO(compile_mo(entries))).gettext
