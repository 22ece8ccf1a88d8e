"""MIDI backends chosen by name and imported lazily, so tests never import hardware libraries.

A backend lists port names, opens input ports (delivering raw bytes with app-clock timestamps)
and output ports. Built-in names: ``rtmidi`` (python-rtmidi; API "auto", "alsa", "jack",
"coremidi", "winmm"), ``jackclient`` (JACK through JACK-Client: frame-exact stamps, no GIL held
while waiting on the server; API "jack") and ``virtual`` (in memory, for tests). Any other name
is taken as ``package.module:Class``.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from prelude_play.clock import Clock
from prelude_play.errors import ConfigError
from prelude_play.midi.ports import MidiIn, MidiOut, RawHandler

BUILTIN_BACKENDS = {
    "rtmidi": "prelude_play.midi.rtmidi_backend:RtMidiBackend",
    "jackclient": "prelude_play.midi.jack_backend:JackClientBackend",
    "virtual": "prelude_play.midi.virtual:VirtualBackend",
}
DEFAULT_CLIENT_NAME = "prelude-play"


@runtime_checkable
class Backend(Protocol):
    """What the hub needs from a MIDI library."""

    name: str
    api: str
    client_name: str

    def input_names(self) -> list[str]: ...

    def output_names(self) -> list[str]: ...

    def open_input(
        self,
        name: str,
        handler: RawHandler,
        *,
        ignore_sysex: bool = True,
        ignore_timing: bool = True,
        ignore_active_sense: bool = True,
    ) -> MidiIn: ...

    def open_output(self, name: str) -> MidiOut: ...

    def is_own_port(self, name: str) -> bool: ...

    def stable_name(self, name: str) -> str: ...

    def close(self) -> None: ...


@runtime_checkable
class FastPathBackend(Protocol):
    """A backend whose own real-time callback can sound note-ons without Python: the JACK-Client
    backend with the C core (``jack_backend.JackClientBackend``). Other backends — rtmidi,
    virtual, a third party's — lack these, and hits then sound from the Python sink."""

    @property
    def native(self) -> bool: ...

    @property
    def native_ptr(self) -> int | None: ...

    def attach_mixer(self, mixer: Any, delay_ns: int, clock_latency_ns: int | None = None) -> None: ...

    def set_fast_table(self, port: MidiIn, table: Any) -> None: ...


def load_backend(
    name: str = "rtmidi",
    *,
    clock: Clock,
    api: str = "auto",
    client_name: str = DEFAULT_CLIENT_NAME,
    **options: Any,
) -> Backend:
    """Import and construct the backend called ``name`` (ConfigError if unknown)."""
    target = BUILTIN_BACKENDS.get(name, name)
    if ":" not in target:
        raise ConfigError(
            f"unknown MIDI backend {name!r}", key="midi.backend",
            hint=f"use one of {', '.join(sorted(BUILTIN_BACKENDS))} or 'package.module:Class'",
        )
    module_name, _, cls_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"MIDI backend {name!r} cannot be loaded: {exc}", key="midi.backend") from exc
    return cls(clock=clock, api=api, client_name=client_name, **options)
