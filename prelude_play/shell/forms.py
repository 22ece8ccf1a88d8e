"""What every therapist form shares: text fields, the on-screen keyboard docked under them, a
page that scrolls by drag or wheel, and the "Save changes?" question before unsaved edits go.

Typed text reaches the focused field two ways: SDL's TEXTINPUT (a physical keyboard, or the
OS's own) through ``app.text_sink``, and the keys of ``ui.keyboard.OnScreenKeyboard``. The
keyboard shows as ``ui.on_screen_keyboard`` says (``KeyboardPolicy``): in "auto", for a field
focused by touch or while no physical key has been typed in this run — and it steps aside as
soon as a physical key types into the field (a touchscreen laptop), until the next focus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

import pygame

from prelude_play.events import InputEvent
from prelude_play.shell.stack import Screen
from prelude_play.ui import theme as th
from prelude_play.ui.keyboard import KeyboardPolicy, KeyResult, OnScreenKeyboard
from prelude_play.ui.widgets import Button, WrapButton, draw_text

if TYPE_CHECKING:
    from prelude_play.shell.port import ShellPort

PHYSICAL_EDIT_KEYS = frozenset({"backspace", "delete", "return", "enter", "tab"})
"""Keys that only a keyboard sends (a page-turner pedal sends page up/down and arrows)."""


class Coordinator(Protocol):
    """What the forms ask of the therapist's side (``therapist.Therapist``)."""

    areas: dict[str, str]
    typing: KeyboardPolicy

    def open_export(self, session: dict[str, Any] | None = None) -> None: ...
    def edit_client(self, client_id: str, return_to: str = "clients", new: bool = False) -> None: ...
    def new_client(self, return_to: str = "clients") -> None: ...


def fit_tail(font: pygame.font.Font, text: str, width: int) -> str:
    """``text``, or its end after "…" when it is too wide: while typing, the end is what matters."""
    if font.size(text)[0] <= width:
        return text
    lo = 0
    while lo < len(text) and font.size("…" + text[lo:])[0] > width:
        lo += 1
    return "…" + text[lo:]


@dataclass
class TextField:
    """A one-line text box: tap to type (physical keyboard or the on-screen one).

    ``fresh``: the value is a suggestion (a new client's "Client 31"): the first key replaces it.
    ``page``: the field is part of a scrolling page (clipped to it, tappable only inside it).
    """

    id: str
    label: str
    value: str
    rect: pygame.Rect
    placeholder: str = ""
    fresh: bool = False
    page: bool = False

    def draw(self, surface: pygame.Surface, theme: th.Theme, focused: bool) -> None:
        pygame.draw.rect(surface, th.PANEL_HI if focused else th.PANEL, self.rect, border_radius=theme.px(12))
        if focused:
            pygame.draw.rect(surface, th.ACCENT, self.rect, width=theme.px(4), border_radius=theme.px(12))
        if self.label:  # small, at the top; the text below it keeps clear of it (accents included)
            draw_text(surface, theme, self.label, (self.rect.x + theme.px(14), self.rect.y + theme.px(15)), 18,
                      colour=th.MUTED, anchor="midleft", max_width=self.rect.width - theme.px(28))
        y = self.rect.bottom - theme.px(21) if self.label else self.rect.centery
        width = self.rect.width - theme.px(28)
        if not self.value and self.placeholder:
            draw_text(surface, theme, self.placeholder + ("▌" if focused else ""), (self.rect.x + theme.px(14), y),
                      26, colour=th.MUTED, anchor="midleft", max_width=width)
            return
        if focused:
            text = fit_tail(theme.font(26), self.value, width - theme.px(20)) + "▌"
            if self.fresh:  # a suggestion the first key replaces: shown marked, like selected text
                img = theme.font(26).render(self.value, True, th.BG)
                box = img.get_rect(midleft=(self.rect.x + theme.px(14), y)).inflate(theme.px(8), theme.px(4))
                pygame.draw.rect(surface, th.NEUTRAL, box.clip(self.rect), border_radius=theme.px(6))
                draw_text(surface, theme, self.value, (self.rect.x + theme.px(14), y), 26, anchor="midleft",
                          colour=th.BG, max_width=width)
                return
            draw_text(surface, theme, text, (self.rect.x + theme.px(14), y), 26, anchor="midleft")
        else:
            draw_text(surface, theme, self.value, (self.rect.x + theme.px(14), y), 26, anchor="midleft",
                      max_width=width)


