"""Colours, sizes and fonts: high contrast, calm, large.

Sizes are given for a 1280x800 design and scaled by ``Theme.scale`` so 1920x1080 (and
anything between) looks the same. Touch targets are at least 96 design pixels — about 15 mm
on a 10-inch 1280x800 tablet (~150 dpi).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    import pygame

BG = (22, 28, 44)
PANEL = (34, 42, 64)
PANEL_HI = (48, 58, 88)
TEXT = (246, 242, 232)
MUTED = (178, 186, 204)
ACCENT = (255, 196, 87)
GOOD = (96, 200, 140)
PARTIAL = (240, 190, 80)
NOT_YET = (236, 120, 110)
NEUTRAL = (140, 160, 200)
DANGER = (220, 80, 80)
FOCUS = (255, 255, 255)

# One calm, distinct colour per card/vowel/pad; readable with TEXT on top.
PALETTE = [(70, 130, 200), (210, 110, 70), (80, 160, 110), (170, 100, 190),
           (200, 160, 60), (60, 160, 170), (200, 90, 130), (120, 130, 80), (110, 110, 200)]

OUTCOME_COLOURS = {"success": GOOD, "partial": PARTIAL, "not_yet": NOT_YET, "no_response": NEUTRAL}

DESIGN_W, DESIGN_H = 1280, 800
MIN_TARGET = 96


def font_path(bold: bool = False) -> "Path":
    """The UI font file (DejaVu Sans, regular or bold), shipped with the app."""
    from prelude_play.config import resource_dir

    return resource_dir("assets") / "fonts" / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")


@dataclass
class Theme:
    size: tuple[int, int] = (DESIGN_W, DESIGN_H)
    low_stimulation: bool = False
    lang: str = "en"
    """The UI language: text drawn with this theme gets its typography (French: a no-break space
    before ":" "!" "?", « »), so a string glued from parts reads right in fr-CA too."""
    _fonts: dict[tuple[int, bool], "pygame.font.Font"] = field(default_factory=dict, repr=False)

    @property
    def scale(self) -> float:
        return min(self.size[0] / DESIGN_W, self.size[1] / DESIGN_H)

    def px(self, design: float) -> int:
        return max(1, int(round(design * self.scale)))

    def font(self, design_size: int, bold: bool = False) -> "pygame.font.Font":
        import pygame

        px = self.px(design_size)
        key = (px, bold)
        f = self._fonts.get(key)
        if f is None:
            # DejaVu Sans (shipped in assets/fonts, licence in assets/LICENSES): it has every
            # character the UI draws in both languages — accents, « », no-break spaces, dashes,
            # arrows (tests/ui/test_glyphs.py checks every catalog string). The bold face is for
            # labels on coloured buttons; body text is the regular face.
            f = pygame.font.Font(str(font_path(bold)), px)
            self._fonts[key] = f
        return f

    @property
    def bar_height(self) -> int:
        return self.px(72)


def _luminance(c: tuple[int, int, int]) -> float:
    def lin(v: int) -> float:
        x = v / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(v) for v in c[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio between two colours (1–21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def readable_on(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """TEXT or BG, whichever contrasts more with ``background`` (words on coloured cards)."""
    return TEXT if contrast(TEXT, background) >= contrast(BG, background) else BG
