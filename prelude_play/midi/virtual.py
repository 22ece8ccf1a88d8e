"""An in-memory MIDI backend for unit tests: virtual devices that can be plugged, unplugged,
fed bytes at given clock times, and that record what the app sends them."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import mido

from prelude_play.clock import Clock
from prelude_play.errors import DeviceError
from prelude_play.midi.ports import MidiIn, MidiOut, RawHandler


@dataclass
class VirtualDevice:
    """One pretend device. ``received`` holds what the app sent to it (its output side)."""

    name: str
    has_input: bool = True
    has_output: bool = True
    plugged: bool = True
    received: list[mido.Message] = field(default_factory=list)
    inputs: list[VirtualIn] = field(default_factory=list)


class VirtualIn(MidiIn):
    def __init__(self, device: VirtualDevice, handler: RawHandler) -> None:
        super().__init__(device.name, handler)
        self.device = device

    def _close(self) -> None:
        if self in self.device.inputs:
            self.device.inputs.remove(self)


class VirtualOut(MidiOut):
    def __init__(self, device: VirtualDevice) -> None:
        super().__init__(device.name)
        self.device = device

    def _send(self, msg: mido.Message) -> None:
        if not self.device.plugged:
            raise DeviceError(f"MIDI device {self.name!r} is unplugged")
        self.device.received.append(msg.copy())


class VirtualBackend:
    """Devices live in this instance only (no module state), so tests never interfere."""

    name = "virtual"

    def __init__(self, *, clock: Clock, api: str = "virtual", client_name: str = "prelude-play") -> None:
        self.clock = clock
        self.api = api
        self.client_name = client_name
        self.devices: dict[str, VirtualDevice] = {}
        self.fail_listing: BaseException | None = None  # set to make listing raise
        self._lock = threading.Lock()

    # --- test controls -------------------------------------------------------------------
    def add_device(self, name: str, *, input: bool = True, output: bool = True) -> VirtualDevice:
        """Plug a device in (or plug an unplugged one back in: a new device object)."""
        with self._lock:
            dev = VirtualDevice(name, has_input=input, has_output=output)
            self.devices[name] = dev
            return dev

    def remove_device(self, name: str) -> None:
        """Unplug: open ports go dead (no input, output sends raise DeviceError)."""
        with self._lock:
            dev = self.devices.pop(name)
            dev.plugged = False

    def inject(self, name: str, data: Sequence[int] | bytes, t_ns: int | None = None) -> None:
        """Deliver bytes from device ``name`` as if they arrived at ``t_ns`` (default: now),
        on the calling thread (which stands in for the MIDI thread)."""
        dev = self.devices.get(name)
        if dev is None or not dev.plugged:
            return
        t = self.clock.now_ns() if t_ns is None else t_ns
        for port in list(dev.inputs):
            port.handler(list(data), t)

    def received(self, name: str) -> list[mido.Message]:
        return self.devices[name].received

    # --- Backend protocol ------------------------------------------------------------------
    def _list(self, attr: str) -> list[str]:
        if self.fail_listing is not None:
            raise DeviceError(f"virtual listing failed: {self.fail_listing}") from self.fail_listing
        with self._lock:
            return [d.name for d in self.devices.values() if getattr(d, attr)]

    def input_names(self) -> list[str]:
        return self._list("has_input")

    def output_names(self) -> list[str]:
        return self._list("has_output")

    def open_input(
        self,
        name: str,
        handler: RawHandler,
        *,
        ignore_sysex: bool = True,
        ignore_timing: bool = True,
        ignore_active_sense: bool = True,
    ) -> VirtualIn:
        dev = self.devices.get(name)
        if dev is None or not dev.has_input:
            raise DeviceError(f"no MIDI input named {name!r}")
        port = VirtualIn(dev, handler)
        dev.inputs.append(port)
        return port

    def open_output(self, name: str) -> VirtualOut:
        dev = self.devices.get(name)
        if dev is None or not dev.has_output:
            raise DeviceError(f"no MIDI output named {name!r}")
        return VirtualOut(dev)

    def is_own_port(self, name: str) -> bool:
        return name.startswith(self.client_name)

    def stable_name(self, name: str) -> str:
        return name

    def close(self) -> None:
        pass
