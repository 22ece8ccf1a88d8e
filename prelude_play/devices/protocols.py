"""What the shell, the session, the activities and the fast path may ask of a device.

Four seams: ``AudioOut`` (the audio engine, in this process or behind the real-time child's
proxy), ``MidiIn`` (the MIDI hub with every input, or its proxy), ``MidiOut`` (one MIDI output:
a keyboard's notes and lights) and ``Mic`` (the microphone capture). Each member is one the code
above really uses; each seam has a do-nothing stand-in (``prelude_play.devices.null``), so the
shell always holds an object and never asks "is there one?" with ``None`` checks or ``getattr``.
``tests/devices/test_protocols.py`` checks every implementation against these.

``describe()`` is what a session's provenance records of the device (None: no device, a stand-in);
``core`` says which real-time core runs it: "c" (the C core, ``prelude_play.native``),
"python", or "none" (a stand-in).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, runtime_checkable

from prelude_play.events import InputEvent

if TYPE_CHECKING:
    import mido
    import numpy as np

    from prelude_play.midi.instruments import Sensitivity

Sink = Callable[[InputEvent], None]
"""Where a device's InputEvents go: called on the device's own thread (MIDI, watcher, worker)."""


@runtime_checkable
class AudioOut(Protocol):
    """Sound out: ``prelude_play.audio.engine.AudioEngine``, ``prelude_play.rt.proxy.AudioProxy``
    (the engine in the real-time child), ``prelude_play.devices.null.NullAudio``."""

    @property
    def rate(self) -> int: ...

    @property
    def period_frames(self) -> int: ...

    @property
    def output_latency_s(self) -> float: ...

    @property
    def backend_name(self) -> str: ...

    @property
    def core(self) -> str: ...

    def describe(self) -> dict[str, Any] | None: ...

    @property
    def master_volume(self) -> float:
        """0–1 before the limiter (the config's ``max_volume`` ceiling stays below it); the
        client's volume cap lowers it for their session."""

    @master_volume.setter
    def master_volume(self, value: float) -> None: ...

    # ---- sound (any thread; never blocks the audio thread) --------------------------------
    def trigger(self, name: str, velocity: float = 1.0, *, pan: float = 0.0, at_ns: int | None = None,
                gain: float = 1.0) -> None: ...

    def play(self, name: str, velocity: float = 1.0, *, pan: float = 0.0, at_ns: int | None = None,
             gain: float = 1.0, loop: bool = False) -> int: ...

    def stop(self, handle: int, *, at_ns: int | None = None, ramp_ms: float | None = None) -> None: ...

    def all_off(self, *, at_ns: int | None = None, ramp_ms: float | None = None) -> None: ...

    def prepare(self, names: Iterable[str]) -> None: ...

    def load(self, name: str, samples: Any, *, loop: tuple[int, int] | None = None,
             release_ms: float | None = None) -> None: ...

    # ---- time: the fast path's steady latency ---------------------------------------------
    def next_block_dac_ns(self) -> int | None: ...

    # ---- health: the shell's frame loop ----------------------------------------------------
    def stats(self) -> dict[str, Any]: ...

    def poll(self, stall_s: float = 1.0) -> str | None: ...

    def reopen(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class MidiOut(Protocol):
    """One MIDI output: ``prelude_play.midi.output.MidiOutput``, ``prelude_play.rt.proxy.MidiOutputProxy``,
    ``prelude_play.devices.null.NullMidiOut``. Sends return False when nothing was sent."""

    @property
    def connected(self) -> bool: ...

    def send(self, msg: mido.Message) -> bool: ...

    def note_on(self, note: int, velocity: int = 80, channel: int = 0) -> bool: ...

    def note_off(self, note: int, channel: int = 0) -> bool: ...

    def panic(self) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> dict[str, Any] | None: ...


@runtime_checkable
class MidiIn(Protocol):
    """Every MIDI input at once: ``prelude_play.midi.hub.MidiHub`` (opens devices by itself,
    follows hot-plug), ``prelude_play.rt.proxy.MidiProxy`` (the hub in the real-time child),
    ``prelude_play.devices.null.NullMidiIn``."""

    @property
    def inputs(self) -> list[str]: ...

    @property
    def core(self) -> str: ...

    @property
    def sensitivity(self) -> Sensitivity: ...

    def set_sensitivity(self, sensitivity: Sensitivity) -> None: ...

    def set_sink(self, sink: Sink) -> None:
        """Where events go from now on; events that came before any sink was set follow."""

    def open_output(self, pattern: str, *, light_channel: int | None = None) -> MidiOut: ...

    def stats(self) -> dict[str, dict[str, Any]]: ...

    def panic(self) -> None: ...

    def stop(self) -> None: ...

    def describe(self) -> dict[str, Any] | None: ...


Consumer = Callable[["np.ndarray", int], None]
"""A mic consumer: (samples, app-clock ns of the first), on the capture's worker thread."""


@runtime_checkable
class Mic(Protocol):
    """The microphone: ``prelude_play.audio.capture.Capture``, ``prelude_play.devices.null.NullMic``."""

    @property
    def rate(self) -> int: ...

    @property
    def backend(self) -> str: ...

    @property
    def notice(self) -> str | None: ...

    def add_consumer(self, fn: Consumer) -> None: ...

    def remove_consumer(self, fn: Consumer) -> None: ...

    def latest(self, n: int) -> tuple[np.ndarray, int]: ...

    def frame_to_ns(self, frame: int) -> int: ...

    def close(self) -> None: ...

    def describe(self) -> dict[str, Any] | None: ...


__all__ = ["AudioOut", "MidiIn", "MidiOut", "Mic", "Sink", "Consumer"]
