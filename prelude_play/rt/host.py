"""The real-time child process: the audio engine and the MIDI hub, away from the UI's GIL.

Why a process: both real-time callbacks (PortAudio's and the JACK MIDI client's) are Python and
need the GIL every period (2.67 ms at 128 frames); in the UI process the 60 fps frame loop holds
it for longer, so the callbacks are late, JACK reports xruns and drops MIDI. Here only these two
callbacks and two light threads share the GIL.

The child plays MIDI hits itself — the same ``prelude_play.hits.HitPath`` the app uses inline,
with the activity's sound table the UI sends — and forwards every InputEvent, with its original
``t_ns``, to the UI process, which routes and logs it as in inline mode. Both processes read ``time.perf_counter_ns``
(CLOCK_MONOTONIC, system-wide), so stamps mean the same on both sides.

Protocol: the UI sends tuples ``(op, request_id | None, *args)`` on one pipe; the child sends
``("hello", info)``, ``("events", [InputEvent, ...])``, ``("status", dict)``,
``("reply", request_id, ok, value)`` on the other. Nothing in a callback touches a pipe: the
MIDI sink appends to a deque that a sender thread drains every ``SEND_INTERVAL_S``.
"""

from __future__ import annotations

import collections
import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from prelude_play.clock import Clock, MonotonicClock
from prelude_play.config import AppConfig
from prelude_play.devices import AudioOut, MidiIn, MidiOut, NullAudio, NullMidiIn, is_stand_in
from prelude_play.errors import PreludeError
from prelude_play.events import InputEvent
from prelude_play.hits import HitPath

SEND_INTERVAL_S = 0.002  # events wait at most this (the UI reads them every 16.7 ms frame)
STATUS_INTERVAL_S = 0.25
MAX_HANDLES = 4096


@dataclass(frozen=True)
class RtOptions:
    """What the child needs to build the same devices ``build_audio``/``build_midi`` would."""

    cfg: AppConfig
    audio_backend: str | None = None
    midi_api: str | None = None
    data_dir: Path | None = None
    status_interval_s: float = STATUS_INTERVAL_S
    log_dir: Path | None = None  # the app's log folder: this process's own log and native crash file


class Outbox:
    """Everything the child sends goes through here: one sender thread owns the pipe, so the MIDI
    callback only appends to a deque (no pickling, no syscall, no lock in the callback)."""

    def __init__(self, conn: Any, status: Callable[[], dict[str, Any]] | None = None,
                 status_interval_s: float = STATUS_INTERVAL_S) -> None:
        self._conn = conn
        self._q: collections.deque[tuple[Any, ...]] = collections.deque()
        self.status_fn = status
        self._status_every = status_interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.broken = False

    def put(self, msg: tuple[Any, ...]) -> None:
        self._q.append(msg)

    def event(self, ev: InputEvent) -> None:
        self._q.append(("event", ev))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rt-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.flush()

    def flush(self) -> None:
        """Send what is queued, events batched into one message."""
        events: list[InputEvent] = []
        while self._q:
            msg = self._q.popleft()
            if msg[0] == "event":
                events.append(msg[1])
                continue
            if events:
                self._send(("events", events))
                events = []
            self._send(msg)
        if events:
            self._send(("events", events))

    def _send(self, msg: tuple[Any, ...]) -> None:
        if self.broken:
            return
        try:
            self._conn.send(msg)
        except (OSError, EOFError, ValueError):  # the UI is gone: the command loop will see EOF
            self.broken = True
        except Exception as exc:  # an unpicklable reply value: say so instead
            if msg[0] == "reply":
                self._send(("reply", msg[1], False, PreludeError(f"{type(exc).__name__}: {exc}")))

    def _run(self) -> None:
        next_status = 0.0
        while not self._stop.wait(SEND_INTERVAL_S):
            now = time.monotonic()
            if self.status_fn is not None and now >= next_status:
                next_status = now + self._status_every
                try:
                    self.put(("status", self.status_fn()))
                except Exception:  # noqa: BLE001 - status is best effort
                    pass
            self.flush()


