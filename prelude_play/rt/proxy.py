"""The UI process's side of the real-time child: the process itself, and proxies that implement
the device seams (``prelude_play.devices``: ``AudioOut``, ``MidiIn``, ``MidiOut``) and the hit
path's (``RemoteHits``: the child's own ``HitPath`` sounds each hit) by talking to it.

Commands are fire-and-forget pipe messages except where a value comes back (prepare, stats,
reopen, ...). The child's death never hangs the UI: a request fails after its timeout or at once
when the pipe closes, the shell sees ``poll()`` report it and calls ``reopen()``, which starts a
new child and replays what the old one had been told (sounds loaded, volume, fast-path table,
sensitivity, outputs).
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

from prelude_play.config import AppConfig
from prelude_play.devices import MidiIn, MidiOut, NullMidiIn, NullMidiOut, Sink
from prelude_play.errors import DeviceError
from prelude_play.events import InputEvent
from prelude_play.hits import SoundTable
from prelude_play.midi.instruments import Sensitivity
from prelude_play.rt.host import RtOptions, child_main

HELLO_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 10.0


class RtProcess:
    """The child process, its two pipes and a reader thread that delivers its events."""

    def __init__(self, opts: RtOptions, *, hello_timeout_s: float = HELLO_TIMEOUT_S) -> None:
        self.opts = opts
        self.hello_timeout_s = hello_timeout_s
        self._mp = multiprocessing.get_context("spawn")
        self._send_lock = threading.Lock()
        self._sink_lock = threading.Lock()
        self._pending: dict[int, list[Any]] = {}
        self._ids = itertools.count(1)
        self._sink: Callable[[InputEvent], None] | None = None
        self._early: list[InputEvent] = []
        self._gen = 0
        self._conn: Any = None
        self.proc: Any = None
        # one thread at a time waits for / signals the child: two concurrent joins race in
        # os.waitpid, one of them sees "still alive" after the other reaped it, and would then
        # signal a pid that may already belong to another process
        self._reap_lock = threading.Lock()
        self.info: dict[str, Any] = {}
        self.status: dict[str, Any] = {}
        self.dead: str | None = "not started"
        self.closing = False
        self.restarts = 0
        self.deaths = 0
        # what a new child must be told again
        self.loads: dict[str, tuple[Any, ...]] = {}
        self.prepared: dict[str, None] = {}
        self.replay: dict[str, tuple[Any, ...]] = {}

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start a child and wait for its devices to open (its "hello")."""
        cmd_r, cmd_w = self._mp.Pipe(duplex=False)
        evt_r, evt_w = self._mp.Pipe(duplex=False)
        proc = self._mp.Process(target=child_main, args=(cmd_r, evt_w, self.opts),
                                name="prelude-play-rt", daemon=True)
        proc.start()
        cmd_r.close()
        evt_w.close()
        self._gen += 1
        hello = threading.Event()
        fatal: list[str] = []
        self.proc, self._conn = proc, cmd_w
        threading.Thread(target=self._read, args=(evt_r, self._gen, hello, fatal),
                         name="rt-reader", daemon=True).start()
        if not hello.wait(self.hello_timeout_s) or fatal:
            why = fatal[0] if fatal else (
                f"no answer in {self.hello_timeout_s:g} s" if proc.is_alive() else f"exit code {proc.exitcode}")
            with self._reap_lock:
                self._kill(proc)
            raise DeviceError(f"the audio/MIDI process did not start ({why})")
        self.dead = None
        self.closing = False
        for name, args in self.loads.items():
            self.send("load", name, *args)
        if self.prepared:
            self.send("prepare", list(self.prepared))
        for msg in self.replay.values():
            self.send(*msg)

    def restart(self) -> None:
        """A new child after the old one died or stalled (the shell's ``reopen``)."""
        old = self.proc
        self._gen += 1  # the old reader must not report this one's end
        if old is not None:
            with self._reap_lock:
                self._kill(old)
        self.restarts += 1
        self.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Ask the child to close its devices (all notes off first) and exit; kill it if it won't."""
        self.closing = True
        proc = self.proc
        if proc is None:
            return
        if self.dead is None:
            try:
                self.request("close", timeout_s=timeout_s)
            except Exception:  # noqa: BLE001 - dead or stuck: killed below
                pass
        with self._reap_lock:
            proc.join(timeout_s)
            self._kill(proc)
        self.dead = "closed"
        try:
            self._conn.close()
        except OSError:
            pass

    @staticmethod
    def _kill(proc: Any) -> None:
        if proc.is_alive():
            proc.terminate()
            proc.join(2.0)
        if proc.is_alive():
            proc.kill()
            proc.join(2.0)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    # ---- events ----------------------------------------------------------------------------
    def set_sink(self, sink: Callable[[InputEvent], None]) -> None:
        """Where the child's InputEvents go (the app's queue); events that came earlier follow."""
        with self._sink_lock:
            self._sink = sink
            early, self._early = self._early, []
        for ev in early:
            sink(ev)

    def deliver(self, ev: InputEvent) -> None:
        with self._sink_lock:
            sink = self._sink
            if sink is None:
                self._early.append(ev)
                del self._early[:-4096]
                return
        try:
            sink(ev)
        except Exception:  # noqa: BLE001 - a faulty sink must not stop the reader
            pass

    def _read(self, conn: Any, gen: int, hello: threading.Event, fatal: list[str]) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # noqa: BLE001 - an unreadable message: skip it
                continue
            kind = msg[0]
            if kind == "events":
                for ev in msg[1]:
                    self.deliver(ev)
            elif kind == "status":
                self.status = msg[1]
            elif kind == "reply":
                slot = self._pending.pop(msg[1], None)
                if slot is not None:
                    slot[1:] = [msg[2], msg[3]]
                    slot[0].set()
            elif kind == "hello":
                self.info = msg[1]
                hello.set()
            elif kind == "fatal":
                fatal.append(str(msg[1]))
                hello.set()
        conn.close()
        if gen == self._gen:
            self._died()

    def _died(self) -> None:
        proc = self.proc
        if proc is not None:
            with self._reap_lock:
                proc.join(0.5)
        code = None if proc is None else proc.exitcode
        for slot in list(self._pending.values()):
            slot[1:] = [False, DeviceError("the audio/MIDI process stopped")]
            slot[0].set()
        self._pending.clear()
        if self.closing:
            self.dead = "closed"
            return
        self.deaths += 1
        self.dead = f"the audio/MIDI process stopped (exit code {code})"
        self.deliver(InputEvent(t_ns=time.perf_counter_ns(), source="system", kind="rt_process",
                                 device="audio", role="system",
                                 data={"message": f"Audio and MIDI stopped (process exit code {code}); restarting",
                                       "exit_code": code}))

    # ---- commands --------------------------------------------------------------------------
    def send(self, op: str, *args: Any) -> bool:
        """Fire and forget; False when the child is not there (the command is dropped)."""
        if self.dead is not None and op != "close":
            return False
        try:
            with self._send_lock:
                self._conn.send((op, None, *args))
        except (OSError, ValueError):
            return False
        return True

    def request(self, op: str, *args: Any, timeout_s: float = REQUEST_TIMEOUT_S) -> Any:
        """Send and wait for the reply; the child's exception is raised here."""
        if self.dead is not None:
            raise DeviceError(self.dead)
        rid = next(self._ids)
        slot: list[Any] = [threading.Event(), False, None]
        self._pending[rid] = slot
        try:
            with self._send_lock:
                self._conn.send((op, rid, *args))
        except (OSError, ValueError) as exc:
            self._pending.pop(rid, None)
            raise DeviceError(f"the audio/MIDI process is not reachable: {exc}") from exc
        if not slot[0].wait(timeout_s):
            self._pending.pop(rid, None)
            raise DeviceError(f"the audio/MIDI process did not answer {op!r} in {timeout_s:g} s")
        if not slot[1]:
            raise slot[2]
        return slot[2]


