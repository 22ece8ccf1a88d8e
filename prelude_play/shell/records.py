"""Client records: the client list (home's and the Clients screen's), and one client's editor.

A clinic keeps any number of clients: the list scrolls (drag or wheel), a search finds a client
by name or code whatever the accents and case, the count says how many there are, and the
selected client is always brought into view, so a session never starts on a record the
therapist could not see. The editor keeps every goal (their ids never change: events are
tagged ``client:<id>``, so a goal's text can be corrected without touching its history), and
never drops edits without asking.
"""

from __future__ import annotations

import copy
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pygame

from prelude_play.config import resource_dir
from prelude_play.errors import PreludeError
from prelude_play.events import InputEvent
from prelude_play.shell.forms import FormScreen, KeyboardDock, Scroller, TextField, edit
from prelude_play.store.clients import ACCESS_METHODS, NUMERIC, SCAN_PATTERNS, ClientBook, new_goal_id
from prelude_play.ui import theme as th
from prelude_play.ui.keyboard import KeyResult
from prelude_play.ui.pictures import Pictures
from prelude_play.ui.widgets import Button, draw_text

if TYPE_CHECKING:
    from prelude_play.shell.forms import Coordinator
    from prelude_play.shell.port import ShellPort

ROW_H = 96  # design px: a client row, ≥ 15 mm on a 10-inch 1280x800 tablet
ROW_GAP = 10


def fold(text: str) -> str:
    """Text as search compares it: no accents, no case ("Élodie" and "elodie" are the same)."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.casefold().replace("œ", "oe").replace("æ", "ae")


def matches(client: dict[str, Any], query: str) -> bool:
    """Every word of ``query`` is in the client's name or code (a code matches without its dash)."""
    hay = fold(f"{client.get('display_name', '')} {client.get('code', '')}")
    compact = "".join(ch for ch in hay if ch.isalnum())
    return all(w in hay or "".join(ch for ch in w if ch.isalnum()) in compact for w in fold(query).split())


def count_label(t: Callable[[str], str], shown: int, total: int) -> str:
    if shown != total:
        return t("{shown} of {n} clients").format(shown=shown, n=total)
    return t("1 client") if total == 1 else t("{n} clients").format(n=total)


