"""The shell: the screens, the scoring rail and the therapist's actions, around one live session.

Where things happen: SDL events become InputEvents in ``input/pointer_keys.py`` and are routed at
once by ``router.py`` (a tap's sound starts in the activity's handler, before any frame);
``loop.py`` draws only what changed and sleeps in between; ``host.py`` is the client's screen;
``stack.py`` decides which screen gets input; the session itself — client, plan, activity
lifecycle, trials, scores, the log — is ``prelude_play.session.live.LiveSession``. Sound for a
MIDI hit never waits for any of this (the hit path plays it on the MIDI thread).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import pygame

from prelude_play.activity import Registry
from prelude_play.clock import Clock
from prelude_play.config import AppConfig, resource_dir
from prelude_play.devices import (AudioOut, Mic, MidiIn, MidiOut, NullAudio, NullMic, NullMidiIn, NullMidiOut,
                                  is_stand_in)
from prelude_play.events import LogEvent
from prelude_play.hits import HitPath, Hits
from prelude_play.i18n import translator
from prelude_play.input.pointer_keys import Waker
from prelude_play.input.queue import InputQueue
from prelude_play.pin import PinGuard
from prelude_play.session.live import LiveSession, Services
from prelude_play.session.scoring import PedalGrammar, PedalSettings
from prelude_play.shell import provenance as prov
from prelude_play.shell.actions import TherapistActions
from prelude_play.shell.lifecycle import shut_down
from prelude_play.shell.host import HostScreen
from prelude_play.shell.loop import FrameLoop
from prelude_play.shell.navigation import Navigator
from prelude_play.shell.rail import Rail, TherapistLock
from prelude_play.shell.router import InputRouter
from prelude_play.shell.notices import NoticeList
from prelude_play.shell.screens import HomeScreen, Overlay, PinPad
from prelude_play.shell.stack import ScreenStack
from prelude_play.shell.therapist import Therapist
from prelude_play.store.eventlog import EventLog
from prelude_play.ui import theme as th
from prelude_play.ui.touch import TouchFilter


class App:
    """The whole app, headed or headless (``ShellPort`` for its screens)."""

    def __init__(self, cfg: AppConfig, *, store: EventLog, registry: Registry, clock: Clock,
                 audio: AudioOut | None = None, midi: MidiIn | None = None, mic_factory: Callable[[], Mic] | None = None,
                 midi_out: MidiOut | None = None, hits: Hits | None = None, size: tuple[int, int] | None = None,
                 fullscreen: bool = False, data_dir: Path | None = None, notices: list[str] | None = None) -> None:
        self.cfg, self.store, self.registry, self.clock = cfg, store, registry, clock
        self.mic_factory, self.data_dir = mic_factory, data_dir
        # the devices: always objects (do-nothing stand-ins when there is none)
        self.audio: AudioOut = audio if audio is not None else NullAudio(cfg.audio.rate, cfg.audio.period)
        self.midi: MidiIn = midi if midi is not None else NullMidiIn()
        self._midi_out: MidiOut = midi_out if midi_out is not None else NullMidiOut()
        self.mic: Mic = NullMic(cfg.audio.rate)
        self.waker: Waker | None = None
        self.queue = InputQueue(wake=self._wake)
        # MIDI hit -> sound -> this queue (the device wiring may bring its own: C core linked, child)
        self.hits: Hits = hits if hits is not None else HitPath(
            self.audio, self.midi, steady=cfg.audio.fast_path == "steady")
        self.hits.connect(self.queue.put)
        self.native_facts: list[str] = []  # how the C core is wired (devices.build.link_native)
        self.language = cfg.ui.language
        self.t: Callable[[str], str] = translator(self.language)
        self.theme = th.Theme(size or (cfg.ui.width, cfg.ui.height), cfg.ui.low_stimulation, self.language)
        self.fullscreen = fullscreen or cfg.ui.fullscreen
        self.touch = TouchFilter(cfg.touch.ignore_repeat_ms, cfg.touch.hold_to_select_ms)
        # activities still read "no MIDI output" as None (ActivityContext.midi_out)
        self.services = Services(audio=self.audio, midi_out=None if is_stand_in(self._midi_out) else self._midi_out,
                                 post=self.queue.put, open_mic=self.open_mic,
                                 assets_dir=resource_dir("assets"), area=lambda: self.host.host_rect().size,
                                 bar_height=self.theme.bar_height)
        self.live = LiveSession(store=store, registry=registry, clock=clock, cfg=cfg, services=self.services,
                                data_dir=data_dir, translate=lambda s: self.t(s), notify=self.notify,
                                provenance=self.provenance, on_change=self._session_changed,
                                language=lambda: self.language)
        self.lock = TherapistLock(int(cfg.therapist.unlock_idle_min * 60e9))
        wall0, mono0 = time.time(), clock.now_ns()  # the lockout on the one clock, kept across runs as wall time
        self.pin_guard = PinGuard(cfg.pin_hash(), broken=cfg.pin_problem or None,
                                  state_file=data_dir / "pin_state.json" if data_dir is not None else None,
                                  now=lambda: wall0 + (clock.now_ns() - mono0) / 1e9)
        s = cfg.scoring
        self.pedal = PedalGrammar(PedalSettings(s.pedal_tap, s.pedal_double_tap, s.pedal_hold,
                                                s.pedal_double_tap_ms, s.pedal_hold_ms))
        self.notices = NoticeList(list(notices or []) + [str(e) for e in registry.errors])
        self.text_sink: Callable[[str], None] | None = None  # a therapist screen's focused text field
        self.running = False
        self.surface: pygame.Surface | None = None
        self.rail = Rail(self.live, lambda: self.t, self.theme,
                         side="left" if cfg.therapist.corner == "top_left" else "right")
        self.rail.notices = self.notices
        self.actions = TherapistActions(self)
        self.nav = Navigator(self)
        a = self.actions
        self.rail.actions = {"lock": self.nav.lock_rail, "more": self.nav.open_overlay, "score": a.rail_score,
                             "undo": a.undo, "goal": a.rail_goal, "edit": a.rail_edit,
                             "primary": lambda fn: a.refresh(self.live.call("primary", fn))}
        self.home, self.pin, self.overlay = HomeScreen(self), PinPad(self), Overlay(self)
        self.host = HostScreen(self, clock=clock, touch=self.touch, rail=self.rail, lock=self.lock)
        self.therapist = Therapist(self)
        self.stack = ScreenStack(self.home)
        self.router = InputRouter(self)
        self.loop = FrameLoop(self)

    # ---- the session and the screens, as the screens and tests read them --------------------

    session = property(lambda self: self.live.record)
    activity = property(lambda self: self.live.activity)
    activity_name = property(lambda self: self.live.activity_name)
    prompt_level = property(lambda self: self.live.prompt_level)
    screen = property(lambda self: self.stack.base.name)
    modal = property(lambda self: self.stack.modal.name if self.stack.modal else None)
    frame_count = property(lambda self: self.loop.frame_count)
    frame_ns = property(lambda self: self.loop.frame_ns)
    first_frame_ns = property(lambda self: self.loop.first_frame_ns)
    host_rect = property(lambda self: self.host.host_rect)
    rail_rect = property(lambda self: self.host.rail_rect)
    _corner_rect = property(lambda self: self.host.corner_rect)

    @property
    def client_id(self) -> str | None:
        return self.live.client_id

    @client_id.setter
    def client_id(self, value: str | None) -> None:
        self.live.client_id = value

    @property
    def midi_out(self) -> MidiOut:
        return self._midi_out

    def _session_changed(self, what: str) -> None:
        """The session started or stopped an activity: show the client's screen or home."""
        self.sync_fast_sound()
        if what == "activity_started":
            self.stack.switch(self.host)
        elif what == "activity_failed":
            self.actions.panic(log=False)
            self.nav.lock_rail()
            self.stack.switch(self.home)
        elif what == "schedule":
            self.host.dirty = True
        elif what in ("plan_finished", "ended"):
            self.nav.lock_rail()
            self.stack.switch(self.home)

    # ---- lifecycle -------------------------------------------------------------------------

    def open_window(self) -> None:
        self.surface = self.loop.open_window(self.fullscreen)
        self.host.surface = self.surface
        self.waker = Waker()
        self.relayout()

    def start(self, client_id: str | None = None, activity: str | None = None) -> None:
        if self.surface is None:
            self.open_window()
        self.running = True
        if client_id:
            self.select_client(client_id, create=True)
        if activity:
            self.start_activity(activity)

    def relayout(self) -> None:
        for s in {id(s): s for s in (self.home, self.pin, self.overlay, self.host, *self.stack.screens)}.values():
            s.layout()
        self.loop.force = True

    def step(self) -> None:
        self.loop.step()

    def run(self, for_seconds: float | None = None, on_first_frame: Callable[[], None] | None = None) -> None:
        """The frame loop; returns after ``for_seconds``, on quit or on SIGTERM/SIGINT (cleanly)."""
        try:
            self.loop.run(for_seconds, on_first_frame, signals=True)
        finally:
            self.shutdown()

    def _wake(self) -> None:
        if self.waker is not None:
            self.waker()

    def shutdown(self) -> None:
        """Clean stop: activity stopped, all notes off, session closed, log flushed, devices closed."""
        shut_down(self)

    # ---- the hit path's table and the microphone ----------------------------------------------

    def sync_fast_sound(self) -> None:
        """Tell the hit path (``prelude_play.hits``: it plays MIDI hits on the MIDI thread) the
        activity's sound table and the client's sensitivity; it pushes them on only when they
        changed (to the C core's compiled tables, or the separate process)."""
        act = self.activity
        table = self.live.call("fast_sound_table", act.fast_sound_table) if act is not None else None
        self.hits.set_activity(act is not None, table, self.midi.sensitivity)

    def open_mic(self) -> Mic | None:
        """Open the microphone once, on first use (only listening activities pay for it); None
        when there is none (what activities expect)."""
        if is_stand_in(self.mic) and self.mic_factory is not None and self.cfg.audio.input_enabled:
            try:
                self.mic = self.mic_factory()
            except Exception as exc:
                self.notify(self.t("No microphone: {err}").format(err=exc))
                self.mic_factory = None
                return None
            if self.mic.notice:
                self.notify(self.mic.notice)
        return None if is_stand_in(self.mic) else self.mic

    def quit(self) -> None:
        self.running = False

    def notify(self, text: str) -> None:
        """A notice for the therapist (rail, overlay, home), never drawn on the client's screen."""
        self.notices.append(text)
        self.stack.base.dirty = True

    # ---- clients, sessions, activities ------------------------------------------------------

    def select_client(self, client_id: str, create: bool = False) -> None:
        profile = self.live.select_client(client_id, create=create)
        if profile is None:
            return
        problem = self.host.accommodate(profile, self.midi)  # touch and pad accommodations, now
        if problem:
            self.notify(problem)
        self.home.layout()

    def new_client(self) -> None:
        taken = {c["id"] for c in self.store.clients(include_archived=True)}
        n = len(taken) + 1
        while f"client-{n}" in taken:
            n += 1
        self.store.ensure_client(f"client-{n}", display_name=f"{self.t('Client')} {n}")
        self.select_client(f"client-{n}")

    def provenance(self) -> dict[str, Any]:
        return prov.provenance(cfg=self.cfg, registry=self.registry, audio=self.audio, midi=self.midi,
                               midi_out=self.midi_out, mic=self.mic, facts=self.native_facts, language=self.language,
                               store_device=getattr(self.store, "device_id", None), data_dir=self.data_dir)

    def start_activity(self, name: str, settings: dict[str, Any] | None = None,
                       goals: list[str] | None = None) -> None:
        self.live.start_activity(name, settings, goals)

    def activity_title(self) -> str:
        name = self.activity_name
        return self.t(self.registry.entries[name].title) if name else ""

    def go_home(self) -> None:
        """Pause: leave the activity (therapist only); the session stays open to resume."""
        self.live.pause()
        self.nav.lock_rail()
        self.stack.switch(self.home)

    def resume(self) -> None:
        self.live.resume()

    def end_session(self) -> None:
        """Close the session and show its note (figures, S/O/A/P, export)."""
        self.nav.lock_rail()
        sid = self.live.end()
        if sid is not None:
            self.therapist.summary.open(sid)
        else:
            self.nav.show("home")

    def log(self, ev: LogEvent) -> str | None:
        return self.live.log(ev)

    # ---- for the pilot and the benchmarks ----------------------------------------------------

    def screenshot(self, path: str | Path) -> Path:
        assert self.surface is not None
        if self.running:  # the picture as it is now (after the run: the last frame drawn)
            self.loop.draw()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.surface, str(path))
        return path

    def find_button(self, button_id: str) -> Any:
        """A button or target on whatever is showing, top screen first (for the pilot)."""
        for s in reversed(self.stack.screens):
            found = s.find(button_id)
            if found is not None:
                return found
            if s.opaque:
                break
        return None