class AudioProxy:
    """``AudioOut`` (and the rest of the engine's methods) run in the child."""

    process = "separate"

    def __init__(self, rt: RtProcess) -> None:
        self.rt = rt
        self._handles = itertools.count(1)
        self._master = float(rt.opts.cfg.audio.master_volume)

    # ---- description -----------------------------------------------------------------------
    @property
    def rate(self) -> int:
        return int(self.rt.info.get("rate", self.rt.opts.cfg.audio.rate))

    @property
    def period_frames(self) -> int:
        return int(self.rt.info.get("period_frames", self.rt.opts.cfg.audio.period))

    @property
    def output_latency_s(self) -> float:
        return float(self.rt.info.get("output_latency_s", 0.0))

    @property
    def backend_name(self) -> str:
        return str(self.rt.info.get("backend_name", "none"))

    @property
    def notice(self) -> str | None:
        notes = self.rt.info.get("notices") or []
        return "; ".join(notes) if notes else None

    @property
    def core(self) -> str:
        """The child's mixer: "c" or "python"."""
        return str(self.rt.info.get("core", "python"))

    def describe(self) -> dict[str, Any]:
        return {**(self.rt.info.get("describe") or {}), "engine": "AudioEngine (separate process)",
                "backend": self.backend_name, "rate": self.rate, "period_frames": self.period_frames,
                "pid": self.rt.pid, "restarts": self.rt.restarts}

    # ---- sound -----------------------------------------------------------------------------
    def trigger(self, name: str, velocity: float = 1.0, *, pan: float = 0.0, at_ns: int | None = None,
                gain: float = 1.0) -> None:
        self.rt.send("trigger", name, float(velocity), float(pan), at_ns, float(gain))

    def play(self, name: str, velocity: float = 1.0, *, pan: float = 0.0, at_ns: int | None = None,
             gain: float = 1.0, loop: bool = False) -> int:
        """A handle allocated here and mapped to the engine's in the child, so no round trip."""
        h = next(self._handles)
        self.rt.send("play", h, name, float(velocity), float(pan), at_ns, float(gain), bool(loop))
        return h

    def stop(self, handle: int, *, at_ns: int | None = None, ramp_ms: float | None = None) -> None:
        self.rt.send("stop", handle, at_ns, ramp_ms)

    def note_on(self, instrument: str, note: int, velocity: float = 1.0, *, at_ns: int | None = None,
                pan: float = 0.0, gain: float = 1.0) -> int:
        h = next(self._handles)
        self.rt.send("note_on", h, instrument, int(note), float(velocity), at_ns, float(pan), float(gain))
        return h

    def note_off(self, instrument: str, note: int, *, at_ns: int | None = None) -> None:
        self.rt.send("note_off", instrument, int(note), at_ns)

    def all_off(self, *, at_ns: int | None = None, ramp_ms: float | None = None) -> None:
        self.rt.send("all_off", at_ns, ramp_ms)

    def prepare(self, names: Iterable[str]) -> None:
        """Blocks until the child has rendered them (activities call it before the timed part);
        raises the engine's UnknownSoundError for bad names."""
        names = list(names)
        self.rt.request("prepare", names, timeout_s=120.0)
        for n in names:
            self.rt.prepared[n] = None

    def load(self, name: str, samples: Any, *, loop: tuple[int, int] | None = None,
             release_ms: float | None = None) -> None:
        import numpy as np

        data = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).reshape(-1))
        self.rt.loads[name] = (data, loop, release_ms)
        self.rt.send("load", name, data, loop, release_ms)

    def loaded(self, name: str) -> bool:
        try:
            return bool(self.rt.request("loaded", name))
        except DeviceError:
            return False

    @property
    def master_volume(self) -> float:
        return self._master

    @master_volume.setter
    def master_volume(self, value: float) -> None:
        self._master = min(max(float(value), 0.0), 1.0)
        self.rt.replay["volume"] = ("volume", self._master)
        self.rt.send("volume", self._master)

    def set_master_volume(self, value: float) -> None:
        self.master_volume = value

    # ---- time (the fast path runs in the child; these are for tests and benchmarks) --------
    def next_block_dac_ns(self) -> None:
        """Not available across processes: the fast path's SteadyLatency runs in the child."""
        return None

    def frame_to_ns(self, frame: int) -> int:
        return int(self.rt.request("frame_to_ns", int(frame)))

    def voice_starts(self, since: int = 0) -> tuple[int, list[tuple[int, int, int]]]:
        return self.rt.request("voice_starts", int(since))

    # ---- health ----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Fresh from the child, or the last periodic report when it does not answer."""
        try:
            data = dict(self.rt.request("stats", timeout_s=2.0))
        except Exception:  # noqa: BLE001
            data = dict(self.rt.status.get("stats", {}))
            data["stale"] = True
        data["process"] = "separate"
        data["process_restarts"] = self.rt.restarts
        return data

    def poll(self, stall_s: float = 1.0) -> str | None:
        """The child died, or its engine reports a lost/stalled device."""
        if self.rt.dead is not None and not self.rt.closing:
            return self.rt.dead
        return self.rt.status.get("problem") if self.rt.dead is None else None

    def reopen(self) -> None:
        """Dead child: start a new one; living child: reopen its audio device."""
        if self.rt.dead is not None:
            self.rt.restart()
            return
        self.rt.info = dict(self.rt.info, **self.rt.request("reopen", timeout_s=30.0))
        self.rt.status = dict(self.rt.status, problem=None)

    def close(self) -> None:
        self.rt.close()


