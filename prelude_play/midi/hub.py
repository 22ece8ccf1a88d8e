"""The MIDI hub: opens every input by itself, follows devices coming and going, and turns each
message into an InputEvent stamped with the callback's time.

The sink (``set_sink``: the app's hit path, ``prelude_play.hits.HitPath``) is called on the MIDI
thread (the backend's callback thread), so a hit sounds straight from the audio engine before
the event is queued for the frame loop. Device changes arrive through the same sink as
``source="system"`` events ("device_added", "device_removed", "device_error"), from the watcher
thread. Events that come before a sink is set wait for it. The hub is the ``MidiIn`` device seam
(``prelude_play.devices``).
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import mido

from prelude_play.clock import Clock
from prelude_play.events import InputEvent
from prelude_play.input.midi import device_event, midi_event
from prelude_play.midi.backend import Backend, FastPathBackend
from prelude_play.midi.decode import MidiDecoder
from prelude_play.midi.instruments import InstrumentMap, Sensitivity, SensitivityFilter
from prelude_play.midi.output import MidiOutput
from prelude_play.midi.ports import MidiIn

Sink = Callable[[InputEvent], None]


@dataclass(frozen=True, slots=True)
class MidiConfig:
    """How the hub chooses and treats devices (the app config's [midi] table).

    include/exclude: device name patterns (case-insensitive, * and ?); empty include = all.
    Per device, two token buckets: notes (``max_notes_per_s`` / ``notes_burst``: well above
    any hand, a drum roll is ~30 hits/s) and everything else (``max_messages_per_s`` /
    ``burst``: controllers, pitch bend, pressure), so a pressure stream never costs a note and
    one device's flood never costs another device anything. Note-offs of held notes always pass
    (a flood can never leave a note stuck). What a bucket refuses is never silent: the first
    ``flood_trace`` refused note-ons of a flood go on as hits marked ``filtered = "flood"`` (the
    app logs them as filtered, they make no sound), and everything refused is counted in a
    ``flood`` system event per device — every ``flood_report_s`` while it lasts and once when
    it has been quiet ``flood_quiet_s`` — never one event per refused message.
    """

    backend: str = "rtmidi"
    api: str = "auto"
    client_name: str = "prelude-play"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ("Midi Through*",)
    poll_interval_s: float = 0.5
    ignore_sysex: bool = True
    ignore_timing: bool = True
    ignore_active_sense: bool = True
    max_messages_per_s: float = 1000.0
    burst: int = 300
    max_notes_per_s: float = 200.0
    notes_burst: int = 100
    flood_trace: int = 16
    flood_report_s: float = 5.0
    flood_quiet_s: float = 1.0
    max_sysex_bytes: int = 512


class RateLimit:
    """Token bucket on the event timestamps (not wall time), so tests are deterministic."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last: int | None = None

    def take(self, t_ns: int) -> bool:
        if self.last is not None and t_ns > self.last:
            self.tokens = min(self.burst, self.tokens + (t_ns - self.last) * self.rate / 1e9)
        if self.last is None or t_ns > self.last:
            self.last = t_ns
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class FloodTally:
    """What one device's flood has had refused since the last ``flood`` event: counted on the
    MIDI thread, reported by the watcher (``MidiHub.flush_floods``) or the MIDI thread itself
    every ``flood_report_s``; the lock is taken only while refusing, never for a passing hit."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    by_kind: dict[str, int] = field(default_factory=dict)
    dropped: int = 0  # refused and only counted
    traced: int = 0  # refused note-ons passed on as filtered hits
    first_ns: int | None = None
    last_ns: int = 0
    reported_ns: int | None = None  # when this flood was last reported (None: a new flood)
    episode: int = 0  # everything refused since the flood began
    episode_traced: int = 0  # refused note-ons passed on since the flood began

    def take(self) -> dict[str, Any] | None:
        """The counts so far as a ``flood`` event's data, and start counting anew (None: none)."""
        if self.first_ns is None:
            return None
        data = {"dropped": self.dropped, "filtered": self.traced, "by_kind": dict(self.by_kind),
                "first_ns": self.first_ns, "last_ns": self.last_ns,
                "span_s": round((self.last_ns - self.first_ns) / 1e9, 3), "flood_total": self.episode}
        self.by_kind, self.dropped, self.traced, self.first_ns = {}, 0, 0, None
        return data


@dataclass
class _Input:
    name: str
    port_name: str
    decoder: MidiDecoder
    limit: RateLimit
    notes: RateLimit | None = None
    port: MidiIn | None = None
    held: set[tuple[int, int]] = field(default_factory=set)
    received: int = 0
    rate_dropped: int = 0
    errors: int = 0
    last_error: BaseException | None = None
    flood: FloodTally = field(default_factory=FloodTally)


@dataclass
class _Output:
    pattern: str
    output: MidiOutput
    port_name: str | None = None


class MidiHub:
    """Owns the MIDI inputs (and registered outputs) of one app."""

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        sink: Sink | None = None,
        config: MidiConfig = MidiConfig(),
        instruments: InstrumentMap | None = None,
        sensitivity: Sensitivity | None = None,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.config = config
        self.instruments = instruments or InstrumentMap()
        self.filter = SensitivityFilter(sensitivity or self.instruments.sensitivity)
        self._sink: Sink = sink if sink is not None else self._hold
        self._sink_lock = threading.Lock()
        self._early: list[InputEvent] = []  # events before set_sink (e.g. the first device_added)
        self.fast_backend = backend if isinstance(backend, FastPathBackend) else None
        self._inputs: dict[str, _Input] = {}
        self._outputs: list[_Output] = []
        self._seen: set[str] = set()
        self._failed: dict[str, str] = {}
        self._listing_error: str | None = None
        self._fast_builder: Callable[[str], Any] | None = None  # see set_fast_path
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sink_errors = 0

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Open what is there now, then watch for changes on a daemon thread."""
        self.poll()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="midi-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop watching, report what floods refused, release held notes, silence and close
        every port. Safe twice."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        try:
            self.flush_floods(final=True)
        except Exception:  # noqa: BLE001 - stopping must finish
            pass
        with self._poll_lock:
            for inp in list(self._inputs.values()):
                self._close_input(inp, reason="stop", announce=False)
            self._inputs.clear()
            for out in self._outputs:
                out.output.close()
            self._outputs.clear()
        try:
            self.backend.close()
        except Exception:  # noqa: BLE001
            pass

    def _watch(self) -> None:
        while not self._stop.wait(self.config.poll_interval_s):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the watcher must outlive any backend fault
                pass
            try:
                self.flush_floods()
            except Exception:  # noqa: BLE001
                pass

    # --- floods ----------------------------------------------------------------------------
    def flush_floods(self, *, now_ns: int | None = None, final: bool = False) -> list[InputEvent]:
        """Report each device's flood that has gone quiet (``flood_quiet_s`` without a refused
        message), or every pending count when ``final`` (at stop). The watcher calls this."""
        now = self.clock.now_ns() if now_ns is None else now_ns
        quiet_ns = int(self.config.flood_quiet_s * 1e9)
        events = []
        for inp in list(self._inputs.values()):
            tally = inp.flood
            with tally.lock:
                if tally.first_ns is None and tally.reported_ns is None:
                    continue
                if not final and now - tally.last_ns < quiet_ns:
                    continue
                data = tally.take()
                episode = tally.episode
                tally.reported_ns, tally.episode, tally.episode_traced = None, 0, 0  # the next refusal: a new flood
            if data is not None or episode:
                events.append(self._flood_event(inp, data or {}, ended=True, episode=episode))
        for ev in events:
            self._emit(ev)
        return events

    def _flood_event(self, inp: _Input, data: dict[str, Any], *, ended: bool, episode: int) -> InputEvent:
        dropped = data.get("dropped", 0) + data.get("filtered", 0)
        span = data.get("span_s", 0.0)
        text = (f"MIDI flood from {inp.name}: {dropped} message(s) not played in {span:.1f} s"
                + (f" ({episode} in all; it has stopped)" if ended else " (still going)")
                + " — check the device and its cable")
        data = {"dropped": 0, "filtered": 0, "by_kind": {}, "span_s": 0.0, **data,
                "ended": ended, "flood_total": episode, "message": text,
                "limits": {"notes_per_s": self.config.max_notes_per_s, "messages_per_s": self.config.max_messages_per_s}}
        t_ns = data.get("last_ns") or self.clock.now_ns()
        return device_event(t_ns, "flood", inp.name, data)

    def _refused(self, inp: _Input, kind: str, t_ns: int, msg: mido.Message) -> InputEvent | None:
        """Count a message the rate limit refused; the event to pass on instead (a refused
        note-on while this flood's trace lasts, marked filtered), or None."""
        inp.rate_dropped += 1
        cfg = self.config
        tally = inp.flood
        report = None
        with tally.lock:
            if tally.first_ns is None:
                tally.first_ns = t_ns
            tally.last_ns = max(tally.last_ns, t_ns)
            tally.episode += 1
            trace = kind == "note_on" and tally.episode_traced < cfg.flood_trace
            if trace:
                tally.traced += 1
                tally.episode_traced += 1
            else:
                tally.dropped += 1
                tally.by_kind[kind] = tally.by_kind.get(kind, 0) + 1
            if tally.reported_ns is None:
                tally.reported_ns = t_ns
            elif t_ns - tally.reported_ns >= cfg.flood_report_s * 1e9:
                tally.reported_ns = t_ns
                report = tally.take(), tally.episode
        if report is not None and report[0] is not None:
            self._emit(self._flood_event(inp, report[0], ended=False, episode=report[1]))
        if not trace:
            return None
        channel = msg.channel
        res = self.instruments.resolve(inp.name, channel, msg.note)
        if res.role == "pedal":
            return None
        return midi_event(t_ns, inp.name, "note_on", note=msg.note, velocity=msg.velocity, channel=channel,
                          role=res.role, data={"sound": res.sound, "label": res.label, "filtered": "flood"})

    # --- where events go --------------------------------------------------------------------
    def set_sink(self, sink: Sink) -> None:
        """Where events go from now on (the hit path's sink); those that came before follow."""
        with self._sink_lock:
            self._sink = sink
            early, self._early = self._early, []
            for ev in early:
                self._emit(ev)

    def _hold(self, event: InputEvent) -> None:
        """The sink until ``set_sink``: keep the last 4096 events (device_added at start())."""
        with self._sink_lock:
            sink = self._sink
            if sink == self._hold:
                self._early.append(event)
                del self._early[:-4096]
                return
        sink(event)

    # --- the backend's C fast path ---------------------------------------------------------
    @property
    def native_fast_path(self) -> bool:
        """Whether the backend can sound note-ons itself, without Python (the C core)."""
        return self.fast_backend is not None and self.fast_backend.native

    @property
    def core(self) -> str:
        """Which MIDI callback runs: "c" (the C core's JACK callback) or "python"."""
        return "c" if self.native_fast_path else "python"

    def set_fast_path(self, builder: Callable[[str], Any] | None) -> None:
        """Give every input (and each one opened later) the table ``builder(device name)``
        returns (a ``prelude_play.native.FastTable`` or None); None removes them all."""
        self._fast_builder = builder
        for name, inp in list(self._inputs.items()):
            self._apply_fast(name, inp)

    def _apply_fast(self, name: str, inp: _Input) -> None:
        backend = self.fast_backend
        if backend is None or inp.port is None:
            return
        builder = self._fast_builder
        try:
            backend.set_fast_table(inp.port, builder(name) if builder is not None else None)
        except Exception as exc:  # noqa: BLE001 - the Python fast path still works
            inp.last_error = exc

    # --- the therapist's controls --------------------------------------------------------
    @property
    def sensitivity(self) -> Sensitivity:
        return self.filter.sensitivity

    def set_sensitivity(self, sensitivity: Sensitivity) -> None:
        """Switch the client's sensitivity (e.g. when the client changes)."""
        self.filter.sensitivity = sensitivity

    def panic(self) -> None:
        """Panic on every output and release every held input note (synthetic note-offs)."""
        for out in list(self._outputs):
            out.output.panic()
        for inp in list(self._inputs.values()):
            self._release_held(inp, "panic")

    # --- state -------------------------------------------------------------------------------
    @property
    def inputs(self) -> list[str]:
        return sorted(self._inputs)

    def describe(self) -> dict[str, Any]:
        """What the session's provenance records: the backend, the inputs open now, the output."""
        return {"hub": type(self).__name__, "backend": self.config.backend, "api": self.config.api,
                "core": self.core, "inputs": self.inputs,
                "outputs": [o.port_name or o.pattern for o in list(self._outputs)]}

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-device counters for the therapist's device panel and the session provenance."""
        return {
            name: {
                "port": inp.port_name,
                "received": inp.received,
                "rate_dropped": inp.rate_dropped,
                "flood_pending": inp.flood.dropped + inp.flood.traced,
                "garbage_bytes": inp.decoder.garbage,
                "ignored": inp.decoder.ignored,
                "errors": inp.errors,
                "held": len(inp.held),
            }
            for name, inp in list(self._inputs.items())
        }

    # --- outputs -------------------------------------------------------------------------
    def open_output(self, pattern: str, *, light_channel: int | None = None) -> MidiOutput:
        """A MidiOutput to the first output whose name matches ``pattern``; it is attached now
        if the device is present and re-attached by the watcher whenever it (re)appears."""
        out = _Output(pattern, MidiOutput(pattern, None, clock=self.clock, light_channel=light_channel))
        events: list[InputEvent] = []
        with self._poll_lock:
            self._outputs.append(out)
            self._poll_outputs(events)
        for ev in events:
            self._emit(ev)
        return out.output

    # --- polling -------------------------------------------------------------------------
    def _wanted(self, raw: str) -> bool:
        if self.backend.is_own_port(raw):
            return False
        name = self.backend.stable_name(raw).casefold()
        if self.config.include and not any(fnmatch.fnmatchcase(name, p.casefold()) for p in self.config.include):
            return False
        return not any(fnmatch.fnmatchcase(name, p.casefold()) for p in self.config.exclude)

    def _present(self, raws: Sequence[str]) -> dict[str, str]:
        present: dict[str, str] = {}
        for raw in raws:
            if not self._wanted(raw):
                continue
            name = self.backend.stable_name(raw)
            n = 2
            base = name
            while name in present:
                name, n = f"{base} #{n}", n + 1
            present[name] = raw
        return present

    def poll(self) -> list[InputEvent]:
        """Compare the port lists with what is open; open, close and announce. Returns the
        system events it emitted. The watcher calls this; tests call it directly."""
        events: list[InputEvent] = []
        with self._poll_lock:
            try:
                raws = self.backend.input_names()
                self._listing_error = None
            except Exception as exc:  # noqa: BLE001 - a dead MIDI system means no devices
                raws = []
                if self._listing_error != str(exc):
                    self._listing_error = str(exc)
                    events.append(self._system("device_error", "", error=str(exc), direction="in"))
            present = self._present(raws)
            for name, inp in list(self._inputs.items()):
                if present.get(name) != inp.port_name:
                    del self._inputs[name]
                    self._close_input(inp, reason="device_removed", announce=True, events=events)
            for name, raw in present.items():
                if name not in self._inputs:
                    self._open_input(name, raw, events)
            for name in list(self._failed):
                if name not in present:
                    del self._failed[name]
            if self._outputs:
                self._poll_outputs(events)
        for ev in events:
            self._emit(ev)
        return events

    def _open_input(self, name: str, raw: str, events: list[InputEvent]) -> None:
        cfg = self.config
        inp = _Input(
            name, raw,
            MidiDecoder(ignore_sysex=cfg.ignore_sysex, ignore_timing=cfg.ignore_timing,
                        ignore_active_sense=cfg.ignore_active_sense, max_sysex=cfg.max_sysex_bytes),
            RateLimit(cfg.max_messages_per_s, cfg.burst),
            RateLimit(cfg.max_notes_per_s, cfg.notes_burst),
        )
        try:
            inp.port = self.backend.open_input(
                raw, lambda data, t_ns, fast=None: self._on_bytes(inp, data, t_ns, fast),
                ignore_sysex=cfg.ignore_sysex, ignore_timing=cfg.ignore_timing,
                ignore_active_sense=cfg.ignore_active_sense,
            )
        except Exception as exc:  # noqa: BLE001 - report once, retry on the next poll
            if self._failed.get(name) != str(exc):
                self._failed[name] = str(exc)
                events.append(self._system("device_error", name, error=str(exc), direction="in"))
            return
        self._failed.pop(name, None)
        self._inputs[name] = inp
        self._apply_fast(name, inp)
        events.append(self._system("device_added", name, direction="in", port=raw, reopened=name in self._seen))
        self._seen.add(name)

    def _close_input(self, inp: _Input, *, reason: str, announce: bool,
                     events: list[InputEvent] | None = None) -> None:
        tally = inp.flood
        with tally.lock:  # a device unplugged mid-flood: what it had refused is still reported
            data, episode = tally.take(), tally.episode
            tally.reported_ns, tally.episode, tally.episode_traced = None, 0, 0
        if data is not None or episode:
            flood = self._flood_event(inp, data or {}, ended=True, episode=episode)
            if events is not None:
                events.append(flood)
            else:
                self._emit(flood)
        port, inp.port = inp.port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # noqa: BLE001
                pass
        held = bool(inp.held)
        if announce and events is not None:
            events.append(self._system("device_removed", inp.name, direction="in", port=inp.port_name,
                                       held_notes=len(inp.held)))
        self._release_held(inp, reason)
        if held and reason == "device_removed":
            for out in self._outputs:
                out.output.panic()

    def _poll_outputs(self, events: list[InputEvent]) -> None:
        try:
            raws = [r for r in self.backend.output_names() if not self.backend.is_own_port(r)]
        except Exception:  # noqa: BLE001 - already reported through the input listing
            raws = []
        for out in self._outputs:
            if out.port_name is not None and out.port_name not in raws:
                out.output.detach()
                events.append(self._system("device_removed", out.port_name, direction="out"))
                out.port_name = None
            if out.port_name is None:
                pat = out.pattern.casefold()
                for raw in raws:
                    if fnmatch.fnmatchcase(self.backend.stable_name(raw).casefold(), pat):
                        try:
                            port = self.backend.open_output(raw)
                        except Exception as exc:  # noqa: BLE001
                            events.append(self._system("device_error", raw, error=str(exc), direction="out"))
                            break
                        out.output.attach(port)
                        out.port_name = raw
                        events.append(self._system("device_added", raw, direction="out"))
                        break

    def _system(self, kind: str, device: str, **data: Any) -> InputEvent:
        return device_event(self.clock.now_ns(), kind, device, data)

    def _emit(self, event: InputEvent) -> None:
        try:
            self._sink(event)
        except Exception:  # noqa: BLE001 - a faulty sink must not stop MIDI
            self.sink_errors += 1

    def _release_held(self, inp: _Input, reason: str) -> None:
        """Synthetic note-offs for notes still held on a device, so no sound hangs."""
        held = list(inp.held)
        inp.held.clear()
        now = self.clock.now_ns()
        for channel, note in sorted(held):
            res = self.instruments.resolve(inp.name, channel, note)
            self._emit(midi_event(
                now, inp.name, "note_off", note=note, velocity=0, channel=channel, role=res.role,
                data={"sound": res.sound, "label": res.label, "synthetic": True, "reason": reason},
            ))

    # --- the MIDI thread -----------------------------------------------------------------
    def _on_bytes(self, inp: _Input, data: Sequence[int], t_ns: int, fast: str | None = None) -> None:
        """Runs in the backend's callback: decode, convert, call the sink. Never raises.

        ``fast``: what the backend's own (C) fast path played for this message — a sound name,
        "" for nothing — or None when it has none for this port; see ``set_fast_path``."""
        try:
            for msg in inp.decoder.feed(data):
                self._dispatch(inp, msg, t_ns, fast)
        except Exception as exc:  # noqa: BLE001
            inp.errors += 1
            inp.last_error = exc

    def _dispatch(self, inp: _Input, msg: mido.Message, t_ns: int, fast: str | None = None) -> None:
        kind = msg.type
        if kind == "note_on" and msg.velocity == 0:
            kind = "note_off"
        channel = getattr(msg, "channel", None)
        if kind == "note_off" and (channel, msg.note) in inp.held:
            pass  # releases of held notes always pass the rate limit
        elif not (inp.notes if kind in ("note_on", "note_off") and inp.notes is not None else inp.limit).take(t_ns):
            traced = self._refused(inp, kind, t_ns, msg)
            if traced is not None:
                self._emit(traced)
            return
        note = velocity = control = value = None
        data: dict[str, Any] = {}
        if kind in ("note_on", "note_off", "polytouch"):
            note = msg.note
            res = self.instruments.resolve(inp.name, channel, note)
            data["sound"] = res.sound
            data["label"] = res.label
            if kind == "polytouch":
                value = msg.value
            else:
                velocity = msg.velocity
            if kind == "note_on":
                if fast is not None:
                    data["fast"] = fast  # the backend's C fast path already sounded it (or not)
                inp.held.add((channel, note))
                if res.role == "client":
                    reason = self.filter.check(inp.name, channel, note, velocity, t_ns)
                    if reason is not None:
                        data["filtered"] = reason
            elif kind == "note_off":
                inp.held.discard((channel, note))
            role = res.role
        elif kind == "control_change":
            control, value = msg.control, msg.value
            res = self.instruments.resolve(inp.name, channel, control, kind="cc")
            data["label"] = res.label
            role = res.role
        else:
            if kind == "pitchwheel":
                value = msg.pitch
            elif kind == "program_change":
                value = msg.program
            elif kind == "aftertouch":
                value = msg.value
            elif kind == "sysex":
                value = bytes(msg.data)
            role = self.instruments.role_for(inp.name, channel) if channel is not None else "client"
        inp.received += 1
        event = midi_event(t_ns, inp.name, kind, note=note, velocity=velocity, channel=channel,
                           control=control, value=value, role=role, data=data)
        try:
            self._sink(event)
        except Exception as exc:  # noqa: BLE001 - the sink's fault must not break MIDI input
            self.sink_errors += 1
            inp.last_error = exc
