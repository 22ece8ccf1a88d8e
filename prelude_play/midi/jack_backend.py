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

The C core. With ``prelude_play.native`` built (the default), the process callback is C
(``ppcore.c: pp_midi_process``, the same FrameTimeMap and port handling ported): the JACK thread
runs no Python and never waits for the GIL. It puts stamped events in a ring, and a Python thread
("midi-reader", woken by a semaphore) calls the handlers exactly as the Python callback did.
With a fast-path table set for a port (``set_fast_table``) and a mixer attached
(``attach_mixer``), a note-on's sound is started by the C callback itself at the hit's own time
plus a constant; the handler then learns which sound was played (``fast=``).
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import mido

from prelude_play.clock import Clock
from prelude_play.errors import ConfigError, DeviceError
from prelude_play.midi.ports import MidiIn, MidiOut, RawHandler

if TYPE_CHECKING:  # the C core (numpy, ctypes) is loaded only when a client opens
    from prelude_play.native import FastTable

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
        self.slot = -1  # C core: the port's slot in pp_midi
        self.fast_names: dict[int, str] | None = None  # C core: a fast table is set

    def deliver(self, data: bytes, t: int, sound: int) -> None:
        """C core: one event from the ring (reader thread). ``fast`` tells the handler what the
        C fast path did: the sound it started, "" for none (filtered or silent), and is left out
        when this port has no fast table (the handler's own fast path then decides)."""
        self.received += 1
        names = self.fast_names
        try:
            if names is None:
                self.handler(data, t)
            else:
                self.handler(data, t, names.get(sound, "") if sound >= 0 else "")  # type: ignore[call-arg]
        except Exception:  # noqa: BLE001 - nothing may stop the reader
            self.errors += 1

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
        self.slot = -1  # C core: the port's output slot in pp_midi

    def _send(self, msg: mido.Message) -> None:
        if not self._backend.running:
            raise DeviceError(f"MIDI output {self.name!r} failed: the JACK client is not running")
        nm = getattr(self._backend, "_nm", None)
        if nm is not None and self.slot >= 0:
            data = bytes(msg.bytes())
            if nm.send(self.slot, data) != 0:
                raise DeviceError(f"MIDI output {self.name!r} is not draining (or the message is too long)")
            return
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
                 max_events_per_cycle: int = 64, core: str = "auto") -> None:
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
        self.callback_errors = 0

        self.xruns = 0  # JACK xruns seen while this client ran (late cycles: stamps may be off)
        # when they were reported (app clock), for benchmarks that separate clean from xrun spans
        self.xrun_times: collections.deque[int] = collections.deque(maxlen=100_000)
        self._port_serial = 0
        # the C core (see the module docstring): used unless asked not to or a time map is given
        self._use_native = False
        self.core_notice: str | None = None
        if core != "python" and time_map is None:
            from prelude_play import native

            self._use_native = native.available()
            if not self._use_native and core == "native":
                self.core_notice = f"C MIDI core unavailable: {native.why_unavailable()}"
        self._nm: NativeMidi | None = None
        self._py_cycles = 0
        self._py_cycle_ns = 0
        self._mixer: Any = None
        self._mixer_delay_ns = 0
        self._clock_latency_ns: int | None = None  # the mixer times its blocks on our frame clock
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
            if self._use_native:
                self._nm = NativeMidi(jack, client, self)
                if self._mixer is not None:
                    self._nm.set_mixer(self._mixer, self._mixer_delay_ns)
                    if self._clock_latency_ns is not None:
                        self._mixer.set_jack_clock(self._nm.ptr, self._clock_latency_ns)
            else:
                client.set_process_callback(self._make_process(client, self.time_map))
            client.set_shutdown_callback(self._make_shutdown(self._shutdown))
            client.set_port_registration_callback(self._registration, only_available=False)
            client.set_client_registration_callback(self._client_registration)
            client.set_xrun_callback(self._xrun)
            client.activate()
        except jack.JackError as exc:
            client.close()
            self._stop_native()
            raise DeviceError(f"cannot activate the JACK MIDI client: {exc}") from exc
        self._client = client
        if self._nm is not None:
            self._nm.start_reader()
        return client

    def _stop_native(self) -> None:
        """After the client is closed (no process callback can run): stop the reader, free C.
        A mixer timing its blocks on this client's clock is switched back to its own clock
        first, and given a few periods to leave any callback still reading it."""
        nm, self._nm = self._nm, None
        if nm is None:
            return
        if self._mixer is not None and self._clock_latency_ns is not None:
            self._mixer.set_jack_clock(None, 0)
            time.sleep(0.02)
        nm.close()

    # --- the C core ---------------------------------------------------------------------------
    @property
    def native(self) -> bool:
        """Whether the C process callback runs (and ``set_fast_table`` can be used)."""
        return self._nm is not None

    @property
    def native_ptr(self) -> int | None:
        """The ``pp_midi`` pointer, for the audio core's JACK clock."""
        return self._nm.ptr if self._nm is not None else None

    def attach_mixer(self, mixer: Any, delay_ns: int, clock_latency_ns: int | None = None) -> None:
        """Let the C callback start fast-path sounds in ``mixer`` (a ``NativeMixer``), each at its
        hit's time + ``delay_ns``. With ``clock_latency_ns`` (the mixer's stream is on the same
        JACK server) the mixer also times its blocks on this client's frame clock, heard that
        long after the cycle starts. Both links are kept across client reopenings."""
        self._mixer, self._mixer_delay_ns = mixer, int(delay_ns)
        self._clock_latency_ns = None if clock_latency_ns is None else int(clock_latency_ns)
        nm = self._nm
        if nm is not None:
            nm.set_mixer(mixer, delay_ns)
            if self._clock_latency_ns is not None:
                mixer.set_jack_clock(nm.ptr, self._clock_latency_ns)

    def set_fast_table(self, port: MidiIn, table: FastTable | None) -> None:
        """Install (or with None remove) ``port``'s fast-path table in the C callback."""
        nm = self._nm
        if nm is None or not isinstance(port, JackIn) or port.slot < 0:
            return
        nm.set_fast(port.slot, table)
        port.fast_names = None if table is None else dict(table.names)

    def _drop_client(self) -> None:
        """Forget a client whose server is gone; its ports are dead (closing them is a no-op)."""
        client, self._client = self._client, None
        self._inputs, self._outputs = (), ()
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - a dead server cannot refuse anything useful
                pass
        self._stop_native()

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
            backend._py_cycle_ns = now
            try:
                f0 = tmap.observe(client.last_frame_time, now, frames)
                to_ns = tmap.to_ns
                for inp in backend._inputs:
                    inp.process(f0, inp.jack_port.incoming_midi_events(), to_ns)
                for out in backend._outputs:
                    out.flush()
            except Exception:  # noqa: BLE001 - an exception would stop JACK calling us
                backend.callback_errors += 1
            backend._py_cycles += 1

        return process

    @property
    def cycles(self) -> int:
        """Process cycles run so far (the C callback's count with the C core)."""
        nm = self._nm
        return nm.stats()[0] if nm is not None else self._py_cycles

    @property
    def cycle_ns(self) -> int:
        """App time the current/last process callback started (benchmarks)."""
        nm = self._nm
        return nm.stats()[1] if nm is not None else self._py_cycle_ns

    def native_stats(self) -> dict[str, int]:
        """The C callback's counters (empty without the C core)."""
        nm = self._nm
        if nm is None:
            return {}
        keys = ("cycles", "cycle_ns", "received", "dropped", "too_long", "fast_hits", "reanchors", "irregular")
        return dict(zip(keys, nm.stats()))

    def _xrun(self, delayed_usecs: float) -> None:
        self.xruns += 1  # notification thread; counted for stats, tests and benchmarks
        self.xrun_times.append(self.clock.now_ns())
        tmap = self.time_map
        if tmap is not None:
            tmap.xrun()
        nm = self._nm
        if nm is not None:
            nm.xrun()

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
            nm = self._nm
            if nm is not None:
                port.slot = nm.add_input(port, jport, (ignore_sysex, ignore_timing, ignore_active_sense))
                if port.slot < 0:
                    self._unregister(client, jport)
                    raise DeviceError(f"cannot open MIDI input {name!r}: too many inputs open")
            self._inputs = self._inputs + (port,)
            try:
                client.connect(source, jport)
            except Exception as exc:
                self._inputs = tuple(p for p in self._inputs if p is not port)
                if nm is not None:
                    nm.remove_input(port.slot)
                    self._wait_cycles()
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
            nm = self._nm
            if nm is not None:
                port.slot = nm.add_output(jport)
                if port.slot < 0:
                    self._unregister(client, jport)
                    raise DeviceError(f"cannot open MIDI output {name!r}: too many outputs open")
            self._outputs = self._outputs + (port,)
            try:
                client.connect(jport, destination)
            except Exception as exc:
                self._outputs = tuple(p for p in self._outputs if p is not port)
                if nm is not None:
                    nm.remove_output(port.slot)
                    self._wait_cycles()
                self._unregister(client, jport)
                raise DeviceError(f"cannot connect MIDI output {name!r}: {exc}") from exc
        return port

    def _drain(self, port: JackOut, timeout: float = 0.25) -> None:
        """Give the process callback time to write what ``silence()`` just queued."""
        deadline = time.monotonic() + timeout
        nm = self._nm

        def pending() -> bool:
            return bool(nm.out_pending(port.slot)) if nm is not None and port.slot >= 0 else bool(port.queue)

        while pending() and self.running and port in self._outputs and time.monotonic() < deadline:
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
            nm = self._nm
            if nm is not None and port.slot >= 0:
                if isinstance(port, JackIn):
                    nm.remove_input(port.slot)
                else:
                    nm.remove_output(port.slot)
            self._wait_cycles()
            if nm is not None and port.slot >= 0:
                nm.free_slot(port)  # the callback has let go of the slot (and its fast table)
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
        self._stop_native()