class MidiOutputProxy:
    """A MidiOutput living in the child (``key`` 0 = the configured ``midi.output``)."""

    def __init__(self, rt: RtProcess, key: int = 0) -> None:
        self.rt = rt
        self.key = key

    def _call(self, method: str, *args: Any) -> bool:
        return self.rt.send("midi_out", self.key, method, args)

    def send(self, msg: Any) -> bool:
        return self._call("send", bytes(msg.bytes()))

    def schedule(self, delay_s: float, msg: Any) -> None:
        self._call("schedule", float(delay_s), bytes(msg.bytes()))

    def note_on(self, note: int, velocity: int = 80, channel: int = 0) -> bool:
        return self._call("note_on", note, velocity, channel)

    def note_off(self, note: int, channel: int = 0) -> bool:
        return self._call("note_off", note, channel)

    def play(self, note: int, velocity: int = 80, duration_s: float = 0.5, channel: int = 0) -> bool:
        return self._call("play", note, velocity, duration_s, channel)

    def light(self, note: int, on: bool = True) -> bool:
        return self._call("light", note, on)

    def panic(self) -> None:
        self._call("panic")

    @property
    def connected(self) -> bool:
        try:
            return bool(self.rt.request("midi_out", self.key, "connected", (), timeout_s=2.0))
        except Exception:  # noqa: BLE001
            return False

    def close(self) -> None:
        """The child closes its outputs with the hub."""

    def describe(self) -> dict[str, Any]:
        return {"output": f"#{self.key} (separate process)"}


