"""python-rtmidi backend, used directly (not through mido) so each message keeps a true
timestamp: the callback reads the app clock first thing and refines it with rtmidi's deltas."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import mido

from prelude_play.clock import Clock
from prelude_play.errors import ConfigError, DeviceError
from prelude_play.midi.ports import MidiIn, MidiOut, RawHandler
from prelude_play.midi.timestamps import DeltaClock

API_NAMES = ("auto", "alsa", "jack", "coremidi", "winmm")


def _rtmidi() -> Any:
    try:
        import rtmidi
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise DeviceError(f"python-rtmidi is not installed: {exc}") from exc
    return rtmidi


def rtmidi_api(api: str) -> int:
    """The rtmidi API constant for a config name; ConfigError for unknown names,
    DeviceError when this build of rtmidi lacks the API."""
    rtmidi = _rtmidi()
    table = {
        "auto": rtmidi.API_UNSPECIFIED,
        "alsa": rtmidi.API_LINUX_ALSA,
        "jack": rtmidi.API_UNIX_JACK,
        "coremidi": rtmidi.API_MACOSX_CORE,
        "winmm": rtmidi.API_WINDOWS_MM,
    }
    if api not in table:
        raise ConfigError(f"unknown MIDI API {api!r}", key="midi.api", hint=f"use one of {', '.join(API_NAMES)}")
    value = table[api]
    if api != "auto" and value not in rtmidi.get_compiled_api():
        have = [rtmidi.get_api_name(a) for a in rtmidi.get_compiled_api()]
        raise DeviceError(f"this python-rtmidi has no {api} support (it has: {', '.join(have)})")
    return value


def compiled_api_names() -> list[str]:
    rtmidi = _rtmidi()
    names = {rtmidi.API_LINUX_ALSA: "alsa", rtmidi.API_UNIX_JACK: "jack",
             rtmidi.API_MACOSX_CORE: "coremidi", rtmidi.API_WINDOWS_MM: "winmm"}
    return [names[a] for a in rtmidi.get_compiled_api() if a in names]


def _quiet_errors(kind: int, message: str, data: Any = None) -> None:
    """rtmidi warnings (e.g. 'JACK server not running?') are reported through return values
    and DeviceError instead of being printed."""


class RtMidiIn(MidiIn):
    def __init__(self, name: str, handler: RawHandler, midi: Any, clock: Clock) -> None:
        super().__init__(name, handler)
        self._midi = midi
        now_ns = clock.now_ns
        stamp = DeltaClock().stamp
        port = self

        def callback(event: tuple[Sequence[int], float], data: Any = None) -> None:
            now = now_ns()  # first: the arrival time on the app's one clock
            try:
                port.handler(event[0], stamp(event[1], now))
            except Exception:  # noqa: BLE001 - nothing may escape into rtmidi's thread
                port.errors += 1

        self.errors = 0
        self._callback = callback
        midi.set_callback(callback)

    def _close(self) -> None:
        try:
            self._midi.cancel_callback()
            self._midi.close_port()
            self._midi.delete()
        except Exception:  # noqa: BLE001 - closing a dead port must not fail
            pass


class RtMidiOut(MidiOut):
    def __init__(self, name: str, midi: Any) -> None:
        super().__init__(name)
        self._midi = midi

    def _send(self, msg: mido.Message) -> None:
        try:
            self._midi.send_message(msg.bytes())
        except Exception as exc:
            raise DeviceError(f"MIDI output {self.name!r} failed: {exc}") from exc

    def _close(self) -> None:
        try:
            self._midi.close_port()
            self._midi.delete()
        except Exception:  # noqa: BLE001
            pass


class RtMidiBackend:
    """Ports through python-rtmidi on one API. Own ports are named ``client_name...``."""

    name = "rtmidi"

    def __init__(self, *, clock: Clock, api: str = "auto", client_name: str = "prelude-play") -> None:
        self.clock = clock
        self._api = rtmidi_api(api)
        self.client_name = client_name
        self._listers: dict[str, Any] = {}
        rtmidi = _rtmidi()
        # resolve "auto" to the API rtmidi actually picks, for display and name handling
        self.api = api
        if api == "auto":
            try:
                probe = rtmidi.MidiIn(self._api, f"{client_name}-probe")
                self.api = {rtmidi.API_LINUX_ALSA: "alsa", rtmidi.API_UNIX_JACK: "jack",
                            rtmidi.API_MACOSX_CORE: "coremidi", rtmidi.API_WINDOWS_MM: "winmm"}.get(
                    probe.get_current_api(), "auto")
                self._api = probe.get_current_api()
                probe.delete()
            except Exception as exc:
                raise DeviceError(f"no MIDI system available: {exc}") from exc

    def _new(self, kind: str, client: str) -> Any:
        rtmidi = _rtmidi()
        cls = rtmidi.MidiIn if kind == "in" else rtmidi.MidiOut
        try:
            midi = cls(self._api, client)
        except Exception as exc:
            raise DeviceError(f"cannot start the {self.api} MIDI client: {exc}") from exc
        midi.set_error_callback(_quiet_errors)
        return midi

    def _names(self, kind: str) -> list[str]:
        lister = self._listers.get(kind)
        try:
            if lister is None:
                lister = self._listers[kind] = self._new(kind, f"{self.client_name}-watch")
            return list(lister.get_ports())
        except DeviceError:
            raise
        except Exception as exc:
            self._listers.pop(kind, None)  # make a fresh client next time (server restarted)
            raise DeviceError(f"cannot list {self.api} MIDI ports: {exc}") from exc

    def input_names(self) -> list[str]:
        return self._names("in")

    def output_names(self) -> list[str]:
        return self._names("out")

    def _index(self, midi: Any, name: str) -> int:
        ports = list(midi.get_ports())
        if name in ports:
            return ports.index(name)
        stable = self.stable_name(name)
        for i, p in enumerate(ports):
            if self.stable_name(p) == stable:
                return i
        raise DeviceError(f"no {self.api} MIDI port named {name!r}")

    def open_input(
        self,
        name: str,
        handler: RawHandler,
        *,
        ignore_sysex: bool = True,
        ignore_timing: bool = True,
        ignore_active_sense: bool = True,
    ) -> RtMidiIn:
        midi = self._new("in", f"{self.client_name}-in")
        try:
            index = self._index(midi, name)
            midi.ignore_types(sysex=ignore_sysex, timing=ignore_timing, active_sense=ignore_active_sense)
            port = RtMidiIn(name, handler, midi, self.clock)
            midi.open_port(index, "in")
        except DeviceError:
            midi.delete()
            raise
        except Exception as exc:
            midi.delete()
            raise DeviceError(f"cannot open MIDI input {name!r}: {exc}") from exc
        return port

    def open_output(self, name: str) -> RtMidiOut:
        midi = self._new("out", f"{self.client_name}-out")
        try:
            midi.open_port(self._index(midi, name), "out")
        except DeviceError:
            midi.delete()
            raise
        except Exception as exc:
            midi.delete()
            raise DeviceError(f"cannot open MIDI output {name!r}: {exc}") from exc
        return RtMidiOut(name, midi)

    def open_virtual_output(self, port_name: str = "out") -> RtMidiOut:
        """A port other programs can connect to (ALSA/JACK/CoreMIDI), named after the app."""
        midi = self._new("out", self.client_name)
        try:
            midi.open_virtual_port(port_name)
        except Exception as exc:
            midi.delete()
            raise DeviceError(f"cannot create virtual MIDI output: {exc}") from exc
        return RtMidiOut(f"{self.client_name}:{port_name}", midi)

    def is_own_port(self, name: str) -> bool:
        return name.startswith(self.client_name)

    def stable_name(self, name: str) -> str:
        """The name without the numbers the system gives a port each time it is plugged in
        (ALSA's ``client:port``, WinMM's index), so a replugged device is recognised."""
        if self.api == "alsa":
            return re.sub(r"\s+\d+:\d+$", "", name)
        if self.api == "winmm":
            return re.sub(r"\s+\d+$", "", name)
        return name

    def close(self) -> None:
        for midi in self._listers.values():
            try:
                midi.delete()
            except Exception:  # noqa: BLE001
                pass
        self._listers.clear()
