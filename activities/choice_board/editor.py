"""The therapist's board editor, drawn in the activity area (opened from the therapist panel).

Edits an immutable Board by replacing it: pick a board, change its size, reorder cards, cycle a
card's picture / sound through what is installed, type its label, add or remove cards; Save
writes the board as TOML to the user's boards folder (which then overrides the shipped one).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import pygame

from prelude_play.ui import theme as th
from prelude_play.ui.widgets import Button, draw_text, grid_rects

from activities.choice_board.boards import MAX_CARDS, MIN_CARDS, SIZES, Board, Card, Step, fit_size
from activities.choice_board.view import Pictures, draw_card


def _cycle(options: list[str], current: str, step: int) -> str:
    if not options:
        return current
    i = options.index(current) if current in options else -1
    return options[(i + step) % len(options)]


class BoardEditor:
    """Editing state plus its buttons. ``on_save(board)`` persists; ``on_play(card)`` previews."""

    def __init__(self, boards: list[Board], start: int, pictures: list[str], sounds: list[str],
                 t: Callable[[str], str], on_save: Callable[[Board], str], on_play: Callable[[Card], None]) -> None:
        self.boards = list(boards)
        self.index = max(0, min(start, len(self.boards) - 1))
        self.card = 0
        self.picture_options = pictures
        self.sound_options = sounds
        self.t = t
        self.on_save = on_save
        self.on_play = on_play
        self.typing = False
        self.message = ""
        self.buttons: list[Button] = []
        self.card_rects: list[pygame.Rect] = []
        self.dirty = False

    @property
    def board(self) -> Board:
        return self.boards[self.index]

    def _set_board(self, board: Board) -> None:
        self.boards[self.index] = board
        self.dirty = True

    def _set_card(self, card: Card) -> None:
        cards = list(self.board.cards)
        cards[self.card] = card
        self._set_board(self.board.with_cards(cards))

    # ---- actions ---------------------------------------------------------------------------

    def pick_board(self, step: int) -> None:
        self.index = (self.index + step) % len(self.boards)
        self.card, self.typing = 0, False

    def cycle_size(self) -> None:
        b = self.board
        fits = [s for s in SIZES if s[0] * s[1] >= len(b.cards)]
        cur = (b.rows, b.cols)
        nxt = fits[(fits.index(cur) + 1) % len(fits)] if cur in fits else fits[0]
        self._set_board(replace(b, rows=nxt[0], cols=nxt[1]))

    def add_card(self) -> None:
        b = self.board
        if len(b.cards) >= MAX_CARDS:
            self.message = self.t("A board holds at most 9 cards")
            return
        new = Card(self.t("New card"), "", (Step("chimes:72"),))
        rows, cols = (b.rows, b.cols) if b.rows * b.cols > len(b.cards) else fit_size(len(b.cards) + 1)
        self._set_board(replace(b, cards=b.cards + (new,), rows=rows, cols=cols))
        self.card = len(self.board.cards) - 1

    def remove_card(self) -> None:
        b = self.board
        if len(b.cards) <= MIN_CARDS:
            self.message = self.t("A board needs at least 2 cards")
            return
        cards = [c for i, c in enumerate(b.cards) if i != self.card]
        self._set_board(b.with_cards(cards))
        self.card = min(self.card, len(cards) - 1)

    def move_card(self, step: int) -> None:
        cards = list(self.board.cards)
        j = self.card + step
        if 0 <= j < len(cards):
            cards[self.card], cards[j] = cards[j], cards[self.card]
            self._set_board(self.board.with_cards(cards))
            self.card = j

    def cycle_picture(self, step: int) -> None:
        c = self.board.cards[self.card]
        self._set_card(replace(c, picture=_cycle(self.picture_options, c.picture, step)))

    def cycle_sound(self, step: int) -> None:
        c = self.board.cards[self.card]
        name = _cycle(self.sound_options, c.first_sound or "", step)
        self._set_card(replace(c, sound=(Step(name),)))
        self.on_play(self.board.cards[self.card])

    def toggle_typing(self) -> None:
        self.typing = not self.typing

    def save(self) -> None:
        self.message = self.on_save(self.board)
        self.dirty = False

    def key(self, name: str, shift: bool = False) -> bool:
        """Typed label editing from a keyboard (key names from the shell)."""
        if not self.typing:
            return False
        c = self.board.cards[self.card]
        label = c.label
        if name in ("return", "enter", "escape"):
            self.typing = False
            return True
        if name == "backspace":
            label = label[:-1]
        elif name == "space":
            label += " "
        elif len(name) == 1:
            label += name.upper() if shift else name
        else:
            return True
        self._set_card(replace(c, label=label[:40]))
        return True

    # ---- layout, input, drawing ------------------------------------------------------------

    def layout(self, size: tuple[int, int], theme: th.Theme) -> None:
        w, h = size
        pad = theme.px(16)
        row_h = theme.px(96)
        t = self.t
        top = pygame.Rect(pad, pad, w - 2 * pad, row_h)
        bottom = pygame.Rect(pad, h - pad - row_h, w - 2 * pad, row_h)
        top_specs = [("board_prev", "◀", lambda: self.pick_board(-1)),
                     ("board_next", "▶", lambda: self.pick_board(1)),
                     ("size", f"{self.board.rows}×{self.board.cols}", self.cycle_size),
                     ("add", t("Add card"), self.add_card), ("remove", t("Remove card"), self.remove_card),
                     ("save", t("Save"), self.save)]
        card_specs = [("move_prev", t("Move left"), lambda: self.move_card(-1)),
                      ("move_next", t("Move right"), lambda: self.move_card(1)),
                      ("pic_prev", "◀ " + t("Picture"), lambda: self.cycle_picture(-1)),
                      ("pic_next", t("Picture") + " ▶", lambda: self.cycle_picture(1)),
                      ("snd_prev", "◀ " + t("Sound"), lambda: self.cycle_sound(-1)),
                      ("snd_next", t("Sound") + " ▶", lambda: self.cycle_sound(1)),
                      ("label", t("Done typing") if self.typing else t("Type label"), self.toggle_typing)]
        title_w = int(top.width * 0.36)
        rest = pygame.Rect(top.x + title_w + pad, top.y, top.width - title_w - pad, top.height)
        self.title_rect = pygame.Rect(top.x, top.y, title_w, top.height)
        self.buttons = []
        for r, (bid, label, fn) in zip(grid_rects(rest, 1, len(top_specs), pad), top_specs):
            self.buttons.append(Button(f"edit:{bid}", label, r, on_press=fn, font_size=28,
                                       colour=th.GOOD if bid == "save" else th.PANEL_HI,
                                       text_colour=th.BG if bid == "save" else th.TEXT))
        for r, (bid, label, fn) in zip(grid_rects(bottom, 1, len(card_specs), pad), card_specs):
            self.buttons.append(Button(f"edit:{bid}", label, r, on_press=fn, font_size=26,
                                       selected=(bid == "label" and self.typing)))
        area = pygame.Rect(pad, top.bottom + theme.px(44), w - 2 * pad,
                           bottom.top - top.bottom - theme.px(60))
        cells = grid_rects(area, self.board.rows, self.board.cols, pad)
        self.card_rects = cells[: len(self.board.cards)]
        self.info_y = top.bottom + theme.px(22)

    def find(self, target: str) -> pygame.Rect | None:
        if target.startswith("edit:card:"):
            i = int(target.rsplit(":", 1)[1])
            return self.card_rects[i] if i < len(self.card_rects) else None
        b = next((b for b in self.buttons if b.id == target), None)
        return b.rect if b else None

    def tap(self, pos: tuple[float, float]) -> bool:
        for b in self.buttons:
            if b.hit(pos):
                if b.on_press:
                    b.on_press()
                return True
        for i, r in enumerate(self.card_rects):
            if r.collidepoint(pos):
                self.card, self.typing = i, False
                return True
        return False

    def draw(self, surface: pygame.Surface, theme: th.Theme, pictures: Pictures) -> None:
        surface.fill(th.BG)
        b = self.board
        draw_text(surface, theme, f"{self.t('Edit')}: {self.t(b.title)}", self.title_rect.center, 32,
                  bold=True, max_width=self.title_rect.width)
        c = b.cards[min(self.card, len(b.cards) - 1)]
        info = f"{self.t('Card')} {self.card + 1}: {c.picture or '—'} · {c.first_sound or '—'}"
        if self.message:
            info += f"   {self.message}"
        draw_text(surface, theme, info, (theme.px(24), self.info_y), 24, colour=th.MUTED, anchor="midleft",
                  max_width=surface.get_width() - theme.px(48))
        for i, r in enumerate(self.card_rects):
            draw_card(surface, theme, b.cards[i], i, r, pictures, self.t, grow=0.0, lit=(i == self.card),
                      low_stim=True)
        for btn in self.buttons:
            btn.draw(surface, theme)


def list_pictures(folders: list[Path]) -> list[str]:
    """Picture file names offered in the editor, in folder order (the therapist's own first)."""
    out: list[str] = []
    for folder in folders:
        if folder and folder.is_dir():
            for p in sorted(folder.iterdir()):
                if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".svg") and p.name not in out:
                    out.append(p.name)
    return out