class NativeMidi:
    """The C process callback's Python side: ``pp_midi`` plus the reader thread that hands the
    ring's events to the ports' handlers. Slots are given out here and reused only after the
    callback has let go of them (the backend waits two cycles)."""

    def __init__(self, jack: Any, client: Any, backend: JackClientBackend) -> None:
        from prelude_play import native

        self._native = native
        self._lib = native.lib()
        ffi, jl = jack._ffi, jack._lib
        self.ptr = self._lib.pp_midi_new(client.samplerate, 8192, 1024)
        if not self.ptr:
            raise MemoryError("could not allocate the C MIDI core")

        def addr(cdata: Any) -> int:
            return int(ffi.cast("uintptr_t", cdata))

        self._lib.pp_midi_set_jack(
            self.ptr, addr(client._ptr), addr(jl.jack_last_frame_time), addr(jl.jack_port_get_buffer),
            addr(jl.jack_midi_get_event_count), addr(jl.jack_midi_event_get),
            addr(jl.jack_midi_clear_buffer), addr(jl.jack_midi_event_write))
        rc = jl.jack_set_process_callback(
            client._ptr, ffi.cast("JackProcessCallback", native.fn_address("pp_midi_process")),
            ffi.cast("void *", self.ptr))
        if rc != 0:
            self._lib.pp_midi_free(self.ptr)
            self.ptr = None
            raise DeviceError(f"cannot set the JACK process callback (error {rc})")
        self._backend = backend
        self._ins: list[JackIn | None] = [None] * native.MAX_IN
        self._outs: list[bool] = [False] * native.MAX_OUT
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._old_tables: list[tuple[int, int]] = []  # (cycle, pointer) freed two cycles later
        self._send_lock = threading.Lock()

    def start_reader(self) -> None:
        self._thread = threading.Thread(target=self._read, name="midi-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        lib, ptr = self._lib, self.ptr
        buf = (self._native.MidiEvent * 256)()
        ins = self._ins
        while not self._stop.is_set():
            lib.pp_midi_wait(ptr, 100)  # releases the GIL while it waits
            while True:
                n = lib.pp_midi_read(ptr, buf, 256)
                for i in range(n):
                    ev = buf[i]
                    port = ins[ev.slot]
                    if port is not None:
                        port.deliver(bytes(ev.data[: ev.size]), ev.t_ns, ev.sound)
                if n < 256:
                    break
            self._free_old_tables()

    def _free_old_tables(self) -> None:
        if self._old_tables:
            now = self.stats()[0]
            keep = []
            for cycle, t in self._old_tables:
                if now - cycle >= 2:
                    self._lib.pp_midi_free_table(t)
                else:
                    keep.append((cycle, t))
            self._old_tables = keep

    def add_input(self, port: JackIn, jport: Any, flags: tuple[bool, bool, bool]) -> int:
        for i, p in enumerate(self._ins):
            if p is None:
                self._ins[i] = port
                bits = (1 if flags[0] else 0) | (2 if flags[1] else 0) | (4 if flags[2] else 0)
                self._lib.pp_midi_set_in(self.ptr, i, int(self._backend._jack._ffi.cast("uintptr_t", jport._ptr)), bits)
                return i
        return -1

    def remove_input(self, slot: int) -> None:
        self._lib.pp_midi_set_in(self.ptr, slot, None, 0)

    def add_output(self, jport: Any) -> int:
        for i, used in enumerate(self._outs):
            if not used:
                self._outs[i] = True
                self._lib.pp_midi_set_out(self.ptr, i, int(self._backend._jack._ffi.cast("uintptr_t", jport._ptr)))
                return i
        return -1

    def remove_output(self, slot: int) -> None:
        self._lib.pp_midi_set_out(self.ptr, slot, None)

    def free_slot(self, port: JackIn | JackOut) -> None:
        if isinstance(port, JackIn):
            old = self._lib.pp_midi_set_fast(self.ptr, port.slot, None, None, None, 0, 0)
            if old:
                self._lib.pp_midi_free_table(old)
            self._ins[port.slot] = None
        else:
            self._outs[port.slot] = False

    def send(self, slot: int, data: bytes) -> int:
        # the output rings have one producer: the UI, the watcher (panic on unplug) and the MIDI
        # reader may all send, so they take turns here; the C callback never waits for this lock
        with self._send_lock:
            return int(self._lib.pp_midi_send(self.ptr, slot, data, len(data)))

    def out_pending(self, slot: int) -> int:
        return int(self._lib.pp_midi_out_pending(self.ptr, slot))

    def set_mixer(self, mixer: Any, delay_ns: int) -> None:
        self._lib.pp_midi_set_mixer(self.ptr, mixer.ptr if mixer is not None else None, int(delay_ns))

    def set_fast(self, slot: int, table: FastTable | None) -> None:
        if table is None:
            old = self._lib.pp_midi_set_fast(self.ptr, slot, None, None, None, 0, 0)
        else:
            old = self._lib.pp_midi_set_fast(self.ptr, slot, table.sounds.ctypes.data, table.client.ctypes.data,
                                              table.gain.ctypes.data, table.min_velocity, table.tremor_ns)
        if old:
            self._old_tables.append((self.stats()[0], old))

    def xrun(self) -> None:
        self._lib.pp_midi_xrun(self.ptr)

    def stats(self) -> list[int]:
        iv = (self._native.c_i64 * 8)()  # per call: the reader and the UI both ask
        self._lib.pp_midi_stats(self.ptr, iv)
        return list(iv)

    def close(self) -> None:
        """Only once the JACK client is closed: stop the reader, then free the C side."""
        self._stop.set()
        if self.ptr:
            self._lib.pp_midi_wake(self.ptr)
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=2.0)
        if self.ptr:
            for _, old in self._old_tables:
                self._lib.pp_midi_free_table(old)
            self._old_tables = []
            self._lib.pp_midi_free(self.ptr)
            self.ptr = None
