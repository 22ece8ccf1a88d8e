"""Buttons and drawing helpers shared by the shell and activities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pygame

from prelude_play.l10n import typo
from prelude_play.ui import theme as th


@dataclass
class Button:
    """A large touch target. ``id`` lets tests and the pilot find it."""

    id: str
    label: str
    rect: pygame.Rect
    on_press: Callable[[], None] | None = None
    colour: tuple[int, int, int] = th.PANEL_HI
    text_colour: tuple[int, int, int] = th.TEXT
    selected: bool = False
    enabled: bool = True
    font_size: int = 34
    sublabel: str = ""
    data: dict = field(default_factory=dict)

    def hit(self, pos: tuple[float, float]) -> bool:
        return self.enabled and self.rect.collidepoint(pos)

    def shows_whole(self, theme: th.Theme) -> bool:
        """The label is drawn whole (shrunk at most as ``draw`` allows), not cut with '…': a
        therapist cannot tap what she cannot read."""
        return text_fits(theme, self.label, self.font_size, bold=True,
                         max_width=self.rect.width - theme.px(12), shrink=0.65)

    def draw(self, surface: pygame.Surface, theme: th.Theme) -> None:
        colour = self.colour if self.enabled else th.PANEL
        text_colour = self.text_colour if self.enabled else th.MUTED
        if self.selected:  # filled, not just outlined: visible from across the room
            colour, text_colour = th.ACCENT, th.BG
        r = theme.px(18)
        pygame.draw.rect(surface, colour, self.rect, border_radius=r)
        if self.selected:
            pygame.draw.rect(surface, th.FOCUS, self.rect, width=theme.px(6), border_radius=r)
        draw_text(surface, theme, self.label, self.rect.center, self.font_size,
                  colour=text_colour, bold=True,
                  max_width=self.rect.width - theme.px(12),
                  dy=-theme.px(12) if self.sublabel else 0, shrink=0.65)
        if self.sublabel:
            sub = th.BG if self.selected or text_colour == th.BG else th.MUTED
            draw_text(surface, theme, self.sublabel, (self.rect.centerx, self.rect.centery + theme.px(22)),
                      22, colour=sub, max_width=self.rect.width - theme.px(10), shrink=0.6)


def _fitted(theme: th.Theme, text: str, size: int, bold: bool, max_width: int | None,
            shrink: float) -> tuple[int, int]:
    """The size ``draw_text`` draws ``text`` at (shrunk by 2 px steps to ``shrink`` of ``size``,
    never under 14 px, until it fits ``max_width``) and its width there."""
    s = size
    w = theme.font(s, bold).size(text)[0]
    while max_width and w > max_width and s > max(14, int(size * shrink)):
        s -= 2
        w = theme.font(s, bold).size(text)[0]
    return s, w


def text_fits(theme: th.Theme, text: str, size: int, *, bold: bool = False, max_width: int,
              shrink: float = 0.75) -> bool:
    """Whether ``draw_text`` with these settings shows ``text`` without an ellipsis."""
    return _fitted(theme, typo(text, theme.lang), size, bold, max_width, shrink)[1] <= max_width


def draw_text(surface: pygame.Surface, theme: th.Theme, text: str, center: tuple[int, int],
              size: int, *, colour: tuple[int, int, int] = th.TEXT, bold: bool = False,
              max_width: int | None = None, dy: int = 0, anchor: str = "center", shrink: float = 0.75) -> pygame.Rect:
    """Render text, shrinking it (to ``shrink`` of its size at most) then ending it with '…' to fit
    ``max_width``."""
    text = typo(text, theme.lang)
    font = theme.font(_fitted(theme, text, size, bold, max_width, shrink)[0], bold)
    img = font.render(text, True, colour)
    while max_width and img.get_width() > max_width and len(text) > 1:
        text = text[: max(1, int(len(text) * max_width / img.get_width()) - 1)] + "…"
        img = font.render(text, True, colour)
    rect = img.get_rect()
    setattr(rect, anchor, (center[0], center[1] + dy))
    surface.blit(img, rect)
    return rect


def grid_rects(area: pygame.Rect, rows: int, cols: int, gap: int) -> list[pygame.Rect]:
    """Equal cells filling ``area`` row by row."""
    w = (area.width - gap * (cols - 1)) // cols
    h = (area.height - gap * (rows - 1)) // rows
    return [pygame.Rect(area.x + c * (w + gap), area.y + r * (h + gap), w, h)
            for r in range(rows) for c in range(cols)]


def draw_ring(surface: pygame.Surface, center: tuple[int, int], radius: int, progress: float,
              colour: tuple[int, int, int], width: int) -> None:
    """A progress ring (dwell, hold-to-select), clockwise from the top."""
    import math

    if progress <= 0:
        return
    rect = pygame.Rect(0, 0, radius * 2, radius * 2)
    rect.center = center
    start = math.pi / 2 - 2 * math.pi * min(progress, 1.0)
    pygame.draw.arc(surface, colour, rect, start, math.pi / 2, width)


MUTED_SATURATION = 0.35  # what is left of the colours in low stimulation


class Muter:
    """Low stimulation's muted palette: a rect keeps its lightness (so text keeps its contrast)
    and ``saturation`` of its colour. Applied to the finished frame, so every activity is muted
    the same way without a palette of its own.

    Its two scratch surfaces are kept between frames: made fresh each frame, their pages cost
    more than the work (1920x1080: 20 ms a frame fresh, about 5 ms kept; BENCHMARKS.md)."""

    def __init__(self, saturation: float = MUTED_SATURATION) -> None:
        self.saturation = saturation
        self._scratch: dict[tuple[int, int], tuple[pygame.Surface, pygame.Surface]] = {}

    def __call__(self, surface: pygame.Surface, rect: pygame.Rect) -> None:
        area = rect.clip(surface.get_rect())
        if area.width <= 0 or area.height <= 0:
            return
        pair = self._scratch.get(area.size)
        if pair is None or pair[0].get_bitsize() != surface.get_bitsize():
            if len(self._scratch) > 4:  # sizes change only with the window or the rail
                self._scratch.clear()
            pair = (pygame.Surface(area.size, 0, surface), pygame.Surface(area.size, 0, surface))
            self._scratch[area.size] = pair
        copy, grey = pair
        copy.blit(surface, (0, 0), area)  # a copy: grayscale of a narrow subsurface misreads its pitch
        pygame.transform.grayscale(copy, grey)
        grey.set_alpha(int(round(255 * (1.0 - self.saturation))))
        surface.blit(grey, area.topleft)


def mute(surface: pygame.Surface, rect: pygame.Rect, saturation: float = MUTED_SATURATION) -> None:
    """``Muter`` once (tests, one-off pictures); a screen that mutes every frame keeps a ``Muter``."""
    Muter(saturation)(surface, rect)


class WrapButton(Button):
    """A button whose label takes two lines rather than an ellipsis ("Tableau de choix" on a
    narrow card stays whole)."""

    def _lines(self, theme: th.Theme) -> tuple[tuple[str, ...], int]:
        """The label's lines and size: one line when it fits, else the most even split into two
        at the largest size that fits (down to 2/3 of ``font_size``)."""
        width = self.rect.width - theme.px(24)
        words = self.label.split()
        if len(words) < 2 or theme.font(self.font_size, True).size(self.label)[0] <= width:
            return (self.label,), self.font_size
        size = self.font_size
        while True:
            font = theme.font(size, True)
            best = min(((" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))),
                       key=lambda ab: max(font.size(ab[0])[0], font.size(ab[1])[0]))
            if max(font.size(best[0])[0], font.size(best[1])[0]) <= width or size <= self.font_size * 2 // 3:
                return best, size
            size -= 2

    def shows_whole(self, theme: th.Theme) -> bool:
        lines, size = self._lines(theme)
        if len(lines) == 1:
            return super().shows_whole(theme)
        width = self.rect.width - theme.px(24)
        return all(text_fits(theme, ln, size, bold=True, max_width=width) for ln in lines)

    def draw(self, surface: pygame.Surface, theme: th.Theme) -> None:
        lines, size = self._lines(theme)
        if len(lines) == 1:
            super().draw(surface, theme)
            return
        width = self.rect.width - theme.px(24)
        label, self.label = self.label, ""
        super().draw(surface, theme)
        self.label = label
        colour = th.BG if self.selected else (self.text_colour if self.enabled else th.MUTED)
        gap = theme.px(size) * 0.6
        for line, dy in ((lines[0], -gap), (lines[1], gap)):
            draw_text(surface, theme, line, (self.rect.centerx, int(self.rect.centery + dy)), size, colour=colour,
                      bold=True, max_width=width)
