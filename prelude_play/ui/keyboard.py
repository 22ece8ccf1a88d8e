"""The on-screen keyboard for the therapist's text fields (a tablet has no physical one).

Pure layout, hit-testing and drawing: the screen that owns a text field docks the keyboard at
the bottom, hands it its pointer events and applies what a key returns (``KeyResult``). Two
layouts, both QWERTY (Canadian keyboards are QWERTY): English, and French (Canada) with a row of
accented letters (é è à ù ç ê â î ô û ë ï ü œ) always shown; the English layout shows the same
row with the "àé" key, so a French name is typed the same way in either. « » and the digits
are on the "?123" page.

A key acts on *release inside the same key* (as the scoring rail does): a finger sliding off a
key types nothing, and each finger has its own key, so two thumbs can overlap. Shift is one
tap for one capital, a second tap for caps lock, a third for off (no timing: tests and slow
fingers behave the same). Keys are at least 72 design px (≈ 12 mm on a 10-inch 1280x800 tablet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pygame

from prelude_play.ui import theme as th
from prelude_play.ui.widgets import draw_text

LAYOUTS = ("en", "fr_CA")
LAYOUT_NAMES = {"en": "English", "fr_CA": "Français"}
ACCENTS = "éèàùçêâîôûëïüœ"
MODES = ("auto", "always", "never")

KEY_H = 72  # design px: 12.2 mm at 1280x800 on 10.1 inches (149 dpi: 12 mm ≈ 70.6 px)
MIN_KEY = 72  # no key narrower than this either (the accents row is the narrowest)
GAP = 6
PAD = 8

# A row is a list of (key id, units): a character key's id is the character itself. Each row is
# 10 units wide; narrower rows are centred.
Row = list[tuple[str, float]]


def _chars(s: str, units: float = 1.0) -> Row:
    return [(ch, units) for ch in s]


BOTTOM: Row = [("page", 1.5), ("accents", 1), (",", 1), ("space", 3), ("-", 1), ("layout", 1), ("done", 1.5)]
LETTERS: list[Row] = [_chars("qwertyuiop"), _chars("asdfghjkl'"),
                      [("shift", 1.5), *_chars("zxcvbnm"), ("backspace", 1.5)]]
SYMBOLS: list[Row] = [_chars("1234567890"), _chars("-/:;()«»&@"),
                      [*_chars("%\".?!+=#"), ("backspace", 2)]]
ACCENT_ROW: Row = _chars(ACCENTS, 10 / len(ACCENTS))


@dataclass(frozen=True)
class KeyResult:
    """What a key did to the text: ``text`` typed, ``backspace``, or ``done`` (the field is finished)."""

    kind: str
    text: str = ""


@dataclass
class Key:
    """One key on screen; ``id`` is ``key:<character>`` or ``key:shift``, ``key:done``… (the pilot taps it)."""

    id: str
    label: str
    rect: pygame.Rect
    text: str = ""


class KeyboardPolicy:
    """When the keyboard shows: ``ui.on_screen_keyboard`` = "auto" | "always" | "never".

    "auto" shows it for a field focused by touch, or while nobody has typed on a physical
    keyboard in this run of the app (a tablet without one never types a physical key).
    """

    def __init__(self, mode: str = "auto") -> None:
        self.mode = mode if mode in MODES else "auto"
        self.physical_typed = False
        self.layout: str | None = None
        """The layout last picked with the keyboard's EN/FR key (None: the app's language)."""
        self.last_source = ""
        """The source ("touch", "mouse") of the last pointer press, for fields focused by a program."""

    def typed_physically(self) -> None:
        self.physical_typed = True

    def wanted(self, by_touch: bool) -> bool:
        if self.mode == "never":
            return False
        if self.mode == "always":
            return True
        return by_touch or not self.physical_typed


@dataclass
class OnScreenKeyboard:
    """The keyboard's state (layout, page, shift, accents row, keys held) and its keys on screen."""

    layout: str = "en"
    t: Callable[[str], str] = field(default=lambda s: s)
    page: str = "letters"  # letters | symbols
    shift: str = "off"  # off | once | lock
    accents: bool = False
    keys: list[Key] = field(default_factory=list)
    rect: pygame.Rect = field(default_factory=lambda: pygame.Rect(0, 0, 0, 0))
    held: dict[int, str] = field(default_factory=dict)
    """pointer id -> the key id it went down on (acts on release inside the same key)."""

    def __post_init__(self) -> None:
        self.set_layout(self.layout)

    def set_layout(self, layout: str) -> None:
        """English or French (Canada); the French layout shows the accents row by default."""
        self.layout = layout if layout in LAYOUTS else "en"
        self.accents = self.layout == "fr_CA"

    def reset(self) -> None:
        """A newly focused field starts on the letters page, no shift, no key held."""
        self.page, self.shift = "letters", "off"
        self.held.clear()

    # ---- layout ------------------------------------------------------------------------------

    def rows(self) -> list[Row]:
        body = LETTERS if self.page == "letters" else SYMBOLS
        top = [ACCENT_ROW] if self.accents and self.page == "letters" else []
        return [*top, *body, BOTTOM]

    def height(self, theme: th.Theme) -> int:
        n = len(self.rows())
        return n * theme.px(KEY_H) + (n - 1) * theme.px(GAP) + 2 * theme.px(PAD)

    def place(self, theme: th.Theme) -> pygame.Rect:
        """Dock at the bottom of the window at full width; returns (and keeps) the keyboard's rect."""
        w, h = theme.size
        kh = self.height(theme)
        self.rect = pygame.Rect(0, h - kh, w, kh)
        pad, gap, key_h = theme.px(PAD), theme.px(GAP), theme.px(KEY_H)
        pitch = (w - 2 * pad + gap) / 10
        self.keys = []
        y = self.rect.y + pad
        for row in self.rows():
            units = sum(u for _, u in row)
            x = pad + (10 - units) * pitch / 2
            for kid, u in row:
                r = pygame.Rect(round(x), y, round(u * pitch) - gap, key_h)
                self.keys.append(Key(f"key:{kid}", self._label(kid), r, self._text(kid)))
                x += u * pitch
            y += key_h + gap
        return self.rect

    def _text(self, kid: str) -> str:
        if len(kid) != 1:
            return " " if kid == "space" else ""
        return kid.upper() if self.shift != "off" and kid.isalpha() else kid

    def _label(self, kid: str) -> str:
        if len(kid) == 1:
            return self._text(kid)
        return {"shift": "⇪" if self.shift == "lock" else "⇧", "backspace": "⌫",
                "space": LAYOUT_NAMES[self.layout], "done": self.t("Done"),
                "page": "?123" if self.page == "letters" else "ABC", "accents": "àé",
                "layout": "FR" if self.layout == "en" else "EN"}[kid]

    # ---- input -------------------------------------------------------------------------------

    def key_at(self, pos: tuple[float, float]) -> Key | None:
        return next((k for k in self.keys if k.rect.collidepoint(pos)), None)

    def find(self, key_id: str) -> Key | None:
        return next((k for k in self.keys if k.id == key_id), None)

    def down(self, pointer: int, pos: tuple[float, float]) -> bool:
        """A finger or the mouse goes down: True if on the keyboard (the key shows pressed)."""
        if not self.rect.collidepoint(pos):
            return False
        k = self.key_at(pos)
        if k is not None:
            self.held[pointer] = k.id
        return True

    def holds(self, pointer: int) -> bool:
        return pointer in self.held

    def up(self, pointer: int, pos: tuple[float, float]) -> KeyResult | None:
        """The finger lifts: the key acts if it lifts inside the key it went down on."""
        kid = self.held.pop(pointer, None)
        k = self.key_at(pos)
        if kid is None or k is None or k.id != kid:
            return None
        return self.press(kid)

    def press(self, key_id: str) -> KeyResult | None:
        """What one key does (also for a test or a pilot that names the key)."""
        kid = key_id.split(":", 1)[1] if key_id.startswith("key:") else key_id
        if kid == "shift":
            self.shift = {"off": "once", "once": "lock", "lock": "off"}[self.shift]
        elif kid == "page":
            self.page = "symbols" if self.page == "letters" else "letters"
        elif kid == "accents":
            self.accents, self.page = not self.accents or self.page != "letters", "letters"
        elif kid == "layout":
            self.set_layout("fr_CA" if self.layout == "en" else "en")
            self.page = "letters"
        elif kid == "backspace":
            return KeyResult("backspace")
        elif kid == "done":
            return KeyResult("done")
        else:
            text = self._text(kid)
            if not text:
                return None
            if self.shift == "once" and kid.isalpha():
                self.shift = "off"
            return KeyResult("text", text)
        return KeyResult("state")

    # ---- drawing -----------------------------------------------------------------------------

    def draw(self, surface: pygame.Surface, theme: th.Theme,
             pressed_at: dict[int, tuple[float, float]] | None = None) -> None:
        """The keyboard over the bottom of the screen; a held key is drawn pressed while the
        finger is still on it (``pressed_at``: pointer -> where it is now)."""
        pygame.draw.rect(surface, th.PANEL, self.rect)
        pygame.draw.line(surface, th.MUTED, self.rect.topleft, self.rect.topright, theme.px(2))
        lit = {kid for p, kid in self.held.items()
               if pressed_at is None or (p in pressed_at and (k := self.find(kid)) is not None
                                         and k.rect.collidepoint(pressed_at[p]))}
        radius = theme.px(10)
        for k in self.keys:
            kid = k.id[4:]
            special = len(kid) != 1
            colour, text_colour = (th.BG if special else th.PANEL_HI), th.TEXT
            if (kid == "shift" and self.shift != "off") or (kid == "accents" and self.accents):
                colour = th.NEUTRAL if kid == "shift" and self.shift == "once" else th.ACCENT
                text_colour = th.BG
            if kid == "done":
                colour, text_colour = th.GOOD, th.BG
            if k.id in lit:
                colour, text_colour = th.FOCUS, th.BG
            pygame.draw.rect(surface, colour, k.rect, border_radius=radius)
            size = 24 if kid in ("space", "done", "page") else 34
            draw_text(surface, theme, k.label, k.rect.center, size, colour=text_colour, bold=not special,
                      max_width=k.rect.width - theme.px(8))
