"""The song on the child's screen: a big picture card, the verse's words, whose turn it is, and
the song's verses as a row of small pictures (first this, then that).

Nothing moves: the screen changes only when the song does (a new verse, the client's turn), so
a child can read it at arm's length and the app draws only then. Low stimulation keeps the same
layout in quieter colours, with no coloured glow when the client joins in. No therapist control
is ever drawn here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pygame

from prelude_play.ui import theme as th
from prelude_play.ui.pictures import Pictures
from prelude_play.ui.widgets import draw_text

# Quieter colours for low stimulation: less saturated, less contrast between panels.
CALM_BG = (34, 38, 46)
CALM_PANEL = (48, 53, 62)
CALM_TEXT = (232, 230, 224)
CALM_MUTED = (160, 164, 172)
CALM_ACCENT = (196, 178, 140)
CALM_JOINED = (150, 180, 160)
BADGE = (70, 130, 200)
CALM_BADGE = (98, 120, 146)


@dataclass
class Colours:
    bg: tuple[int, int, int]
    panel: tuple[int, int, int]
    text: tuple[int, int, int]
    muted: tuple[int, int, int]
    accent: tuple[int, int, int]
    joined: tuple[int, int, int]
    badge: tuple[int, int, int]


def colours(low: bool) -> Colours:
    if low:
        return Colours(CALM_BG, CALM_PANEL, CALM_TEXT, CALM_MUTED, CALM_ACCENT, CALM_JOINED, CALM_BADGE)
    return Colours(th.BG, th.PANEL, th.TEXT, th.MUTED, th.ACCENT, th.GOOD, BADGE)


@dataclass
class Layout:
    card: pygame.Rect  # the picture card (a touch target: a tap plays a chime)
    words: pygame.Rect  # the verse's lyrics
    prompt: pygame.Rect  # "Your turn" + what to do
    strip: pygame.Rect  # the song's verses as small pictures


def make_layout(size: tuple[int, int], theme: th.Theme) -> Layout:
    w, h = size
    m = theme.px(28)
    strip_h = theme.px(124)
    main = pygame.Rect(m, m, w - 2 * m, h - 3 * m - strip_h)
    card_w = min(int(main.width * 0.40), main.height)
    card = pygame.Rect(main.x, main.y, card_w, main.height)
    right = pygame.Rect(card.right + m, main.y, main.right - card.right - m, main.height)
    prompt_h = theme.px(150)
    words = pygame.Rect(right.x, right.y, right.width, right.height - prompt_h - m)
    prompt = pygame.Rect(right.x, words.bottom + m, right.width, prompt_h)
    strip = pygame.Rect(m, main.bottom + m, w - 2 * m, strip_h)
    return Layout(card, words, prompt, strip)


def wrap(text: str, font: pygame.font.Font, width: int) -> list[str]:
    """Words into lines no wider than ``width`` (a single long word keeps its own line)."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            cand = f"{line} {word}".strip()
            if line and font.size(cand)[0] > width:
                lines.append(line)
                line = word
            else:
                line = cand
        lines.append(line)
    return lines


def fit(theme: th.Theme, text: list[str], rect: pygame.Rect, size: int, whole: int,
        smallest: int = 36) -> tuple[int, list[str]]:
    """The largest design size (from ``size``) at which ``text`` fits ``rect``: each line whole
    down to ``whole``, then wrapped at word breaks (never cut short with "…": a child reads it)."""
    while True:
        font = theme.font(size, True)
        if size > whole and max((font.size(line)[0] for line in text), default=0) > rect.width:
            size -= 4
            continue
        lines = [x for line in text for x in wrap(line, font, rect.width)]
        if len(lines) * font.get_linesize() <= rect.height or size <= smallest:
            return size, lines
        size -= 4


