"""Free play drawing: big pads that light up when hit, and a strip of recent sounds."""

from __future__ import annotations

import pygame

from prelude_play.ui import theme as th
from prelude_play.ui.widgets import draw_text, grid_rects

FLASH_NS = 350_000_000


def pad_rects(size: tuple[int, int], n: int, scale: float) -> list[pygame.Rect]:
    w, h = size
    gap = int(24 * scale)
    cols = 3 if n > 4 else max(n, 1)
    rows = (n + cols - 1) // cols
    area = pygame.Rect(gap, gap, w - 2 * gap, h - 2 * gap - int(110 * scale))
    return grid_rects(area, rows, cols, gap)[:n]


def draw(surface: pygame.Surface, theme: th.Theme, state, rects: list[pygame.Rect], now_ns: int,
         t) -> None:
    surface.fill(th.BG)
    for i, r in enumerate(rects):
        colour = th.PALETTE[i % len(th.PALETTE)]
        lit = max((1 - (now_ns - f.t_ns) / FLASH_NS for f in state.flashes if f.pad == i), default=0.0)
        lit = max(0.0, min(1.0, lit))
        if theme.low_stimulation:
            pygame.draw.rect(surface, colour, r, border_radius=theme.px(28))
            if lit > 0:
                pygame.draw.rect(surface, th.FOCUS, r, width=theme.px(6), border_radius=theme.px(28))
        else:
            c = tuple(int(colour[k] + (255 - colour[k]) * 0.6 * lit) for k in range(3))
            grow = int(theme.px(10) * lit)
            pygame.draw.rect(surface, c, r.inflate(grow, grow), border_radius=theme.px(28))
        draw_text(surface, theme, t(state.pad_label(i)), r.center, 44, bold=True)
    y = surface.get_height() - theme.px(60)
    draw_text(surface, theme, t("Played") + f": {state.hits}", (theme.px(24), y), 30, colour=th.MUTED,
              anchor="midleft")
    x = theme.px(220)
    for t_ns, label, who in state.recent[-10:]:
        colour = th.ACCENT if who == "therapist" else th.TEXT
        rect = draw_text(surface, theme, label, (x, y), 26, colour=colour, anchor="midleft")
        x = rect.right + theme.px(18)
    if state.pulse_bpm:
        draw_text(surface, theme, t("Pulse") + f" {state.pulse_bpm:.0f} BPM",
                  (surface.get_width() - theme.px(24), y), 30, colour=th.ACCENT, anchor="midright")