class MidiProxy:
    """``MidiIn``: the hub runs in the child; its inputs and counters come with its status."""

    def __init__(self, rt: RtProcess) -> None:
        self.rt = rt
        self._outputs = itertools.count(1)

    @property
    def inputs(self) -> list[str]:
        return list(self.rt.status.get("inputs", []))

    @property
    def core(self) -> str:
        return str(self.rt.info.get("midi_core", "python"))

    @property
    def sensitivity(self) -> Sensitivity:
        sent = self.rt.replay.get("sensitivity")
        return sent[1] if sent is not None else self.rt.info.get("sensitivity") or Sensitivity()

    def set_sink(self, sink: Sink) -> None:
        """The child's events, already sounded there (``RemoteHits`` does this for the app)."""
        self.rt.set_sink(sink)

    def stats(self) -> dict[str, dict[str, Any]]:
        return dict(self.rt.status.get("hub_stats", {}))

    def describe(self) -> dict[str, Any]:
        child = self.rt.status.get("midi") or {}
        return {**child, "hub": "MidiHub (separate process)", "inputs": self.inputs}

    def set_sensitivity(self, sensitivity: Sensitivity) -> None:
        self.rt.replay["sensitivity"] = ("sensitivity", sensitivity)
        self.rt.send("sensitivity", sensitivity)

    def panic(self) -> None:
        self.rt.send("midi_panic")

    def open_output(self, pattern: str, *, light_channel: int | None = None) -> MidiOut:
        key = next(self._outputs)
        self.rt.replay[f"output:{key}"] = ("open_output", key, pattern, light_channel)
        self.rt.send("open_output", key, pattern, light_channel)
        return MidiOutputProxy(self.rt, key)

    def stop(self) -> None:
        """Close MIDI in the child (the process itself stops with the audio proxy's close)."""
        try:
            self.rt.request("midi_stop", timeout_s=5.0)
        except Exception:  # noqa: BLE001 - never hang or crash on the way out
            pass

    def virtual(self, method: str, *args: Any) -> None:
        """Test hook: drive the child's ``virtual`` backend (add_device, remove_device, inject)."""
        self.rt.request("virtual", method, args)