def edit(f: TextField, result: KeyResult) -> None:
    """Apply one key to a field (a fresh suggestion is replaced by the first key)."""
    if result.kind == "text":
        f.value = result.text if f.fresh else f.value + result.text
    elif result.kind == "backspace":
        f.value = "" if f.fresh else f.value[:-1]
    else:
        return
    f.fresh = False


class KeyboardDock:
    """The on-screen keyboard of one screen: shown while a field is focused (as the policy says),
    docked at the bottom; takes the pointer events that land on it; ``on_key`` gets each key."""

    def __init__(self, app: "ShellPort", on_key: Callable[[KeyResult], None]) -> None:
        self.app = app
        self.on_key = on_key
        self.kb = OnScreenKeyboard(app.language, t=lambda s: self.app.t(s))
        self.active = False
        self.by_touch = False
        self.stepped_aside = False  # a physical key typed into this field: out of the way until next focus
        self._at: dict[int, tuple[float, float]] = {}

    @property
    def policy(self) -> KeyboardPolicy:
        return self.app.therapist.typing

    def open(self, by_touch: bool) -> None:
        self.active, self.by_touch, self.stepped_aside = True, by_touch, False
        self.kb.reset()
        self.kb.set_layout(self.policy.layout or self.app.language)
        self._at.clear()

    def close(self) -> None:
        self.active = False
        self.kb.held.clear()
        self._at.clear()

    def physical_key(self) -> None:
        self.policy.typed_physically()
        self.stepped_aside = True

    def shown(self) -> bool:
        if not self.active or (self.stepped_aside and self.policy.mode != "always"):
            return False
        return self.policy.wanted(self.by_touch)

    def top(self) -> int:
        """Where the keyboard starts (the window's bottom when it is hidden)."""
        if not self.shown():
            return self.app.theme.size[1]
        return self.kb.place(self.app.theme).y

    def pointer(self, ev: InputEvent) -> bool:
        """True if the event was the keyboard's (a press on it, or a finger that began on it)."""
        if not self.shown() or ev.pos is None:
            return False
        pid = ev.pointer_id or 0
        if ev.kind == "down":
            self.kb.place(self.app.theme)
            if not self.kb.down(pid, ev.pos):
                return False
            self._at[pid] = ev.pos
            return True
        if not self.kb.holds(pid):
            return ev.kind in ("up", "move") and self.kb.rect.collidepoint(ev.pos)
        if ev.kind == "move":
            self._at[pid] = ev.pos
        elif ev.kind == "up":
            self._at.pop(pid, None)
            result = self.kb.up(pid, ev.pos)
            if result is not None:
                if self.kb.layout != (self.policy.layout or self.app.language):
                    self.policy.layout = self.kb.layout  # the therapist's choice, for every field after
                self.on_key(result)
        return True

    def find(self, key_id: str) -> Any:
        if not self.shown():
            return None
        self.kb.place(self.app.theme)
        return self.kb.find(key_id)

    def draw(self, surface: pygame.Surface) -> None:
        if self.shown():
            self.kb.place(self.app.theme)
            self.kb.draw(surface, self.app.theme, self._at)