def draw_lines(surface: pygame.Surface, theme: th.Theme, lines: list[str], size: int, rect: pygame.Rect,
               colour: tuple[int, int, int]) -> None:
    """Lines left-aligned, the block centred in ``rect`` from top to bottom."""
    step = theme.font(size, True).get_linesize()
    y = rect.centery - len(lines) * step // 2
    for line in lines:
        draw_text(surface, theme, line, (rect.x, y + step // 2), size, bold=True, colour=colour,
                  anchor="midleft")
        y += step


def draw_badge(surface: pygame.Surface, theme: th.Theme, centre: tuple[int, int], radius: int, name: str,
               c: Colours) -> None:
    """The client's initial in a circle: their picture when none is set."""
    pygame.draw.circle(surface, c.badge, centre, radius)
    initial = (name.strip()[:1] or "?").upper()
    font_px = int(radius * 1.1 / max(theme.scale, 1e-6))
    draw_text(surface, theme, initial, centre, font_px, bold=True, colour=th.TEXT)


def draw_picture(surface: pygame.Surface, theme: th.Theme, pictures: Pictures, name: str, rect: pygame.Rect,
                 client_name: str, client_picture: str, c: Colours) -> None:
    """A verse's picture centred in ``rect``; ``@client`` is the client's own picture or badge."""
    box = min(rect.width, rect.height)
    if name == "@client":
        img = pictures.get(client_picture, box) if client_picture else None
        if img is None:
            draw_badge(surface, theme, rect.center, box // 2, client_name, c)
            return
    else:
        img = pictures.get(name, box)
    if img is not None:
        surface.blit(img, img.get_rect(center=rect.center))


@dataclass
class Screen:
    """What the child's screen shows now (built by the activity from the song's state)."""

    title: str
    phase: str  # ready | verse | answer | wait | ending | done
    picture: str
    caption: str  # under the picture: the client's name on their own verse
    lines: list[str]
    prompt: str
    joined: bool  # the client took part in this turn
    strip: list[tuple[str, str]]  # (picture, "done" | "now" | "next") per verse to be sung
    client_name: str
    client_picture: str
    low: bool


def draw(surface: pygame.Surface, theme: th.Theme, lay: Layout, pictures: Pictures, s: Screen,
         t: Callable[[str], str]) -> None:
    c = colours(s.low)
    surface.fill(c.bg)
    r = theme.px(28)
    # the picture card
    pygame.draw.rect(surface, c.panel, lay.card, border_radius=r)
    if s.joined:
        pygame.draw.rect(surface, c.joined, lay.card, width=theme.px(6 if s.low else 12), border_radius=r)
    pad = theme.px(30)
    cap_h = theme.px(84) if s.caption else 0
    pic = pygame.Rect(lay.card.x + pad, lay.card.y + pad, lay.card.width - 2 * pad,
                      lay.card.height - 2 * pad - cap_h)
    draw_picture(surface, theme, pictures, s.picture, pic, s.client_name, s.client_picture, c)
    if s.caption:
        draw_text(surface, theme, s.caption, (lay.card.centerx, pic.bottom + cap_h // 2), 60, bold=True,
                  colour=c.text, max_width=lay.card.width - 2 * pad)
    # the words
    turn = s.phase in ("answer", "wait")
    size, lines = fit(theme, s.lines, lay.words, 72, 48)
    draw_lines(surface, theme, lines, size, lay.words, c.muted if turn else c.text)
    # whose turn it is: big words, not a box (a box would look like a button to press)
    if turn and s.prompt:
        size, lines = fit(theme, [s.prompt], lay.prompt, 84, 60)
        draw_lines(surface, theme, lines, size, lay.prompt, c.accent)
    # the song's verses, first to last
    draw_strip(surface, theme, lay.strip, pictures, s, c)


def strip_cells(rect: pygame.Rect, n: int, theme: th.Theme) -> list[pygame.Rect]:
    if n <= 0:
        return []
    gap = theme.px(20)
    side = min(rect.height, (rect.width - gap * (n - 1)) // n)
    x = rect.centerx - (n * side + (n - 1) * gap) // 2
    return [pygame.Rect(x + i * (side + gap), rect.y + (rect.height - side) // 2, side, side) for i in range(n)]


def draw_strip(surface: pygame.Surface, theme: th.Theme, rect: pygame.Rect, pictures: Pictures, s: Screen,
               c: Colours) -> None:
    """Small picture cards, one per verse: the one being sung framed, the sung ones faded."""
    for cell, (picture, state) in zip(strip_cells(rect, len(s.strip), theme), s.strip):
        pygame.draw.rect(surface, c.panel, cell, border_radius=theme.px(16))
        inner = cell.inflate(-theme.px(18), -theme.px(18))
        draw_picture(surface, theme, pictures, picture, inner, s.client_name, s.client_picture, c)
        if state == "done":  # sung: the picture in grey (a veil would change its colours)
            grey = surface.subsurface(cell).copy()
            grey = pygame.transform.grayscale(grey)
            grey.set_alpha(110)
            pygame.draw.rect(surface, c.bg, cell)
            pygame.draw.rect(surface, c.panel, cell, border_radius=theme.px(16))
            surface.blit(grey, cell.topleft)
        elif state == "now":
            pygame.draw.rect(surface, c.accent, cell.inflate(theme.px(10), theme.px(10)), width=theme.px(6),
                             border_radius=theme.px(20))
