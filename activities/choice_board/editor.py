"""The therapist's board editor and board list, drawn in the activity area (opened from the
therapist panel, while the therapist is at the screen).

The editor changes an immutable Board by replacing it: pick a board from the list, change its
size, move a card to another cell, cycle a card's picture / sound through what is installed, type
its label, record its spoken label with the microphone, hide it, add or remove cards; Save writes
the board as TOML to the user's boards folder (which then overrides the shipped one).

Cards keep their cells (motor planning): adding a card takes a free cell (the grid grows, keeping
every cell, only when none is free), removing or hiding one leaves a gap, and only "Move"
changes a card's place.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import pygame

from prelude_play.ui import theme as th
from prelude_play.ui.widgets import Button, draw_text, grid_rects

from .boards import MAX_CARDS, MIN_CARDS, SIZES, Board, Card, Step, grid_holding
from .view import Pictures, draw_card


def _cycle(options: list[str], current: str, step: int) -> str:
    if not options:
        return current
    i = options.index(current) if current in options else -1
    return options[(i + step) % len(options)]


class BoardList:
    """Boards by title, to pick one (instead of cycling through them all): a grid of big buttons,
    ``board:<id>``, and Cancel (``boards:cancel``). More than a page of boards (12) turns into
    pages (``boards:prev`` / ``boards:next``): buttons keep their size and place, so a therapist
    finds a board where it was last time — pages rather than a scroll, which a tap can't miss."""

    PER_PAGE = 12

    def __init__(self, boards: list[Board], current: str, t: Callable[[str], str],
                 on_pick: Callable[[str], None], on_cancel: Callable[[], None], heading: str) -> None:
        self.boards = boards
        self.current = current
        self.t = t
        self.on_pick = on_pick
        self.on_cancel = on_cancel
        self.heading = heading
        self.buttons: list[Button] = []
        self.title_rect = pygame.Rect(0, 0, 0, 0)
        self.page_rect = pygame.Rect(0, 0, 0, 0)
        at = next((i for i, b in enumerate(boards) if b.id == current), 0)
        self.page = at // self.PER_PAGE  # open on the page that holds the current board
        self._size: tuple[int, int] = (0, 0)
        self._theme: th.Theme | None = None

    @property
    def pages(self) -> int:
        return max(1, (len(self.boards) + self.PER_PAGE - 1) // self.PER_PAGE)

    def turn(self, by: int) -> None:
        """Show the previous (-1) or next (+1) page, stopping at either end."""
        self.page = max(0, min(self.pages - 1, self.page + by))
        if self._theme is not None:
            self.layout(self._size, self._theme)

    def layout(self, size: tuple[int, int], theme: th.Theme) -> None:
        self._size, self._theme = size, theme
        w, h = size
        pad = theme.px(16)
        self.title_rect = pygame.Rect(pad, pad, w - 2 * pad, theme.px(64))
        bottom = pygame.Rect(pad, h - pad - theme.px(88), w - 2 * pad, theme.px(88))
        area = pygame.Rect(pad, self.title_rect.bottom + pad, w - 2 * pad, bottom.top - self.title_rect.bottom - 2 * pad)
        shown = self.boards[self.page * self.PER_PAGE:(self.page + 1) * self.PER_PAGE]
        n = max(1, len(self.boards))
        cols = 2 if n <= 6 else 3
        rows = (min(n, self.PER_PAGE) + cols - 1) // cols
        cells = grid_rects(area, max(rows, 3), cols, pad)  # at least three rows: buttons stay button-sized
        self.buttons = []
        for r, b in zip(cells, shown):
            self.buttons.append(Button(f"board:{b.id}", self.t(b.title), r, on_press=lambda i=b.id: self.on_pick(i),
                                       selected=b.id == self.current, font_size=32,
                                       sublabel=f"{sum(not c.hidden for c in b.cards)} {self.t('cards')}"))
        cancel = pygame.Rect(0, 0, min(bottom.width, theme.px(360)), bottom.height)
        cancel.midright = bottom.midright
        self.buttons.append(Button("boards:cancel", self.t("Cancel"), cancel, on_press=self.on_cancel, font_size=30))
        self.page_rect = pygame.Rect(0, 0, 0, 0)
        if self.pages > 1:
            bw = theme.px(120)
            prev = pygame.Rect(bottom.left, bottom.top, bw, bottom.height)
            nxt = pygame.Rect(prev.right + theme.px(180), bottom.top, bw, bottom.height)
            self.page_rect = pygame.Rect(prev.right, bottom.top, nxt.left - prev.right, bottom.height)
            self.buttons.append(Button("boards:prev", "◀", prev, on_press=lambda: self.turn(-1), font_size=34,
                                       enabled=self.page > 0))
            self.buttons.append(Button("boards:next", "▶", nxt, on_press=lambda: self.turn(+1), font_size=34,
                                       enabled=self.page < self.pages - 1))

    def find(self, target: str) -> pygame.Rect | None:
        b = next((b for b in self.buttons if b.id == target), None)
        return b.rect if b else None

    def tap(self, pos: tuple[float, float]) -> bool:
        for b in list(self.buttons):  # a page turn rebuilds the list
            if b.hit(pos):
                if b.on_press:
                    b.on_press()
                return True
        return False

    def draw(self, surface: pygame.Surface, theme: th.Theme) -> None:
        surface.fill(th.BG)
        draw_text(surface, theme, self.heading, self.title_rect.center, 38, bold=True,
                  max_width=self.title_rect.width)
        for b in self.buttons:
            b.draw(surface, theme)
        if self.pages > 1:
            draw_text(surface, theme, f"{self.page + 1} / {self.pages}", self.page_rect.center, 30)


class BoardEditor:
    """Editing state plus its buttons. ``on_save(board)`` persists; ``on_play(card)`` previews
    its sound; ``on_record(board, card)`` starts or stops recording the card's label (returns a
    message); ``on_hear(board, card)`` plays what the client will hear for the label."""

    def __init__(self, boards: list[Board], start: int, pictures: list[str], sounds: list[str],
                 t: Callable[[str], str], on_save: Callable[[Board], str], on_play: Callable[[Card], None],
                 on_record: Callable[[Board, int], str] = lambda board, card: "",
                 on_hear: Callable[[Board, int], None] = lambda board, card: None) -> None:
        self.boards = list(boards)
        self.index = max(0, min(start, len(self.boards) - 1))
        self.card = 0
        self.picture_options = pictures
        self.sound_options = sounds
        self.t = t
        self.on_save = on_save
        self.on_play = on_play
        self.on_record = on_record
        self.on_hear = on_hear
        self.typing = False
        self.recording = False
        self.message = ""
        self.buttons: list[Button] = []
        self.card_rects: list[pygame.Rect] = []
        self.empty_rects: list[pygame.Rect] = []
        self.listing: BoardList | None = None
        self.dirty = False
        self._size: tuple[int, int] = (0, 0)
        self._theme: th.Theme | None = None

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

    def set_card_voice(self, board_id: str, card: int, voice: str) -> None:
        """A recording was made for ``card`` of ``board_id`` (by the activity, which owns the mic)."""
        for i, b in enumerate(self.boards):
            if b.id == board_id and card < len(b.cards):
                cards = list(b.cards)
                cards[card] = replace(cards[card], voice=voice)
                self.boards[i] = b.with_cards(cards)
                self.dirty = True

    # ---- actions ---------------------------------------------------------------------------

    def pick_board(self, step: int) -> None:
        self.index = (self.index + step) % len(self.boards)
        self.card, self.typing = 0, False

    def open_list(self) -> None:
        def pick(board_id: str) -> None:
            self.index = next(i for i, b in enumerate(self.boards) if b.id == board_id)
            self.card, self.typing, self.listing = 0, False, None

        def cancel() -> None:
            self.listing = None

        self.listing = BoardList(self.boards, self.board.id, self.t, pick, cancel, self.t("Board to edit"))

    def cycle_size(self) -> None:
        """The next standard size that still holds every card in its own cell."""
        b = self.board
        fits = [s for s in SIZES if s[0] * s[1] >= len(b.cards)
                and all(c.cell is None or (c.cell[0] < s[0] and c.cell[1] < s[1]) for c in b.cards)]
        cur = (b.rows, b.cols)
        nxt = fits[(fits.index(cur) + 1) % len(fits)] if cur in fits else fits[0]
        self._set_board(replace(b, rows=nxt[0], cols=nxt[1]))

    def add_card(self) -> None:
        """A new card in the first free cell; a full grid grows (keeping every card's cell)."""
        b = self.board
        if len(b.cards) >= MAX_CARDS:
            self.message = self.t("A board holds at most 9 cards")
            return
        new = Card(self.t("New card"), "", (Step("chimes:72"),))
        rows, cols = (b.rows, b.cols) if b.free_cells() else grid_holding(b.cards, len(b.cards) + 1, b.rows, b.cols)
        self._set_board(replace(b, cards=b.cards + (new,), rows=rows, cols=cols))
        self.card = len(self.board.cards) - 1

    def remove_card(self) -> None:
        """The card goes; its cell stays empty (the others keep their places)."""
        b = self.board
        if len(b.cards) <= MIN_CARDS:
            self.message = self.t("A board needs at least 2 cards")
            return
        cards = [c for i, c in enumerate(b.cards) if i != self.card]
        self._set_board(b.with_cards(cards))
        self.card = min(self.card, len(cards) - 1)

    def move_card(self, step: int) -> None:
        """Move the card to the previous/next cell in reading order (swapping with a card there)."""
        b = self.board
        cell = b.cards[self.card].cell
        if cell is None:
            return
        k = cell[0] * b.cols + cell[1] + step
        if not 0 <= k < b.rows * b.cols:
            return
        target = (k // b.cols, k % b.cols)
        cards = list(b.cards)
        other = b.card_in(target)
        if other is not None:
            cards[other] = replace(cards[other], cell=cell)
        cards[self.card] = replace(cards[self.card], cell=target)
        self._set_board(b.with_cards(cards))

    def toggle_hidden(self) -> None:
        c = self.board.cards[self.card]
        self._set_card(replace(c, hidden=not c.hidden))

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

    def record(self) -> None:
        self.typing = False
        self.message = self.on_record(self.board, self.card)

    def hear(self) -> None:
        self.on_hear(self.board, self.card)

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
        self._size, self._theme = size, theme
        if self.listing is not None:
            self.listing.layout(size, theme)
        w, h = size
        pad = theme.px(14)
        row_h = theme.px(84)
        t = self.t
        top = pygame.Rect(pad, pad, w - 2 * pad, row_h)
        bottom = pygame.Rect(pad, h - pad - 2 * row_h - pad, w - 2 * pad, 2 * row_h + pad)
        card = self.board.cards[min(self.card, len(self.board.cards) - 1)]
        top_specs = [("boards", t("Boards"), self.open_list),
                     ("size", f"{self.board.rows}×{self.board.cols}", self.cycle_size),
                     ("add", t("Add card"), self.add_card), ("remove", t("Remove card"), self.remove_card),
                     ("save", t("Save"), self.save)]
        card_specs = [("move_prev", t("Move left"), lambda: self.move_card(-1)),
                      ("move_next", t("Move right"), lambda: self.move_card(1)),
                      ("pic_prev", "◀ " + t("Picture"), lambda: self.cycle_picture(-1)),
                      ("pic_next", t("Picture") + " ▶", lambda: self.cycle_picture(1)),
                      ("snd_prev", "◀ " + t("Sound"), lambda: self.cycle_sound(-1)),
                      ("snd_next", t("Sound") + " ▶", lambda: self.cycle_sound(1)),
                      ("label", t("Done typing") if self.typing else t("Type label"), self.toggle_typing),
                      ("record", t("Stop recording") if self.recording else t("Record voice"), self.record),
                      ("hear", t("Hear label"), self.hear),
                      ("hide", t("Show card") if card.hidden else t("Hide card"), self.toggle_hidden)]
        title_w = int(top.width * 0.34)
        rest = pygame.Rect(top.x + title_w + pad, top.y, top.width - title_w - pad, top.height)
        self.title_rect = pygame.Rect(top.x, top.y, title_w, top.height)
        self.buttons = []
        for r, (bid, label, fn) in zip(grid_rects(rest, 1, len(top_specs), pad), top_specs):
            self.buttons.append(Button(f"edit:{bid}", label, r, on_press=fn, font_size=28,
                                       colour=th.GOOD if bid == "save" else th.PANEL_HI,
                                       text_colour=th.BG if bid == "save" else th.TEXT))
        first, second = card_specs[:6], card_specs[6:]  # two rows: the card's look, then its voice and place
        rects = grid_rects(bottom, 2, len(first), pad)[:len(first)] + grid_rects(bottom, 2, len(second), pad)[len(second):]
        for r, (bid, label, fn) in zip(rects, first + second):
            self.buttons.append(Button(f"edit:{bid}", label, r, on_press=fn, font_size=26,
                                       selected=(bid == "label" and self.typing) or (bid == "record" and self.recording),
                                       colour=th.DANGER if bid == "record" and self.recording else th.PANEL_HI))
        area = pygame.Rect(pad, top.bottom + theme.px(40), w - 2 * pad, bottom.top - top.bottom - theme.px(52))
        cells = grid_rects(area, self.board.rows, self.board.cols, pad)
        self.card_rects = [cells[(c.cell or (0, 0))[0] * self.board.cols + (c.cell or (0, 0))[1]]
                           for c in self.board.cards]
        self.empty_rects = [cells[r * self.board.cols + k] for r, k in self.board.free_cells()]
        self.info_y = top.bottom + theme.px(20)

    def relayout(self) -> None:
        if self._theme is not None:
            self.layout(self._size, self._theme)

    def find(self, target: str) -> pygame.Rect | None:
        if self.listing is not None:
            return self.listing.find(target)
        if target.startswith("edit:card:"):
            i = int(target.rsplit(":", 1)[1])
            return self.card_rects[i] if i < len(self.card_rects) else None
        b = next((b for b in self.buttons if b.id == target), None)
        return b.rect if b else None

    def tap(self, pos: tuple[float, float]) -> bool:
        if self.listing is not None:
            return self.listing.tap(pos)
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
        if self.listing is not None:
            self.listing.draw(surface, theme)
            return
        surface.fill(th.BG)
        b = self.board
        draw_text(surface, theme, f"{self.t('Edit')}: {self.t(b.title)}", self.title_rect.center, 32,
                  bold=True, max_width=self.title_rect.width)
        c = b.cards[min(self.card, len(b.cards) - 1)]
        voice = self.t("recorded voice") if c.voice else self.t("synthesized voice")
        info = f"{self.t('Card')} {self.card + 1}: {c.picture or '—'} · {c.first_sound or '—'} · {voice}"
        if self.message:
            info += f"   {self.message}"
        draw_text(surface, theme, info, (theme.px(24), self.info_y), 24, colour=th.MUTED, anchor="midleft",
                  max_width=surface.get_width() - theme.px(48))
        for r in self.empty_rects:  # a gap: a cell the client sees empty
            pygame.draw.rect(surface, th.PANEL, r, width=theme.px(3), border_radius=theme.px(20))
        for i, r in enumerate(self.card_rects):
            draw_card(surface, theme, b.cards[i], i, r, pictures, self.t, grow=0.0, lit=(i == self.card),
                      low_stim=True, dim=0.7 if b.cards[i].hidden else 0.0)
            if b.cards[i].hidden:
                draw_text(surface, theme, self.t("Hidden"), r.center, 30, bold=True, colour=th.ACCENT,
                          max_width=r.width - theme.px(16))
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