class RtHost:
    """The child's devices and the handler of every command. Also usable in-process (tests)."""

    def __init__(self, opts: RtOptions, emit: Callable[[tuple[Any, ...]], None],
                 clock: Clock | None = None) -> None:
        self.opts = opts
        self.clock = clock or MonotonicClock()
        self._emit = emit
        self.engine: AudioOut = NullAudio(opts.cfg.audio.rate, opts.cfg.audio.period)
        self.hub: MidiIn = NullMidiIn()
        self.hits: HitPath | None = None
        self.outputs: dict[int, MidiOut] = {}
        self.notices: list[str] = []
        self._handles: collections.OrderedDict[int, int] = collections.OrderedDict()

    # ---- devices -------------------------------------------------------------------------
    def open(self) -> None:
        from prelude_play.devices.build import build_audio, build_midi

        cfg, o = self.opts.cfg, self.opts
        engine, notes = build_audio(cfg, self.clock, o.audio_backend)
        self.notices += notes
        hub, out, notes = build_midi(cfg, self.clock, o.midi_api, o.data_dir)
        self.notices += notes
        self.attach(engine, hub, out)

    def attach(self, engine: AudioOut, hub: MidiIn, out: MidiOut | None = None) -> None:
        """Use these devices: the hub's events go through a hit path on this engine, then to
        the UI (``open`` passes the configured ones; tests pass fakes)."""
        self.engine, self.hub = engine, hub
        if out is not None and not is_stand_in(out):
            self.outputs[0] = out
        self.hits = HitPath(engine, hub, steady=self.opts.cfg.audio.fast_path == "steady")
        self.hits.connect(self.sink)

    def info(self) -> dict[str, Any]:
        """What the UI shows and records: backend, rate, period, latency, cores, notices."""
        e, hub = self.engine, self.hub
        return {
            "backend_name": e.backend_name,
            "rate": int(e.rate),
            "period_frames": int(e.period_frames),
            "output_latency_s": float(e.output_latency_s or 0.0),
            "core": e.core,
            "describe": e.describe(),
            "notices": list(self.notices),
            "midi": not is_stand_in(hub),
            "midi_core": hub.core,
            "sensitivity": hub.sensitivity,
            "midi_output": 0 in self.outputs,
            "pid": os.getpid(),
        }

    def status(self) -> dict[str, Any]:
        """Sent every ``status_interval_s``: cached by the proxies (stats, poll, inputs)."""
        e, hub, hits = self.engine, self.hub, self.hits
        stats: dict[str, Any] = dict(e.stats())
        stats["fast_triggers"] = hits.triggers if hits is not None else 0
        stats["fast_errors"] = hits.errors if hits is not None else 0
        stats["fast_path_delay_ms"] = hits.delay_ms if hits is not None else None
        return {
            "t_ns": self.clock.now_ns(),
            "stats": stats,
            "problem": e.poll(),
            "inputs": list(hub.inputs),
            "hub_stats": hub.stats(),
            "midi": hub.describe(),
            "next_block_dac_ns": e.next_block_dac_ns(),
        }

    # ---- the MIDI thread -----------------------------------------------------------------
    def sink(self, ev: InputEvent) -> None:
        """After the hit path (ON THE MIDI THREAD, the hit already sounded): queue the event for
        the UI process."""
        self._emit(("event", ev))

    # ---- commands ------------------------------------------------------------------------
    def handle(self, op: str, args: tuple[Any, ...]) -> Any:
        """Run one command from the UI; returns the reply value (requests) or None."""
        fn = getattr(self, f"_op_{op}", None)
        if fn is None:
            raise PreludeError(f"unknown real-time command {op!r}")
        return fn(*args)

    def _need_engine(self) -> Any:
        """The child's engine, for every command the UI forwards (some go beyond ``AudioOut``:
        handles, notes, volume, time)."""
        if is_stand_in(self.engine):  # not opened, closed, or no audio at all
            raise PreludeError("no audio engine in the real-time process")
        return self.engine

    def _op_ping(self) -> int:
        return self.clock.now_ns()

    def _op_trigger(self, name: str, velocity: float, pan: float, at_ns: int | None, gain: float) -> None:
        self._need_engine().trigger(name, velocity, pan=pan, at_ns=at_ns, gain=gain)

    def _remember(self, handle: int, engine_handle: int) -> None:
        self._handles[handle] = engine_handle
        while len(self._handles) > MAX_HANDLES:  # long-finished voices: stopping them is a no-op
            self._handles.popitem(last=False)

    def _op_play(self, handle: int, name: str, velocity: float, pan: float, at_ns: int | None,
                 gain: float, loop: bool) -> None:
        h = self._need_engine().play(name, velocity, pan=pan, at_ns=at_ns, gain=gain, loop=loop)
        self._remember(handle, h)

    def _op_stop(self, handle: int, at_ns: int | None, ramp_ms: float | None) -> None:
        h = self._handles.pop(handle, None)
        if h is not None:
            self._need_engine().stop(h, at_ns=at_ns, ramp_ms=ramp_ms)

    def _op_note_on(self, handle: int, instrument: str, note: int, velocity: float, at_ns: int | None,
                    pan: float, gain: float) -> None:
        h = self._need_engine().note_on(instrument, note, velocity, at_ns=at_ns, pan=pan, gain=gain)
        self._remember(handle, h)

    def _op_note_off(self, instrument: str, note: int, at_ns: int | None) -> None:
        self._need_engine().note_off(instrument, note, at_ns=at_ns)

    def _op_all_off(self, at_ns: int | None, ramp_ms: float | None) -> None:
        self.engine.all_off(at_ns=at_ns, ramp_ms=ramp_ms)

    def _op_prepare(self, names: list[str]) -> None:
        self._need_engine().prepare(names)

    def _op_load(self, name: str, samples: Any, loop: tuple[int, int] | None, release_ms: float | None) -> None:
        self._need_engine().load(name, samples, loop=loop, release_ms=release_ms)

    def _op_loaded(self, name: str) -> bool:
        return not is_stand_in(self.engine) and bool(self._need_engine().loaded(name))

    def _op_volume(self, value: float) -> None:
        self._need_engine().master_volume = value

    def _op_stats(self) -> dict[str, Any]:
        return self.status()["stats"]

    def _op_reopen(self) -> dict[str, Any]:
        self._need_engine().reopen()
        return self.info()

    def _op_voice_starts(self, since: int) -> tuple[int, list[tuple[int, int, int]]]:
        return self._need_engine().voice_starts(since)

    def _op_frame_to_ns(self, frame: int) -> int:
        return self._need_engine().frame_to_ns(frame)

    def _op_fast(self, active: bool, table: dict[str, Any] | None) -> None:
        if self.hits is not None:
            self.hits.set_activity(bool(active), table, self.hub.sensitivity)

    def _op_midi_panic(self) -> None:
        self.hub.panic()

    def _op_midi_stop(self) -> None:
        self.hub.stop()

    def _op_sensitivity(self, sensitivity: Any) -> None:
        self.hub.set_sensitivity(sensitivity)

    def _op_open_output(self, key: int, pattern: str, light_channel: int | None) -> bool:
        if is_stand_in(self.hub):  # no MIDI in the child
            return False
        self.outputs[key] = self.hub.open_output(pattern, light_channel=light_channel)
        return True

    def _op_midi_out(self, key: int, method: str, args: tuple[Any, ...]) -> Any:
        """A MidiOutput call; mido messages travel as bytes."""
        out = self.outputs.get(key)
        if out is None:
            return False
        if method in ("send", "schedule"):
            import mido

            msg = mido.Message.from_bytes(args[-1])
            return getattr(out, method)(*args[:-1], msg)
        if method in ("note_on", "note_off", "play", "light", "panic"):
            return getattr(out, method)(*args)
        if method == "connected":
            return bool(out.connected)
        raise PreludeError(f"MIDI output has no command {method!r}")

    def _op_virtual(self, method: str, args: tuple[Any, ...]) -> Any:
        """Test hook: drive the child's in-memory ``virtual`` MIDI backend (add/remove/inject)."""
        from prelude_play.midi.hub import MidiHub
        from prelude_play.midi.virtual import VirtualBackend

        hub = self.hub
        if method not in ("add_device", "remove_device", "inject") or not isinstance(hub, MidiHub) \
                or not isinstance(hub.backend, VirtualBackend):
            raise PreludeError("the virtual MIDI hook needs --midi-api virtual")
        getattr(hub.backend, method)(*args)
        if method != "inject":
            hub.poll()
        return None

    def _op_close(self) -> None:
        self.close()

    def close(self) -> None:
        """All notes off, MIDI closed, audio closed. Safe twice."""
        hub, self.hub = self.hub, NullMidiIn()
        if not is_stand_in(hub):
            for out in self.outputs.values():
                try:
                    out.panic()
                except Exception:  # noqa: BLE001
                    pass
            try:
                hub.stop()
            except Exception:  # noqa: BLE001
                pass
        engine, self.engine = self.engine, NullAudio(self.opts.cfg.audio.rate, self.opts.cfg.audio.period)
        if not is_stand_in(engine):
            try:
                engine.all_off()
                time.sleep(2 * engine.period_frames / engine.rate)  # let the fade play
                engine.close()
            except Exception:  # noqa: BLE001
                pass
        _terminate_portaudio()


