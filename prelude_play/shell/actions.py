"""The therapist's actions: score, undo, edit, the prompt level, notes, silence-all, language.

One place for what a rail button, a scoring key, a page-turner pedal or the MIDI pedal's
gesture does; the session (``prelude_play.session.live``) records it, the rail and the panel show
the new state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pygame

from prelude_play.events import LogEvent
from prelude_play.i18n import LANGUAGES, translator

if TYPE_CHECKING:
    from prelude_play.shell.port import AppPort


class TherapistActions:
    def __init__(self, app: "AppPort") -> None:
        self.app = app
        self.note_editing = False
        self.note_text = ""

    def do_action(self, action: str, *, source: str, device: str = "", t_ns: int | None = None) -> None:
        """A scoring key, pedal gesture or rail button: a score code or one of the actions."""
        self.app.lock.touch(self.app.clock.now_ns())
        act = self.app.activity
        if act is None:
            return
        if action == "undo":
            self.app.live.undo()
        elif action == "prompt_next":
            self.app.live.next_prompt()
        elif action == "prompt_reset":
            self.app.live.set_prompt(self.app.cfg.scoring.prompt_levels[0])
        elif action == "panic":
            self.panic()
        elif action == "primary":
            primary = self.app.live.call("primary_action", act.primary_action)
            if primary:
                self.app.live.call("primary", primary[1])
        else:
            self.app.live.score(action, source=source, device=device, t_ns=t_ns)
        self.refresh()

    def refresh(self, _: Any = None) -> None:
        """The rail and the panel show the new state (tally, last trials, prompt level)."""
        if self.app.stack.modal is self.app.overlay:
            self.app.overlay.layout()
        if self.app.lock.unlocked and self.app.stack.base is self.app.host:
            self.app.rail.layout(self.app.host.rail_rect())
        self.app.stack.top.dirty = self.app.stack.base.dirty = True

    def rail_score(self, code: str) -> None:
        editing, self.app.rail.editing = self.app.rail.editing, None
        if editing is not None:
            self.app.live.score(code, source="touch", trial_id=editing)
            self.refresh()
        else:
            self.do_action(code, source="touch")

    def rail_goal(self, tag: str) -> None:
        self.refresh(self.app.live.toggle_target(tag))

    def rail_edit(self, trial_id: str) -> None:
        self.app.rail.editing = None if self.app.rail.editing == trial_id else trial_id
        self.refresh()

    def score(self, code: str, *, source: str = "touch", device: str = "", t_ns: int | None = None) -> str | None:
        done = self.app.live.score(code, source=source, device=device, t_ns=t_ns)
        self.refresh()
        return done.event_id if done else None

    def undo(self) -> str | None:
        eid = self.app.live.undo()
        self.refresh()
        return eid

    def set_prompt(self, level: str) -> None:
        self.refresh(self.app.live.set_prompt(level))

    def last_score_text(self) -> str:
        last = self.app.live.last_score()
        if last is None:
            return self.app.t("No score yet")
        outcome, prompt = last
        return self.app.t("Last score") + f": {self.app.t(outcome.replace('_', ' ').capitalize())} · " \
            f"{self.app.t((prompt or '').capitalize())}"

    def toggle_note(self) -> None:
        if self.note_editing:
            self.app.live.note(self.note_text)
            self.note_editing, self.note_text = False, ""
            pygame.key.stop_text_input()
        else:
            self.note_editing = True
            pygame.key.start_text_input()
        self.app.overlay.layout()

    def panic(self, log: bool = True) -> None:
        """All sound and all MIDI notes off, now; the activity stops making new sound too."""
        act = self.app.activity
        if act is not None:
            self.app.live.call("on_panic", act.on_panic)
        for silence in (self.app.audio.all_off, self.app.midi_out.panic, self.app.midi.panic):
            try:
                silence()
            except Exception:
                pass
        if log and self.app.session is not None:
            self.app.log(LogEvent("panic", actor="therapist", source="touch"))

    def language_label(self) -> str:
        return LANGUAGES["fr_CA" if self.app.language == "en" else "en"]

    def toggle_language(self) -> None:
        self.app.language = "fr_CA" if self.app.language == "en" else "en"
        self.app.t = translator(self.app.language)
        self.app.theme.lang = self.app.language  # the activity's theme follows at its next layout
        if self.app.live.ctx is not None:
            self.app.live.ctx.t = self.app.t
        if self.app.data_dir is not None:
            from prelude_play.settings_file import set_user_setting

            set_user_setting(self.app.data_dir, "ui", "language", self.app.language)
        if self.app.session is not None:
            self.app.store.update_provenance(self.app.session, language=self.app.language)
        self.app.relayout()
