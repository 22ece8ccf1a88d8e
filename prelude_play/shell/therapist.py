"""The therapist's screens, all behind the PIN: session plans and the live schedule, the
end-of-session summary, export to a folder the therapist picks (e.g. a USB stick), the PIN; and
``Therapist``, the coordinator that holds them and the client screens (``records.py``).

Each screen is layout + buttons like the shell's own screens (ids for the pilot). Text is typed
through ``forms.TextField``s: the App sends pygame TEXTINPUT to the focused field, and the
on-screen keyboard docks under it.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pygame

from prelude_play.errors import PreludeError
from prelude_play.events import InputEvent, LogEvent
from prelude_play.shell.forms import FormScreen, TextField
from prelude_play.shell.records import ClientEditScreen, ClientsScreen
from prelude_play.store.export import Selection, export_csv, export_jsonl
from prelude_play.store.plans import (CURRENT, DONE, MISSING, PENDING, SKIPPED, LiveSchedule, Plan, PlanBook,
                                      PlanStep)
from prelude_play.store.summary import SessionSummary, summarize_session, summary_text
from prelude_play.ui import theme as th
from prelude_play.ui.keyboard import KeyboardPolicy
from prelude_play.ui.widgets import Button, draw_text

if TYPE_CHECKING:
    from prelude_play.shell.port import ShellPort

REMOVABLE_ROOTS = ("/media", "/run/media", "/mnt")


# ---- plans and the live schedule -----------------------------------------------------------

class PlansScreen(FormScreen):
    """Pick a plan for the current client, edit its steps, save it as theirs, start it (Back or
    another plan with unsaved edits asks "Save changes?" first)."""

    name = "plans"
    title = "Session plan"

    def __init__(self, app: "ShellPort", coord: "Therapist") -> None:
        super().__init__(app, coord)
        self.draft: Plan | None = None
        self.adding = False
        self.picking: int | None = None  # a step whose goals are being chosen
        self.saved_shape: list[dict[str, Any]] | None = None  # the draft's steps as last picked or saved

    def enter(self) -> None:
        if self.app.client_id is None:
            self.app.notify(self.t("Pick a client first"))
            self.app.nav.show("home")
            return
        plans = self.coord.plans.for_client(self.app.client_id)
        if self.draft is None and plans:
            self.pick(plans[0])
        super().enter()

    def pick(self, plan: Plan) -> None:
        self.draft = Plan(plan.id, plan.name, [PlanStep(s.activity, s.title, dict(s.settings), s.goals, s.target_trials)
                                               for s in plan.steps],
                          plan.client_id, plan.source)
        self.adding = False
        self.saved_shape = self.draft.as_steps()

    def unsaved(self) -> bool:
        return self.draft is not None and self.draft.as_steps() != self.saved_shape

    def discard(self) -> None:
        """Back to the stored plan (a plan never saved is dropped)."""
        stored = [p for p in self.coord.plans.for_client(self.app.client_id)
                  if self.draft is not None and p.id == self.draft.id]
        self.draft, self.picking = None, None
        if stored:
            self.pick(stored[0])

    def back(self) -> None:
        self.guard(lambda: self.app.nav.show("home"))

    def layout(self) -> None:
        app, theme = self.app, self.app.theme
        w, h = theme.size
        pad = theme.px(20)
        rh, gap = theme.px(76), theme.px(10)
        left_w = int(w * 0.3)
        self.buttons, self.fields = [], []
        plans = self.coord.plans.for_client(app.client_id)
        y = theme.px(88)
        for p in plans[:6]:
            self.buttons.append(Button(f"plan:{p.id}", p.name, pygame.Rect(pad, y, left_w, rh), font_size=26,
                                       selected=self.draft is not None and p.id == self.draft.id,
                                       sublabel=self.t("shared example") if p.client_id is None else "",
                                       on_press=lambda p=p: self.guard(lambda: (self.pick(p), self.layout()))))
            y += rh + gap
        x = 2 * pad + left_w
        sw = w - x - pad
        y = theme.px(88)
        if self.adding:
            names = app.registry.names()
            cols = 3
            bw = (sw - (cols - 1) * gap) // cols
            for i, n in enumerate(names):
                r = pygame.Rect(x + (i % cols) * (bw + gap), y + (i // cols) * (rh + gap), bw, rh)
                self.buttons.append(Button(f"add:{n}", self.t(app.registry.entries[n].title), r, font_size=26,
                                           on_press=lambda n=n: self.add_step(n)))
        elif self.draft is not None and self.picking is not None and self.picking < len(self.draft.steps):
            step = self.draft.steps[self.picking]
            chosen = set(step.goals or [])
            goals = app.live.client_goals()
            if not goals:
                self.say(self.t("This client has no goals yet: add them in Clients"))
            for g in goals[:8]:
                tag = f"client:{g['id']}"
                self.buttons.append(Button(f"pick:{tag}", g["text"], pygame.Rect(x, y, sw, rh), font_size=26,
                                           selected=tag in chosen, sublabel=self.t(self.coord.areas.get(
                                               g.get("area", ""), g.get("area", ""))),
                                           on_press=lambda tag=tag: self.toggle_goal(tag)))
                y += rh + gap
        elif self.draft is not None:
            small = theme.px(110)
            for i, s in enumerate(self.draft.steps[:7]):
                ok = app.registry.entries.get(s.activity) is not None
                label = f"{i + 1}. {self.t(s.label())}" + ("" if ok else " — " + self.t("not installed, will be skipped"))
                n = len(s.goals or [])
                sub = self.t("works on {n} goal(s)").format(n=n) if n else self.t("no goal chosen")
                self.buttons.append(Button(f"step:{i}", label, pygame.Rect(x, y, sw - 4 * (small + gap), rh),
                                           colour=th.PANEL_HI if ok else th.PANEL, sublabel=sub,
                                           text_colour=th.TEXT if ok else th.MUTED, font_size=26))
                for j, (bid, text, fn) in enumerate((("goals", self.t("Goals"), lambda i=i: self.pick_goals(i)),
                                                     ("up", self.t("Earlier"), lambda i=i: self.move(i, -1)),
                                                     ("down", self.t("Later"), lambda i=i: self.move(i, 1)),
                                                     ("remove", self.t("Remove"), lambda i=i: self.remove(i)))):
                    r = pygame.Rect(x + sw - (4 - j) * (small + gap) + gap, y, small, rh)
                    self.buttons.append(Button(f"step_{bid}:{i}", text, r, on_press=fn, font_size=24))
                y += rh + gap
        bottom = pygame.Rect(pad, h - pad - theme.px(88), (w - 5 * pad) // 4, theme.px(88))
        if self.picking is not None:
            nav_pick = [("plan:goals_done", self.t("Done"), self.pick_done, th.GOOD)]
            for i, (bid, label, fn, col) in enumerate(nav_pick):
                self.buttons.append(Button(bid, label, bottom.move(i * (bottom.width + pad), 0), on_press=fn,
                                           colour=col, text_colour=th.BG, font_size=28))
            return
        nav = [("plan:start", self.t("Start plan"), self.start, th.GOOD),
               ("plan:add", self.t("Cancel") if self.adding else self.t("+ Activity"), self.toggle_add, th.PANEL_HI),
               ("plan:save", self.t("Save for this client"), self.save, th.PANEL_HI),
               ("back", self.t("Back"), self.back, th.PANEL_HI)]
        for i, (bid, label, fn, col) in enumerate(nav):
            self.buttons.append(Button(bid, label, bottom.move(i * (bottom.width + pad), 0), on_press=fn, colour=col,
                                       text_colour=th.BG if col == th.GOOD else th.TEXT, font_size=28,
                                       enabled=self.draft is not None or bid in ("back", "plan:add")))

    def pick_goals(self, i: int) -> None:
        """Choose the client goals step ``i`` works on (its trials count toward exactly these)."""
        self.picking = i
        self.layout()

    def toggle_goal(self, tag: str) -> None:
        assert self.draft is not None and self.picking is not None
        step = self.draft.steps[self.picking]
        goals = list(step.goals or [])
        step.goals = [g for g in goals if g != tag] if tag in goals else goals + [tag]
        self.layout()

    def pick_done(self) -> None:
        self.picking = None
        self.layout()

    def move(self, i: int, d: int) -> None:
        assert self.draft is not None
        j = i + d
        if 0 <= j < len(self.draft.steps):
            self.draft.steps[i], self.draft.steps[j] = self.draft.steps[j], self.draft.steps[i]
        self.layout()

    def remove(self, i: int) -> None:
        assert self.draft is not None
        del self.draft.steps[i]
        self.layout()

    def toggle_add(self) -> None:
        self.adding = not self.adding
        self.layout()

    def add_step(self, name: str) -> None:
        if self.draft is None:
            self.draft = Plan("new", self.t("My plan"), [], self.app.client_id)
        self.draft.steps.append(PlanStep(name, self.app.registry.entries[name].title))
        self.adding = False
        self.layout()

    def save(self) -> bool:
        if self.draft is None:
            return False
        saved = self.coord.plans.save(self.draft, self.app.client_id)
        self.draft = saved
        self.saved_shape = saved.as_steps()
        self.say(self.t("Saved"), th.GOOD)
        self.layout()
        return True

    def start(self) -> None:
        if self.draft is None or not self.draft.steps:
            self.say(self.t("Add an activity first"))
            return
        self.coord.start_plan(self.draft)


class ScheduleScreen(FormScreen):
    """The running plan, live: skip, move, insert, or start a step now; then back to the client."""

    name = "schedule"
    title = "Schedule"

    def __init__(self, app: "ShellPort", coord: "Therapist") -> None:
        super().__init__(app, coord)
        self.adding = False

    def layout(self) -> None:
        app, theme = self.app, self.app.theme
        w, h = theme.size
        pad = theme.px(20)
        rh, gap, small = theme.px(72), theme.px(8), theme.px(84)
        self.buttons, self.fields = [], []
        sch = self.coord.schedule
        y = theme.px(84)
        if sch is not None and self.adding:
            names = app.registry.names()
            cols = 3
            bw = (w - 2 * pad - (cols - 1) * gap) // cols
            for i, n in enumerate(names):
                r = pygame.Rect(pad + (i % cols) * (bw + gap), y + (i // cols) * (rh + gap), bw, rh)
                self.buttons.append(Button(f"add:{n}", self.t(app.registry.entries[n].title), r, font_size=26,
                                           on_press=lambda n=n: self.insert(n)))
        elif sch is not None:
            state_text = {PENDING: "", CURRENT: self.t("Now"), DONE: self.t("Done"), SKIPPED: self.t("Skipped"),
                          MISSING: self.t("Skipped: not installed")}
            small = theme.px(120)
            for i, s in enumerate(sch.steps[:8]):
                label = self.t(s.step.label()) + (f"  ·  {state_text[s.state]}" if state_text[s.state] else "")
                lw = w - 2 * pad - 4 * (small + gap)
                colour = th.ACCENT if s.state == CURRENT else th.PANEL_HI if s.state == PENDING else th.PANEL
                text_colour = th.BG if s.state == CURRENT else th.TEXT if s.state == PENDING else th.MUTED
                self.buttons.append(Button(f"sched:{i}", label, pygame.Rect(pad, y, lw, rh), colour=colour,
                                           text_colour=text_colour, font_size=28))
                movable = s.state in (PENDING, SKIPPED) and i > sch.index
                acts = (("up", self.t("Earlier"), lambda i=i: self.act(lambda: sch.move(i, -1)), movable),
                        ("down", self.t("Later"), lambda i=i: self.act(lambda: sch.move(i, 1)), movable),
                        ("skip", self.t("Skip"), lambda i=i: self.act(lambda: sch.skip(i)), s.state == PENDING),
                        ("now", self.t("Start"), lambda i=i: self.start_now(i), s.state == PENDING))
                for j, (bid, text, fn, ok) in enumerate(acts):
                    r = pygame.Rect(pad + lw + gap + j * (small + gap), y, small, rh)
                    self.buttons.append(Button(f"sched_{bid}:{i}", text, r, on_press=fn, font_size=26, enabled=ok))
                y += rh + gap
        bottom = pygame.Rect(pad, h - pad - theme.px(88), (w - 4 * pad) // 3, theme.px(88))
        nav = [("sched:insert", self.t("Cancel") if self.adding else self.t("+ Insert activity"), self.toggle_add,
                th.PANEL_HI),
               ("sched:end", self.t("End session"), app.end_session, th.NOT_YET),
               ("close", self.t("Back to client"), self.coord.back_to_client, th.GOOD)]
        for i, (bid, label, fn, col) in enumerate(nav):
            self.buttons.append(Button(bid, label, bottom.move(i * (bottom.width + pad), 0), on_press=fn, colour=col,
                                       text_colour=th.BG if col in (th.GOOD, th.NOT_YET) else th.TEXT, font_size=28))

    def act(self, fn: Callable[[], Any]) -> None:
        fn()
        self.coord.refresh_schedule()
        self.layout()

    def start_now(self, i: int) -> None:
        sch = self.coord.schedule
        if sch is None:
            return
        step = sch.jump(i)
        if step is not None:
            self.coord.run_step(step)
        else:
            self.layout()

    def toggle_add(self) -> None:
        self.adding = not self.adding
        self.layout()

    def insert(self, name: str) -> None:
        sch = self.coord.schedule
        if sch is not None:
            sch.insert(PlanStep(name, self.app.registry.entries[name].title))
            self.coord.refresh_schedule()
        self.adding = False
        self.layout()

    def back(self) -> None:
        self.coord.back_to_client()


# ---- the summary after a session ----------------------------------------------------------

class SummaryScreen(FormScreen):
    """The session note: per-goal figures from the trials, then S, O, A and P, each editable.

    The app drafts every field (S from the notes, O from the trials in therapist words, A from
    the levels where there are enough trials, P from the goals worked on); the therapist edits,
    and the edits are kept with the session (``sessions.soap``). The page scrolls (drag, the
    mouse wheel, or the Up/Down buttons), so A and P are always reachable.
    """

    name = "summary"
    title = "Session note"
    FIELDS = (("S", "Subjective"), ("O", "Objective"), ("A", "Assessment"), ("P", "Plan"))

    def __init__(self, app: "ShellPort", coord: "Therapist") -> None:
        super().__init__(app, coord)
        self.session: dict[str, Any] | None = None
        self.summary: SessionSummary | None = None
        self.text = ""
        self.notes = ""
        self.soap: dict[str, str] = {}
        self.draft: dict[str, str] = {}
        self.scroll = 0
        self.content_h = 0
        self.view = pygame.Rect(0, 0, 0, 0)
        self._drag: tuple[float, int] | None = None

    def open(self, session_id: str) -> None:
        self.session = self.app.store.session(session_id)
        self.notes = self.session["notes"] if self.session else ""
        self.soap = dict(self.session.get("soap") or {}) if self.session else {}
        self.scroll = 0
        self.recompute()
        self.app.nav.show("summary")

    def goal_title(self) -> Callable[[str], str]:
        return self.stored.goal_title

    def recompute(self) -> None:
        """Figures and the app's draft from the log (the same ``summarize_stored`` the note, the
        report and ``summary --json`` use, in the language the therapist reads now); the
        therapist's own edits stay."""
        if self.session is None:
            return
        from prelude_play.store.summary import summarize_stored

        store = self.app.store
        self.session = store.session(self.session["id"]) or self.session
        self.session["notes"] = self.notes
        self.stored = summarize_stored(store, self.session, registry=self.app.registry, language=self.app.language)
        self.summary = self.stored.summary
        self.draft = self.stored.draft()
        if self.notes.strip() and not self.soap.get("S"):
            self.draft["S"] = self.draft["S"] or self.notes
        self.text = summary_text(self.summary, self.stored.goal_title, self.stored.t, info=self.stored.info,
                                 soap=self.soap)
        store.set_session_notes(self.session["id"], self.notes)
        store.set_session_soap(self.session["id"], self.soap)
        store.set_session_summary(self.session["id"], self.text)

    def value(self, key: str) -> str:
        return self.soap.get(key) or self.draft.get(key, "")

    # ---- layout: a scrolling page of figures and four fields --------------------------------

    def _lines(self, text: str, width: int, size: int) -> list[str]:
        font = self.app.theme.font(size)
        out: list[str] = []
        for para in (text or "").split("\n"):
            words, line = para.split(" "), ""
            for w in words:
                trial = (line + " " + w).strip()
                if font.size(trial)[0] <= width or not line:
                    line = trial
                else:
                    out.append(line)
                    line = w
            out.append(line)
        return out

    def layout(self) -> None:
        theme = self.app.theme
        w, h = theme.size
        pad = theme.px(20)
        self.buttons, self.fields = [], []
        bottom = pygame.Rect(pad, h - pad - theme.px(88), (w - 7 * pad) // 6, theme.px(88))
        view_bottom = min(bottom.y, self.dock.top()) - pad  # above the keyboard while it shows
        self.view = pygame.Rect(pad, theme.px(84), w - 2 * pad - theme.px(110), view_bottom - theme.px(84))
        up = pygame.Rect(self.view.right + pad, self.view.y, theme.px(90), theme.px(100))
        self.buttons.append(Button("summary:up", self.t("Up"), up, font_size=26, on_press=lambda: self.scroll_by(-1)))
        self.buttons.append(Button("summary:down", self.t("Down"), up.move(0, self.view.height - up.height),
                                   font_size=26, on_press=lambda: self.scroll_by(1)))
        y = self._figures_height()
        width = self.view.width - theme.px(40)
        for key, label in self.FIELDS:
            lines = self._lines(self.value(key), width - theme.px(28), 24)
            fh = theme.px(44) + max(1, len(lines)) * theme.px(30) + theme.px(12)
            r = pygame.Rect(self.view.x + theme.px(10), self.view.y + y - self.scroll, width, fh)
            self.fields.append(TextField(f"field:{key}", f"{key} · {self.t(label)}", self.value(key), r))
            y += fh + theme.px(12)
        notes_y = y
        r = pygame.Rect(self.view.x + theme.px(10), self.view.y + notes_y - self.scroll, width, theme.px(84))
        self.fields.append(TextField("field:notes", self.t("Therapist's notes (tap to type)"), self.notes, r))
        self.content_h = notes_y + theme.px(100)
        most = max(0, self.content_h - self.view.height)
        if self.scroll > most:  # the page grew (the keyboard closed): no empty space under the notes
            self.scroll = most
            self.layout()
            return
        nav = [("summary:redraft", self.t("Redraft"), self.redraft, th.PANEL_HI),
               ("summary:copy", self.t("Copy text"), self.copy, th.PANEL_HI),
               ("summary:note", self.t("Note as PDF"), self.note_pdf, th.PANEL_HI),
               ("summary:export", self.t("Export…"), lambda: self.coord.open_export(self.session),
                th.PANEL_HI),
               ("summary:done", self.t("Done"), self.done, th.GOOD)]
        for i, (bid, label, fn, col) in enumerate(nav):
            self.buttons.append(Button(bid, label, bottom.move(i * (bottom.width + pad), 0), on_press=fn, colour=col,
                                       text_colour=th.BG if col == th.GOOD else th.TEXT, font_size=26))

    def _figures_height(self) -> int:
        theme = self.app.theme
        n = len(self.summary.goals) if self.summary else 0
        return theme.px(60) + n * theme.px(36) + theme.px(36 + 30)

    def scroll_by(self, pages: float) -> None:
        most = max(0, self.content_h - self.view.height)
        self.scroll = int(max(0, min(most, self.scroll + pages * self.view.height * 0.8)))
        self.layout()

    def pointer(self, ev: InputEvent) -> None:
        """Drag the page with a finger (a short touch is a tap); the mouse wheel scrolls."""
        pos, kind = ev.pos, ev.kind
        if pos is None or self.before_pointer(ev):
            return
        if kind == "wheel":
            self.scroll_by(-int(ev.value or 0) * 0.25)
        elif kind == "down":
            if self.view.collidepoint(pos):
                self._drag = (pos[1], self.scroll)
            self.tap(pos)
        elif kind == "move" and self._drag is not None:
            y0, s0 = self._drag
            if abs(pos[1] - y0) > self.app.theme.px(12):
                most = max(0, self.content_h - self.view.height)
                self.scroll = int(max(0, min(most, s0 - (pos[1] - y0))))
                self.layout()
        elif kind == "up":
            self._drag = None
        self.dirty = True

    def tap(self, pos: tuple[float, float]) -> bool:
        if not self.view.collidepoint(pos):  # a field scrolled out of the page cannot be tapped (nor hide a button)
            b = next((b for b in self.buttons if b.hit(pos)), None)
            if b is not None and b.on_press is not None:
                b.on_press()
                return True
            self.unfocus()
            return b is not None
        return super().tap(pos)

    def focus_field(self, fid: str) -> None:
        super().focus_field(fid)
        if self.focus is not None and fid != "field:notes":
            key = fid.split(":", 1)[1]
            self.focus.value = self.value(key)

    def type_text(self, text: str) -> None:
        super().type_text(text)
        self.layout_keep_focus()

    def field_changed(self, f: TextField) -> None:
        self.layout_keep_focus()  # a field grows a line as the text wraps

    def reveal(self) -> None:
        """Scroll the focused field into the page above the keyboard (its end, where typing goes)."""
        self.layout_keep_focus()
        f = self.focus
        if f is None:
            return
        if f.rect.bottom > self.view.bottom:
            self.scroll += f.rect.bottom - self.view.bottom
        if f.rect.y < self.view.y:
            self.scroll -= self.view.y - f.rect.y
        self.scroll = int(max(0, min(max(0, self.content_h - self.view.height), self.scroll)))
        self.layout_keep_focus()

    def key(self, name: str) -> bool:
        if self.focus is not None and name in ("return", "enter") and self.focus.id != "field:notes":
            self.focus.value += "\n"  # a new line inside S/O/A/P; tap elsewhere to finish
            self.layout_keep_focus()
            return True
        handled = super().key(name)
        if self.focus is not None:
            self.layout_keep_focus()
        return handled

    def layout_keep_focus(self) -> None:
        if self.focus is None:
            return
        fid, value = self.focus.id, self.focus.value
        key = fid.split(":", 1)[1]
        if key in "SOAP" and len(key) == 1:
            self.soap[key] = value
        self.layout()
        self.focus = next((f for f in self.fields if f.id == fid), None)
        if self.focus is not None:
            self.focus.value = value

    def field_done(self, f: TextField) -> None:
        key = f.id.split(":", 1)[1]
        if key == "notes":
            self.notes = f.value
        elif key in ("S", "O", "A", "P"):
            if f.value.strip() and f.value != self.draft.get(key):
                self.soap[key] = f.value
            else:
                self.soap.pop(key, None)
        self.recompute()
        self.layout()

    def redraft(self) -> None:
        """Throw away the edits of O, A and P and take the app's draft from the trials again."""
        self.unfocus()
        for k in "OAP":
            self.soap.pop(k, None)
        self.recompute()
        self.layout()
        self.say(self.t("Drafted again from the trials"), th.GOOD)

    def note_pdf(self) -> None:
        """The one-page note as PDF in this device's exports folder (pseudonymous)."""
        self.unfocus()
        if self.session is None or self.app.data_dir is None:
            return
        from prelude_play.store.note import write_note

        folder = Path(self.app.data_dir) / "exports"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            out = write_note(self.app.store, self.session["id"], folder / f"note-{self.session['id'][:13]}.pdf",
                             fmt="pdf", registry=self.app.registry)
        except (PreludeError, OSError) as exc:
            self.say(self.t("Could not write the note") + f": {exc}", th.NOT_YET)
            return
        self.say(self.t("Note written") + f": {out}", th.GOOD)

    def copy(self) -> None:
        self.unfocus()
        ok = copy_to_clipboard(self.text)
        self.say(self.t("Copied — paste it into your note") if ok
                 else self.t("No clipboard here; the text is saved with the session"), th.GOOD if ok else th.PARTIAL)

    def done(self) -> None:
        self.unfocus()
        self.recompute()
        self.app.nav.show("home")

    def back(self) -> None:
        self.done()

    def draw(self, surface: pygame.Surface) -> None:
        theme = self.app.theme
        surface.fill(th.BG)
        draw_text(surface, theme, self.t(self.title), (theme.px(32), theme.px(44)), 44, bold=True,
                  colour=th.ACCENT, anchor="midleft")
        sm = self.summary
        if sm is not None:
            when = sm.session["started"][:16].replace("T", " ")
            dur = f" · {sm.duration_min:.0f} min" if sm.duration_min is not None else ""
            draw_text(surface, theme, f"{sm.client_label} · {when}{dur}", (theme.px(360), theme.px(44)), 26,
                      colour=th.MUTED, anchor="midleft", max_width=theme.size[0] // 2)
        view = self.view
        pygame.draw.rect(surface, th.PANEL, view, border_radius=theme.px(14))
        clip = surface.get_clip()
        surface.set_clip(view)
        y = view.y + theme.px(24) - self.scroll
        x = view.x + theme.px(16)
        if sm is not None:
            cols = [(self.t("Goal"), 0), (self.t("Trials"), 0.52), (self.t("Successful"), 0.62),
                    (self.t("Independent"), 0.74), (self.t("Not scored"), 0.86)]
            wv = view.width - theme.px(32)
            for label, fx in cols:
                draw_text(surface, theme, label, (x + int(fx * wv), y), 20, colour=th.MUTED, anchor="midleft")
            y += theme.px(34)
            title = self.goal_title()
            areas_started = False
            for tag in sm.ordered_goals():
                g = sm.goals[tag]
                if not tag.startswith("client:") and not areas_started:
                    areas_started = True
                    y += theme.px(6)
                    draw_text(surface, theme, self.t("Goal areas"), (x, y), 20, colour=th.MUTED, anchor="midleft")
                    y += theme.px(30)
                level = g.level(sm.min_trials)
                if g.trials == 0 and g.not_scored == 0:
                    draw_text(surface, theme, title(tag), (x, y), 22, colour=th.MUTED, anchor="midleft",
                              max_width=int(0.5 * wv))
                    draw_text(surface, theme, self.t("not worked on this session"), (x + int(0.52 * wv), y), 22,
                              colour=th.MUTED, anchor="midleft")
                    y += theme.px(36)
                    continue
                values = [title(tag) + (f" · {self.t(level)}" if level else ""), str(g.trials), str(g.successes),
                          str(g.independent), str(g.not_scored)]
                for (label, fx), v in zip(cols, values):
                    draw_text(surface, theme, v, (x + int(fx * wv), y), 22, colour=th.TEXT, anchor="midleft",
                              max_width=int(0.5 * wv) if fx == 0 else None)
                y += theme.px(36)
        for f in self.fields:
            focused = f is self.focus
            pygame.draw.rect(surface, th.PANEL_HI if focused else th.BG, f.rect, border_radius=theme.px(12))
            if focused:
                pygame.draw.rect(surface, th.ACCENT, f.rect, width=theme.px(3), border_radius=theme.px(12))
            key = f.id.split(":", 1)[1]
            edited = key in self.soap
            label = f.label + (" · " + self.t("edited") if edited else "")
            draw_text(surface, theme, label, (f.rect.x + theme.px(14), f.rect.y + theme.px(22)), 22,
                      colour=th.ACCENT, anchor="midleft")
            value = f.value if focused or key == "notes" else self.value(key)
            ly = f.rect.y + theme.px(58)
            for line in self._lines(value + ("_" if focused else ""), f.rect.width - theme.px(28), 24):
                draw_text(surface, theme, line, (f.rect.x + theme.px(14), ly), 24, anchor="midleft")
                ly += theme.px(30)
        surface.set_clip(clip)
        most = max(0, self.content_h - view.height)
        if most:
            bar_h = max(theme.px(40), int(view.height * view.height / self.content_h))
            by = view.y + int((view.height - bar_h) * self.scroll / most)
            pygame.draw.rect(surface, th.MUTED, pygame.Rect(view.right - theme.px(8), by, theme.px(6), bar_h),
                             border_radius=theme.px(3))
        for b in self.buttons:
            b.draw(surface, theme)
        if self.message:
            draw_text(surface, theme, self.message, (theme.size[0] - theme.px(32), theme.px(44)), 22,
                      colour=self.message_colour, anchor="midright", max_width=theme.size[0] // 3)
        self.dock.draw(surface)


def copy_to_clipboard(text: str) -> bool:
    """The system clipboard through pygame.scrap (SDL's clipboard); False when there is none."""
    try:
        import pygame.scrap as scrap

        scrap.put_text(text)
        return scrap.get_text() == text
    except Exception:
        return False


# ---- export ---------------------------------------------------------------------------------

def export_destinations(data_dir: Path | None, roots: tuple[str, ...] = REMOVABLE_ROOTS) -> list[tuple[str, Path]]:
    """Writable mounted drives (USB sticks) under the usual mount roots, then the data dir's exports.

    /media/<user>/<label> and /run/media/<user>/<label> (udisks) or /media/<label>, /mnt/<label>.
    """
    out: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    for root in roots:
        base = Path(root)
        try:
            level1 = sorted(p for p in base.iterdir() if p.is_dir())
        except OSError:
            continue
        for p in level1:
            candidates = [p]
            if not os.path.ismount(p):
                try:
                    candidates = sorted(q for q in p.iterdir() if q.is_dir())
                except OSError:
                    continue
            for c in candidates:
                if c not in seen and os.access(c, os.W_OK):
                    seen.add(c)
                    out.append((c.name, c))
    if data_dir is not None:
        out.append(("This device (exports folder)", Path(data_dir) / "exports"))
    return out


class ExportScreen(FormScreen):
    """Export CSV + JSON Lines + HTML report into a new folder on the chosen drive."""

    name = "export"
    title = "Export"

    def __init__(self, app: "ShellPort", coord: "Therapist") -> None:
        super().__init__(app, coord)
        self.dest: Path | None = None
        self.scope = "client"  # client | session | all
        self.session_id: str | None = None
        self.names = False
        self.free_text: bool | None = None  # None: follows names (withheld from a pseudonymous export)
        self.formats = {"csv": True, "jsonl": True, "html": True}
        self.roots: tuple[str, ...] = REMOVABLE_ROOTS
        self.last_folder: Path | None = None

    def enter(self) -> None:
        dests = export_destinations(self.app.data_dir, self.roots)
        if self.dest not in [d for _, d in dests]:
            self.dest = dests[0][1] if dests else None
        if self.app.client_id is None and self.scope != "all":
            self.scope = "all"
        super().enter()

    def layout(self) -> None:
        app, theme = self.app, self.app.theme
        w, h = theme.size
        pad = theme.px(20)
        rh, gap = theme.px(80), theme.px(10)
        self.buttons, self.fields = [], []
        dests = export_destinations(app.data_dir, self.roots)
        col_w = (w - 3 * pad) // 2
        y = theme.px(120)
        for label, path in dests[:6]:
            shown = self.t(label) if label.startswith("This device") else label
            self.buttons.append(Button(f"dest:{path}", shown, pygame.Rect(pad, y, col_w, rh), font_size=28,
                                       sublabel=str(path), selected=path == self.dest,
                                       on_press=lambda p=path: self.set_dest(p)))
            y += rh + gap
        self.buttons.append(Button("dest:refresh", self.t("Look for drives again"), pygame.Rect(pad, y, col_w, rh),
                                   colour=th.PANEL, font_size=26, on_press=self.layout))
        x = 2 * pad + col_w
        y = theme.px(120)
        scopes = [("all", self.t("All clients"))]
        if app.client_id is not None:
            scopes.insert(0, ("client", self.t("This client")))
        if self.session_id:
            scopes.insert(0, ("session", self.t("This session")))
        sw = (col_w - (len(scopes) - 1) * gap) // len(scopes)
        for i, (sid, label) in enumerate(scopes):
            self.buttons.append(Button(f"scope:{sid}", label, pygame.Rect(x + i * (sw + gap), y, sw, rh), font_size=28,
                                       selected=self.scope == sid, on_press=lambda s=sid: self.set_scope(s)))
        y += rh + gap
        fw = (col_w - 2 * gap) // 3
        for i, fmt in enumerate(("csv", "jsonl", "html")):
            self.buttons.append(Button(f"format:{fmt}", {"csv": "CSV", "jsonl": "JSON Lines", "html": self.t("Report")}[fmt],
                                       pygame.Rect(x + i * (fw + gap), y, fw, rh), font_size=28,
                                       selected=self.formats[fmt], on_press=lambda f=fmt: self.toggle_format(f)))
        y += rh + gap
        self.buttons.append(Button("names", self.t("Names in this export: YES") if self.names
                                   else self.t("Names in this export: no (codes)"),
                                   pygame.Rect(x, y, col_w, rh), font_size=28,
                                   colour=th.NOT_YET if self.names else th.PANEL_HI,
                                   text_colour=th.BG if self.names else th.TEXT,
                                   on_press=self.toggle_names))
        y += rh + gap
        self.buttons.append(Button("free_text", self.t("Notes and typed text: included") if self.keeps_free_text()
                                   else self.t("Notes and typed text: withheld"),
                                   pygame.Rect(x, y, col_w, rh), font_size=28,
                                   colour=th.NOT_YET if self.keeps_free_text() and not self.names else th.PANEL_HI,
                                   text_colour=th.BG if self.keeps_free_text() and not self.names else th.TEXT,
                                   on_press=self.toggle_free_text))
        bottom = pygame.Rect(pad, h - pad - theme.px(96), (w - 3 * pad) // 2, theme.px(96))
        self.buttons.append(Button("export:go", self.t("Export now"), bottom, colour=th.GOOD, text_colour=th.BG,
                                   font_size=32, on_press=self.run, enabled=self.dest is not None
                                   and any(self.formats.values())))
        self.buttons.append(Button("back", self.t("Back"), bottom.move(bottom.width + pad, 0), font_size=32,
                                   on_press=self.back))

    def draw(self, surface: pygame.Surface) -> None:
        msg, self.message = self.message, ""  # drawn full width above the buttons instead
        super().draw(surface)
        self.message = msg
        if msg:
            theme = self.app.theme
            draw_text(surface, theme, msg, (theme.px(24), theme.size[1] - theme.px(150)), 26,
                      colour=self.message_colour, anchor="midleft", max_width=theme.size[0] - theme.px(48))

    def set_dest(self, p: Path) -> None:
        self.dest = p
        self.layout()

    def set_scope(self, s: str) -> None:
        self.scope = s
        self.layout()

    def toggle_format(self, f: str) -> None:
        self.formats[f] = not self.formats[f]
        self.layout()

    def toggle_names(self) -> None:
        self.names = not self.names
        self.layout()

    def keeps_free_text(self) -> bool:
        """Typed text (notes, the session note, plan names) goes into this export: with names by
        default, withheld from a pseudonymous one unless the therapist includes it."""
        return self.names if self.free_text is None else self.free_text

    def toggle_free_text(self) -> None:
        self.free_text = not self.keeps_free_text()
        self.layout()

    def selection(self) -> Selection:
        if self.scope == "session" and self.session_id:
            return Selection(session=self.session_id)
        if self.scope == "client" and self.app.client_id:
            return Selection(client=self.app.client_id)
        return Selection()

    def run(self) -> Path | None:
        """Write the chosen formats into a new folder; a failure says why and changes nothing."""
        from prelude_play.store.report import export_html

        if self.dest is None:
            return None
        app = self.app
        sel = self.selection()
        label = "all"
        if self.scope != "all" and app.client_id:
            c = app.store.client(app.client_id)
            label = (c["display_name"] if self.names else c["code"]) if c else app.client_id
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = self.dest / f"prelude-play-{_safe(label)}-{stamp}"
        settings = {"format": "app export", "scope": self.scope, "formats": [f for f, on in self.formats.items() if on]}
        try:
            if self.dest.name == "exports" and self.dest.parent == app.data_dir:
                self.dest.mkdir(mode=0o700, exist_ok=True)
            if not self.dest.is_dir():
                raise PreludeError(f"{self.dest} is not there any more (was the drive removed?). "
                                   "Nothing was changed; plug it in or pick another place.")
            folder.mkdir(mode=0o700)
            written = []
            for fmt, fn, name in (("csv", export_csv, "events.csv"), ("jsonl", export_jsonl, "events.jsonl"),
                                  ("html", export_html, "report.html")):
                if self.formats[fmt]:
                    written.append(fn(app.store, folder / name, names=self.names, selection=sel, settings=settings,
                                      free_text=self.keeps_free_text()))
        except (PreludeError, OSError) as exc:
            _remove_if_empty(folder)
            self.say(self.t("Export failed") + f": {exc}", th.NOT_YET)
            err = str(exc).replace(str(folder), "<export folder>") if self.names else str(exc)
            app.log(LogEvent("export_failed", actor="therapist", source="touch", data={"error": err}))
            self.layout()
            return None
        self.last_folder = folder
        self.say(self.t("Exported to") + f" {folder}", th.GOOD)
        app.log(LogEvent("export", actor="therapist", source="touch",
                         # a named export's folder carries the client's name: never logged
                         data={"folder": None if self.names else str(folder), "files": [p.name for p in written],
                               "names": self.names, "free_text": self.keeps_free_text(),
                               "selection": sel.describe()}))
        self.names, self.free_text = False, None  # chosen per export, never remembered
        self.layout()
        return folder


def _safe(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)[:40] or "export"


def _remove_if_empty(folder: Path) -> None:
    try:
        for p in folder.iterdir():
            if p.name.startswith(".") and p.name.endswith(".partial"):
                p.unlink()
        folder.rmdir()
    except OSError:
        pass


# ---- the PIN --------------------------------------------------------------------------------

class ChangePinScreen(FormScreen):
    """A new therapist PIN, typed twice on a digit pad; stored hashed in the user's settings file
    (``[therapist] pin_hash``), never in clear; the change is logged (without the digits)."""

    name = "change_pin"
    title = "Change PIN"

    def __init__(self, app: "ShellPort", coord: "Therapist") -> None:
        super().__init__(app, coord)
        self.first: str | None = None
        self.entered = ""

    def enter(self) -> None:
        self.first, self.entered = None, ""
        super().enter()

    def layout(self) -> None:
        theme = self.app.theme
        w, h = theme.size
        size, gap = theme.px(96), theme.px(14)
        gw = 3 * size + 2 * gap
        x0, y0 = (w - gw) // 2, theme.px(220)
        self.buttons, self.fields = [], []
        for i, lab in enumerate(["1", "2", "3", "4", "5", "6", "7", "8", "9", "back", "0", "ok"]):
            r = pygame.Rect(x0 + (i % 3) * (size + gap), y0 + (i // 3) * (size + gap), size, size)
            text = {"back": "<", "ok": self.t("OK")}.get(lab, lab)
            self.buttons.append(Button(f"newpin:{lab}", text, r, on_press=lambda l=lab: self.press(l), font_size=40,
                                       colour=th.GOOD if lab == "ok" else th.PANEL_HI,
                                       text_colour=th.BG if lab == "ok" else th.TEXT))
        pad = theme.px(20)
        self.buttons.append(Button("back", self.t("Back"), pygame.Rect(pad, h - pad - theme.px(88), theme.px(240),
                                                                       theme.px(88)), on_press=self.back))

    def press(self, label: str) -> None:
        if label == "back":
            self.entered = self.entered[:-1]
        elif label == "ok":
            self.submit()
        elif len(self.entered) < 8:
            self.entered += label

    def submit(self) -> None:
        from prelude_play.pin import PIN_RE

        entered, self.entered = self.entered, ""
        if not PIN_RE.fullmatch(entered):
            self.say(self.t("A PIN is 4 to 8 digits"))
            return
        if self.first is None:
            self.first = entered
            self.say(self.t("Type the new PIN again"), th.ACCENT)
            return
        first, self.first = self.first, None
        if entered != first:
            self.say(self.t("The two PINs differ: type the new PIN again from the start"))
            return
        app = self.app
        new_hash = app.pin_guard.change(entered)
        app.cfg.therapist.pin, app.cfg.therapist.pin_hash = "", new_hash
        if app.data_dir is not None:
            from prelude_play.settings_file import remove_user_setting, set_user_setting

            try:
                set_user_setting(app.data_dir, "therapist", "pin_hash", new_hash)
                remove_user_setting(app.data_dir, "therapist", "pin")
            except OSError as exc:
                self.say(self.t("The new PIN works until the app closes, but could not be saved") + f": {exc}")
                return
        app.log(LogEvent("pin_changed", actor="therapist", source="touch"))
        self.say(self.t("PIN changed"), th.GOOD)

    def key(self, name: str) -> bool:
        if name.isdigit() and len(name) == 1:
            self.press(name)
        elif name in ("return", "enter"):
            self.press("ok")
        elif name == "backspace":
            self.press("back")
        elif name == "escape":
            self.back()
        return True

    def back(self) -> None:
        self.app.nav.show("clients")

    def draw(self, surface: pygame.Surface) -> None:
        super().draw(surface)
        theme = self.app.theme
        label = self.t("New PIN (4–8 digits)") if self.first is None else self.t("The new PIN again")
        draw_text(surface, theme, label, (theme.size[0] // 2, theme.px(130)), 34, bold=True)
        dots, n = theme.px(12), len(self.entered)
        for i in range(n):
            cx = theme.size[0] // 2 + (i - (n - 1) / 2) * dots * 3
            pygame.draw.circle(surface, th.TEXT, (int(cx), theme.px(180)), dots)


# ---- the coordinator the App holds ----------------------------------------------------------

class Therapist:
    """Owns the therapist screens and the running plan; the App routes to it."""

    def __init__(self, app: "ShellPort", plan_dirs: list[Path] | None = None) -> None:
        self.app = app
        from prelude_play.config import resource_dir

        dirs = plan_dirs if plan_dirs is not None else [resource_dir("config") / "plans"]
        if plan_dirs is None and app.data_dir is not None:
            dirs.append(app.data_dir / "config" / "plans")
        self.plans = PlanBook(app.store, dirs)
        for p in self.plans.problems:
            app.notices.append(str(p))
        app.notices.extend(getattr(app.store, "notices", []))  # e.g. "store upgraded, backup kept at ..."
        self.areas = _area_titles()
        self.typing = KeyboardPolicy(app.cfg.ui.on_screen_keyboard)
        """When the on-screen keyboard shows, for every text field of this run (``ui.on_screen_keyboard``)."""
        self.clients = ClientsScreen(app, self)
        self.editor = ClientEditScreen(app, self)
        self.plan_screen = PlansScreen(app, self)
        self.schedule_screen = ScheduleScreen(app, self)
        self.summary = SummaryScreen(app, self)
        self.export = ExportScreen(app, self)
        self.change_pin = ChangePinScreen(app, self)
        self.screens: dict[str, FormScreen] = {
            "clients": self.clients, "client_edit": self.editor, "plans": self.plan_screen,
            "schedule": self.schedule_screen, "summary": self.summary, "export": self.export,
            "change_pin": self.change_pin}

    # ---- client records --------------------------------------------------------------------

    def new_client(self, return_to: str = "clients") -> None:
        """A new client, selected, in its editor at once (the caller has asked for the PIN)."""
        if self.app.session is not None:
            self.app.notify(self.app.t("End the session before switching clients"))
            return
        self.app.new_client()
        if self.app.client_id is not None:
            self.edit_client(self.app.client_id, return_to, new=True)

    def edit_client(self, client_id: str, return_to: str = "clients", new: bool = False) -> None:
        """Open the editor on ``client_id`` (selected first); its Back returns to ``return_to``."""
        self.app.select_client(client_id)
        if self.app.client_id != client_id:
            return
        self.editor.return_to, self.editor.new = return_to, new
        self.app.nav.show("client_edit")

    def goal_title(self, client_id: str) -> Callable[[str], str]:
        own = {f"client:{g['id']}": g["text"] for g in self.app.store.client_profile(client_id).get("goals", [])}
        return lambda tag: own.get(tag) or self.app.t(self.areas.get(tag, tag))

    # ---- plans (the session runs them; these keep the screens in step) ----------------------

    @property
    def schedule(self) -> LiveSchedule | None:
        return self.app.live.schedule

    def start_plan(self, plan: Plan) -> None:
        self.app.live.start_plan(plan)

    def next_step(self) -> None:
        self.app.live.next_step()

    def run_step(self, step: PlanStep) -> None:
        self.app.live.run_step(step)

    def refresh_schedule(self) -> None:
        self.app.live.refresh_schedule()

    def next_label(self) -> str | None:
        return self.schedule.next_label() if self.schedule else None

    def back_to_client(self) -> None:
        self.app.nav.show("host" if self.app.activity is not None else "home")

    def end_plan(self) -> None:
        self.app.live.end_plan()

    # ---- export -----------------------------------------------------------------------------

    def open_export(self, session: dict[str, Any] | None = None) -> None:
        self.export.session_id = session["id"] if session else None
        self.export.scope = "session" if session else ("client" if self.app.client_id else "all")
        self.app.nav.show("export")


def _area_titles() -> dict[str, str]:
    from prelude_play.store.report import area_titles

    return area_titles()