def _terminate_portaudio() -> None:
    """Release PortAudio before exit (its JACK host API aborts at exit if the server is gone)."""
    if "sounddevice" in sys.modules:
        try:
            sys.modules["sounddevice"]._terminate()
        except Exception:  # noqa: BLE001
            pass


AUDIO_LOG_NAME = "prelude-play-audio.log"
AUDIO_CRASH_NAME = "native-crash-audio.log"


def child_diagnostics(log_dir: Path) -> logging.Logger:
    """The audio process's own traces, beside the app's: the C core runs here, so a native crash
    is written by ``faulthandler`` to ``native-crash-audio.log``, and what this process logs goes to
    ``prelude-play-audio.log`` (its own file: two processes never rotate one file). Both 0600."""
    log = logging.getLogger("prelude_play.rt")
    try:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(log_dir / AUDIO_CRASH_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        faulthandler.enable(file=os.fdopen(fd, "wb", buffering=0), all_threads=True)
        old = os.umask(0o077)
        try:
            from logging.handlers import RotatingFileHandler

            handler = RotatingFileHandler(log_dir / AUDIO_LOG_NAME, maxBytes=1 << 20, backupCount=2,
                                          encoding="utf-8")
        finally:
            os.umask(old)
    except OSError:
        return log  # no folder: the UI still hears of a fatal error through the pipe
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    log.info("audio process %d started", os.getpid())
    return log


def child_main(cmd_conn: Any, evt_conn: Any, opts: RtOptions) -> None:
    """Entry point of the child process (multiprocessing, spawn)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole group; the UI decides
    log = child_diagnostics(opts.log_dir) if opts.log_dir is not None else logging.getLogger("prelude_play.rt")
    host: RtHost | None = None
    box = Outbox(evt_conn, status_interval_s=opts.status_interval_s)
    try:
        host = RtHost(opts, box.put)
        try:
            host.open()
        except Exception as exc:  # noqa: BLE001 - tell the UI why instead of just vanishing
            log.exception("the audio process could not open its devices")
            box.put(("fatal", f"{type(exc).__name__}: {exc}"))
            box.flush()
            return
        box.status_fn = host.status
        box.put(("hello", host.info()))
        box.start()
        while True:
            try:
                msg = cmd_conn.recv()
            except (EOFError, OSError):  # the UI process is gone: close down
                break
            op, rid, args = msg[0], msg[1], msg[2:]
            try:
                value = host.handle(op, args)
                ok = True
            except Exception as exc:  # noqa: BLE001 - the UI gets the error, the child goes on
                value, ok = exc, False
            if rid is not None:
                if op == "close":  # reply after closing: the UI waits for the devices to go
                    host.close()
                box.put(("reply", rid, ok, value))
            if op == "close":
                break
    finally:
        if host is not None:
            host.close()
        box.stop()
        try:
            evt_conn.close()
        except OSError:
            pass
