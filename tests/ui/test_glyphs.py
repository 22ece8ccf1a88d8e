"""Every character the UI draws is in the shipped font, in both languages (no empty boxes)."""

from __future__ import annotations

import ast
from pathlib import Path

from fontTools.ttLib import TTFont

from prelude_play.i18n import load_entries
from prelude_play.l10n import typo
from prelude_play.ui.theme import font_path
from tests.test_i18n import ui_strings

ROOT = Path(__file__).resolve().parents[2]


def cmap(bold: bool) -> set[int]:
    return set(TTFont(str(font_path(bold)))["cmap"].getBestCmap())


def literal_strings() -> set[str]:
    """Every string literal in the shell, the UI and the activities: labels drawn without a catalog
    (button glyphs, separators, numbers with units)."""
    out: set[str] = set()
    for folder in ("prelude_play/shell", "prelude_play/ui", "activities"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    out.add(node.value)
    return out


def test_every_catalog_string_in_both_languages_has_its_glyphs():
    fr = load_entries("fr_CA")
    texts = set(ui_strings()) | set(fr) | set(fr.values()) | {typo(v, "fr_CA") for v in fr.values()}
    texts |= literal_strings()
    for bold in (False, True):
        have = cmap(bold)
        missing = {ch: t for t in texts for ch in t if ord(ch) not in have and ch not in "\n\t\r\x00"}
        assert not missing, f"{font_path(bold).name} lacks: " + ", ".join(
            f"{ch!r} (U+{ord(ch):04X}) in {t!r}" for ch, t in sorted(missing.items())[:20])


def test_the_font_is_the_one_drawn(tmp_path):
    import os

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    from prelude_play.ui.theme import Theme

    pygame.font.init()
    f = Theme().font(30)
    # a character the old default font lacked renders with ink, not an empty box of the same width
    a, b = f.render("⌫", True, (255, 255, 255)), f.render("\u25a1", True, (255, 255, 255))
    assert pygame.image.tobytes(a, "RGB") != pygame.image.tobytes(b, "RGB")
