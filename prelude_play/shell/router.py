"""Input routing: every InputEvent to where it belongs, the moment it arrives.

- touch and mouse: the top screen (the client's screen hands them to the activity, through the
  client's touch accommodations);
- keys: the therapist hotkey, then the top screen, then the scoring keys (a keyboard or a
  page-turner pedal), then the activity;
- MIDI and the mic: the activity (also while the therapist panel is open: a pad hit or the
  client's voice is never lost to the panel); the therapist's pedal to the scoring grammar;
- device and system events: a notice for the therapist and a logged event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pygame

from prelude_play.events import InputEvent, LogEvent
from prelude_play.input.pointer_keys import PointerKeys, Signal

if TYPE_CHECKING:
    from prelude_play.shell.port import AppPort

THERAPIST_HOTKEY = "t"  # Ctrl+Shift+T asks for the PIN too

DEVICE_MESSAGES = {
    "device_added": "MIDI device connected: {name}",
    "device_removed": "MIDI device unplugged: {name} (its notes were released)",
    "device_error": "MIDI device problem: {name}",
}


class InputRouter:
    def __init__(self, app: "AppPort") -> None:
        self.app = app
        self.sdl = PointerKeys(app.clock, lambda: app.theme.size)

    def collect(self, events: list | None = None) -> None:
        """SDL's events (those given, then whatever else is waiting), each routed at once."""
        app = self.app
        for e in [*(events or []), *pygame.event.get()]:
            if app.waker is not None and e.type == app.waker.type:
                app.waker.woken()
                continue
            got = self.sdl.convert(e)
            if got is None:
                continue
            if isinstance(got, Signal):
                self.signal(got)
            else:
                self.route(got)

    def signal(self, s: Signal) -> None:
        app = self.app
        if s.kind == "quit":  # a client cannot close the window: closing asks the PIN, however often
            if not app.pin_guard.required:
                app.running = False
            elif app.modal != "pin":
                app.nav.ask_pin(then=app.quit)
        elif s.kind == "text":
            if app.actions.note_editing:
                app.actions.note_text += s.text
            elif app.text_sink is not None:
                app.text_sink(s.text)
            app.stack.top.dirty = True
        elif s.kind == "resize":
            if app.surface is not None and app.surface.get_size() != app.theme.size:
                app.theme.size = app.surface.get_size()
                app.relayout()
        elif s.kind == "expose":
            app.loop.force = True

    def route(self, ev: InputEvent) -> None:
        if ev.source == "system":
            self.system(ev)
        elif ev.source in ("touch", "mouse"):
            top = self.app.stack.top
            if ev.kind == "down" and top is not self.app.host:
                self.app.lock.touch(ev.t_ns)
            top.pointer(ev)
            top.dirty = True
        elif ev.source == "key":
            self.key(ev)
        else:
            self.device_input(ev)

    def system(self, ev: InputEvent) -> None:
        app = self.app
        template = DEVICE_MESSAGES.get(ev.kind)
        text = app.t(template).format(name=ev.device) if template else (
            ev.data.get("message") or f"{ev.kind}: {ev.device}")
        app.notify(text)
        if app.session is not None:
            app.log(LogEvent(ev.kind, actor="system", source="system", device=ev.device, t_ns=ev.t_ns,
                             data={k: v for k, v in ev.data.items() if k != "message"} | {"message": text}))

    def device_input(self, ev: InputEvent) -> None:
        """MIDI and mic: the pedal's gestures, filtered hits logged, the rest to the activity."""
        app = self.app
        if ev.source == "midi" and ev.role == "pedal":
            self.pedal(ev)
            return
        if ev.data.get("filtered") and app.session is not None and ev.kind == "note_on":
            app.log(LogEvent("filtered_hit", actor=ev.role if ev.role in ("client", "therapist") else "client",
                             source=ev.source, device=ev.device, t_ns=ev.t_ns,
                             data={"reason": ev.data["filtered"], "note": ev.note, "velocity": ev.velocity}))
        if app.stack.base is app.host:
            app.host.to_activity(ev)

    def pedal(self, ev: InputEvent) -> None:
        """The therapist's MIDI pedal: its gestures (tap, double tap, hold) and extra buttons."""
        app = self.app
        number = ev.control if ev.kind == "control_change" else ev.note
        extra = app.cfg.scoring.pedal_buttons.get(str(number)) if number is not None else None
        pressed = (ev.kind == "note_on" and (ev.velocity or 0) > 0) or \
            (ev.kind == "control_change" and (ev.value or 0) >= 64)
        released = ev.kind == "note_off" or (ev.kind == "note_on" and not ev.velocity) or \
            (ev.kind == "control_change" and (ev.value or 0) < 64)
        if extra is not None:
            if pressed:
                app.actions.do_action(extra, source="midi", device=ev.device, t_ns=ev.t_ns)
            return
        actions = app.pedal.press(ev.t_ns) if pressed else app.pedal.release(ev.t_ns) if released else []
        for action, t in actions:
            app.actions.do_action(action, source="midi", device=ev.device, t_ns=t)

    def key(self, ev: InputEvent) -> None:
        app = self.app
        top = app.stack.top
        top.dirty = True
        on_host = top is app.host
        if ev.kind != "key_down" or ev.key is None:
            if on_host:
                app.host.to_activity(ev)
            return
        name = ev.key
        mod = ev.data.get("mod", 0)
        if name == THERAPIST_HOTKEY and mod & pygame.KMOD_CTRL and mod & pygame.KMOD_SHIFT:
            app.nav.ask_pin()
            return
        if top.key(name):
            return
        if not on_host and top.name != "overlay":
            return  # home and the therapist screens took what they wanted
        action = app.cfg.scoring.keys.get(name)
        if action and app.activity is not None:
            app.actions.do_action(action, source="key", device=ev.device, t_ns=ev.t_ns)
            return
        if on_host:
            app.host.to_activity(ev)
