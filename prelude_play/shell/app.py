"""The shell: one frame loop, one input queue, routing to the active activity and the overlay.

Sound for MIDI hits never waits for this loop: the MIDI thread calls ``midi_sink`` which plays
the sound straight into the audio engine (the fast path) and only then queues the event for the
next frame. Touch sounds are played from the event handler, before the frame is drawn.
"""

from __future__ import annotations

import os
import platform
import signal
import sys
import time
from collections import deque
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

from prelude_play import __version__
from prelude_play.activity import Activity, Registry
from prelude_play.clock import Clock
from prelude_play.config import AppConfig, resource_dir
from prelude_play.errors import ActivityError, PreludeError
from prelude_play.events import InputEvent, InputQueue, LogEvent
from prelude_play.i18n import LANGUAGES, translator
from prelude_play.rt.fastpath import SteadyLatency
from prelude_play.session.live import LiveSession, Services
from prelude_play.session.scoring import PedalGrammar, PedalSettings
from prelude_play.store.eventlog import EventLog, Session
from prelude_play.ui import theme as th
from prelude_play.ui.touch import TouchFilter

import pygame  # noqa: E402  (after env set-up by the caller in headless mode)

from prelude_play.shell.rail import Rail, TherapistLock  # noqa: E402
from prelude_play.shell.screens import HomeScreen, Overlay, PinPad  # noqa: E402
from prelude_play.shell.therapist import Therapist  # noqa: E402

THERAPIST_HOTKEY = "t"  # Ctrl+Shift+T asks for the PIN too


