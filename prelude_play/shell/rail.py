"""The therapist's scoring rail: one touch scores a trial, beside the client's screen, never on it.

After the PIN (once per session) the rail docks on the therapist's side (the side of the
therapist corner) and stays until pause, end, "Lock", or ``therapist.unlock_idle_min`` without a
therapist touch. The client's activity shrinks to the rest of the screen, so nothing of the
child's is under it.

Why a client cannot score by accident: while locked there is no rail and no scoring control
anywhere on the client's screen (only the corner hold + PIN opens it). While unlocked, a rail
button acts on *release* inside the same button (a touch that starts on the activity and slides
onto the rail, or a drag, does nothing) and not while another finger is down (a palm or a
second hand on the screen cancels it). Undo is always one touch away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pygame

from prelude_play.session.scoring import rail_codes
from prelude_play.ui import theme as th
from prelude_play.ui.widgets import Button, draw_text, grid_rects

if TYPE_CHECKING:
    from prelude_play.session.live import LiveSession
    from prelude_play.shell.notices import NoticeList
    from prelude_play.store.trials import Trial

RAIL_W = 300  # design px (1280x800): 3 score buttons of ~90 px a row
OUTCOME_MARK = {"success": "+", "partial": "±", "not_yet": "-", "no_response": "NR", "not_scored": "·"}


class TherapistLock:
    """Unlocked after the PIN until pause, end, "Lock" or ``idle_ns`` without a therapist touch."""

    def __init__(self, idle_ns: int) -> None:
        self.idle_ns = idle_ns
        self.unlocked = False
        self.last_ns = 0

    def unlock(self, now_ns: int) -> None:
        self.unlocked, self.last_ns = True, now_ns

    def touch(self, now_ns: int) -> None:
        if self.unlocked:
            self.last_ns = now_ns

    def lock(self) -> None:
        self.unlocked = False

    def expired(self, now_ns: int) -> bool:
        return self.unlocked and self.idle_ns > 0 and now_ns - self.last_ns >= self.idle_ns


def trial_label(t: "Trial", prompt_letters: dict[str, str], t_: Callable[[str], str]) -> str:
    """A trial as one short row: "#4 +G therapist", "#3 - auto", "#2 · not scored"."""
    o = t.outcome
    mark = OUTCOME_MARK.get(o, o)
    if o == "success":
        mark = "+" + prompt_letters.get(t.prompt or "", "?")
    if not t.is_scored and t.closed_ms is None:
        return f"#{t.order} {t_('open')}"
    who = {"therapist": t_("you"), "activity": t_("auto"), "": t_("not scored")}[t.scored_by]
    return f"#{t.order} {mark} {who}"


class Rail:
    """Layout, drawing and hit-testing of the rail. The App routes taps here only while unlocked."""

    def __init__(self, live: "LiveSession", t: Callable[[], Callable[[str], str]], theme: th.Theme,
                 side: str = "right") -> None:
        self.live = live
        self._t = t
        self.theme = theme
        self.side = side
        self.buttons: list[Button] = []
        self.rect = pygame.Rect(0, 0, 0, 0)
        self.editing: str | None = None  # a trial picked for an edit: the next score button edits it
        self.actions: dict[str, Callable[[], None]] = {}
        self._pressed: tuple[int, str] | None = None  # (pointer, button id) of a touch that began on a button
        self._fingers: set[int] = set()
        self._spoiled = False
        self.notices: "NoticeList | None" = None  # the app's notices: unseen ones show as a banner

    @property
    def t(self) -> Callable[[str], str]:
        return self._t()

    def width(self) -> int:
        return self.theme.px(RAIL_W)

    def layout(self, area: pygame.Rect) -> None:
        """Rebuild the buttons inside ``area`` (the full height below the top bar, one side)."""
        theme, live, t = self.theme, self.live, self.t
        self.rect = area
        pad, gap = theme.px(10), theme.px(8)
        x, w = area.x + pad, area.width - 2 * pad
        self.buttons = []
        y = area.y + theme.px(54)  # header: timer and the score target
        top = pygame.Rect(x, area.y + pad, w, theme.px(40))
        half = (w - gap) // 2
        side_w = half - theme.px(44)  # the session clock sits between Lock and More
        self.buttons.append(Button("rail:lock", t("Lock"), pygame.Rect(top.x, top.y, side_w, top.height),
                                   on_press=self.actions.get("lock"), colour=th.PANEL_HI, font_size=22))
        unseen = self.notices.unseen if self.notices is not None else 0
        self.buttons.append(Button("rail:more", t("Menu") + (f" ⚠{unseen}" if unseen else ""),
                                   pygame.Rect(top.right - side_w, top.y, side_w, top.height),
                                   on_press=self.actions.get("more"), colour=th.PARTIAL if unseen else th.PANEL_HI,
                                   text_colour=th.BG if unseen else th.TEXT, font_size=22))
        y = area.y + theme.px(110)
        levels = live.cfg.scoring.prompt_levels
        codes = rail_codes(levels, live.cfg.scoring.outcomes)
        rows = (len(codes) + 1 + 2) // 3  # + undo
        grid = grid_rects(pygame.Rect(x, y, w, rows * theme.px(84) + (rows - 1) * gap), rows, 3, gap)
        for cell, c in zip(grid, codes):
            colour = th.OUTCOME_COLOURS.get(c.outcome, th.NEUTRAL)
            sub = self.t(c.prompt.capitalize()) if c.prompt else self.t(c.outcome.replace("_", " ").capitalize())
            self.buttons.append(Button(f"score:{c.code}", c.code, cell, font_size=36, colour=colour,
                                       text_colour=th.BG, sublabel=sub,
                                       on_press=lambda code=c.code: self.actions["score"](code)))  # type: ignore[misc]
        undo_cell = grid[len(codes)] if len(codes) < len(grid) else None
        if undo_cell is not None:
            self.buttons.append(Button("rail:undo", t("Undo"), undo_cell, font_size=26, colour=th.PANEL_HI,
                                       on_press=self.actions.get("undo")))
        y = grid[-1].bottom + gap * 2
        act = live.activity
        primary = live.call("primary_action", act.primary_action) if act is not None else None
        if primary:
            label, fn = primary
            self.buttons.append(Button("rail:primary", label, pygame.Rect(x, y, w, theme.px(64)), font_size=30,
                                       colour=th.PALETTE[0], on_press=lambda f=fn: self.actions["primary"](f)))  # type: ignore[misc]
            y += theme.px(64) + gap * 2
        # goals: one chip per client goal; tap to target it (or not) from now on
        tally = live.tally()
        goals = live.client_goals()
        chip_h = theme.px(50)

        def room(rows: int) -> int:
            return max(0, (area.bottom - pad - theme.px(rows * 40 + 30) - y) // (chip_h + gap))

        n_rows = 3  # recent trial rows; fewer when the client's goals need the room (a primary action takes some)
        while n_rows > 1 and room(n_rows) < len(goals):
            n_rows -= 1
        for g in goals[:room(n_rows)]:
            tag = f"client:{g['id']}"
            on = tag in live.targets
            fig = tally.get(tag)
            count = f"{fig.successes}/{fig.trials}" if fig is not None and on else ""
            self.buttons.append(Button(f"goal:{tag}", g["text"], pygame.Rect(x, y, w, chip_h), font_size=20,
                                       selected=on, data={"tally": count},
                                       colour=th.PANEL_HI, on_press=lambda tag=tag: self.actions["goal"](tag)))  # type: ignore[misc]
            y += chip_h + gap
        notices = self.notices
        if notices is not None and notices.unseen and room(n_rows) > len(goals):
            # the therapist's notices wait here (and behind "More"), never on the child's screen
            label = notices[-1] if notices.unseen == 1 else f"({notices.unseen}) {notices[-1]}"
            self.buttons.append(Button("rail:notice", "⚠ " + label, pygame.Rect(x, y, w, chip_h), font_size=20,
                                       colour=th.PARTIAL, text_colour=th.BG, on_press=self.actions.get("more")))
            y += chip_h + gap
        self.trials_y = y + gap
        rows_y = area.bottom - pad - n_rows * theme.px(40) - (n_rows - 1) * gap
        recent = live.run_trials()[-n_rows:]
        for i, tr in enumerate(reversed(recent)):
            r = pygame.Rect(x, rows_y + i * (theme.px(40) + gap), w, theme.px(40))
            self.buttons.append(Button(f"trial:{tr.order}", trial_label(tr, _letters(levels), t), r, font_size=20,
                                       colour=th.PANEL_HI, selected=self.editing == tr.id,
                                       on_press=lambda tid=tr.id: self.actions["edit"](tid)))  # type: ignore[misc]

    def find(self, button_id: str) -> Button | None:
        return next((b for b in self.buttons if b.id == button_id), None)

    # ---- input: release inside the same button, never with a second finger down -----------

    def pointer(self, kind: str, pos: tuple[float, float], pointer_id: int) -> bool:
        """Returns True when the touch was the rail's (it never reaches the activity)."""
        inside = self.rect.collidepoint(pos)
        if kind == "down":
            self._fingers.add(pointer_id)
            if len(self._fingers) > 1:
                self._spoiled, self._pressed = True, None
            if not inside:
                return False
            b = next((b for b in self.buttons if b.hit(pos)), None)
            self._pressed = (pointer_id, b.id) if b is not None and not self._spoiled else None
            return True
        if kind == "up":
            self._fingers.discard(pointer_id)
            pressed, self._pressed = self._pressed, None
            spoiled = self._spoiled
            if not self._fingers:
                self._spoiled = False
            if pressed is None or pressed[0] != pointer_id or spoiled:
                return inside
            b = next((b for b in self.buttons if b.hit(pos)), None)
            if b is not None and b.id == pressed[1] and b.on_press is not None:
                b.on_press()
            return True
        return inside

    # ---- drawing ----------------------------------------------------------------------------

    def _draw_chip(self, surface: pygame.Surface, b: Button) -> None:
        """A goal: lit when this step works on it, its running successes/trials at the right."""
        theme = self.theme
        bg, fg = _chip_colours(b.selected)
        pygame.draw.rect(surface, bg, b.rect, border_radius=theme.px(14))
        tally = b.data.get("tally", "")
        right = b.rect.right - theme.px(12)
        if tally:
            r = draw_text(surface, theme, tally, (right, b.rect.centery), 22, colour=fg, bold=True, anchor="midright")
            right = r.left - theme.px(8)
        draw_text(surface, theme, b.label, (b.rect.x + theme.px(12), b.rect.centery), 20, colour=fg,
                  anchor="midleft", max_width=right - b.rect.x - theme.px(12))

    def draw(self, surface: pygame.Surface, now_ns: int) -> None:
        theme, live, t = self.theme, self.live, self.t
        r = self.rect
        pygame.draw.rect(surface, th.PANEL, r)
        edge = r.left if self.side == "right" else r.right - theme.px(4)
        pygame.draw.rect(surface, th.ACCENT, pygame.Rect(edge, r.y, theme.px(4), r.height))
        ms = live.elapsed_ms()
        s = int(ms // 1000)
        draw_text(surface, theme, f"{s // 60:02d}:{s % 60:02d}", (r.centerx, r.y + theme.px(30)), 26, bold=True,
                  colour=th.TEXT, max_width=theme.px(96))
        target = live.score_target(now_ns)
        if self.editing is not None:
            tr = next((x for x in live.trials() if x.id == self.editing), None)
            text = t("Next score edits") + f" #{tr.order}" if tr else t("Next score: new trial")
            colour = th.ACCENT
        elif target.trial is not None:
            text = t("Next score") + f": #{target.trial.order} " + (
                t("open") if target.how == "open" else t("{s} s ago").format(s=int(target.age_ms // 1000)))
            colour = th.GOOD
        else:
            text = t("Next score: new trial")
            colour = th.MUTED
        draw_text(surface, theme, text, (r.centerx, r.y + theme.px(86)), 22, colour=colour,
                  max_width=r.width - theme.px(16))
        for b in self.buttons:
            if b.id.startswith("goal:"):
                self._draw_chip(surface, b)
            else:
                b.draw(surface, theme)
        run = live.run_trials()
        scored = sum(1 for x in run if x.is_scored)
        goal = None
        sch = live.schedule
        if sch is not None and sch.current is not None:
            goal = sch.current.target_trials
        count = t("Trials") + f": {scored}" + (f" / {goal}" if goal else "")
        missing = sum(1 for x in run if not x.is_scored and x.closed_ms is not None)
        if missing:
            count += " · " + t("{n} not scored").format(n=missing)
        draw_text(surface, theme, count, (r.centerx, self.trials_y + theme.px(14)), 22, colour=th.TEXT,
                  max_width=r.width - theme.px(16))


def _chip_colours(on: bool) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    return (th.ACCENT, th.BG) if on else (th.PANEL_HI, th.TEXT)


def _letters(levels: list[str]) -> dict[str, str]:
    from prelude_play.session.scoring import prompt_letters

    return prompt_letters(levels)
