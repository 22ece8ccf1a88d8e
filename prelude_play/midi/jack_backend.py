"""JACK MIDI through the JACK-Client package (``import jack``, CFFI): frame-exact timestamps and
no GIL held while waiting on the JACK server.

Why not rtmidi's JACK API: RtMidi stamps every event of a process cycle with the time the cycle
ran, not with the event's frame, so logged times are off by up to a period; and python-rtmidi
holds the GIL while it waits on the JACK server (client open/connect/close), which deadlocks
against any Python JACK process callback in the same interpreter (sounddevice's). CFFI releases
the GIL around every C call, so opening or closing ports here can never freeze the app.

One JACK client (``<client_name>-midi``) owns one MIDI input port per external device, connected
to the device's port, and one MIDI output port per opened output. Its process callback, per
cycle: observes (last_frame_time, app clock) for the frame→time map, reads each input port's
events and calls the port's handler with ``FrameTimeMap.to_ns(last_frame_time + offset)``, and
flushes each output's queue. It takes no Python locks, makes no blocking JACK calls, and delivers
at most ``max_events_per_cycle`` events per port (the rest wait, stamped, for the next cycles).

Timing. JACK-Client exposes neither ``jack_frames_to_time`` nor ``jack_get_time``, and on Linux
jack2 (1.9.21) ``jack_get_time`` reads CLOCK_MONOTONIC_RAW while the app clock
(``perf_counter_ns``) is CLOCK_MONOTONIC: the two differ by a boot-dependent offset (0.3 s
measured here) and drift apart by NTP's slew. So the map is measured, not assumed: frames advance
at the nominal rate and the offset to the app clock is the smallest ``now - frames/rate`` seen at
the start of the process callback (the least-delayed wake-up), allowed to creep up by
``drift_ppm``, re-anchored after every JACK xrun (a late dummy/timed driver restarts its
schedule from "now", so frame time slips against the clock) and whenever a whole window of
cycles says it is too low.
A stamp is the frame's nominal time, so events late in a period may be stamped up to one period
after the callback's own clock reading, exactly as JACK's ``jack_frames_to_time`` would.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import mido

from prelude_play.clock import Clock
from prelude_play.errors import ConfigError, DeviceError
from prelude_play.midi.ports import MidiIn, MidiOut, RawHandler

_FRAME_MASK = 0xFFFF_FFFF  # jack_nframes_t is 32 bits: wraps after ~24.8 h at 48 kHz
_HALF = 1 << 31
_SYSEX = 0xF0
_TIMING = (0xF8, 0xF1)  # clock and MTC quarter frame, as rtmidi's and the decoder's "timing"
_ACTIVE_SENSE = 0xFE


class FrameTimeMap:
    """JACK frame times → app-clock nanoseconds, learnt from the process callback's wake-ups.

    ``observe(frame, now_ns)`` is called first thing in each process callback with the cycle's
    ``last_frame_time`` and the app clock. A callback is never early, only late (scheduler, GIL),
    so the offset ``now - frames·1e9/rate`` is min-filtered; it may creep up by ``drift_ppm`` of
    the elapsed time (the sound card's clock and the app clock drift apart), and if the smallest
    offset over ``window`` cycles is still ``reanchor_ms`` above the current one, frame time
    jumped (xrun, freewheel) and the map re-anchors. Pure arithmetic: tests drive it by hand.
    """

    def __init__(self, rate: int, *, drift_ppm: float = 200.0, window: int = 64,
                 reanchor_ms: float = 1.0, max_gap_s: float = 5.0) -> None:
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        self.rate = rate
        self._drift = drift_ppm * 1e-6
        self._window = window
        self._reanchor_ns = int(reanchor_ms * 1e6)
        self._max_gap = int(max_gap_s * rate)
        self._raw: int | None = None  # last observed frame (32-bit)
        self._ext = 0  # the same frame, unwrapped
        self._offset = 0  # app ns at extended frame 0
        self._wmin = 0
        self._wcount = 0
        self.reanchors = 0
        self.irregular = 0  # cycles whose frame time did not follow on (xruns)
        self._xrun = False

    @property
    def ready(self) -> bool:
        return self._raw is not None

    def xrun(self) -> None:
        """JACK reported an xrun: the frame clock may have slipped against the app clock (a
        late dummy/timed driver restarts its schedule from "now", losing the lateness), so
        the next regular cycle re-anchors the offset and the min-filter starts again from
        there. Called from JACK's notification thread; only sets a flag."""
        self._xrun = True

    def _base(self, ext: int) -> int:
        return ext * 1_000_000_000 // self.rate

    def observe(self, frame: int, now_ns: int, frames: int | None = None) -> int:
        """One process callback's (last_frame_time, clock); returns the cycle's first frame
        (``frame``, masked to 32 bits), which the events' offsets count from.

        With ``frames`` (the cycle's size), a cycle that does not follow the previous one by
        exactly ``frames`` (an xrun) is not used for the offset: a callback running so late that
        the next cycle has begun reads that cycle's frame time, and its clock reading is late
        anyway. The frame time itself is JACK's, as every client (the sender too) reads it;
        counting cycles ourselves instead was tried and agreed less often with the sender.
        """
        if self._raw is None:
            self._raw, self._ext = frame & _FRAME_MASK, 0
            self._offset = now_ns
            self._wmin, self._wcount = now_ns, 0
            return frame & _FRAME_MASK
        d = (frame - self._raw) & _FRAME_MASK
        if d >= _HALF:
            d -= 1 << 32
        trusted = frames is None or d == frames
        self._raw = frame & _FRAME_MASK
        self._ext += d
        candidate = now_ns - self._base(self._ext)
        if not 0 <= d <= self._max_gap:  # time went backwards or a long suspension: start over
            self._offset = candidate
            self._wmin, self._wcount = candidate, 0
            self.reanchors += 1
            return self._raw
        allowed = self._offset + int(d * 1_000_000_000 * self._drift / self.rate)
        if not trusted:
            self._offset = allowed
            self.irregular += 1
            return self._raw
        if self._xrun:
            self._xrun = False
            self._offset = candidate
            self._wcount = 0
            self.reanchors += 1
            return self._raw
        self._offset = candidate if candidate < allowed else allowed
        if self._wcount == 0 or candidate < self._wmin:
            self._wmin = candidate
        self._wcount += 1
        if self._wcount >= self._window:
            if self._wmin - self._offset > self._reanchor_ns:
                self._offset = self._wmin
                self.reanchors += 1
            self._wcount = 0
        return self._raw

    def to_ns(self, frame: int) -> int:
        """App time of a frame near the last observed one (within ±2³¹ frames)."""
        if self._raw is None:
            raise RuntimeError("FrameTimeMap.to_ns() before any observe()")
        d = (frame - self._raw) & _FRAME_MASK
        if d >= _HALF:
            d -= 1 << 32
        return self._offset + self._base(self._ext + d)


def keep_event(data: bytes, ignore_sysex: bool, ignore_timing: bool, ignore_active_sense: bool) -> bool:
    """Whether one (normalised, complete) JACK MIDI event passes the port's ignore flags.
    Filtering here keeps clock/active-sense floods off the hub's decoder entirely."""
    if not data:
        return False
    status = data[0]
    if status == _SYSEX:
        return not ignore_sysex
    if status in _TIMING:
        return not ignore_timing
    if status == _ACTIVE_SENSE:
        return not ignore_active_sense
    return True


class JackIn(MidiIn):
    """One device's input: our JACK port connected from the device's port.

    ``process()`` runs in the JACK process callback only. Events beyond ``max_per_cycle`` wait
    (already stamped) in a bounded backlog; beyond ``max_backlog`` they are dropped and counted.
    """

    def __init__(self, name: str, handler: RawHandler, *, source: str, jack_port: Any,
                 backend: JackClientBackend, ignore_sysex: bool = True, ignore_timing: bool = True,
                 ignore_active_sense: bool = True, max_per_cycle: int = 64,
                 max_backlog: int = 4096) -> None:
        super().__init__(name, handler)
        self.source = source
        self.jack_port = jack_port
        self._backend = backend
        self._flags = (ignore_sysex, ignore_timing, ignore_active_sense)
        self._max_per_cycle = max_per_cycle
        self._max_backlog = max_backlog
        self.backlog: collections.deque[tuple[bytes, int]] = collections.deque()
        self.received = 0
        self.dropped = 0
        self.errors = 0

    def process(self, frame0: int, events: Iterable[tuple[int, Any]], to_ns: Callable[[int], int]) -> None:
        """Stamp each event at ``frame0 + offset`` and hand it to the handler (bounded)."""
        budget = self._max_per_cycle
        backlog = self.backlog
        handler = self.handler
        sysex, timing, sense = self._flags
        while backlog and budget > 0:
            data, t = backlog.popleft()
            budget -= 1
            self._call(handler, data, t)
        for offset, buf in events:
            data = bytes(buf)  # JACK reuses the buffer
            if not keep_event(data, sysex, timing, sense):
                continue
            t = to_ns(frame0 + offset)
            self.received += 1
            if budget > 0 and not backlog:
                budget -= 1
                self._call(handler, data, t)
            elif len(backlog) < self._max_backlog:
                backlog.append((data, t))
            else:
                self.dropped += 1

    def _call(self, handler: RawHandler, data: bytes, t: int) -> None:
        try:
            handler(data, t)
        except Exception:  # noqa: BLE001 - nothing may escape into JACK's process thread
            self.errors += 1

    def _close(self) -> None:
        self._backend._release(self)


class JackOut(MidiOut):
    """One output: ``send()`` only appends to a queue (never blocks on JACK); the process
    callback writes the queue into our port, connected to the device's input port."""

    def __init__(self, name: str, *, destination: str, jack_port: Any, backend: JackClientBackend,
                 max_queue: int = 4096, max_per_cycle: int = 256) -> None:
        super().__init__(name)
        self.destination = destination
        self.jack_port = jack_port
        self._backend = backend
        self._max_queue = max_queue
        self._max_per_cycle = max_per_cycle
        self.queue: collections.deque[bytes] = collections.deque()
        self.errors = 0

    def _send(self, msg: mido.Message) -> None:
        if not self._backend.running:
            raise DeviceError(f"MIDI output {self.name!r} failed: the JACK client is not running")
        if len(self.queue) >= self._max_queue:
            raise DeviceError(f"MIDI output {self.name!r} is not draining ({len(self.queue)} messages queued)")
        self.queue.append(bytes(msg.bytes()))

    def flush(self) -> None:
        """Process callback only: clear the port's buffer and write what is queued."""
        port = self.jack_port
        port.clear_buffer()
        queue = self.queue
        n = 0
        while queue and n < self._max_per_cycle:
            data = queue.popleft()
            try:
                port.write_midi_event(0, data)
            except Exception:  # noqa: BLE001 - buffer full: the rest goes next cycle
                queue.appendleft(data)
                self.errors += 1
                return
            n += 1

    def _close(self) -> None:
        self._backend._drain(self)
        self._backend._release(self)


class JackClientBackend:
    """The ``jackclient`` backend: see the module docstring. Own ports live on the JACK client
    ``<client_name>-midi``; every port whose name starts with ``client_name`` counts as the
    app's own and is never opened as a device."""

    name = "jackclient"

    def __init__(self, *, clock: Clock, api: str = "jack", client_name: str = "prelude-play",
                 server_name: str | None = None, time_map: FrameTimeMap | None = None,
                 max_events_per_cycle: int = 64) -> None:
        if api not in ("jack", "auto"):
            raise ConfigError(f"the jackclient MIDI backend speaks only JACK, not {api!r}",
                              key="midi.api", hint="use 'jack'")
        try:
            import jack
        except (ImportError, OSError) as exc:
            raise DeviceError(f"JACK-Client (python 'jack' module / libjack) unavailable: {exc}") from exc
        self._jack = jack
        self.clock = clock
        self.api = "jack"
        self.client_name = client_name
        self._server_name = server_name
        self._max_per_cycle = max_events_per_cycle
        self._given_map = time_map
        self.time_map: FrameTimeMap | None = None
        self._lock = threading.Lock()  # open/close/listing; never taken by JACK's threads
        self._client: Any = None
        self._closed = False
        self._shutdown = threading.Event()
        self._inputs: tuple[JackIn, ...] = ()  # replaced whole, read by the process callback
        self._outputs: tuple[JackOut, ...] = ()
        self._on_change: Callable[[], None] | None = None
        self.changed = threading.Event()
        self.cycles = 0
        self.callback_errors = 0
        self.cycle_ns = 0  # app time the current/last process callback started (benchmarks)
        self.xruns = 0  # JACK xruns seen while this client ran (late cycles: stamps may be off)
        self._port_serial = 0
        with self._lock:
            self._ensure_client()

    # --- the JACK client ---------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._client is not None and not self._shutdown.is_set()

    @property
    def jack_client_name(self) -> str:
        return self._client.name if self._client is not None else f"{self.client_name}-midi"

    def _ensure_client(self) -> Any:
        """The live client, (re)opened after the server went away. Caller holds ``_lock``."""
        if self._closed:
            raise DeviceError("the JACK MIDI backend is closed")
        if self._client is not None and not self._shutdown.is_set():
            return self._client
        if self._client is not None:
            self._drop_client()
        jack = self._jack
        try:
            client = jack.Client(f"{self.client_name}-midi", no_start_server=True,
                                 servername=self._server_name)
        except jack.JackError as exc:
            raise DeviceError(f"cannot start the JACK MIDI client (is a JACK server running?): {exc}") from exc
        self._shutdown = threading.Event()
        self.time_map = self._given_map or FrameTimeMap(client.samplerate)
        try:
            client.set_process_callback(self._make_process(client, self.time_map))
            client.set_shutdown_callback(self._make_shutdown(self._shutdown))
            client.set_port_registration_callback(self._registration, only_available=False)
            client.set_client_registration_callback(self._client_registration)
            client.set_xrun_callback(self._xrun)
            client.activate()
        except jack.JackError as exc:
            client.close()
            raise DeviceError(f"cannot activate the JACK MIDI client: {exc}") from exc
        self._client = client
        return client

    def _drop_client(self) -> None:
        """Forget a client whose server is gone; its ports are dead (closing them is a no-op)."""
        client, self._client = self._client, None
        self._inputs, self._outputs = (), ()
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - a dead server cannot refuse anything useful
                pass

    @staticmethod
    def _make_shutdown(flag: threading.Event) -> Callable[[Any, str], None]:
        def on_shutdown(status: Any, reason: str) -> None:
            flag.set()  # only a flag: no JACK calls allowed here
        return on_shutdown

    def _make_process(self, client: Any, tmap: FrameTimeMap) -> Callable[[int], None]:
        now_ns = self.clock.now_ns
        backend = self

        def process(frames: int) -> None:
            now = now_ns()  # first: the least-delayed wake-ups define the frame→time map
            backend.cycle_ns = now
            try:
                f0 = tmap.observe(client.last_frame_time, now, frames)
                to_ns = tmap.to_ns
                for inp in backend._inputs:
                    inp.process(f0, inp.jack_port.incoming_midi_events(), to_ns)
                for out in backend._outputs:
                    out.flush()
            except Exception:  # noqa: BLE001 - an exception would stop JACK calling us
                backend.callback_errors += 1
            backend.cycles += 1

        return process

    def _xrun(self, delayed_usecs: float) -> None:
        self.xruns += 1  # notification thread; counted for stats, tests and benchmarks
        tmap = self.time_map
        if tmap is not None:
            tmap.xrun()

    def _registration(self, port: Any, register: bool) -> None:
        self._changed()

    def _client_registration(self, name: str, register: bool) -> None:
        self._changed()

    def _changed(self) -> None:
        """JACK's notification thread: a port or client came or went. No JACK calls here."""
        self.changed.set()
        cb = self._on_change
        if cb is not None:
            try:
                cb()
            except Exception:  # noqa: BLE001
                pass

    def set_change_callback(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` (from JACK's notification thread; keep it to setting a flag)
        whenever a port or client appears or goes, so a watcher can poll at once instead of
        at its next interval. The ``changed`` Event is set at the same moments."""
        self._on_change = callback

    def _wait_cycles(self, n: int = 2, timeout: float = 0.25) -> None:
        """Let the process callback finish with a snapshot we just replaced (GIL released)."""
        start = self.cycles
        deadline = time.monotonic() + timeout
        while self.cycles - start < n and self.running and time.monotonic() < deadline:
            time.sleep(0.001)

    # --- listing -------------------------------------------------------------------------------
    def _list(self, *, is_output: bool) -> list[str]:
        with self._lock:
            client = self._ensure_client()
            try:
                ports = client.get_ports(is_midi=True, is_output=is_output, is_input=not is_output)
            except Exception as exc:
                raise DeviceError(f"cannot list JACK MIDI ports: {exc}") from exc
        return [p.name for p in ports if not self.is_own_port(p.name)]

    def input_names(self) -> list[str]:
        """External MIDI sources (JACK output ports), never the app's own."""
        return self._list(is_output=True)

    def output_names(self) -> list[str]:
        """External MIDI destinations (JACK input ports), never the app's own."""
        return self._list(is_output=False)

    def _resolve(self, name: str, *, is_output: bool) -> str:
        names = self._list(is_output=is_output)
        if name in names:
            return name
        stable = self.stable_name(name)
        for n in names:
            if self.stable_name(n) == stable:
                return n
        raise DeviceError(f"no JACK MIDI port named {name!r}")

    def _short_name(self, prefix: str, name: str) -> str:
        self._port_serial += 1
        safe = re.sub(r"[^\w.+-]+", "_", name).strip("_")[:48] or "port"
        return f"{prefix}{self._port_serial}-{safe}"

    # --- opening and closing ---------------------------------------------------------------
    def open_input(
        self,
        name: str,
        handler: RawHandler,
        *,
        ignore_sysex: bool = True,
        ignore_timing: bool = True,
        ignore_active_sense: bool = True,
    ) -> JackIn:
        source = self._resolve(name, is_output=True)
        with self._lock:
            client = self._ensure_client()
            try:
                jport = client.midi_inports.register(self._short_name("in", name))
            except Exception as exc:
                raise DeviceError(f"cannot open MIDI input {name!r}: {exc}") from exc
            port = JackIn(name, handler, source=source, jack_port=jport, backend=self,
                          ignore_sysex=ignore_sysex, ignore_timing=ignore_timing,
                          ignore_active_sense=ignore_active_sense, max_per_cycle=self._max_per_cycle)
            self._inputs = self._inputs + (port,)
            try:
                client.connect(source, jport)
            except Exception as exc:
                self._inputs = tuple(p for p in self._inputs if p is not port)
                self._unregister(client, jport)
                raise DeviceError(f"cannot connect MIDI input {name!r}: {exc}") from exc
        return port

    def open_output(self, name: str) -> JackOut:
        destination = self._resolve(name, is_output=False)
        with self._lock:
            client = self._ensure_client()
            try:
                jport = client.midi_outports.register(self._short_name("out", name))
            except Exception as exc:
                raise DeviceError(f"cannot open MIDI output {name!r}: {exc}") from exc
            port = JackOut(name, destination=destination, jack_port=jport, backend=self)
            self._outputs = self._outputs + (port,)
            try:
                client.connect(jport, destination)
            except Exception as exc:
                self._outputs = tuple(p for p in self._outputs if p is not port)
                self._unregister(client, jport)
                raise DeviceError(f"cannot connect MIDI output {name!r}: {exc}") from exc
        return port

    def _drain(self, port: JackOut, timeout: float = 0.25) -> None:
        """Give the process callback time to write what ``silence()`` just queued."""
        deadline = time.monotonic() + timeout
        while port.queue and self.running and port in self._outputs and time.monotonic() < deadline:
            time.sleep(0.001)

    def _release(self, port: JackIn | JackOut) -> None:
        """Take a port out of the process callback's view, wait a cycle or two, unregister it."""
        with self._lock:
            if isinstance(port, JackIn):
                if port not in self._inputs:
                    return  # its client is gone (server restarted) or it was released already
                self._inputs = tuple(p for p in self._inputs if p is not port)
            else:
                if port not in self._outputs:
                    return
                self._outputs = tuple(p for p in self._outputs if p is not port)
            self._wait_cycles()
            if self._client is not None:
                self._unregister(self._client, port.jack_port)

    @staticmethod
    def _unregister(client: Any, jport: Any) -> None:
        try:
            jport.unregister()
        except Exception:  # noqa: BLE001 - the server may be gone; nothing left to free
            pass

    # --- names -------------------------------------------------------------------------------
    def is_own_port(self, name: str) -> bool:
        return name.startswith(self.client_name) or name.partition(":")[0] == self.jack_client_name

    def stable_name(self, name: str) -> str:
        """The name without the ALSA client number a2jmidid puts in brackets (``a2j:Keys [24]
        (capture): Keys MIDI 1``), which changes each time the device is plugged in."""
        return re.sub(r"\s\[\d+\]", "", name)

    def close(self) -> None:
        """Close every port and the JACK client. Safe twice."""
        for port in list(self._inputs) + list(self._outputs):
            try:
                port.close()
            except Exception:  # noqa: BLE001
                pass
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
            self._inputs, self._outputs = (), ()
        if client is not None:
            try:
                client.deactivate()
            finally:
                client.close()