class RemoteHits:
    """The hit path (``prelude_play.hits.Hits``) when the devices run in the child: the child's
    own ``HitPath`` sounds each hit with the table this side sends it (kept to be sent again
    to a restarted child); events arrive already sounded and are passed on unchanged."""

    def __init__(self, rt: RtProcess) -> None:
        self.rt = rt
        self._sent: tuple[bool, SoundTable | None] | None = None

    def connect(self, forward: Sink) -> None:
        self.rt.set_sink(forward)

    def sink(self, ev: InputEvent) -> InputEvent:
        self.rt.deliver(ev)
        return ev

    def set_activity(self, active: bool, table: SoundTable | None, sensitivity: Sensitivity) -> None:
        """The child's hub applies the client's sensitivity itself (``MidiProxy.set_sensitivity``)."""
        sent = self._sent
        if sent is not None and sent[0] == active and sent[1] is table:
            return
        self._sent = (active, table)
        self.rt.replay["fast"] = ("fast", bool(active), table)
        self.rt.send("fast", bool(active), table)

    @property
    def delay_ms(self) -> float | None:
        """In the child's stats (``fast_path_delay_ms``)."""
        return None


class RtDevices:
    """What ``start_rt`` returns: the child, its three device proxies and its hit path."""

    def __init__(self, rt: RtProcess) -> None:
        self.rt = rt
        self.audio = AudioProxy(rt)
        self.midi: MidiIn = MidiProxy(rt) if rt.info.get("midi") else NullMidiIn()
        self.midi_out: MidiOut = MidiOutputProxy(rt, 0) if rt.info.get("midi_output") else NullMidiOut()
        self.hits = RemoteHits(rt)
        self.notices: list[str] = list(rt.info.get("notices", []))

    def set_sink(self, sink: Callable[[InputEvent], None]) -> None:
        self.rt.set_sink(sink)


def start_rt(cfg: AppConfig, *, audio_backend: str | None = None, midi_api: str | None = None,
             data_dir: Path | None = None, status_interval_s: float = 0.25,
             hello_timeout_s: float = HELLO_TIMEOUT_S, log_dir: Path | None = None) -> RtDevices:
    """Start the real-time child with the devices ``build_audio``/``build_midi`` would open.
    Raises DeviceError when it does not come up (the caller falls back to inline)."""
    opts = RtOptions(cfg=replace(cfg, problems=[]), audio_backend=audio_backend, midi_api=midi_api,
                     data_dir=data_dir, status_interval_s=status_interval_s, log_dir=log_dir)
    rt = RtProcess(opts, hello_timeout_s=hello_timeout_s)
    rt.start()
    return RtDevices(rt)