class Scroller:
    """Vertical scrolling of one region by drag and mouse wheel.

    A press inside the region acts on release, and only if the finger did not drag (a drag
    scrolls and is never a tap); ``pointer`` says which happened.
    """

    def __init__(self) -> None:
        self.view = pygame.Rect(0, 0, 0, 0)
        self.offset = 0
        self.content_h = 0
        self._press: dict[int, tuple[tuple[float, float], int, bool]] = {}  # pointer -> (at, offset then, dragged)

    @property
    def most(self) -> int:
        return max(0, self.content_h - self.view.height)

    def set(self, view: pygame.Rect, content_h: int) -> None:
        self.view, self.content_h = view, content_h
        self.offset = max(0, min(self.most, self.offset))

    def ensure(self, top: int, bottom: int, margin: int = 0) -> None:
        """Scroll the least that shows content rows ``top``..``bottom`` (page coordinates)."""
        if bottom + margin > self.offset + self.view.height:
            self.offset = bottom + margin - self.view.height
        if top - margin < self.offset:
            self.offset = top - margin
        self.offset = max(0, min(self.most, self.offset))

    def pointer(self, ev: InputEvent, slop: int) -> tuple[str, tuple[float, float] | None]:
        """("", None) not ours; ("down", None) waiting; ("scrolled", None); ("tap", where it went down)."""
        pid, pos = ev.pointer_id or 0, ev.pos
        if pos is None:
            return "", None
        if ev.kind == "wheel":
            if not self.view.collidepoint(pos):
                return "", None
            self.offset = max(0, min(self.most, self.offset - int(ev.value or 0) * max(1, self.view.height // 4)))
            return "scrolled", None
        if ev.kind == "down":
            if not self.view.collidepoint(pos):
                return "", None
            self._press[pid] = (pos, self.offset, False)
            return "down", None
        press = self._press.get(pid)
        if press is None:
            return "", None
        at, off0, dragged = press
        if ev.kind == "move":
            if dragged or abs(pos[1] - at[1]) > slop:
                self._press[pid] = (at, off0, True)
                self.offset = int(max(0, min(self.most, off0 - (pos[1] - at[1]))))
                return "scrolled", None
            return "down", None
        if ev.kind == "up":
            del self._press[pid]
            return ("", None) if dragged else ("tap", at)
        return "", None

    def cancel(self) -> None:
        self._press.clear()

    def draw_bar(self, surface: pygame.Surface, theme: th.Theme, view: pygame.Rect | None = None) -> None:
        """A thin bar at the right edge, when there is more than fits."""
        view = view or self.view
        if not self.most or view.height <= 0:
            return
        bar_h = max(theme.px(40), int(view.height * view.height / max(self.content_h, 1)))
        by = view.y + int((view.height - bar_h) * self.offset / self.most)
        pygame.draw.rect(surface, th.MUTED, pygame.Rect(view.right - theme.px(8), by, theme.px(6), bar_h),
                         border_radius=theme.px(3))


class FormScreen(Screen):
    """A screen with buttons and text fields; one field at a time takes typed text.

    Optional, for subclasses: a scrolling page (``self.view``: items made with ``page=True``
    scroll in it; ``self.scroller.content_h`` its height) and an unsaved-changes guard (``unsaved``,
    ``save``, ``discard``; leave through ``guard``).
    """

    title = ""

    def __init__(self, app: "ShellPort", coord: Coordinator) -> None:
        super().__init__(app)
        self.coord = coord
        """The therapist screens' coordinator (plans, areas, the other screens)."""
        self.fields: list[TextField] = []
        self.focus: TextField | None = None
        self.message = ""
        self.message_colour = th.PARTIAL
        self.dock = KeyboardDock(app, self.on_key)
        self.view: pygame.Rect | None = None
        self.scroller = Scroller()
        self.asking: Callable[[], None] | None = None  # where to go once "Save changes?" is answered
        self.prompt: list[Button] = []

    def enter(self) -> None:
        """Called when the screen is shown."""
        self.message = ""
        self.asking, self.prompt = None, []
        self.layout()

    def leave(self) -> None:
        self.unfocus()
        self.scroller.cancel()
        self.asking, self.prompt = None, []

    # ---- fields and the keyboard -------------------------------------------------------------

    def field(self, fid: str) -> TextField | None:
        return next((f for f in self.fields if f.id == fid), None)

    def focus_field(self, fid: str) -> None:
        self.focus = self.field(fid)
        if self.focus is not None:
            self.dock.open(self.dock.policy.last_source == "touch")
            self.app.text_sink = self.type_text
            pygame.key.start_text_input()
            self.reveal()

    def unfocus(self) -> None:
        if self.focus is not None:
            self.field_done(self.focus)
        self.focus = None
        shown = self.dock.shown()
        self.dock.close()
        if self.app.text_sink == self.type_text:
            self.app.text_sink = None
            pygame.key.stop_text_input()
        if shown and self.view is not None:
            self.relayout()  # the page has the room back

    def field_done(self, f: TextField) -> None:
        """A field lost focus: keep its value (subclasses store it)."""

    def field_changed(self, f: TextField) -> None:
        """The focused field's text changed (subclasses may follow it live)."""

    def type_text(self, text: str) -> None:
        """Text from SDL (a physical keyboard): typed, and the on-screen keyboard steps aside."""
        if self.focus is not None:
            self.physical_key()
        if self.focus is not None:
            edit(self.focus, KeyResult("text", text))
            self.field_changed(self.focus)

    def physical_key(self) -> None:
        """A physical keyboard typed: the on-screen one steps aside and the page gets the room."""
        was = self.dock.shown()
        self.dock.physical_key()
        if was and not self.dock.shown():
            self.relayout()

    def on_key(self, result: KeyResult) -> None:
        """A key of the on-screen keyboard."""
        if self.focus is None:
            return
        if result.kind == "done":
            self.unfocus()
        elif result.kind in ("text", "backspace"):
            edit(self.focus, result)
            self.field_changed(self.focus)
        else:  # the keyboard changed page or layout: its height may have changed
            self.reveal()

    def reveal(self) -> None:
        """Keep the focused field in sight above the keyboard (scrolling the page if it is on it)."""
        f = self.focus
        if f is None or self.view is None or not f.page:
            return
        visible = self.visible_view()
        extent = self.focus_extent(f)
        top = extent.y - self.view.y + self.scroller.offset
        self.scroller.view = visible
        self.scroller.ensure(top, top + extent.height, self.app.theme.px(8))
        self.relayout()

    def focus_extent(self, f: TextField) -> pygame.Rect:
        """What to keep in sight while ``f`` is focused (a subclass may add the fields that go with it)."""
        return f.rect

    def visible_view(self) -> pygame.Rect:
        """The page's region not under the keyboard."""
        assert self.view is not None
        bottom = min(self.view.bottom, self.dock.top() - self.app.theme.px(8))
        return pygame.Rect(self.view.x, self.view.y, self.view.width, max(0, bottom - self.view.y))

    def relayout(self) -> None:
        """Layout again, keeping the focused field and what has been typed into it."""
        f = self.focus
        self.layout()
        if f is not None:
            again = self.field(f.id)
            if again is not None:
                again.value, again.fresh = f.value, f.fresh
            self.focus = again
            if again is None:
                self.dock.close()

    def page_y(self, y: int) -> int:
        """Screen y of page row ``y`` (page coordinates start at the top of ``self.view``)."""
        assert self.view is not None
        return self.view.y + y - self.scroller.offset

    def in_view(self, rect: pygame.Rect) -> bool:
        return self.view is not None and self.visible_view().collidepoint(rect.center)

    # ---- input ---------------------------------------------------------------------------

    def pointer(self, ev: InputEvent) -> None:
        if self.before_pointer(ev):
            return
        if self.view is not None:
            self.scroller.view = self.visible_view()
            what, at = self.scroller.pointer(ev, self.app.theme.px(12))
            if what == "scrolled":
                self.relayout()
                return
            if what == "down":
                return
            if what == "tap" and at is not None and ev.pos is not None:
                if self._target(at) is self._target(ev.pos):
                    self.tap(at)
                return
        if ev.kind == "down" and ev.pos is not None:
            self.tap(ev.pos)

    def before_pointer(self, ev: InputEvent) -> bool:
        """The "Save changes?" question and the keyboard come first; True if one took ``ev``."""
        if ev.kind == "down":
            self.dock.policy.last_source = ev.source
        if self.asking is not None:
            if ev.kind == "down" and ev.pos is not None:
                b = next((b for b in self.prompt if b.hit(ev.pos)), None)
                if b is not None and b.on_press is not None:
                    b.on_press()
            return True
        return self.dock.pointer(ev)

    def _target(self, pos: tuple[float, float]) -> object | None:
        return next((x for x in [*self.fields, *self.buttons] if x.rect.collidepoint(pos)), None)

    def _tappable(self, item: Any, pos: tuple[float, float]) -> bool:
        page = item.page if isinstance(item, TextField) else item.data.get("page", False)
        return not page or (self.view is not None and self.visible_view().collidepoint(pos))

    def tap(self, pos: tuple[float, float]) -> bool:
        for f in self.fields:
            if f.rect.collidepoint(pos) and self._tappable(f, pos):
                if self.focus is not f:
                    self.unfocus()
                    self.focus_field(f.id)
                return True
        for b in self.buttons:
            if b.hit(pos) and self._tappable(b, pos):
                if b.on_press:
                    b.on_press()
                return True
        self.unfocus()
        return False

    def key(self, name: str) -> bool:
        if self.asking is not None:
            if name == "escape":
                self.keep_editing()
            elif name in ("return", "enter"):
                self.answer_save()
            return True
        if self.focus is not None:
            if name in PHYSICAL_EDIT_KEYS:
                self.physical_key()
            if name == "backspace" and self.focus is not None:
                edit(self.focus, KeyResult("backspace"))
                self.field_changed(self.focus)
            elif name in ("return", "enter", "escape", "tab"):
                self.unfocus()
            return True
        if name == "escape":
            self.back()
            return True
        return False

    def back(self) -> None:
        self.app.nav.show("home")

    # ---- unsaved changes -----------------------------------------------------------------

    def unsaved(self) -> bool:
        """Edits not saved yet (a subclass with a Save button says)."""
        return False

    def save(self) -> bool:
        """Store the edits; False if they could not be (the message says why)."""
        return True

    def discard(self) -> None:
        """Forget the edits."""

    def guard(self, then: Callable[[], None]) -> None:
        """Go on with ``then``, after asking "Save changes?" if there are unsaved edits."""
        self.unfocus()
        if not self.unsaved():
            then()
            return
        self.asking = then
        theme = self.app.theme
        w, h = theme.size
        bw, bh, gap = theme.px(260), theme.px(96), theme.px(18)
        x0 = (w - 3 * bw - 2 * gap) // 2
        y = h // 2 + theme.px(20)
        self.prompt = [
            WrapButton("unsaved:save", self.t("Save"), pygame.Rect(x0, y, bw, bh), on_press=self.answer_save,
                   colour=th.GOOD, text_colour=th.BG, font_size=30),
            WrapButton("unsaved:discard", self.t("Discard"), pygame.Rect(x0 + bw + gap, y, bw, bh),
                   on_press=self.answer_discard, colour=th.NOT_YET, text_colour=th.BG, font_size=30),
            WrapButton("unsaved:keep", self.t("Keep editing"), pygame.Rect(x0 + 2 * (bw + gap), y, bw, bh),
                   on_press=self.keep_editing, font_size=30)]

    def answer_save(self) -> None:
        then, self.asking, self.prompt = self.asking, None, []
        if self.save() and then is not None:
            then()

    def answer_discard(self) -> None:
        then, self.asking, self.prompt = self.asking, None, []
        self.discard()
        if then is not None:
            then()

    def keep_editing(self) -> None:
        self.asking, self.prompt = None, []

    # ---- for the pilot and drawing ---------------------------------------------------------

    def find(self, button_id: str) -> Any:
        if self.asking is not None:
            return next((b for b in self.prompt if b.id == button_id), None)
        if button_id.startswith("key:"):
            return self.dock.find(button_id)
        found = super().find(button_id) or self.field(button_id)
        if found is None:
            return None
        if not self._tappable(found, found.rect.center) or (
                self.dock.shown() and self.dock.kb.rect.collidepoint(found.rect.center)):
            return None  # scrolled out of sight or under the keyboard: out of reach
        return found

    def say(self, text: str, colour: tuple[int, int, int] = th.PARTIAL) -> None:
        self.message, self.message_colour = text, colour

    def draw(self, surface: pygame.Surface) -> None:
        theme = self.app.theme
        surface.fill(th.BG)
        self.draw_header(surface)
        page_view = self.visible_view() if self.view is not None else None
        clip = surface.get_clip()
        for in_page in (False, True):
            if in_page:
                if page_view is None:
                    break
                surface.set_clip(page_view)
            for b in self.buttons:
                if b.data.get("page", False) == in_page:
                    b.draw(surface, theme)
            for f in self.fields:
                if f.page == in_page:
                    f.draw(surface, theme, f is self.focus)
        surface.set_clip(clip)
        if page_view is not None:
            self.scroller.view = page_view
            self.scroller.draw_bar(surface, theme)
        self.draw_extra(surface)
        self.dock.draw(surface)
        if self.asking is not None:
            self.draw_prompt(surface)

    def draw_header(self, surface: pygame.Surface) -> None:
        theme = self.app.theme
        draw_text(surface, theme, self.t(self.title), (theme.px(32), theme.px(44)), 44, bold=True,
                  colour=th.ACCENT, anchor="midleft")
        if self.message:
            draw_text(surface, theme, self.message, (theme.size[0] - theme.px(32), theme.px(44)), 24,
                      colour=self.message_colour, anchor="midright", max_width=theme.size[0] // 2)

    def draw_extra(self, surface: pygame.Surface) -> None:
        """Anything a subclass draws over its buttons, under the keyboard."""

    def draw_prompt(self, surface: pygame.Surface) -> None:
        theme = self.app.theme
        w, h = theme.size
        shade = pygame.Surface(theme.size, pygame.SRCALPHA)
        shade.fill((10, 12, 20, 220))
        surface.blit(shade, (0, 0))
        box = pygame.Rect(0, 0, min(w - theme.px(40), theme.px(920)), theme.px(330))
        box.center = (w // 2, h // 2)
        pygame.draw.rect(surface, th.PANEL, box, border_radius=theme.px(24))
        draw_text(surface, theme, self.t("Save changes?"), (w // 2, box.y + theme.px(60)), 44, bold=True,
                  colour=th.ACCENT, max_width=box.width - theme.px(40))
        draw_text(surface, theme, self.t("Your edits are not saved yet."), (w // 2, box.y + theme.px(120)), 28,
                  max_width=box.width - theme.px(40))
        for b in self.prompt:
            b.draw(surface, theme)
