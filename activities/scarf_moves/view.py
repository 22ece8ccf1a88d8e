"""Cue cards: one big card, a picture drawn with shapes and one word, moving with the beat.

The picture moves in time with the music (the generator's beat phase), so card and sound
agree; a freeze card does not move at all. Low-stimulation profiles get still pictures.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pygame

from prelude_play.ui import theme as th
from prelude_play.ui.widgets import draw_text

SCARF = (255, 226, 120)
SCARF_EDGE = (230, 160, 60)
FACE = (244, 200, 160)
INK = (30, 34, 50)
ICE = (235, 248, 255)
FLASH_NS = 700_000_000


def card_rect(size: tuple[int, int], theme: th.Theme) -> pygame.Rect:
    w, h = size
    m = theme.px(28)
    return pygame.Rect(m, m, w - 2 * m, h - 2 * m)


def _lighten(c: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return tuple(int(v + (255 - v) * k) for v in c)  # type: ignore[return-value]


def _darken(c: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return tuple(int(v * (1 - k)) for v in c)  # type: ignore[return-value]


def scarf(surf: pygame.Surface, center: tuple[float, float], length: float, width: float,
          waves: float, amp: float, phase: float, colour: tuple[int, int, int] = SCARF) -> None:
    """A ribbon: a sine curve with thickness; ``phase`` (0..1) moves the wave along it."""
    cx, cy = center
    n = 48
    top, bot = [], []
    for i in range(n + 1):
        u = i / n
        x = cx - length / 2 + u * length
        a = amp * (0.35 + 0.65 * u)  # the held end moves less than the free end
        y = cy + a * math.sin(2 * math.pi * (waves * u - phase))
        wdt = width * (1.0 - 0.25 * u)
        top.append((x, y - wdt / 2))
        bot.append((x, y + wdt / 2))
    pts = top + bot[::-1]
    pygame.draw.polygon(surf, colour, pts)
    pygame.draw.polygon(surf, SCARF_EDGE, pts, max(2, int(width * 0.08)))
    # a hand holding the near end
    pygame.draw.circle(surf, FACE, (int(top[0][0]), int((top[0][1] + bot[0][1]) / 2)), int(width * 0.55))
    pygame.draw.circle(surf, INK, (int(top[0][0]), int((top[0][1] + bot[0][1]) / 2)), int(width * 0.55),
                       max(2, int(width * 0.06)))


def arrow(surf: pygame.Surface, center: tuple[float, float], size: float, direction: str,
          colour: tuple[int, int, int] = th.TEXT) -> None:
    """A thick block arrow pointing up / down / left / right."""
    cx, cy = center
    s = size
    shape = [(0, -0.5), (0.45, 0.0), (0.18, 0.0), (0.18, 0.5), (-0.18, 0.5), (-0.18, 0.0), (-0.45, 0.0)]
    rot = {"up": 0, "right": 90, "down": 180, "left": 270}[direction]
    r = math.radians(rot)
    pts = [(cx + s * (x * math.cos(r) - y * math.sin(r)), cy + s * (x * math.sin(r) + y * math.cos(r)))
           for x, y in shape]
    pygame.draw.polygon(surf, colour, pts)
    pygame.draw.polygon(surf, INK, pts, max(2, int(s * 0.03)))


def snowflake(surf: pygame.Surface, center: tuple[float, float], r: float, colour=ICE) -> None:
    cx, cy = center
    w = max(3, int(r * 0.09))
    for k in range(6):
        a = math.radians(90 + 60 * k)
        ex, ey = cx + r * math.cos(a), cy - r * math.sin(a)
        pygame.draw.line(surf, colour, (cx, cy), (ex, ey), w)
        for f in (0.45, 0.7):
            bx, by = cx + f * r * math.cos(a), cy - f * r * math.sin(a)
            for side in (-1, 1):
                b = a + side * math.radians(40)
                pygame.draw.line(surf, colour, (bx, by), (bx + 0.28 * r * math.cos(b), by - 0.28 * r * math.sin(b)), w)
    pygame.draw.circle(surf, colour, (int(cx), int(cy)), int(r * 0.12))


def face(surf: pygame.Surface, center: tuple[float, float], r: float, eyes: bool) -> None:
    cx, cy = center
    pygame.draw.circle(surf, FACE, (int(cx), int(cy)), int(r))
    pygame.draw.circle(surf, INK, (int(cx), int(cy)), int(r), max(2, int(r * 0.05)))
    if eyes:
        for dx in (-0.35, 0.35):
            pygame.draw.circle(surf, INK, (int(cx + dx * r), int(cy - 0.15 * r)), int(r * 0.12))


def speed_lines(surf: pygame.Surface, rect: pygame.Rect, n: int, phase: float, colour) -> None:
    for i in range(n):
        y = rect.top + (i + 0.5) * rect.height / n
        x0 = rect.left + ((phase + i * 0.37) % 1.0) * rect.width * 0.3
        pygame.draw.line(surf, colour, (x0, y), (x0 + rect.width * 0.22, y), max(3, rect.height // 40))


def picture(surf: pygame.Surface, kind: str, box: pygame.Rect, phase: float, colour) -> None:
    """Draw the cue's picture inside ``box``; ``phase`` is the beat phase (0..1)."""
    cx, cy = box.center
    L, H = box.width * 0.62, box.height
    bob = math.sin(2 * math.pi * phase)
    if kind == "wave":
        scarf(surf, (cx, cy), L, H * 0.16, 1.5, H * 0.16, phase)
    elif kind in ("up", "down"):
        up = kind == "up"
        sy = box.top + H * 0.2 if up else box.bottom - H * 0.2
        scarf(surf, (cx - box.width * 0.08, sy + H * 0.03 * bob), L * 0.8, H * 0.13, 1.5, H * 0.09, phase)
        ay = box.bottom - H * 0.3 if up else box.top + H * 0.3
        arrow(surf, (box.right - box.width * 0.12, ay - (1 if up else -1) * H * 0.04 * bob), H * 0.5, kind)
    elif kind == "fast":
        speed_lines(surf, box.inflate(-box.width // 10, -box.height // 3), 5, phase * 2, _lighten(colour, 0.45))
        scarf(surf, (cx, cy), L, H * 0.14, 3.5, H * 0.12, phase * 2)
    elif kind == "slow":
        scarf(surf, (cx, cy), L, H * 0.16, 0.8, H * 0.2, phase * 0.5)
    elif kind == "big":
        scarf(surf, (cx, cy), box.width * 0.8, H * 0.22, 1.2, H * 0.26, phase)
        for d, x in (("left", box.left + box.width * 0.05), ("right", box.right - box.width * 0.05)):
            arrow(surf, (x, box.top + H * 0.12), H * 0.2, d, _lighten(colour, 0.6))
    elif kind == "small":
        scarf(surf, (cx, cy), L * 0.4, H * 0.09, 1.2, H * 0.05, phase)
        for d, x in (("right", cx - L * 0.45), ("left", cx + L * 0.45)):
            arrow(surf, (x, cy), H * 0.18, d, _lighten(colour, 0.6))
    elif kind == "freeze":
        snowflake(surf, (cx, cy - H * 0.02), H * 0.42)
    elif kind == "throw":
        # a hand low left, a dotted flight path up, and the scarf flying at its top
        def path(u: float) -> tuple[float, float]:
            return (box.left + box.width * (0.14 + 0.5 * u), box.bottom - H * (0.12 + 0.72 * math.sin(u * math.pi / 2)))

        trail = _lighten(colour, 0.6)
        for i in range(1, 14):
            u = i / 14
            x, y = path(u)
            lit = 1.6 if abs(u - phase) < 0.08 else 1.0  # a pulse runs up the path with the beat
            pygame.draw.circle(surf, trail, (int(x), int(y)), max(3, int(H * (0.012 + 0.012 * u) * lit)))
        hx, hy = path(0.0)
        pygame.draw.circle(surf, FACE, (int(hx), int(hy)), int(H * 0.07))
        pygame.draw.circle(surf, INK, (int(hx), int(hy)), int(H * 0.07), max(2, int(H * 0.008)))
        ex, ey = path(1.0)
        scarf(surf, (ex + box.width * 0.16, ey + H * 0.02 - H * 0.04 * bob), box.width * 0.32, H * 0.12,
              1.2, H * 0.07, phase, SCARF)
        arrow(surf, (box.right - box.width * 0.08, box.top + H * 0.5), H * 0.3, "up")
    elif kind in ("hide", "peek"):
        r = H * 0.32
        face(surf, (cx, cy), r, eyes=True)
        top = cy - (0.45 * r if kind == "hide" else -0.02 * r)
        sheet = pygame.Rect(int(cx - r * 1.5), int(top), int(r * 3), int(cy + r * 1.25 - top))
        pygame.draw.rect(surf, SCARF, sheet, border_radius=int(r * 0.2))
        pygame.draw.rect(surf, SCARF_EDGE, sheet, max(3, int(r * 0.04)), border_radius=int(r * 0.2))
        for i in range(1, 4):  # folds
            x = sheet.left + i * sheet.width // 4
            pygame.draw.line(surf, SCARF_EDGE, (x, sheet.top + 6), (x, sheet.bottom - 6), max(2, int(r * 0.025)))
        for x in (sheet.left + r * 0.25, sheet.right - r * 0.25):  # hands holding the scarf up
            pygame.draw.circle(surf, FACE, (int(x), sheet.top), int(r * 0.2))
            pygame.draw.circle(surf, INK, (int(x), sheet.top), int(r * 0.2), max(2, int(r * 0.04)))
    else:
        scarf(surf, (cx, cy), L, H * 0.16, 1.5, H * 0.16, phase)


def draw(surface: pygame.Surface, theme: th.Theme, spec: Any, cue: Any, gen: Any, now_ns: int,
         rect: pygame.Rect, t: Callable[[str], str], confirm_ns: int | None) -> None:
    surface.fill(th.BG)
    if spec is None:
        draw_text(surface, theme, t("Get your scarf ready"), rect.center, 64, bold=True, colour=th.MUTED)
        return
    still = theme.low_stimulation or not spec.playing
    phase = 0.0 if still else gen.beat_phase(now_ns)
    # the card pops in over 250 ms when a cue starts
    age = (now_ns - cue.onset_ns) / 1e9
    grow = 1.0 if theme.low_stimulation else min(1.0, 0.9 + 0.1 * age / 0.25)
    r = rect.copy()
    r.width, r.height = int(rect.width * grow), int(rect.height * grow)
    r.center = rect.center
    rad = theme.px(36)
    pygame.draw.rect(surface, spec.colour, r, border_radius=rad)
    pygame.draw.rect(surface, _lighten(spec.colour, 0.35), r, width=theme.px(6), border_radius=rad)
    word_h = int(r.height * 0.24)
    pic = pygame.Rect(r.x + theme.px(40), r.y + theme.px(30), r.width - theme.px(80), r.height - word_h - theme.px(40))
    picture(surface, spec.picture, pic, phase, spec.colour)
    band = pygame.Rect(r.x, r.bottom - word_h, r.width, word_h)
    draw_text(surface, theme, t(spec.word), band.center, 120, bold=True, colour=th.readable_on(spec.colour),
              max_width=band.width - theme.px(40))
    if confirm_ns is not None and 0 <= now_ns - confirm_ns < FLASH_NS:
        k = 1 - (now_ns - confirm_ns) / FLASH_NS
        pygame.draw.rect(surface, th.GOOD, r.inflate(theme.px(12), theme.px(12)),
                         width=max(2, int(theme.px(16) * k)), border_radius=rad + theme.px(6))
