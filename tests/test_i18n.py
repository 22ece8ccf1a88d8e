"""Every UI string goes through gettext; the Canadian French catalog covers all of them."""

from __future__ import annotations

import ast
import gettext
import io
from pathlib import Path

from prelude_play.i18n import compile_mo, load_entries, parse_po, translator

ROOT = Path(__file__).resolve().parents[1]
T_NAMES = {"t", "_", "t_"}


def ui_strings() -> dict[str, str]:
    """Literal strings passed to t(...), self.t(...), ctx.t(...), self.ctx.t(...)."""
    found: dict[str, str] = {}
    for base in ("prelude_play", "activities"):
        for path in (ROOT / base).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                arg = node.args[0]
                if name in T_NAMES and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found[arg.value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_ui_string_has_a_french_translation():
    fr = load_entries("fr_CA")
    missing = {s: where for s, where in ui_strings().items() if s not in fr}
    assert not missing, "add these to the fr_CA .po catalogs:\n" + "\n".join(
        f"  {where}: {s!r}" for s, where in sorted(missing.items(), key=lambda kv: kv[1]))


def test_mo_compiler_round_trips_through_gnutranslations():
    entries = {"Hello": "Bonjour", "Score: {n}": "Pointage : {n}", "é": "è"}
    tr = gettext.GNUTranslations(io.BytesIO(compile_mo({**entries, "": "Content-Type: text/plain; charset=UTF-8\n"})))
    for k, v in entries.items():
        assert tr.gettext(k) == v
    assert tr.gettext("untranslated") == "untranslated"


def test_translator_switches_language():
    assert translator("en")("Resume session") == "Resume session"
    assert translator("fr_CA")("Resume session") != "Resume session"


def test_po_parser_handles_multiline_and_escapes():
    text = 'msgid ""\nmsgstr "Content-Type: text/plain\\n"\n\nmsgid "A "\n"b"\nmsgstr "C \\"d\\""\n'
    assert parse_po(text)["A b"] == 'C "d"'