class ClientPicker:
    """A searchable, scrolling list of clients; a row acts on release, never at the end of a drag.

    Used by home (one column) and the Clients screen (a grid). ``on_pick`` gets the client's id.
    """

    def __init__(self, app: "ShellPort", *, prefix: str, on_pick: Callable[[str], None],
                 sublabel: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.app = app
        self.prefix = prefix
        self.on_pick = on_pick
        self.sublabel = sublabel or (lambda c: c["code"])
        self.query = ""
        self.search: TextField | None = None
        self.focused = False
        self.dock = KeyboardDock(app, self.on_key)
        self.scroller = Scroller()
        self.clients: list[dict[str, Any]] = []
        self.shown: list[dict[str, Any]] = []
        self.rows: list[Button] = []
        self.area = pygame.Rect(0, 0, 0, 0)
        self.cols = 1
        self.selected: str | None = None

    @property
    def t(self) -> Callable[[str], str]:
        return self.app.t

    def layout(self, clients: list[dict[str, Any]], selected: str | None, *, search: pygame.Rect | None,
               area: pygame.Rect, cols: int = 1) -> None:
        """The list for these clients; the selected one scrolled into view."""
        self.clients = sorted(clients, key=lambda c: (fold(c["display_name"]), c["code"]))  # É with the Es
        self.selected, self.area, self.cols = selected, area, cols
        if search is None:  # no search (a paused session shows its one client)
            self.unfocus()
            self.query, self.search = "", None
        else:
            self.search = TextField(f"{self.prefix}:search", "", self.query, search,
                                    placeholder=self.t("Search name or code"))
        self.filter()

    def filter(self) -> None:
        """Apply the search; show the selected client if it matches, else the first match."""
        self.shown = [c for c in self.clients if matches(c, self.query)]
        if not any(c["id"] == self.selected for c in self.shown):
            self.scroller.offset = 0
        self.place(reveal=True)

    def pitch(self) -> int:
        return self.app.theme.px(ROW_H + ROW_GAP)

    def list_view(self) -> pygame.Rect:
        """The list's region above the keyboard."""
        bottom = min(self.area.bottom, self.dock.top() - self.app.theme.px(8))
        return pygame.Rect(self.area.x, self.area.y, self.area.width, max(0, bottom - self.area.y))

    def place(self, reveal: bool = False) -> None:
        """Rows for the part of the list in view (``reveal``: scroll the selected client into it)."""
        theme = self.app.theme
        view = self.list_view()
        pitch, row_h, gap = self.pitch(), theme.px(ROW_H), theme.px(ROW_GAP)
        n_rows = (len(self.shown) + self.cols - 1) // self.cols
        self.scroller.set(view, max(0, n_rows * pitch - gap))
        index = next((i for i, c in enumerate(self.shown) if c["id"] == self.selected), None)
        if reveal and index is not None:
            r = index // self.cols
            self.scroller.ensure(r * pitch, r * pitch + row_h)
        bar = theme.px(14) if self.scroller.most else 0  # room for the scroll bar
        col_w = (view.width - bar - (self.cols - 1) * gap) // self.cols
        self.rows = []
        for i, c in enumerate(self.shown):
            r, col = divmod(i, self.cols)
            y = view.y + r * pitch - self.scroller.offset
            if y + row_h < view.y or y > view.bottom:
                continue
            self.rows.append(Button(f"{self.prefix}:{c['id']}", c["display_name"],
                                    pygame.Rect(view.x + col * (col_w + gap), y, col_w, row_h),
                                    sublabel=self.sublabel(c), selected=c["id"] == self.selected,
                                    font_size=30, data={"client": c["id"]}))

    def count_text(self) -> str:
        return count_label(self.t, len(self.shown), len(self.clients))

    # ---- the search field ----------------------------------------------------------------------

    def focus_search(self) -> None:
        if self.search is None or self.focused:
            return
        self.focused = True
        self.dock.open(self.dock.policy.last_source == "touch")
        self.app.text_sink = self.type_text
        pygame.key.start_text_input()
        self.place(reveal=True)

    def unfocus(self) -> None:
        if not self.focused:
            return
        self.focused = False
        self.dock.close()
        if self.app.text_sink == self.type_text:
            self.app.text_sink = None
            pygame.key.stop_text_input()
        self.place(reveal=False)

    def type_text(self, text: str) -> None:
        self._physical()
        self.on_key(KeyResult("text", text))

    def _physical(self) -> None:
        was = self.dock.shown()
        self.dock.physical_key()
        if was and not self.dock.shown():
            self.place()

    def on_key(self, result: KeyResult) -> None:
        if self.search is None:
            return
        if result.kind == "done":
            self.unfocus()
        elif result.kind in ("text", "backspace"):
            edit(self.search, result)
            self.query = self.search.value
            self.filter()
        else:
            self.place()

    def key(self, name: str) -> bool:
        """Keys while the search field is focused (all of them: typing goes there)."""
        if not self.focused:
            return False
        if name in ("backspace", "return", "enter", "tab", "delete"):
            self._physical()
        if name == "backspace":
            self.on_key(KeyResult("backspace"))
        elif name in ("return", "enter", "escape", "tab"):
            self.unfocus()
        return True

    # ---- input ---------------------------------------------------------------------------------

    def pointer(self, ev: InputEvent) -> bool:
        """True if the list, its search field or its keyboard took ``ev``; a press anywhere else
        ends the typing and is left to the screen."""
        if ev.pos is None:
            return False
        if ev.kind == "down":
            self.dock.policy.last_source = ev.source
        if self.dock.pointer(ev):
            return True
        if ev.kind == "down" and self.search is not None and self.search.rect.collidepoint(ev.pos):
            self.focus_search()
            return True
        self.scroller.view = self.list_view()
        what, at = self.scroller.pointer(ev, self.app.theme.px(12))
        if what == "scrolled":
            self.place()
            return True
        if what == "down":
            return True
        if what == "tap" and at is not None:
            row = next((b for b in self.rows if b.rect.collidepoint(at)), None)
            if row is not None and row.rect.collidepoint(ev.pos):
                self.unfocus()
                self.on_pick(row.data["client"])
            return True
        if ev.kind == "down":
            self.unfocus()
        return False

    def find(self, target: str) -> Any:
        if target.startswith("key:"):
            return self.dock.find(target)
        if self.search is not None and target == self.search.id:
            return self.search
        view = self.list_view()
        return next((b for b in self.rows if b.id == target and view.collidepoint(b.rect.center)), None)

    def draw(self, surface: pygame.Surface) -> None:
        theme = self.app.theme
        if self.search is not None:
            self.search.draw(surface, theme, self.focused)
        view = self.list_view()
        clip = surface.get_clip()
        surface.set_clip(view)
        for b in self.rows:
            b.draw(surface, theme)
        surface.set_clip(clip)
        self.scroller.view = view
        self.scroller.draw_bar(surface, theme)
        if not self.shown and view.height > theme.px(40):
            empty = self.t("No client matches “{q}”").format(q=self.query) if self.clients else self.t("No clients yet")
            draw_text(surface, theme, empty, (view.centerx, view.y + theme.px(40)), 26, colour=th.MUTED,
                      max_width=view.width)
        self.dock.draw(surface)


# ---- the Clients screen ----------------------------------------------------------------------

class ClientsScreen(FormScreen):
    """Every client, archived ones too: search, open one to edit, restore an archived one, add one."""

    name = "clients"
    title = "Clients"

    def __init__(self, app: "ShellPort", coord: "Coordinator") -> None:
        super().__init__(app, coord)
        self.show_archived = False
        self.picker = ClientPicker(app, prefix="clients", on_pick=self.pick, sublabel=self._sublabel)

    def _sublabel(self, c: dict[str, Any]) -> str:
        return c["code"] + (" · " + self.t("archived") if c["archived"] else "")

    def layout(self) -> None:
        app, theme = self.app, self.app.theme
        w, h = theme.size
        pad = theme.px(24)
        self.buttons = []
        clients = [c for c in app.store.clients(include_archived=True) if c["archived"] == self.show_archived]
        bottom = pygame.Rect(pad, h - pad - theme.px(96), (w - 5 * pad) // 4, theme.px(96))
        search = pygame.Rect(pad, theme.px(84), (w - 2 * pad) // 2, theme.px(80))
        area = pygame.Rect(pad, search.bottom + theme.px(14), w - 2 * pad, bottom.y - theme.px(14) - search.bottom
                           - theme.px(14))
        self.picker.layout(clients, app.client_id, search=search, area=area, cols=3 if w >= theme.px(1000) else 2)
        self.buttons.append(Button("clients:pin", self.t("Change PIN"), bottom.move(3 * (bottom.width + pad), 0),
                                   on_press=lambda: self.app.nav.show("change_pin")))
        self.buttons.append(Button("clients:new", self.t("+ New client"), bottom, on_press=self.new,
                                   colour=th.GOOD, text_colour=th.BG))
        self.buttons.append(Button("clients:archived", self.t("Show active") if self.show_archived
                                   else self.t("Show archived"), bottom.move(bottom.width + pad, 0),
                                   on_press=self.toggle_archived))
        self.buttons.append(Button("back", self.t("Back"), bottom.move(2 * (bottom.width + pad), 0),
                                   on_press=self.back))

    def leave(self) -> None:
        self.picker.unfocus()
        super().leave()

    def pointer(self, ev: InputEvent) -> None:
        if self.picker.pointer(ev):
            return
        if ev.kind == "down" and ev.pos is not None:
            self.tap(ev.pos)

    def key(self, name: str) -> bool:
        return self.picker.key(name) or super().key(name)

    def find(self, button_id: str) -> Any:
        return self.picker.find(button_id) or super().find(button_id)

    def draw_extra(self, surface: pygame.Surface) -> None:
        theme = self.app.theme
        s = self.picker.search
        if s is not None:
            draw_text(surface, theme, self.picker.count_text(), (s.rect.right + theme.px(24), s.rect.centery), 28,
                      colour=th.MUTED, anchor="midleft", max_width=theme.size[0] - s.rect.right - theme.px(48))
        self.picker.draw(surface)

    def toggle_archived(self) -> None:
        self.show_archived = not self.show_archived
        self.picker.query = ""
        self.layout()

    def pick(self, client_id: str) -> None:
        if self.show_archived:
            self.restore(client_id)
        else:
            self.edit(client_id)

    def new(self) -> None:
        """A new client, straight into the editor (this screen is already behind the PIN)."""
        if self.app.session is not None:
            self.say(self.t("End the session before switching clients"))
            return
        self.coord.new_client(return_to="clients")

    def edit(self, client_id: str) -> None:
        if self.app.session is not None and client_id != self.app.client_id:
            self.say(self.t("End the session before switching clients"))
            return
        self.coord.edit_client(client_id, return_to="clients")

    def restore(self, client_id: str) -> None:
        ClientBook(self.app.store).archive(client_id, False)
        self.say(self.t("Restored"), th.GOOD)
        self.show_archived = False
        self.layout()


# ---- one client's editor -----------------------------------------------------------------------

class LeftButton(Button):
    """A list row: its label and sublabel from the left edge (a goal's text reads like text)."""

    def draw(self, surface: pygame.Surface, theme: th.Theme) -> None:
        r = theme.px(14)
        pygame.draw.rect(surface, th.ACCENT if self.selected else self.colour, self.rect, border_radius=r)
        x = self.rect.x + theme.px(16)
        width = self.rect.width - theme.px(32)
        colour = th.BG if self.selected else self.text_colour
        dy = theme.px(13) if self.sublabel else 0
        draw_text(surface, theme, self.label, (x, self.rect.centery - dy), self.font_size, colour=colour,
                  anchor="midleft", max_width=width)
        if self.sublabel:
            draw_text(surface, theme, self.sublabel, (x, self.rect.centery + theme.px(18)), 20,
                      colour=th.BG if self.selected else th.MUTED, anchor="midleft", max_width=width)


class ClientEditScreen(FormScreen):
    """One client's profile: name (this device only), access settings, preferences, own goals.

    Two tabs: Profile (everything but goals) and Goals (any number; each one's text, target and
    area edited in place; the area picked from the list of areas). One Save for both; Back with
    unsaved edits asks first.
    """

    name = "client_edit"
    title = "Client"

    def __init__(self, app: "ShellPort", coord: "Coordinator") -> None:
        super().__init__(app, coord)
        self.client_id: str | None = None
        self.profile: dict[str, Any] = {}
        self.display_name = ""
        self.code = ""
        self.original: tuple[str, dict[str, Any]] = ("", {})
        self.tab = "profile"
        self.editing: str | None = None  # the goal being edited in place
        self.picking_area: str | None = None  # the goal whose area is being chosen
        self.picking_picture = False  # the client's own picture is being chosen
        self._pictures: Pictures | None = None
        self._goals_offset = 0  # where the goals page was scrolled before the areas showed
        self.confirm_delete = 0  # taps on "Delete forever" so far
        self.return_to = "clients"
        self.new = False  # opened for a client just created: its name is a suggestion to type over

    def enter(self) -> None:
        self.client_id = self.app.client_id
        if self.client_id is None:
            self.app.nav.show("clients")
            return
        self.load()
        self.tab, self.editing, self.picking_area, self.confirm_delete = "profile", None, None, 0
        self.picking_picture = False
        self.scroller.offset = 0
        super().enter()
        if self.new:
            self.new = False
            self.focus_field("field:name")
            if self.focus is not None:
                self.focus.fresh = True

    def load(self) -> None:
        assert self.client_id is not None
        c = ClientBook(self.app.store).get(self.client_id)
        self.profile, self.display_name, self.code = c["profile"], c["display_name"], c["code"]
        self.original = (self.display_name, copy.deepcopy(self.profile))

    def goal(self, gid: str | None) -> dict[str, Any] | None:
        return next((g for g in self.profile.get("goals", []) if g["id"] == gid), None)

    def area_title(self, key: str) -> str:
        return self.t(self.coord.areas.get(key, key)) if key else self.t("Choose an area")

    # ---- layout ----------------------------------------------------------------------------

    def layout(self) -> None:
        theme = self.app.theme
        w, h = theme.size
        pad = theme.px(20)
        self.buttons, self.fields = [], []
        tab_w = theme.px(230)
        for i, (tid, label) in enumerate((("profile", self.t("Profile")),
                                          ("goals", self.t("Goals ({n})").format(n=len(self.profile["goals"]))))):
            self.buttons.append(Button(f"tab:{tid}", label, pygame.Rect(theme.px(200) + i * (tab_w + theme.px(12)),
                                                                       theme.px(10), tab_w, theme.px(68)),
                                       selected=self.tab == tid, font_size=28,
                                       on_press=lambda tid=tid: self.show_tab(tid)))
        bottom = pygame.Rect(pad, h - pad - theme.px(88), (w - 5 * pad) // 4, theme.px(88))
        if self.tab == "goals":
            self.layout_goals(bottom.y - theme.px(12))
        elif self.picking_picture:
            self.layout_pictures(bottom.y - theme.px(12))
        else:
            self.view = None
            self.layout_profile()
        second = (("export_first", self.t("Export first"), self.export_first, th.GOOD) if self.confirm_delete
                  else ("archive", self.t("Archive"), self.archive, th.PANEL_HI))
        nav = [("save", self.t("Save"), self.save, th.GOOD), second,
               ("delete", self.t("Tap again to delete forever") if self.confirm_delete else self.t("Delete…"),
                self.delete, th.DANGER),
               ("back", self.t("Back"), self.back, th.PANEL_HI)]
        for i, (bid, label, fn, col) in enumerate(nav):
            self.buttons.append(Button(bid, label, bottom.move(i * (bottom.width + pad), 0), on_press=fn, colour=col,
                                       text_colour=th.BG if col == th.GOOD else th.TEXT, font_size=28))

    def layout_profile(self) -> None:
        theme = self.app.theme
        w = theme.size[0]
        pad = theme.px(20)
        col_w = (w - 3 * pad) // 2
        rh, gap = theme.px(64), theme.px(8)  # 8 rows a column above the bottom buttons
        x0, x1, y0 = pad, 2 * pad + col_w, theme.px(88)
        self.fields.append(TextField("field:name", self.t("Name (shown on this device only) · code {code}").format(
            code=self.code), self.display_name, pygame.Rect(x0, y0, col_w, rh)))
        y = y0 + rh + gap
        labels = {"ignore_repeat_ms": "Ignore repeats (ms)", "hold_to_select_ms": "Hold to select (ms)",
                  "min_velocity": "Softest hit that counts", "tremor_ms": "Tremor window (ms)",
                  "scan_ms": "Scan step (ms)", "dwell_ms": "Dwell time (ms)", "volume_cap_pct": "Volume cap (%)"}
        rows: list[tuple[int, tuple[str, str, int, int, int, int]]] = []
        for entry in NUMERIC:  # touch, pads and access on the left; the volume cap goes right, by low stimulation
            rows.append((x0, entry) if entry[0] != "audio" else (x1, entry))
        y_right = y0 + rh + gap
        for col_x, (section, key, _d, lo, hi, step) in rows:
            if col_x == x1:
                y_left, y = y, y_right
            value = self.profile[section][key]
            small = theme.px(88)
            minus = pygame.Rect(col_x + col_w - 2 * small - gap, y, small, rh)
            plus = pygame.Rect(col_x + col_w - small, y, small, rh)
            self.buttons.append(Button(f"dec:{key}", "−", minus, font_size=44,
                                       on_press=lambda s=section, k=key, d=-step, lo=lo, hi=hi: self.bump(s, k, d, lo, hi)))
            self.buttons.append(Button(f"inc:{key}", "+", plus, font_size=44,
                                       on_press=lambda s=section, k=key, d=step, lo=lo, hi=hi: self.bump(s, k, d, lo, hi)))
            self.buttons.append(Button(f"label:{key}", self.t("{label}: {value}").format(label=self.t(labels[key]),
                                                                                       value=value),
                                       pygame.Rect(col_x, y, col_w - 2 * small - 2 * gap, rh), colour=th.PANEL,
                                       font_size=26))
            y += rh + gap
            if col_x == x1:
                y_right, y = y, y_left
        method = self.profile["access"]["method"]
        pattern = self.profile["access"]["pattern"]
        half = (col_w - gap) // 2
        self.buttons.append(Button("cycle:method", self.t("Choosing: {v}").format(v=self.t(method.replace("_", " "))),
                                   pygame.Rect(x0, y, half, rh), font_size=26,
                                   on_press=lambda: self.cycle("method", ACCESS_METHODS)))
        self.buttons.append(Button("cycle:pattern", self.t("Scan: {v}").format(v=self.t(pattern.replace("_", " "))),
                                   pygame.Rect(x0 + half + gap, y, half, rh), font_size=26,
                                   on_press=lambda: self.cycle("pattern", SCAN_PATTERNS)))
        y = y0
        self.buttons.append(Button("toggle:low_stimulation", self.t("Low stimulation"), pygame.Rect(x1, y, col_w, rh),
                                   selected=bool(self.profile["low_stimulation"]), font_size=28,
                                   on_press=self.toggle_low))
        y = y_right
        for key, label in (("instruments", "Instruments they like"), ("songs", "Songs they like"),
                           ("loves", "What they love")):
            self.fields.append(TextField(f"field:{key}", self.t(label) + " (a, b, c)",
                                         ", ".join(self.profile["preferences"][key]), pygame.Rect(x1, y, col_w, rh)))
            y += rh + gap
        picture = str(self.profile.get("picture") or "")
        self.buttons.append(Button("picture", self.t("Their picture (hello song): {v}").format(
            v=Path(picture).stem if picture else self.t("none")), pygame.Rect(x1, y, col_w, rh), font_size=26,
            on_press=self.pick_picture))
        y += rh + gap
        n = len(self.profile["goals"])
        self.buttons.append(Button("goals_tab", self.t("Goals ({n})").format(n=n) + " →",
                                   pygame.Rect(x1, y + gap, col_w, theme.px(88)), font_size=28,
                                   sublabel=" · ".join(g["text"] for g in self.profile["goals"][:3]) + (" …" if n > 3 else ""),
                                   on_press=lambda: self.show_tab("goals")))

    def layout_goals(self, bottom: int) -> None:
        """The goals as rows (the one edited in place as its fields), or the grid of areas."""
        theme = self.app.theme
        w = theme.size[0]
        pad, gap = theme.px(20), theme.px(8)
        rh = theme.px(76)
        head = pygame.Rect(pad, theme.px(88), w - 2 * pad, theme.px(68))
        self.view = pygame.Rect(pad, head.bottom + theme.px(10), w - 2 * pad - theme.px(14),
                                bottom - head.bottom - theme.px(10))
        side = theme.px(300)
        if self.picking_area is not None:
            self.layout_areas(head, side)
            return
        self.buttons.append(Button("goal:add", self.t("+ Goal"), pygame.Rect(head.right - side, head.y, side,
                                                                              head.height),
                                   colour=th.GOOD, text_colour=th.BG, font_size=30, on_press=self.add_goal))
        goals = self.profile["goals"]
        heights = [2 * rh + gap if g["id"] == self.editing else rh for g in goals]
        self.scroller.set(self.visible_view(), sum(hh + gap for hh in heights) - gap if goals else 0)
        y = 0
        area_w, rm_w, done_w = theme.px(330), theme.px(150), theme.px(150)
        full = self.view.width - (theme.px(14) if self.scroller.most else 0)  # room for the scroll bar
        for g, hh in zip(goals, heights):
            sy = self.page_y(y)
            x = self.view.x
            area = self.area_button(g, pygame.Rect(x + full - rm_w - gap - area_w, sy, area_w, rh))
            remove = Button(f"goal_remove:{g['id']}", self.t("Remove"),
                            pygame.Rect(x + full - rm_w, sy, rm_w, rh), font_size=24, colour=th.PANEL_HI,
                            on_press=lambda gid=g["id"]: self.remove_goal(gid), data={"page": True})
            if g["id"] == self.editing:
                self.fields.append(TextField("field:goal_text", self.t("Goal, e.g. matches 3 vowel sounds"),
                                             g["text"], pygame.Rect(x, sy, full - done_w - gap, rh), page=True))
                self.buttons.append(Button("goal_done", self.t("Done"), pygame.Rect(x + full - done_w, sy, done_w, rh),
                                           colour=th.GOOD, text_colour=th.BG, font_size=28, on_press=self.goal_done,
                                           data={"page": True}))
                sy2 = sy + rh + gap
                self.fields.append(TextField("field:goal_target", self.t("Target, e.g. 80% of trials over 3 sessions"),
                                             g["target"], pygame.Rect(x, sy2, full - rm_w - area_w - 2 * gap, rh),
                                             page=True))
                area.rect.y, remove.rect.y = sy2, sy2
            else:
                self.buttons.append(LeftButton(f"goal:{g['id']}", g["text"],
                                               pygame.Rect(x, sy, full - rm_w - area_w - 2 * gap, rh),
                                               sublabel=g["target"], font_size=26, colour=th.PANEL_HI,
                                               on_press=lambda gid=g["id"]: self.edit_goal(gid), data={"page": True}))
            self.buttons += [area, remove]
            y += hh + gap

    def picture_choices(self) -> list[str]:
        """The pictures a client's own picture can be: the therapist's (their photos, in the data
        folder's images/) first, then the app's own; names as the songs look them up."""
        names: list[str] = []
        for folder in self._picture_folders():
            try:
                found = sorted(p.name for p in folder.iterdir()
                               if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".svg") and p.is_file())
            except OSError:
                continue
            names += [n for n in found if n not in names]
        return names

    def _picture_folders(self) -> list[Path]:
        folders = [self.app.data_dir / "images"] if self.app.data_dir is not None else []
        return folders + [resource_dir("assets") / "images"]

    def layout_pictures(self, bottom: int) -> None:
        """Every picture as a thumbnail (one tap picks it), "No picture", and Cancel."""
        theme = self.app.theme
        w = theme.size[0]
        pad, gap = theme.px(20), theme.px(10)
        head = pygame.Rect(pad, theme.px(88), w - 2 * pad, theme.px(68))
        side = theme.px(300)
        self.view = pygame.Rect(pad, head.bottom + theme.px(10), w - 2 * pad - theme.px(14),
                                bottom - head.bottom - theme.px(10))
        self.buttons.append(Button("picture:cancel", self.t("Cancel"), pygame.Rect(head.right - side, head.y, side,
                                                                                    head.height),
                                   font_size=28, on_press=self.cancel_picture))
        self.buttons.append(Button("picture:none", self.t("No picture"), pygame.Rect(head.right - 2 * side - gap, head.y,
                                                                                      side, head.height),
                                   font_size=28, selected=not self.profile.get("picture"),
                                   on_press=lambda: self.set_picture("")))
        if self._pictures is None:  # loaded once per visit: the therapist's screen, not the client's
            self._pictures = Pictures(self._picture_folders())
        names = self.picture_choices()
        for name in names:
            self._pictures.load(name)  # once: a missing or broken one is drawn as an empty tile
        cols, cell_h = 6, theme.px(170)
        rows = (len(names) + cols - 1) // cols
        self.scroller.set(self.visible_view(), rows * (cell_h + gap) - gap if names else 0)
        cw = (self.view.width - (theme.px(14) if self.scroller.most else 0) - (cols - 1) * gap) // cols
        for i, name in enumerate(names):
            r, c = divmod(i, cols)
            rect = pygame.Rect(self.view.x + c * (cw + gap), self.page_y(r * (cell_h + gap)), cw, cell_h)
            self.buttons.append(Button(f"picture:{name}", "", rect, font_size=20,
                                       selected=self.profile.get("picture") == name,
                                       data={"page": True, "picture": name},
                                       on_press=lambda name=name: self.set_picture(name)))

    def pick_picture(self) -> None:
        self.unfocus()
        self.picking_picture = True
        self.scroller.offset = 0
        self.layout()

    def set_picture(self, name: str) -> None:
        if name:
            self.profile["picture"] = name
        else:
            self.profile.pop("picture", None)
        self.cancel_picture()

    def cancel_picture(self) -> None:
        self.picking_picture = False
        self.scroller.offset = 0
        self.layout()

    def area_button(self, g: dict[str, Any], rect: pygame.Rect) -> Button:
        chosen = bool(g["area"])
        return Button(f"goal_area:{g['id']}", self.area_title(g["area"]), rect, font_size=22,
                      colour=th.PANEL if chosen else th.PARTIAL, text_colour=th.TEXT if chosen else th.BG,
                      sublabel=self.t("Area"), on_press=lambda gid=g["id"]: self.pick_area(gid), data={"page": True})

    def layout_areas(self, head: pygame.Rect, side: int) -> None:
        """Every goal area, by its title in the reading language: one tap picks it."""
        theme = self.app.theme
        g = self.goal(self.picking_area)
        self.buttons.append(Button("area:cancel", self.t("Cancel"), pygame.Rect(head.right - side, head.y, side,
                                                                                 head.height),
                                   font_size=28, on_press=self.cancel_area))
        areas = list(self.coord.areas)
        cols = 3
        gap = theme.px(10)
        rows = (len(areas) + cols - 1) // cols
        cell_h = theme.px(88)
        self.scroller.set(self.visible_view(), rows * (cell_h + gap) - gap)
        cw = (self.view.width - (theme.px(14) if self.scroller.most else 0) - (cols - 1) * gap) // cols
        for i, key in enumerate(areas):
            r, c = divmod(i, cols)
            rect = pygame.Rect(self.view.x + c * (cw + gap), self.page_y(r * (cell_h + gap)), cw, cell_h)
            self.buttons.append(Button(f"area:{key}", self.t(self.coord.areas[key]), rect, font_size=26,
                                       selected=g is not None and g["area"] == key, data={"page": True},
                                       on_press=lambda key=key: self.set_area(key)))

    def focus_extent(self, f: TextField) -> pygame.Rect:
        """A goal's text and target are kept in sight together."""
        if f.id in ("field:goal_text", "field:goal_target"):
            other = self.field("field:goal_target" if f.id == "field:goal_text" else "field:goal_text")
            if other is not None:
                return f.rect.union(other.rect)
        return f.rect

    def draw_header(self, surface: pygame.Surface) -> None:
        theme = self.app.theme
        draw_text(surface, theme, self.t(self.title), (theme.px(32), theme.px(44)), 44, bold=True,
                  colour=th.ACCENT, anchor="midleft", max_width=theme.px(160))
        left = theme.px(200 + 2 * 230 + 12 + 24)
        if self.message:
            draw_text(surface, theme, self.message, (theme.size[0] - theme.px(32), theme.px(44)), 22,
                      colour=self.message_colour, anchor="midright", max_width=theme.size[0] - left - theme.px(32))
        if self.picking_picture:
            draw_text(surface, theme, self.t("The picture on {name}'s verse of the hello and goodbye songs").format(
                name=self.display_name), (theme.px(24), theme.px(88 + 34)), 24, colour=th.MUTED, anchor="midleft",
                max_width=theme.size[0] - theme.px(680))
        if self.tab == "goals":
            y = theme.px(88 + 34)
            if self.picking_area is not None:
                g = self.goal(self.picking_area)
                text = self.t("Area of the goal: {goal}").format(goal=g["text"] if g and g["text"] else "…")
            else:
                text = self.t("Goals of {name}").format(name=self.display_name) + " · " + self.t(
                    "Tap a goal to edit it")
            draw_text(surface, theme, text, (theme.px(24), y), 26, colour=th.MUTED, anchor="midleft",
                      max_width=theme.size[0] - theme.px(360))

    def draw_extra(self, surface: pygame.Surface) -> None:
        if self.picking_picture and self._pictures is not None and self.view is not None:
            theme = self.app.theme
            clip = surface.get_clip()
            surface.set_clip(self.visible_view())
            for b in self.buttons:
                name = b.data.get("picture")
                if name:
                    box = min(b.rect.width - theme.px(16), b.rect.height - theme.px(48))
                    img = self._pictures.get(name, box)
                    if img is not None:
                        surface.blit(img, img.get_rect(center=(b.rect.centerx, b.rect.y + theme.px(8) + box // 2)))
                    draw_text(surface, theme, Path(name).stem, (b.rect.centerx, b.rect.bottom - theme.px(20)), 20,
                              colour=th.BG if b.selected else th.MUTED, max_width=b.rect.width - theme.px(10))
            surface.set_clip(clip)
            return
        if self.tab == "goals" and self.picking_area is None and not self.profile["goals"] and self.view is not None:
            theme = self.app.theme
            draw_text(surface, theme, self.t("No goals yet: + Goal adds one"),
                      (self.view.centerx, self.view.y + theme.px(60)), 28, colour=th.MUTED)

    # ---- edits ---------------------------------------------------------------------------

    def show_tab(self, tab: str) -> None:
        self.unfocus()
        self.finish_goal()
        self.tab, self.picking_area = tab, None
        self.scroller.offset = 0
        self.layout()

    def bump(self, section: str, key: str, delta: int, lo: int, hi: int) -> None:
        self.profile[section][key] = max(lo, min(hi, self.profile[section][key] + delta))
        self.relayout()

    def cycle(self, key: str, allowed: tuple[str, ...]) -> None:
        cur = self.profile["access"].get(key, allowed[0])
        self.profile["access"][key] = allowed[(allowed.index(cur) + 1) % len(allowed)] if cur in allowed else allowed[0]
        self.relayout()

    def toggle_low(self) -> None:
        self.profile["low_stimulation"] = not self.profile["low_stimulation"]
        self.relayout()

    def field_changed(self, f: TextField) -> None:
        """Goal text and target follow the typing (the row is the goal); other fields on leaving."""
        g = self.goal(self.editing)
        if g is not None and f.id in ("field:goal_text", "field:goal_target"):
            g["text" if f.id == "field:goal_text" else "target"] = f.value

    def field_done(self, f: TextField) -> None:
        key = f.id.split(":", 1)[1]
        if key == "name":
            self.display_name = f.value
        elif key in ("instruments", "songs", "loves"):
            self.profile["preferences"][key] = [x.strip() for x in f.value.split(",") if x.strip()]
        else:
            self.field_changed(f)

    def add_goal(self) -> None:
        """A new goal at the end of the list, its text field focused."""
        self.unfocus()
        self.finish_goal()
        gid = new_goal_id()
        self.profile["goals"].append({"id": gid, "text": "", "area": "", "target": ""})
        self.editing = gid
        self.layout()
        self.scroller.offset = self.scroller.most
        self.layout()
        self.focus_field("field:goal_text")

    def edit_goal(self, gid: str) -> None:
        """Edit a goal in place: its text field, focused, with its text (its id stays)."""
        self.unfocus()
        if self.editing != gid:
            self.finish_goal()
        self.editing = gid
        self.layout()
        self.focus_field("field:goal_text")

    def goal_done(self) -> None:
        self.unfocus()
        self.finish_goal()
        self.relayout()

    def finish_goal(self) -> None:
        """Leave in-place editing; a goal left without text was never a goal."""
        g = self.goal(self.editing)
        self.editing = None
        if g is not None:
            g["text"], g["target"] = g["text"].strip(), g["target"].strip()
            if not g["text"]:
                self.profile["goals"].remove(g)

    def pick_area(self, gid: str) -> None:
        self.unfocus()
        self.picking_area = gid
        self._goals_offset = self.scroller.offset
        self.scroller.offset = 0
        self.layout()

    def set_area(self, key: str) -> None:
        g = self.goal(self.picking_area)
        if g is not None:
            g["area"] = key
        self.cancel_area()

    def cancel_area(self) -> None:
        self.picking_area = None
        self.scroller.offset = self._goals_offset
        self.layout()

    def remove_goal(self, gid: str) -> None:
        """Removed from the profile only: logged events keep their ``client:<id>`` tags."""
        self.unfocus()
        was_saved = any(g["id"] == gid for g in self.original[1].get("goals", []))
        if self.editing == gid:
            self.editing = None
        self.profile["goals"] = [g for g in self.profile["goals"] if g["id"] != gid]
        if was_saved:
            self.say(self.t("Goal removed on Save; its logged trials are kept"))
        self.relayout()

    # ---- saving, leaving -------------------------------------------------------------------

    def current(self) -> tuple[str, dict[str, Any]]:
        """The name and profile as they would be saved now (a focused field's text included)."""
        name, profile = self.display_name, copy.deepcopy(self.profile)
        f = self.focus
        if f is not None and f.id == "field:name":
            name = f.value
        elif f is not None and f.id.split(":", 1)[1] in ("instruments", "songs", "loves"):
            profile["preferences"][f.id.split(":", 1)[1]] = [x.strip() for x in f.value.split(",") if x.strip()]
        profile["goals"] = [g for g in profile["goals"] if g["text"].strip()]
        return name.strip(), profile

    def unsaved(self) -> bool:
        name, profile = self.current()
        return self.client_id is not None and (name != self.original[0] or profile != self.original[1])

    def save(self) -> bool:
        self.unfocus()
        self.finish_goal()
        assert self.client_id is not None
        name, profile = self.current()
        try:
            problems = ClientBook(self.app.store).save(self.client_id, display_name=name, profile=profile)
        except PreludeError as exc:
            self.say(str(exc), th.NOT_YET)
            self.relayout()
            return False
        self.app.select_client(self.client_id)  # apply touch/sensitivity at once
        self.load()
        self.say("; ".join(problems) if problems else self.t("Saved"), th.PARTIAL if problems else th.GOOD)
        self.relayout()
        return True

    def discard(self) -> None:
        self.editing = self.picking_area = None
        self.picking_picture = False
        if self.client_id is not None:
            self.load()

    def back(self) -> None:
        if self.picking_picture:
            self.cancel_picture()
            return
        if self.picking_area is not None:
            self.cancel_area()
            return
        self.guard(self._close)

    def _close(self) -> None:
        self.client_id = None
        self.app.nav.show(self.return_to)

    def archive(self) -> None:
        if self.app.session is not None and self.app.session.client_id == self.client_id:
            self.say(self.t("End the session before archiving"))
            return
        self.guard(self._archive)

    def _archive(self) -> None:
        assert self.client_id is not None
        ClientBook(self.app.store).archive(self.client_id)
        if self.app.client_id == self.client_id:
            self.app.client_id = None
        self.client_id = None
        self.app.nav.show("clients")

    def delete(self) -> None:
        """Two taps, and the export screen is offered first (its button is on the way)."""
        if self.app.session is not None and self.app.session.client_id == self.client_id:
            self.say(self.t("End the session before deleting"))
            return
        assert self.client_id is not None
        if not self.confirm_delete:
            self.confirm_delete = 1
            self.say(self.t("Deleting removes every event for good. Export this client's data first?"),
                     th.NOT_YET)
            self.relayout()
            return
        n = self.app.store.purge_client(self.client_id, confirm_code=self.code)
        if self.app.client_id == self.client_id:
            self.app.client_id = None
        self.client_id = None
        self.app.notify(self.t("Client deleted ({n} events)").format(n=n))
        self.app.nav.show("clients")

    def export_first(self) -> None:
        """The export offered before a delete: this client's data, to the drive the therapist picks."""
        self.confirm_delete = 0
        self.guard(self._export_first)

    def _export_first(self) -> None:
        if self.client_id is not None:
            self.app.select_client(self.client_id)
        self.coord.open_export()