class App:
    """The whole app, headed or headless: the loop, input, routing, screens and drawing.

    What a session *is* (client, plan, activity lifecycle, trials, scores, log) lives in
    ``self.live`` (``prelude_play.session.live.LiveSession``); the App shows it and feeds it.
    """

    def __init__(
        self,
        cfg: AppConfig,
        *,
        store: EventLog,
        registry: Registry,
        clock: Clock,
        audio: Any = None,
        midi: Any = None,
        mic_factory: Callable[[], Any] | None = None,
        midi_out: Any = None,
        size: tuple[int, int] | None = None,
        fullscreen: bool = False,
        data_dir: Path | None = None,
        notices: list[str] | None = None,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.registry = registry
        self.clock = clock
        self.audio = audio
        self.midi = midi
        self.mic_factory = mic_factory
        self.mic: Any = None
        self.data_dir = data_dir
        self.queue = InputQueue()
        self.fast_path = SteadyLatency(audio, enabled=cfg.audio.fast_path == "steady")
        self._fast_sent: tuple[Any, Any, Any] | None = None  # (activity, table, sensitivity) last sent
        self.native_facts: list[str] = []  # how the C core is wired (devices.link_native)
        self.t: Callable[[str], str] = translator(cfg.ui.language)
        self.language = cfg.ui.language
        self.theme = th.Theme(size or (cfg.ui.width, cfg.ui.height), cfg.ui.low_stimulation)
        self.fullscreen = fullscreen or cfg.ui.fullscreen
        self.touch = TouchFilter(cfg.touch.ignore_repeat_ms, cfg.touch.hold_to_select_ms)
        self.services = Services(audio=audio, midi_out=midi_out, post=self.queue.put, open_mic=self.open_mic,
                                 assets_dir=resource_dir("assets"), area=lambda: self.host_rect().size,
                                 bar_height=self.theme.bar_height)
        self.live = LiveSession(store=store, registry=registry, clock=clock, cfg=cfg, services=self.services,
                                data_dir=data_dir, translate=lambda s: self.t(s), notify=self.notify,
                                provenance=self.provenance, on_change=self._session_changed)
        self.lock = TherapistLock(int(cfg.therapist.unlock_idle_min * 60e9))
        self.pedal = PedalGrammar(PedalSettings(cfg.scoring.pedal_tap, cfg.scoring.pedal_double_tap,
                                                cfg.scoring.pedal_hold, cfg.scoring.pedal_double_tap_ms,
                                                cfg.scoring.pedal_hold_ms))
        self.notices: list[str] = list(notices or [])
        self.note_editing = False
        self.note_text = ""
        self.running = False
        self.frame_count = 0
        self.frame_ns: deque[int] = deque(maxlen=100_000)
        self.first_frame_ns: int | None = None
        self._corner_down: InputEvent | None = None
        self._activity_surface: pygame.Surface | None = None
        self.home = HomeScreen(self)
        self.pin = PinPad(self)
        self.overlay = Overlay(self)
        self.rail = Rail(self.live, lambda: self.t, self.theme,
                         side="left" if cfg.therapist.corner == "top_left" else "right")
        self.rail.actions = {"lock": self.lock_rail, "more": self.open_overlay, "score": self._rail_score,
                             "undo": self.undo, "goal": self._rail_goal, "edit": self._rail_edit,
                             "primary": self._rail_primary}
        self.text_sink: Callable[[str], None] | None = None  # a therapist screen's focused text field
        self._after_unlock: Callable[[], None] | None = None
        self.therapist = Therapist(self)
        self.screen = "home"  # home | host | a therapist screen (clients, client_edit, plans, ...)
        self.modal: str | None = None  # None | pin | overlay
        self.surface: pygame.Surface | None = None
        self._pg_clock: pygame.time.Clock | None = None
        for err in registry.errors:
            self.notices.append(str(err))

    # ---- the session, as the screens read it -----------------------------------------------

    @property
    def session(self) -> Session | None:
        return self.live.record

    @property
    def activity(self) -> Activity | None:
        return self.live.activity

    @property
    def activity_name(self) -> str | None:
        return self.live.activity_name

    @property
    def client_id(self) -> str | None:
        return self.live.client_id

    @client_id.setter
    def client_id(self, value: str | None) -> None:
        self.live.client_id = value

    @property
    def prompt_level(self) -> str:
        return self.live.prompt_level

    @property
    def midi_out(self) -> Any:
        return self.services.midi_out

    @midi_out.setter
    def midi_out(self, value: Any) -> None:
        self.services.midi_out = value

    def _session_changed(self, what: str) -> None:
        """The session started or stopped an activity: show the client's screen or home."""
        if what == "activity_started":
            self.screen, self.modal = "host", None
            self._sync_fast_sound()
            if self.surface is not None:
                self._layout_activity()
        elif what in ("activity_stopped", "activity_failed"):
            self._sync_fast_sound()
            if what == "activity_failed":
                self.panic(log=False)
                self.lock_rail()
                self.screen, self.modal = "home", None
                self.home.layout()
        elif what in ("plan_finished", "ended"):
            self.lock_rail()
            self.screen, self.modal = "home", None
            self.home.layout()

    # ---- lifecycle -------------------------------------------------------------------------

    def open_window(self) -> None:
        """Create the window (or the dummy-driver surface when headless)."""
        pygame.display.init()
        pygame.font.init()
        flags = pygame.RESIZABLE
        if self.fullscreen:
            flags = pygame.FULLSCREEN
            info = pygame.display.Info()
            if info.current_w > 0:
                self.theme.size = (info.current_w, info.current_h)
        self.surface = pygame.display.set_mode(self.theme.size, flags)
        pygame.display.set_caption("Prelude Play")
        self.theme.size = self.surface.get_size()
        self._pg_clock = pygame.time.Clock()
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
        self.home.layout()
        self.pin.layout()
        self.overlay.layout()
        if self.screen in self.therapist.screens:
            self.therapist.screens[self.screen].layout()
        if self.activity is not None and self.surface is not None:
            self._layout_activity()

    def host_rect(self) -> pygame.Rect:
        """The client's screen: below the top bar, beside the rail while it is shown."""
        w, h = self.theme.size
        bar = self.theme.bar_height
        if not self.lock.unlocked:
            return pygame.Rect(0, bar, w, h - bar)
        rw = self.rail.width()
        x = rw if self.rail.side == "left" else 0
        return pygame.Rect(x, bar, w - rw, h - bar)

    def rail_rect(self) -> pygame.Rect:
        w, h = self.theme.size
        bar = self.theme.bar_height
        rw = self.rail.width()
        return pygame.Rect(0 if self.rail.side == "left" else w - rw, bar, rw, h - bar)

    def _layout_activity(self) -> None:
        assert self.surface is not None and self.activity is not None
        r = self.host_rect()
        self._activity_surface = self.surface.subsurface(r)
        ctx, act = self.live.ctx, self.activity
        if ctx is not None:  # the activity's theme and size follow its area (window, rail)
            ctx.size = r.size
            ctx.theme.size = (r.width, r.height + self.theme.bar_height)
        self.live.call("layout", lambda: act.layout(r.size))
        if self.lock.unlocked:
            self.rail.layout(self.rail_rect())

    def run(self, for_seconds: float | None = None, on_first_frame: Callable[[], None] | None = None) -> None:
        """The frame loop; returns after ``for_seconds``, on quit or on SIGTERM/SIGINT."""
        self.start_signals()
        deadline = None if for_seconds is None else self.clock.now_ns() + int(for_seconds * 1e9)
        try:
            while self.running:
                self.step()
                if self.frame_count == 1 and on_first_frame:
                    on_first_frame()
                if deadline is not None and self.clock.now_ns() >= deadline:
                    break
                assert self._pg_clock is not None
                self._pg_clock.tick(self.cfg.ui.fps)
        finally:
            self.shutdown()

    def start_signals(self) -> None:
        def stop(signum: int, frame: Any) -> None:
            self.running = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, stop)
            except ValueError:  # not the main thread (tests)
                pass

    def shutdown(self) -> None:
        """Clean stop: activity stopped, all notes off, session closed, log flushed."""
        self.running = False
        self.live.stop_activity()
        self.panic(log=False)
        stats = getattr(self.audio, "stats", None)
        if callable(stats) and self.session is not None:
            try:  # the session's audio health (xruns, callback load) for benchmarks and provenance
                data = dict(stats())
                data.setdefault("fast_path_delay_ms", self.fast_path.delay_ms)
                self.log(LogEvent("audio_stats", actor="system", source="system", data=data))
            except Exception as exc:
                print(f"prelude-play: audio stats: {exc}", file=sys.stderr)
        if self.session is not None:
            self.live.end_plan()
            self.store.end_session(self.session)
            self.live.record = None
        for dev, method in ((self.midi, "stop"), (self.mic, "close"), (self.audio, "close")):
            close = getattr(dev, method, None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # never hang or crash on the way out
                    print(f"prelude-play: closing {type(dev).__name__}: {exc}", file=sys.stderr)
        self.store.flush()

    # ---- one frame -------------------------------------------------------------------------

    def step(self) -> None:
        """One frame: collect pygame input, drain the queue, route, update, draw."""
        t0 = time.perf_counter_ns()
        self.collect_pygame()
        self._sync_fast_sound()
        for ev in self.queue.drain():
            self.route(ev)
        now = self.clock.now_ns()
        for action, t in self.pedal.due(now):
            self.do_action(action, source="midi", device="pedal", t_ns=t)
        if self.screen == "host" and self.modal is None:
            for tap in self.touch.update(now):
                self._route_tap(tap)
            self._check_corner(now)
        if self.modal == "pin" and now - self.pin.opened_ns > PinPad.TIMEOUT_NS:
            self.close_pin()
        if self.lock.expired(now):
            self.lock_rail()
        act = self.activity
        if act is not None:
            self.live.call("update", lambda: act.update(now))
        self._check_audio(now)
        if self.store.pending:
            left = self.store.flush()
            if left:
                self.notify(self.t("Saving is held ({n} events kept in memory): {err}").format(
                    n=left, err=self.store.last_error))
        if self.lock.unlocked and self.screen == "host" and self.frame_count % 6 == 0:
            self.rail.layout(self.rail_rect())  # the tally and the recent trials follow the session
        self.draw()
        self.frame_count += 1
        if self.first_frame_ns is None:
            self.first_frame_ns = time.perf_counter_ns()
        self.frame_ns.append(time.perf_counter_ns() - t0)

    def _sync_fast_sound(self) -> None:
        """Keep the fast paths that cannot call ``Activity.fast_sound`` up to date with the
        activity's sound table (a new object each time it changes):

        * the audio in its own process (``audio.process = "separate"``): send it the table;
        * the C MIDI callback (``rt.native``): compile the table per input device, with the
          instrument map and the client's sensitivity (``rt.fasttable``), so pad hits sound
          from the MIDI callback itself.
        """
        sync = getattr(self.audio, "set_fast_sound_table", None)
        hub = self.midi
        native = (hub is not None and getattr(hub, "native_fast_path", False)
                  and getattr(self.audio, "native", None) is not None)
        if not callable(sync) and not native:
            return
        act = self.activity
        table = None
        if act is not None:
            try:
                table = act.fast_sound_table()
            except Exception as exc:
                self.notify(str(ActivityError(self.activity_name or "?", f"fast_sound_table: {exc}")))
        sens = hub.filter.sensitivity if native else None
        sent = self._fast_sent
        if sent is not None and sent[0] is act and sent[1] is table and sent[2] == sens:
            return
        self._fast_sent = (act, table, sens)
        if callable(sync):
            sync(act is not None, table)
        if native:
            from prelude_play.rt.fasttable import compilable, compile_fast_table

            if act is None or not compilable(act, table):
                hub.set_fast_path(None)
                return
            audio, instruments = self.audio, hub.instruments

            def build(device: str) -> Any:
                return compile_fast_table(device, instruments=instruments, table=table,
                                          sensitivity=sens, sound_index=audio.index_of)

            hub.set_fast_path(build)

    def open_mic(self) -> Any:
        """Open the microphone once, on first use (only listening activities pay for it)."""
        if self.mic is None and self.mic_factory is not None and self.cfg.audio.input_enabled:
            try:
                self.mic = self.mic_factory()
            except Exception as exc:
                self.notify(self.t("No microphone: {err}").format(err=exc))
                self.mic_factory = None
                return None
            note = getattr(self.mic, "notice", None)
            if note:
                self.notify(note)
        return self.mic

    def _check_audio(self, now: int) -> None:
        """A vanished or stalled audio device: tell the therapist, reopen or fall back, go on."""
        poll = getattr(self.audio, "poll", None)
        if not callable(poll) or now < getattr(self, "_audio_retry_ns", 0):
            return
        problem = poll()
        if problem is None:
            return
        self._audio_retry_ns = now + 2_000_000_000
        self.notify(self.t("Audio problem: {problem}").format(problem=problem))
        try:
            self.audio.reopen()
            fixed = self.t("Audio reopened: {backend}").format(backend=getattr(self.audio, "backend_name", "?"))
        except Exception as exc:
            fixed = self.t("Audio could not be reopened ({err}); running silent").format(err=exc)
        self.notify(fixed)
        self.log(LogEvent("audio_device", actor="system", data={"problem": problem, "result": fixed}))

    def collect_pygame(self) -> None:
        """Turn pygame events into InputEvents timestamped now (the earliest we see them)."""
        w, h = self.theme.size
        for e in pygame.event.get():
            t = self.clock.now_ns()
            if e.type == pygame.QUIT:
                if self.session is not None and self.cfg.therapist.pin and self.modal != "pin":
                    self.ask_pin(then=self.quit)  # a client cannot close the session window
                else:
                    self.running = False
            elif e.type in (pygame.FINGERDOWN, pygame.FINGERUP, pygame.FINGERMOTION):
                kind = {pygame.FINGERDOWN: "down", pygame.FINGERUP: "up", pygame.FINGERMOTION: "move"}[e.type]
                self.queue.put(InputEvent(t, "touch", kind, device=f"touch{e.touch_id}",
                                          pos=(e.x * w, e.y * h), pointer_id=int(e.finger_id) + 1))
            elif e.type in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP, pygame.MOUSEMOTION):
                if getattr(e, "touch", False):
                    continue  # SDL's synthesized copy of a FINGER event: one tap counts once
                if e.type != pygame.MOUSEMOTION and e.button != 1:
                    continue
                if e.type == pygame.MOUSEMOTION and not e.buttons[0]:
                    # a head pointer or eye-gaze mouse: dwell works by hovering, no press needed
                    self.queue.put(InputEvent(t, "mouse", "hover", device="mouse", pos=e.pos, pointer_id=0))
                    continue
                kind = {pygame.MOUSEBUTTONDOWN: "down", pygame.MOUSEBUTTONUP: "up",
                        pygame.MOUSEMOTION: "move"}[e.type]
                self.queue.put(InputEvent(t, "mouse", kind, device="mouse", pos=e.pos, pointer_id=0))
            elif e.type == pygame.MOUSEWHEEL:
                self.queue.put(InputEvent(t, "mouse", "wheel", device="mouse", value=int(e.y),
                                          pos=pygame.mouse.get_pos(), pointer_id=0))
            elif e.type == pygame.KEYDOWN:
                name = pygame.key.name(e.key)
                self.queue.put(InputEvent(t, "key", "key_down", device="keyboard", key=name,
                                          data={"mod": e.mod}))
            elif e.type == pygame.KEYUP:
                self.queue.put(InputEvent(t, "key", "key_up", device="keyboard",
                                          key=pygame.key.name(e.key)))
            elif e.type == pygame.TEXTINPUT and self.note_editing:
                self.note_text += e.text
            elif e.type == pygame.TEXTINPUT and self.text_sink is not None:
                self.text_sink(e.text)
            elif e.type in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
                if self.surface is not None and self.surface.get_size() != self.theme.size:
                    self.theme.size = self.surface.get_size()
                    self.relayout()

    # ---- routing ---------------------------------------------------------------------------

    def midi_sink(self, ev: InputEvent) -> None:
        """Called ON THE MIDI THREAD: play the hit's sound now, then queue it for the frame.

        With the C core the sound was already started by JACK's MIDI callback (``fast`` in the
        event's data: the sound, or "" for none); Python then only records it."""
        act = self.activity
        fast = ev.data.pop("fast", None)
        if fast is not None:
            if fast:
                ev.data["sounded"] = fast
        elif (ev.kind == "note_on" and ev.role != "pedal" and act is not None
                and not ev.data.get("filtered") and self.audio is not None):
            try:
                sound = act.fast_sound(ev)
                if sound:
                    self.audio.trigger(sound, (ev.velocity or 100) / 127.0, at_ns=self.fast_path.at(ev.t_ns))
                    ev.data["sounded"] = sound
            except Exception:  # never let a sound error kill the MIDI thread
                pass
        self.queue.put(ev)

    def route(self, ev: InputEvent) -> None:
        if ev.source == "system":
            self._system_event(ev)
        elif ev.source in ("touch", "mouse"):
            self._pointer(ev)
        elif ev.source == "key":
            self._key(ev)
        else:
            self._to_activity_logged(ev)

    DEVICE_MESSAGES = {
        "device_added": "MIDI device connected: {name}",
        "device_removed": "MIDI device unplugged: {name} (its notes were released)",
        "device_error": "MIDI device problem: {name}",
    }

    def _system_event(self, ev: InputEvent) -> None:
        template = self.DEVICE_MESSAGES.get(ev.kind)
        text = self.t(template).format(name=ev.device) if template else (
            ev.data.get("message") or f"{ev.kind}: {ev.device}")
        self.notify(text)
        if self.session is not None:
            self.log(LogEvent(ev.kind, actor="system", source="system", device=ev.device, t_ns=ev.t_ns,
                              data={k: v for k, v in ev.data.items() if k != "message"} | {"message": text}))

    def _pedal(self, ev: InputEvent) -> None:
        """The therapist's MIDI pedal: its gestures (tap, double tap, hold) and extra buttons."""
        number = ev.control if ev.kind == "control_change" else ev.note
        extra = self.cfg.scoring.pedal_buttons.get(str(number)) if number is not None else None
        pressed = (ev.kind == "note_on" and (ev.velocity or 0) > 0) or \
            (ev.kind == "control_change" and (ev.value or 0) >= 64)
        released = ev.kind == "note_off" or (ev.kind == "note_on" and not ev.velocity) or \
            (ev.kind == "control_change" and (ev.value or 0) < 64)
        if extra is not None:
            if pressed:
                self.do_action(extra, source="midi", device=ev.device, t_ns=ev.t_ns)
            return
        actions = self.pedal.press(ev.t_ns) if pressed else self.pedal.release(ev.t_ns) if released else []
        for action, t in actions:
            self.do_action(action, source="midi", device=ev.device, t_ns=t)

    def _to_activity_logged(self, ev: InputEvent) -> None:
        if ev.source == "midi" and ev.role == "pedal":
            self._pedal(ev)
            return
        if ev.data.get("filtered") and self.session is not None and ev.kind == "note_on":
            self.log(LogEvent("filtered_hit", actor=ev.role if ev.role in ("client", "therapist") else "client",
                              source=ev.source, device=ev.device, t_ns=ev.t_ns,
                              data={"reason": ev.data["filtered"], "note": ev.note, "velocity": ev.velocity}))
        self._to_activity(ev)

    def _to_activity(self, ev: InputEvent) -> None:
        """Route to the activity. The overlay captures touch and keys only: a pad hit or the
        client's voice while the therapist is scoring still reaches the activity and the log."""
        act = self.activity
        if act is None or self.screen != "host":
            return
        if self.modal is not None and ev.source not in ("midi", "mic"):
            return
        self.live.call("handle", lambda: act.handle(ev))

    def _key(self, ev: InputEvent) -> None:
        if ev.kind != "key_down" or ev.key is None:
            self._to_activity(ev)
            return
        name = ev.key
        mod = ev.data.get("mod", 0)
        if name == THERAPIST_HOTKEY and mod & pygame.KMOD_CTRL and mod & pygame.KMOD_SHIFT:
            self.ask_pin()
            return
        if self.modal == "pin":
            self.pin.key(name)
            return
        if self.modal == "overlay" and self.overlay.key(name):
            return
        if self.modal is None and self.screen in self.therapist.screens:
            self.therapist.screens[self.screen].key(name)
            return
        action = self.cfg.scoring.keys.get(name)
        if action and self.activity is not None:
            self.do_action(action, source="key", device=ev.device, t_ns=ev.t_ns)
            return
        if self.modal is None:
            self._to_activity(ev)

    def do_action(self, action: str, *, source: str, device: str = "", t_ns: int | None = None) -> None:
        """A scoring key, pedal gesture or rail button: a score code or one of the actions."""
        self.lock.touch(self.clock.now_ns())
        if self.activity is None:
            return
        if action == "undo":
            self.undo()
        elif action == "prompt_next":
            self.live.next_prompt()
        elif action == "prompt_reset":
            self.live.set_prompt(self.cfg.scoring.prompt_levels[0])
        elif action == "panic":
            self.panic()
        elif action == "primary":
            act = self.activity
            primary = self.live.call("primary_action", act.primary_action)
            if primary:
                self.live.call("primary", primary[1])
        else:
            self.score(action, source=source, device=device, t_ns=t_ns)
        self._refresh_therapist_views()

    def _corner_rect(self) -> pygame.Rect:
        s = self.theme.px(110)
        x = 0 if self.cfg.therapist.corner == "top_left" else self.theme.size[0] - s
        return pygame.Rect(x, 0, s, s)

    def _pointer(self, ev: InputEvent) -> None:
        assert ev.pos is not None
        if self.modal is not None:
            if ev.kind == "down":
                self.lock.touch(ev.t_ns)
                (self.pin if self.modal == "pin" else self.overlay).tap(ev.pos)
            return
        if self.screen == "home":
            if ev.kind == "down":
                self.home.tap(ev.pos)
            return
        if ev.kind == "wheel" and self.screen == "host":
            return
        if self.screen in self.therapist.screens:
            screen = self.therapist.screens[self.screen]
            drag = getattr(screen, "pointer", None)
            if callable(drag) and ev.kind in ("down", "move", "up"):
                drag(ev.kind, ev.pos)
            if ev.kind == "down":
                screen.tap(ev.pos)
            elif ev.kind == "wheel" and callable(getattr(screen, "wheel", None)):
                screen.wheel(int(ev.value or 0))
            return
        # host: the rail (unlocked only), the therapist corner, else the activity (in its own coordinates)
        if self.lock.unlocked and ev.kind in ("down", "up", "move"):
            if self.rail.pointer(ev.kind, ev.pos, ev.pointer_id):
                self.lock.touch(ev.t_ns)
                return
        if ev.kind == "down" and self._corner_rect().collidepoint(ev.pos) and not self.lock.unlocked:
            self._corner_down = ev
            return
        if self._corner_down is not None and ev.pointer_id == self._corner_down.pointer_id:
            if ev.kind == "up" or (ev.kind == "move" and not self._corner_rect().collidepoint(ev.pos)):
                self._corner_down = None
            return
        r = self.host_rect()
        local = replace(ev, pos=(ev.pos[0] - r.x, ev.pos[1] - r.y))
        if ev.kind == "down" and not r.collidepoint(ev.pos):
            return
        self._to_activity(local)
        if getattr(self.activity, "therapist_mode", False):
            # an activity's own therapist screen (e.g. a board editor): no client accommodations
            if ev.kind == "down":
                self._to_activity(replace(local, kind="tap"))
            return
        if ev.kind == "hover":
            return
        if ev.kind == "down":
            taps = self.touch.down(local)
        elif ev.kind == "up":
            taps = self.touch.up(local)
        else:
            self.touch.move(local)
            taps = []
        for tap in taps:
            self._route_tap(tap)

    def _route_tap(self, tap: InputEvent) -> None:
        reason = tap.data.get("filtered")
        if reason and self.session is not None:
            self.log(LogEvent("filtered_touch", actor="client", source=tap.source, device=tap.device,
                              t_ns=tap.t_ns, data={"reason": reason, "pos": list(tap.pos or ()),
                                                    **{k: v for k, v in tap.data.items() if k != "filtered"}}))
        self._to_activity(tap)

    def _check_corner(self, now: int) -> None:
        d = self._corner_down
        if d is not None and now - d.t_ns >= self.cfg.therapist.long_press_ms * 1_000_000:
            self._corner_down = None
            self.ask_pin()

    # ---- therapist -------------------------------------------------------------------------

    def ask_pin(self, then: Callable[[], None] | None = None) -> None:
        """The PIN pad; ``then`` runs once it is right (a therapist screen, quitting...)."""
        self._after_unlock = then
        if not self.cfg.therapist.pin:
            self.unlock()
            return
        self.pin.open(self.clock.now_ns())
        self.pin.layout()
        self.modal = "pin"

    def close_pin(self) -> None:
        self.modal = None
        self._after_unlock = None

    def unlock(self) -> None:
        """The PIN was right: run what asked for it, or (on the client's screen) show the rail."""
        then, self._after_unlock = self._after_unlock, None
        if then is not None:
            self.modal = None
            then()
            return
        self.modal = None
        if self.screen != "host":
            return
        self.lock.unlock(self.clock.now_ns())
        self.log(LogEvent("therapist_unlock", actor="therapist", source="touch"))
        if self.activity is not None and self.surface is not None:
            self._layout_activity()

    def lock_rail(self) -> None:
        """Hide the rail; the next scoring needs the corner and the PIN again."""
        if not self.lock.unlocked:
            return
        self.lock.lock()
        self.rail.editing = None
        if self.modal == "overlay":
            self.close_overlay()
        self.log(LogEvent("therapist_lock", actor="therapist", source="touch"))
        if self.activity is not None and self.surface is not None:
            self._layout_activity()

    def open_overlay(self) -> None:
        self.modal = "overlay"
        self.overlay.layout()

    def close_overlay(self) -> None:
        if self.note_editing:
            self.toggle_note()
        self.modal = None

    def _refresh_therapist_views(self) -> None:
        if self.modal == "overlay":
            self.overlay.layout()
        if self.lock.unlocked and self.screen == "host":
            self.rail.layout(self.rail_rect())

    def _rail_score(self, code: str) -> None:
        editing, self.rail.editing = self.rail.editing, None
        if editing is not None:
            self.live.score(code, source="touch", trial_id=editing)
            self._refresh_therapist_views()
            return
        self.do_action(code, source="touch")

    def _rail_goal(self, tag: str) -> None:
        self.live.toggle_target(tag)
        self._refresh_therapist_views()

    def _rail_edit(self, trial_id: str) -> None:
        self.rail.editing = None if self.rail.editing == trial_id else trial_id
        self._refresh_therapist_views()

    def _rail_primary(self, fn: Callable[[], None]) -> None:
        self.live.call("primary", fn)
        self._refresh_therapist_views()

    def set_prompt(self, level: str) -> None:
        self.live.set_prompt(level)
        self._refresh_therapist_views()

    def score(self, code: str, *, source: str = "touch", device: str = "", t_ns: int | None = None) -> str | None:
        """The therapist's score (a code like ``+I`` or an outcome name) on the trial the rule picks."""
        done = self.live.score(code, source=source, device=device, t_ns=t_ns)
        self._refresh_therapist_views()
        return done.event_id if done else None

    def undo(self) -> str | None:
        """Undo = a new 'correction' event pointing at the last score; nothing is overwritten."""
        eid = self.live.undo()
        self._refresh_therapist_views()
        return eid

    def last_score_text(self) -> str:
        last = self.live.last_score()
        if last is None:
            return self.t("No score yet")
        outcome, prompt = last
        return self.t("Last score") + f": {self.t(outcome.replace('_', ' ').capitalize())} · " \
            f"{self.t((prompt or '').capitalize())}"

    def toggle_note(self) -> None:
        if self.note_editing:
            self.live.note(self.note_text)
            self.note_editing, self.note_text = False, ""
            pygame.key.stop_text_input()
        else:
            self.note_editing = True
            pygame.key.start_text_input()
        self.overlay.layout()

    def panic(self, log: bool = True) -> None:
        """All sound and all MIDI notes off, now; the activity stops making new sound too."""
        on_panic = getattr(self.activity, "on_panic", None)
        if callable(on_panic):
            try:
                on_panic()
            except Exception as exc:
                self.notify(str(ActivityError(self.activity_name or "?", f"on_panic failed: {exc}")))
        for target in (self.audio, self.midi_out, self.midi):
            fn = getattr(target, "all_off", None) or getattr(target, "panic", None)
            if callable(fn):
                try:
                    fn()
                except Exception:
                    pass
        if log and self.session is not None:
            self.log(LogEvent("panic", actor="therapist", source="touch"))

    def language_label(self) -> str:
        other = "fr_CA" if self.language == "en" else "en"
        return LANGUAGES[other]

    def toggle_language(self) -> None:
        self.language = "fr_CA" if self.language == "en" else "en"
        self.t = translator(self.language)
        if self.activity is not None and self.activity.ctx is not None:
            self.activity.ctx.t = self.t
        if self.data_dir is not None:
            from prelude_play.settings_file import set_user_setting

            set_user_setting(self.data_dir, "ui", "language", self.language)
        if self.session is not None:
            self.store.update_provenance(self.session, language=self.language)
        self.relayout()

    def notify(self, text: str) -> None:
        self.notices.append(text)
        del self.notices[:-20]

    # ---- clients, sessions, activities ------------------------------------------------------

    def select_client(self, client_id: str, create: bool = False) -> None:
        profile = self.live.select_client(client_id, create=create)
        if profile is None:
            return
        acc = profile.get("touch", {})
        self.touch.configure(acc.get("ignore_repeat_ms", self.cfg.touch.ignore_repeat_ms),
                             acc.get("hold_to_select_ms", self.cfg.touch.hold_to_select_ms))
        sens = profile.get("sensitivity")
        if sens and hasattr(self.midi, "set_sensitivity"):
            from prelude_play.midi.instruments import Sensitivity

            try:
                self.midi.set_sensitivity(Sensitivity(int(sens.get("min_velocity", 1)),
                                                      float(sens.get("tremor_ms", 0.0))))
            except PreludeError as exc:
                self.notify(str(exc))
        self.home.layout()

    def new_client(self) -> None:
        n = len(self.store.clients(include_archived=True)) + 1
        cid = f"client-{n}"
        while any(c["id"] == cid for c in self.store.clients(include_archived=True)):
            n += 1
            cid = f"client-{n}"
        self.store.ensure_client(cid, display_name=f"{self.t('Client')} {n}")
        self.select_client(cid)

    def provenance(self) -> dict[str, Any]:
        """Where this session's data came from (Expyriment-style header)."""
        return {
            "app_version": __version__,
            "python": platform.python_version(),
            "pygame": pygame.version.ver,
            "platform": platform.platform(),
            "activities": {n: e.cls.version for n, e in self.registry.entries.items()},
            "config": {k: v for k, v in asdict(self.cfg).items() if k not in ("problems", "sources")},
            "config_sources": self.cfg.sources,
            "config_problems": [str(p) for p in self.cfg.problems],
            "audio": _describe(self.audio),
            "midi": _describe(self.midi),
            "realtime_core": self._realtime_core(),
            "language": self.language,
            "store_device": getattr(self.store, "device_id", None),
            "selftest": self._selftest_figures(),
        }

    def _realtime_core(self) -> dict[str, Any]:
        """Which mixer and MIDI callback ran this session ("c", "python", or "none": no device)."""
        def kind(dev: Any, native: bool) -> str:
            return "none" if dev is None else "c" if native else "python"

        return {"audio": kind(self.audio, getattr(self.audio, "native", None) is not None),
                "midi": kind(self.midi, bool(getattr(getattr(self.midi, "backend", None), "native", False))),
                "links": list(self.native_facts)}

    def _selftest_figures(self) -> Any:
        """The last ``prelude-play selftest`` measurement on this machine, if one was made."""
        import json

        if self.data_dir is None:
            return None
        path = self.data_dir / "selftest.json"
        try:
            return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        except (OSError, ValueError) as exc:
            return {"error": f"{path}: {exc}"}

    def show(self, screen: str) -> None:
        """Switch to the home screen or a therapist screen (the caller has passed the PIN)."""
        old = self.therapist.screens.get(self.screen)
        if old is not None and screen != self.screen:
            old.leave()
        self.screen, self.modal = screen, None
        if screen == "home":
            self.home.layout()
        elif screen in self.therapist.screens:
            self.therapist.screens[screen].enter()

    def therapist_only(self, screen: str) -> Callable[[], None]:
        """A button action that asks for the PIN, then shows ``screen``."""
        return lambda: self.ask_pin(then=lambda: self.show(screen))

    def quit(self) -> None:
        self.running = False

    def start_activity(self, name: str, settings: dict[str, Any] | None = None,
                       goals: list[str] | None = None) -> None:
        self.live.start_activity(name, settings, goals)

    def activity_title(self) -> str:
        if self.activity_name is None:
            return ""
        return self.t(self.registry.entries[self.activity_name].title)

    def go_home(self) -> None:
        """Pause: leave the activity (therapist only); the session stays open to resume."""
        self.live.pause()
        self.lock_rail()
        self.screen, self.modal = "home", None
        self.home.layout()

    def resume(self) -> None:
        self.live.resume()

    def end_session(self) -> None:
        """Close the session and show its summary (notes, SOAP text, export)."""
        self.lock_rail()
        sid = self.live.end()
        if sid is not None:
            self.therapist.summary.open(sid)
            return
        self.show("home")

    def log(self, ev: LogEvent) -> str | None:
        return self.live.log(ev)

    def session_ms(self) -> float:
        return self.live.elapsed_ms()

    # ---- drawing ---------------------------------------------------------------------------

    def draw(self) -> None:
        surf = self.surface
        if surf is None:
            return
        if self.screen == "home":
            self.home.draw(surf)
        elif self.screen in self.therapist.screens:
            self.therapist.screens[self.screen].draw(surf)
        else:
            self._draw_host(surf)
        if self.modal == "pin":
            self.pin.draw(surf)
        elif self.modal == "overlay":
            self.overlay.draw(surf)
        pygame.display.flip()

    def _draw_host(self, surf: pygame.Surface) -> None:
        from prelude_play.ui.widgets import draw_ring, draw_text

        theme = self.theme
        surf.fill(th.BG)
        bar = pygame.Rect(0, 0, theme.size[0], theme.bar_height)
        pygame.draw.rect(surf, th.PANEL, bar)
        sch = self.live.schedule
        if sch is not None and sch.current is not None:
            strip = pygame.Rect(theme.px(12), theme.px(8), theme.size[0] // 2 - theme.px(190), bar.height - theme.px(16))
            self._draw_schedule_strip(surf, strip, sch.titles(), sch.visible_index())
        else:
            draw_text(surf, theme, self.activity_title(), (theme.px(24), bar.centery), 34, bold=True,
                      anchor="midleft")
        if self.notices:
            draw_text(surf, theme, self.notices[-1], (theme.size[0] // 2 + theme.px(40), bar.centery), 22,
                      colour=th.PARTIAL, max_width=theme.size[0] // 2 - theme.px(200))
        if not self.lock.unlocked:
            c = self._corner_rect()
            pygame.draw.circle(surf, th.PANEL_HI, (c.centerx, bar.centery), theme.px(14))
            if self._corner_down is not None:
                p = (self.clock.now_ns() - self._corner_down.t_ns) / (self.cfg.therapist.long_press_ms * 1e6)
                draw_ring(surf, (c.centerx, bar.centery), theme.px(26), p, th.ACCENT, theme.px(5))
        act = self.activity
        if act is not None and self._activity_surface is not None:
            target = self._activity_surface
            self.live.call("draw", lambda: act.draw(target))
            if self.activity is None:
                return
            r = self.host_rect()
            for pos, prog in self.touch.hold_progress(self.clock.now_ns()):
                draw_ring(surf, (int(pos[0] + r.x), int(pos[1] + r.y)), theme.px(60), prog,
                          th.ACCENT, theme.px(8))
        if self.lock.unlocked:
            self.rail.draw(surf, self.clock.now_ns())

    def _draw_schedule_strip(self, surf: pygame.Surface, rect: pygame.Rect, titles: list[str], current: int) -> None:
        """The session plan as a row of steps in the top bar: done dimmed, the current one lit."""
        from prelude_play.ui.widgets import draw_text, grid_rects

        theme = self.theme
        if not titles:
            return
        for i, (cell, title) in enumerate(zip(grid_rects(rect, 1, len(titles), theme.px(6)), titles)):
            now = i == current
            pygame.draw.rect(surf, th.ACCENT if now else th.PANEL_HI, cell, border_radius=theme.px(10))
            colour = th.BG if now else th.MUTED if i < current else th.TEXT
            draw_text(surf, theme, self.t(title), cell.center, 22, colour=colour, bold=now,
                      max_width=cell.width - theme.px(8))

    def screenshot(self, path: str | Path) -> Path:
        assert self.surface is not None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.surface, str(path))
        return path

    def find_button(self, button_id: str) -> Any:
        """A button on whatever is showing (modal first), for the pilot."""
        screens: list[Any] = []
        if self.modal == "pin":
            screens.append(self.pin)
        elif self.modal == "overlay":
            screens.append(self.overlay)
        elif self.screen == "home":
            screens.append(self.home)
        elif self.screen in self.therapist.screens:
            screens.append(self.therapist.screens[self.screen])
        elif self.screen == "host" and self.lock.unlocked:
            screens.append(self.rail)
        for s in screens:
            b = s.find(button_id)
            if b is not None:
                return b
        if self.modal is None and self.screen == "host" and self.activity is not None:
            finder = getattr(self.activity, "find_target", None)
            if callable(finder):
                rect = finder(button_id)
                if rect is not None:
                    r = self.host_rect()
                    return rect.move(r.x, r.y)
        return None


def _describe(dev: Any) -> Any:
    """What a device is, for the session's provenance (backend, rate, period, latency, ports)."""
    if dev is None:
        return None
    if hasattr(dev, "backend_name") and hasattr(dev, "period_frames"):
        return {"engine": type(dev).__name__, "backend": dev.backend_name, "rate": dev.rate,
                "period_frames": dev.period_frames,
                "output_latency_ms": round(dev.output_latency_s * 1000, 2) if dev.output_latency_s else None}
    if hasattr(dev, "inputs"):  # MidiHub.inputs is a property (a method on older hubs)
        try:
            inputs = dev.inputs() if callable(dev.inputs) else dev.inputs
            return {"hub": type(dev).__name__, "inputs": [getattr(i, "name", i) for i in inputs]}
        except Exception as exc:
            return {"hub": type(dev).__name__, "error": repr(exc)}
    describe = getattr(dev, "describe", None)
    if callable(describe):
        try:
            return describe()
        except Exception as exc:
            return {"error": repr(exc)}
    return type(dev).__name__
