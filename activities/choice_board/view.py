"""Choice-board drawing: big picture cards in their fixed cells, scan highlight, dwell ring, the
confirmation of a choice and a first/then routine layout (the session plan is the shell's strip).

The confirmation is calm and clear (as AAC apps confirm a message): the chosen card grows a
little and stays outlined while the others dim, for ``CONFIRM_NS``, as its label is spoken; in
low stimulation nothing moves: a steady outline and steady dimming, then back.

Sizes are design pixels scaled by the theme, so 1280x800 and 1920x1080 look the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pygame

from prelude_play.ui import theme as th
from prelude_play.ui.pictures import Pictures
from prelude_play.ui.widgets import draw_ring, draw_text, grid_rects

from .boards import Board, Card
from .logic import BoardState

GROW_NS = 150_000_000     # card grows to full size in 150 ms
CONFIRM_NS = 3_000_000_000  # the whole confirmation: long enough to hear the label and look
SHRINK_NS = 300_000_000   # then settles back
HOLD_NS = CONFIRM_NS - GROW_NS - SHRINK_NS  # stays big (and the others dim) this long
GROW = 0.10               # +10 % at the peak
DIM_ALPHA = 150           # how far the other cards fade towards the background (of 255)
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass
class Layout:
    size: tuple[int, int]
    title: pygame.Rect
    cards: list[pygame.Rect]
    headers: list[pygame.Rect] = field(default_factory=list)  # first/then captions


def note_name(n: int) -> str:
    return f"{NOTE_NAMES[n % 12]}{n // 12 - 1}"


def make_layout(size: tuple[int, int], board: Board, theme: th.Theme) -> Layout:
    w, h = size
    gap = theme.px(24)
    title = pygame.Rect(gap, theme.px(8), w - 2 * gap, theme.px(56))
    top = title.bottom + theme.px(8)
    bottom = h - gap
    headers: list[pygame.Rect] = []
    if board.kind == "first_then":
        top += theme.px(56)
    area = pygame.Rect(gap, top, w - 2 * gap, bottom - top)
    cells = grid_rects(area, board.rows, board.cols, gap)
    rects = []
    for card in board.cards:  # each card in its own cell (hidden ones too: their gap stays)
        row, col = card.cell or (0, 0)
        cell = cells[row * board.cols + col]
        cw = min(cell.width, int(cell.height * 2.0))  # wide = easier to hit, but no letterbox strips
        ch = min(cell.height, int(cell.width * 1.1))
        r = pygame.Rect(0, 0, cw, ch)
        r.center = cell.center
        rects.append(r)
    if board.kind == "first_then":
        for r in rects:
            headers.append(pygame.Rect(r.x, r.y - theme.px(56), r.width, theme.px(48)))
    return Layout(size, title, rects, headers)


def grow_factor(now_ns: int, t_ns: int, low_stim: bool = False) -> float:
    """0..1 for the confirmation: grow → hold → settle; in low stimulation 1 throughout (steady)."""
    dt = now_ns - t_ns
    if dt < 0:
        return 0.0
    if low_stim:
        return 1.0 if dt < CONFIRM_NS else 0.0
    if dt < GROW_NS:
        return dt / GROW_NS
    if dt < GROW_NS + HOLD_NS:
        return 1.0
    if dt < GROW_NS + HOLD_NS + SHRINK_NS:
        return 1.0 - (dt - GROW_NS - HOLD_NS) / SHRINK_NS
    return 0.0


def draw_placeholder(surface: pygame.Surface, theme: th.Theme, center: tuple[int, int], box: int) -> None:
    r = pygame.Rect(0, 0, box, box)
    r.center = center
    pygame.draw.rect(surface, th.PANEL, r, border_radius=theme.px(16))
    pygame.draw.rect(surface, th.MUTED, r, width=theme.px(3), border_radius=theme.px(16))
    draw_text(surface, theme, "?", center, 80, colour=th.MUTED, bold=True)


def card_colour(card: Card, i: int) -> tuple[int, int, int]:
    return th.PALETTE[(card.colour if card.colour is not None else i) % len(th.PALETTE)]


def draw_card(surface: pygame.Surface, theme: th.Theme, card: Card, i: int, rect: pygame.Rect,
              pictures: Pictures, t: Callable[[str], str], *, grow: float, lit: bool,
              low_stim: bool, badge: str = "", dim: float = 0.0) -> None:
    """One card. ``grow`` 0..1: this card is the confirmed choice (grows unless low stimulation,
    outlined); ``dim`` 0..1: another card is being confirmed, this one steps back."""
    colour = card_colour(card, i)
    radius = theme.px(28)
    r = rect
    if grow > 0 and not low_stim:
        k = min(GROW, theme.px(40) / max(rect.width, rect.height))  # big cards grow by at most 40 px
        r = rect.inflate(int(rect.width * k * grow), int(rect.height * k * grow))
        r = r.clamp(surface.get_rect().inflate(-theme.px(24), -theme.px(24)))  # outline and all on screen
        colour = tuple(int(c + (255 - c) * 0.35 * grow) for c in colour)  # type: ignore[assignment]
    # A dark card face with a coloured frame keeps pictures (themselves colourful) readable.
    # Scanning must be seen from across the room: the lit card's face turns light.
    pygame.draw.rect(surface, (92, 106, 150) if lit else th.PANEL_HI, r, border_radius=radius)
    pygame.draw.rect(surface, colour, r, width=theme.px(10), border_radius=radius)
    label_h = theme.px(58)
    box = max(8, min(r.width - theme.px(48), r.height - label_h - theme.px(40)))
    pic_center = (r.centerx, r.y + theme.px(18) + (r.height - label_h - theme.px(18)) // 2)
    img = pictures.get(card.picture, box) if card.picture else None
    if img is None:
        draw_placeholder(surface, theme, pic_center, min(box, theme.px(160)))
    else:
        surface.blit(img, img.get_rect(center=pic_center))
    draw_text(surface, theme, t(card.label), (r.centerx, r.bottom - label_h // 2 - theme.px(8)), 40,
              bold=True, max_width=r.width - theme.px(32))
    if badge:
        b = pygame.Rect(r.x + theme.px(16), r.y + theme.px(16), theme.px(64), theme.px(44))
        pygame.draw.rect(surface, colour, b, border_radius=theme.px(12))
        draw_text(surface, theme, badge, b.center, 26, colour=th.BG, bold=True, max_width=b.width - 4)
    if dim > 0:
        shade = pygame.Surface(r.inflate(theme.px(4), theme.px(4)).size, pygame.SRCALPHA)
        pygame.draw.rect(shade, (*th.BG, int(DIM_ALPHA * dim)), shade.get_rect(), border_radius=radius)
        surface.blit(shade, r.inflate(theme.px(4), theme.px(4)))
    if lit:
        pygame.draw.rect(surface, th.FOCUS, r.inflate(theme.px(18), theme.px(18)), width=theme.px(10),
                         border_radius=radius + theme.px(8))
    elif grow > 0:  # the confirmed choice: a clear outline that stays while it is spoken
        pygame.draw.rect(surface, th.ACCENT, r.inflate(theme.px(20), theme.px(20)), width=theme.px(8),
                         border_radius=radius + theme.px(10))


def draw(surface: pygame.Surface, theme: th.Theme, board: Board, state: BoardState, lay: Layout,
         pictures: Pictures, now_ns: int, t: Callable[[str], str], *, low_stim: bool,
         badges: list[str], status: str = "") -> None:
    surface.fill(th.BG)
    draw_text(surface, theme, t(board.title), lay.title.center, 44, bold=True, colour=th.TEXT,
              max_width=lay.title.width - theme.px(200))
    if status:
        draw_text(surface, theme, status, (lay.title.right, lay.title.centery), 26, colour=th.ACCENT,
                  anchor="midright")
    lit = set(state.highlighted())
    chosen, level = None, 0.0  # the latest choice, while it is being confirmed
    if state.chosen:
        chosen = state.chosen[-1][0]
        level = grow_factor(now_ns, state.chosen[-1][1], low_stim)
    if board.kind == "first_then":
        for hdr, word in zip(lay.headers, (t("First"), t("Then"))):
            draw_text(surface, theme, word, hdr.center, 44, bold=True, colour=th.ACCENT)
        if len(lay.cards) == 2:
            a, b = lay.cards
            y = a.centery
            x0, x1 = a.right + theme.px(14), b.left - theme.px(14)
            if x1 - x0 > theme.px(30):
                pygame.draw.line(surface, th.MUTED, (x0, y), (x1 - theme.px(6), y), theme.px(8))
                pygame.draw.polygon(surface, th.MUTED, [(x1, y), (x1 - theme.px(26), y - theme.px(20)),
                                                        (x1 - theme.px(26), y + theme.px(20))])
    # Draw the confirmed card last so it sits on top of its neighbours; hidden cards leave a gap.
    order = sorted(range(len(lay.cards)), key=lambda i: i == chosen)
    for i in order:
        if board.cards[i].hidden:
            continue
        mine = i == chosen and level > 0
        draw_card(surface, theme, board.cards[i], i, lay.cards[i], pictures, t, grow=level if mine else 0.0,
                  lit=i in lit, low_stim=low_stim, badge=badges[i] if i < len(badges) else "",
                  dim=level if level > 0 and not mine and i not in lit else 0.0)
    for card, progress, _pos in state.dwell_progress(now_ns):
        if card < len(lay.cards):
            r = lay.cards[card]
            radius = min(r.width, r.height) // 2 - theme.px(10)
            pygame.draw.circle(surface, th.PANEL, r.center, radius, theme.px(12))
            draw_ring(surface, r.center, radius, progress, th.ACCENT, theme.px(12))
