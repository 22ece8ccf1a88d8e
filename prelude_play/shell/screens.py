"""Shell screens: home (therapist picks client and activity), the PIN pad and the therapist panel
(both modals, pushed over the screen below).

Screens are layout + buttons and talk to the shell through ``ShellPort`` only. Each button has an
``id`` so the test pilot can tap it by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pygame

from prelude_play.events import InputEvent, LogEvent
from prelude_play.shell.records import ClientPicker
from prelude_play.shell.stack import Screen
from prelude_play.ui import theme as th
from prelude_play.ui.widgets import Button, WrapButton, draw_text, grid_rects

if TYPE_CHECKING:
    from prelude_play.shell.port import ShellPort


class HomeScreen(Screen):
    """Pick a client, then start or resume; therapist-facing (behind the lock once a session runs).

    The client list scrolls and searches (``records.ClientPicker``: any number of clients, the
    selected one always in view, its name over the activities). A new client asks for the PIN
    and opens in its editor. While a session is paused only its client is listed: the client
    may be at the screen.
    """

    name = "home"

    def __init__(self, app: "ShellPort") -> None:
        super().__init__(app)
        self.picker = ClientPicker(app, prefix="client", on_pick=app.select_client)

    def layout(self) -> None:
        app, theme = self.app, self.app.theme
        w, h = theme.size
        pad = theme.px(32)
        self.buttons = []
        col_w = int(w * 0.34)
        y = theme.px(130)
        clients = app.store.clients()
        if app.session is not None:  # paused: the client may be at the screen; show no one else
            clients = [c for c in clients if c["id"] == app.session.client_id]
            self.picker.layout(clients, app.client_id, search=None,
                               area=pygame.Rect(pad, y, col_w, h - y - theme.px(24)))
        else:
            new = pygame.Rect(pad, h - theme.px(24) - theme.px(96), col_w, theme.px(96))
            self.buttons.append(Button("new_client", self.t("+ New client"), new, colour=th.PANEL,
                                       on_press=lambda: app.nav.ask_pin(
                                           then=lambda: app.therapist.new_client(return_to="home"))))
            search = pygame.Rect(pad, y, col_w, theme.px(80))
            top = search.bottom + theme.px(14)
            self.picker.layout(clients, app.client_id, search=search,
                               area=pygame.Rect(pad, top, col_w, new.y - theme.px(14) - top))
        x0 = pad * 2 + col_w
        # Therapist-only actions: each asks for the PIN first.
        tools = [("tool:clients", self.t("Clients"), app.nav.therapist_only("clients")),
                 ("tool:plans", self.t("Plans"), app.nav.therapist_only("plans")),
                 ("tool:export", self.t("Export"), app.nav.therapist_only("export")),
                 ("tool:quit", self.t("Quit"), lambda: app.nav.ask_pin(then=app.quit))]
        tw = (w - x0 - pad - 3 * theme.px(12)) // 4
        for i, (bid, label, fn) in enumerate(tools):
            r = pygame.Rect(x0 + i * (tw + theme.px(12)), theme.px(14), tw, theme.px(72))
            self.buttons.append(Button(bid, label, r, on_press=fn, colour=th.PANEL, font_size=28,
                                       enabled=bid != "tool:plans" or app.client_id is not None))
        area = pygame.Rect(x0, y, w - x0 - pad, h - y - theme.px(150))
        names = app.registry.names()
        if app.session is not None:
            resume = pygame.Rect(x0, h - theme.px(130), (w - x0 - pad) // 2 - pad // 2, theme.px(100))
            end = resume.move(resume.width + pad, 0)
            self.buttons.append(Button("resume", self.t("Resume session"), resume, on_press=app.resume,
                                       colour=th.GOOD, text_colour=th.BG))
            self.buttons.append(Button("end_session", self.t("End session"), end,
                                       on_press=lambda: app.nav.ask_pin(then=app.end_session),
                                       colour=th.NOT_YET, text_colour=th.BG))
        if names:
            cols = 2 if len(names) <= 4 else 3
            rows = (len(names) + cols - 1) // cols
            cell_h = min(theme.px(150), (area.height - pad * (rows - 1)) // max(rows, 1))
            grid = grid_rects(pygame.Rect(area.x, area.y, area.width, rows * cell_h + (rows - 1) * pad),
                              rows, cols, pad)
            for i, name in enumerate(names):
                entry = app.registry.entries[name]
                self.buttons.append(WrapButton(
                    f"activity:{name}", self.t(entry.title), grid[i],
                    on_press=lambda n=name: app.start_activity(n),
                    colour=th.PALETTE[i % len(th.PALETTE)], enabled=app.client_id is not None,
                    font_size=36))

    def leave(self) -> None:
        self.picker.unfocus()

    def pointer(self, ev: InputEvent) -> None:
        if not self.picker.pointer(ev):
            super().pointer(ev)

    def key(self, name: str) -> bool:
        return self.picker.key(name)

    def find(self, button_id: str) -> object | None:
        found = self.picker.find(button_id) or super().find(button_id)
        if found is not None and self.picker.dock.shown() and not button_id.startswith("key:") \
                and self.picker.dock.kb.rect.collidepoint(found.rect.center):
            return None  # under the keyboard: out of reach
        return found

    def selected_client(self) -> dict | None:
        cid = self.app.client_id
        return next((c for c in self.picker.clients if c["id"] == cid), None) if cid else None

    def draw(self, surface: pygame.Surface) -> None:
        theme = self.app.theme
        surface.fill(th.BG)
        draw_text(surface, theme, "Prelude Play", (theme.px(32), theme.px(50)), 56, bold=True,
                  colour=th.ACCENT, anchor="midleft")
        col_w = int(theme.size[0] * 0.34)
        draw_text(surface, theme, self.t("Client"), (theme.px(32), theme.px(105)), 30,
                  colour=th.MUTED, anchor="midleft")
        if self.picker.search is not None:  # how many (of how many, when searching)
            draw_text(surface, theme, self.picker.count_text(), (theme.px(32) + col_w, theme.px(105)), 26,
                      colour=th.MUTED, anchor="midright", max_width=col_w - theme.px(120))
        x0 = theme.px(64) + col_w
        chosen = self.selected_client()
        if chosen is not None:  # always said in words: the session starts on this record
            label = self.t("Activities for {name} ({code})").format(name=chosen["display_name"], code=chosen["code"])
        else:
            label = self.t("Activities") if self.app.client_id else self.t("Pick a client first")
        draw_text(surface, theme, label, (x0, theme.px(105)), 30, colour=th.TEXT if chosen else th.MUTED,
                  anchor="midleft", max_width=theme.size[0] - x0 - theme.px(32))
        super().draw(surface)
        y = theme.size[1] - theme.px(20)
        for i, err in enumerate(self.app.registry.errors[:3]):
            draw_text(surface, theme, f"⚠ {err}", (theme.px(32), y - i * theme.px(28)), 22,
                      colour=th.NOT_YET, anchor="bottomleft", max_width=theme.size[0] - theme.px(64))
        self.picker.draw(surface)


class PinPad(Screen):
    """The therapist lock: a PIN after the corner long-press, so a client cannot leave.

    The PIN is checked against its hash (``prelude_play.pin.PinGuard``): wrong PINs are logged and,
    after a few, the pad refuses for a while (the wait doubles); a malformed PIN setting keeps it
    shut and says where to fix it. OK (or Enter) checks; 8 digits check at once.
    """

    TIMEOUT_NS = 15_000_000_000
    name = "pin"
    opaque = False

    def __init__(self, app: "ShellPort") -> None:
        super().__init__(app)
        self.entered = ""
        self.opened_ns = 0
        self.wrong = False
        self.message = ""

    def open(self, now_ns: int) -> None:
        self.entered, self.wrong, self.opened_ns, self.message = "", False, now_ns, ""

    def update(self, now_ns: int) -> None:
        if now_ns - self.opened_ns > self.TIMEOUT_NS:
            self.app.nav.close_pin()

    def next_frame_ns(self, now_ns: int) -> int | None:
        if self.app.pin_guard.locked_for() > 0:  # the count-down, each second
            return now_ns + 1_000_000_000
        return self.opened_ns + self.TIMEOUT_NS + 1

    def layout(self) -> None:
        theme = self.app.theme
        w, h = theme.size
        size = theme.px(96)
        gap = theme.px(14)
        gw = 3 * size + 2 * gap
        x0, y0 = (w - gw) // 2, theme.px(200)
        labels = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "cancel", "0", "back"]
        self.buttons = []
        if self.app.pin_guard.broken is not None:  # nothing to type into: only the way back
            self.buttons.append(Button("pin:cancel", self.t("Back"), pygame.Rect((w - gw) // 2, h - theme.px(180), gw,
                                                                                 size), on_press=self.app.nav.close_pin,
                                       font_size=36))
            return
        for i, lab in enumerate(labels):
            r = pygame.Rect(x0 + (i % 3) * (size + gap), y0 + (i // 3) * (size + gap), size, size)
            text = {"cancel": self.t("Cancel"), "back": "<"}.get(lab, lab)
            self.buttons.append(Button(f"pin:{lab}", text, r, on_press=lambda l=lab: self.press(l),
                                       font_size=26 if lab == "cancel" else 44))
        ok = pygame.Rect(x0, y0 + 4 * (size + gap), gw, size)
        self.buttons.append(Button("pin:ok", self.t("OK"), ok, on_press=lambda: self.press("ok"), font_size=40,
                                   colour=th.GOOD, text_colour=th.BG))

    def press(self, label: str) -> None:
        guard = self.app.pin_guard
        if label == "cancel":
            self.app.nav.close_pin()
        elif label == "back":
            self.entered = self.entered[:-1]
        elif label == "ok" or (label.isdigit() and len(self.entered) + 1 >= 8):
            if label.isdigit():
                self.entered += label
            self._check(guard)
        elif label.isdigit():
            if guard.locked_for() > 0:
                return
            self.entered += label
        self.dirty = True

    def _check(self, guard) -> None:
        entered, self.entered = self.entered, ""
        verdict = guard.check(entered)
        if verdict.ok:
            self.app.nav.unlock()
            return
        self.wrong = True
        self.app.log(LogEvent("pin_wrong", actor="system", source="touch",
                              data={"in_a_row": verdict.wrong_in_a_row, "locked_s": round(verdict.wait_s, 1)}))

    def key(self, name: str) -> bool:
        self.dirty = True
        if name.isdigit() and len(name) == 1:
            self.press(name)
        elif name.startswith("[") and name[1:-1].isdigit():
            self.press(name[1:-1])
        elif name in ("return", "enter"):
            self.press("ok")
        elif name == "backspace":
            self.press("back")
        elif name == "escape":
            self.press("cancel")
        return True

    def draw(self, surface: pygame.Surface) -> None:
        theme, guard = self.app.theme, self.app.pin_guard
        shade = pygame.Surface(theme.size, pygame.SRCALPHA)
        shade.fill((10, 12, 20, 235))
        surface.blit(shade, (0, 0))
        wait = guard.locked_for()
        if guard.broken is not None:
            msg, colour = self.t("The PIN setting is broken: the therapist screens stay locked"), th.NOT_YET
            draw_text(surface, theme, guard.broken, (theme.size[0] // 2, theme.px(200)), 24, colour=th.TEXT,
                      max_width=theme.size[0] - theme.px(80))
        elif wait > 0:
            msg, colour = self.t("Too many wrong PINs: try again in {s} s").format(s=int(wait) + 1), th.NOT_YET
        elif self.wrong:
            msg, colour = self.t("Wrong PIN, try again"), th.NOT_YET
        else:
            msg, colour = self.t("Therapist PIN"), th.TEXT
        draw_text(surface, theme, msg, (theme.size[0] // 2, theme.px(110)), 40, bold=True, colour=colour,
                  max_width=theme.size[0] - theme.px(80))
        dots = theme.px(14)
        n = len(self.entered)
        for i in range(n):  # the digits typed, as dots (drawn: no font has to have the glyph)
            cx = theme.size[0] // 2 + (i - (n - 1) / 2) * dots * 3
            pygame.draw.circle(surface, th.TEXT, (int(cx), theme.px(165)), dots)
        super().draw(surface)


class Overlay(Screen):
    """The therapist panel ("More" on the rail): prompt level, note, silence, language, the
    activity's own actions, the plan, pause. Scoring itself is on the rail, one touch a trial.

    Rows (design px, 1280x800): prompt levels, shell actions and the activity's own actions at
    92 each (≥ 15 mm on a 10-inch tablet), then navigation.
    """

    name = "overlay"
    opaque = False

    def layout(self) -> None:
        app, theme = self.app, self.app.theme
        w, h = theme.size
        pad = theme.px(18)
        m = theme.px(24)
        self.panel = pygame.Rect(m, m, w - 2 * m, h - 2 * m)
        p = self.panel
        inner = p.width - 2 * pad
        self.buttons = []
        levels = app.cfg.scoring.prompt_levels
        row2 = pygame.Rect(p.x + pad, p.y + theme.px(136), inner, theme.px(92))
        for i, r in enumerate(grid_rects(row2, 1, len(levels), pad)):
            lv = levels[i]
            self.buttons.append(Button(f"prompt:{lv}", self.t(lv.capitalize()), r,
                                       on_press=lambda lv=lv: app.actions.set_prompt(lv),
                                       selected=(lv == app.prompt_level), font_size=30))
        row3 = pygame.Rect(p.x + pad, p.y + theme.px(244), inner, theme.px(92))
        a = app.actions
        actions = [("undo", self.t("Undo last score"), a.undo, th.PANEL_HI),
                   ("note", self.t("Add note") if not a.note_editing else self.t("Save note"),
                    a.toggle_note, th.PANEL_HI),
                   ("panic", self.t("Silence all"), a.panic, th.DANGER),
                   ("language", a.language_label(), a.toggle_language, th.PANEL_HI)]
        if app.activity is not None:  # the child's schedule counts two turns down, then "All done"
            actions.insert(1, ("warn_turns", self.t("2 more turns"),
                               lambda: (app.live.warn_turns(2), app.nav.close_overlay()), th.PARTIAL))
        for r, (bid, label, fn, col) in zip(grid_rects(row3, 1, len(actions), pad), actions):
            self.buttons.append(WrapButton(bid, label, r, on_press=fn, colour=col, font_size=28))
        act = app.activity
        own = list(app.live.call("therapist_actions", act.therapist_actions) or []) if act is not None else []
        if own:
            row4 = pygame.Rect(p.x + pad, p.y + theme.px(352), inner, theme.px(92))
            cols = max(len(own), 3)
            if cols > 5:  # two rows for an activity with many actions
                cols = (len(own) + 1) // 2
                row4 = pygame.Rect(row4.x, row4.y, row4.width, theme.px(92) * 2 + pad)
                cells = grid_rects(row4, 2, cols, pad)
            else:
                cells = grid_rects(row4, 1, cols, pad)
            for r, (aid, label, fn) in zip(cells, own):
                self.buttons.append(WrapButton(f"act:{aid}", label, r,
                                           on_press=lambda f=fn: (app.live.call("therapist_action", f), self.layout()),
                                           colour=th.PALETTE[0], font_size=28))
        # the therapist's notices (never on the client's screen) fill the room above navigation
        self.notice_top = max((b.rect.bottom for b in self.buttons), default=p.y) + pad
        self.notice_bottom = p.bottom - pad - theme.px(96) - pad
        app.notices.mark_seen()
        row5 = pygame.Rect(p.x + pad, p.bottom - pad - theme.px(96), inner, theme.px(96))
        nav = [("home", self.t("Pause: home"), app.go_home, th.PANEL_HI),
               ("close", self.t("Back to client"), app.nav.close_overlay, th.GOOD)]
        if app.live.schedule is not None:  # a session plan is running
            nxt = app.therapist.next_label()
            nav[1:1] = [("plan_next", self.t("Next") + f": {self.t(nxt)}" if nxt else self.t("Finish plan"),
                         app.therapist.next_step, th.PANEL_HI),
                        ("schedule", self.t("Schedule"), lambda: app.nav.show("schedule"), th.PANEL_HI)]
        for r, (bid, label, fn, col) in zip(grid_rects(row5, 1, len(nav), pad), nav):
            self.buttons.append(Button(bid, label, r, on_press=fn, colour=col,
                                       text_colour=th.BG if col == th.GOOD else th.TEXT, font_size=32))

    def key(self, name: str) -> bool:
        app = self.app
        a = app.actions
        if a.note_editing:
            if name in ("return", "enter"):
                a.toggle_note()
            elif name == "backspace":
                a.note_text = a.note_text[:-1]
            elif name == "escape":
                a.note_editing, a.note_text = False, ""
                self.layout()
            return True
        if name == "escape":
            app.nav.close_overlay()
            return True
        return False

    def draw(self, surface: pygame.Surface) -> None:
        app, theme = self.app, self.app.theme
        shade = pygame.Surface(theme.size, pygame.SRCALPHA)
        shade.fill((10, 12, 20, 215))
        surface.blit(shade, (0, 0))
        pygame.draw.rect(surface, th.PANEL, self.panel, border_radius=theme.px(24))
        p = self.panel
        title = app.activity_title()
        act = app.activity
        status = (app.live.call("status_text", act.status_text) or "") if act is not None else ""
        draw_text(surface, theme, f"{self.t('Therapist')} · {title}", (p.x + theme.px(24), p.y + theme.px(36)),
                  38, bold=True, anchor="midleft", max_width=p.width // 2)
        if status:
            draw_text(surface, theme, status, (p.right - theme.px(24), p.y + theme.px(36)), 28,
                      colour=th.ACCENT, anchor="midright", max_width=p.width // 2 - theme.px(48))
        last = app.actions.last_score_text()
        draw_text(surface, theme, last, (p.x + theme.px(24), p.y + theme.px(76)), 26,
                  colour=th.MUTED, anchor="midleft", max_width=p.width - theme.px(48))
        draw_text(surface, theme, self.t("Prompt level for the next score"),
                  (p.x + theme.px(24), p.y + theme.px(118)), 24, colour=th.MUTED, anchor="midleft")
        super().draw(surface)
        top, bottom = self.notice_top, self.notice_bottom
        if app.actions.note_editing:
            text = self.t("Note") + ": " + app.actions.note_text + "_"
            draw_text(surface, theme, text, (p.x + theme.px(24), (top + bottom) // 2), 28, anchor="midleft",
                      max_width=p.width - theme.px(48), colour=th.ACCENT)
            return
        line = theme.px(34)
        for i, text in enumerate(app.notices.latest(max(0, (bottom - top) // line))):
            draw_text(surface, theme, ("⚠ " if i == 0 else "   ") + text,
                      (p.x + theme.px(24), top + i * line + line // 2), 24 if i == 0 else 22, anchor="midleft",
                      colour=th.PARTIAL if i == 0 else th.MUTED, max_width=p.width - theme.px(48))
