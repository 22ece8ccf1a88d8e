"""What every audio output backend provides to the engine.

A backend owns the device and its thread; it calls ``render(out, frames, dac_ns, xrun)`` once
per period with a float32 ``(frames, channels)`` buffer to fill. ``dac_ns`` is the app-clock
time at which ``out[0]`` reaches the listener as best the backend can tell (``None`` if it cannot
tell); the engine smooths it into a frame ↔ ns map. ``xrun`` is True when the device reported an
underflow before this period.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

RenderFn = Callable[[np.ndarray, int, "int | None", bool], None]
LostFn = Callable[[str], None]


class AudioBackend(Protocol):
    name: str
    rate: int
    period_frames: int
    channels: int
    #: seconds from the start of a callback to its first sample reaching the DAC
    output_latency_s: float
    #: True when dac_ns is exact (virtual time): the engine anchors instead of filtering
    exact_clock: bool
    #: True when the stream runs on a JACK server (PortAudio's JACK host API): the C mixer can
    #: then time its blocks on the JACK MIDI client's frame clock (devices.build.link_native)
    on_jack: bool
    #: why the device stopped on its own (vanished, server died), else None
    lost: str | None

    def start(self, render: RenderFn, on_lost: LostFn) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


@runtime_checkable
class NativeStartBackend(Protocol):
    """A backend whose real-time thread can call the C mixer directly (``ppcore.c:
    pp_pa_callback``), so no Python runs there: PortAudio through sounddevice. The others call
    the engine's render function."""

    def start_native(self, mixer: Any, on_lost: LostFn) -> None: ...


@runtime_checkable
class IdleBackend(Protocol):
    """A backend with no sound card to feed (``null``): while nothing sounds it need not wake
    every period. The engine tells it when it is idle and calls ``catch_up`` before posting a
    command (the blocks that time has passed are rendered first, so the command lands in the next
    block exactly as on a device), then ``wake``."""

    is_idle: Callable[[], bool] | None

    def catch_up(self) -> None: ...
    def wake(self) -> None: ...
