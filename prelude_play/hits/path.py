"""The path from a MIDI hit to its sound, then to the app's queue: one object the shell holds.

The MIDI hub calls ``HitPath.sink`` ON THE MIDI THREAD for every event. A note-on that the
current activity's table (``hits.table``) gives a sound is played at once, straight into the
audio engine (``SteadyLatency`` keeps its latency constant), and only then is the event passed
on — a new event whose ``data["sounded"]`` names the sound, never the hub's event changed — to
the frame loop, which routes it to the activity and the log a frame later.

``set_activity`` tells the path which table applies (the shell calls it every frame; a change is
pushed at once). Where the rule runs depends on the devices:

* inline (devices in the app's process): here, in Python, on the MIDI thread;
* with the C core linked (``devices.build.link_native``): compiled per input device into the
  JACK MIDI callback, which sounds the hit itself; the event arrives with ``data["fast"]`` (what C
  played, "" for nothing) and the sink records it instead of playing it again;
* with the separate real-time process: a ``HitPath`` in the child does all of the above, and the
  app's side is ``rt.proxy.RemoteHits`` (same methods), which sends the table there.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from prelude_play.devices.protocols import AudioOut, MidiIn, Sink
from prelude_play.events import InputEvent
from prelude_play.hits.steady import SteadyLatency
from prelude_play.hits.table import SoundTable, sound_for, wants_sound

if TYPE_CHECKING:
    from prelude_play.devices.build import NativeLink
    from prelude_play.midi.instruments import Sensitivity

MAX_EARLY = 4096


@runtime_checkable
class Hits(Protocol):
    """What the shell asks of the hit path, wherever the rule runs (``HitPath``, ``RemoteHits``)."""

    def connect(self, forward: Sink) -> None:
        """Where events go after the sink (the app's input queue); earlier ones follow."""

    def sink(self, ev: InputEvent) -> InputEvent:
        """One MIDI event, on the MIDI thread: sound it if it is a hit, pass it on; returns the
        event passed on."""

    def set_activity(self, active: bool, table: SoundTable | None, sensitivity: Sensitivity) -> None:
        """The activity's table (``active`` False: no activity, hits are silent) and the client's
        sensitivity; cheap when nothing changed."""

    @property
    def delay_ms(self) -> float | None:
        """The steady latency the path settled on (None: none yet, or it runs elsewhere)."""


class HitPath:
    """The hit path with the devices in this process (the app's, or the real-time child's)."""

    def __init__(self, audio: AudioOut, midi: MidiIn, *, steady: bool = True,
                 native: NativeLink | None = None) -> None:
        self.audio = audio
        self.midi = midi
        self.native = native
        self.steady = SteadyLatency(audio, enabled=steady)
        self._rule: tuple[bool, SoundTable | None] = (False, None)  # replaced whole: the MIDI
        # thread reads the old pair or the new one, never a mix
        self._sent: tuple[bool, SoundTable | None, Sensitivity] | None = None
        self._lock = threading.Lock()
        self._forward: Sink | None = None
        self._early: list[InputEvent] = []
        self.triggers = 0
        self.errors = 0
        midi.set_sink(self.sink)

    @property
    def delay_ms(self) -> float | None:
        return self.steady.delay_ms

    # ---- the MIDI thread -------------------------------------------------------------------
    def sink(self, ev: InputEvent) -> InputEvent:
        out = self.play(ev)
        forward = self._forward
        if forward is None:
            with self._lock:
                forward = self._forward
                if forward is None:
                    self._early.append(out)
                    del self._early[:-MAX_EARLY]
                    return out
        forward(out)
        return out

    def play(self, ev: InputEvent) -> InputEvent:
        """Sound ``ev`` if the rule gives it a sound; the event to pass on (a new one when there
        is something to record, ``ev`` itself otherwise). Never raises: a failed sound is
        counted (``errors``) and the hit goes on silently."""
        fast = ev.data.get("fast")
        if fast is not None:  # the C callback had a table for this port and has decided
            data = {k: v for k, v in ev.data.items() if k != "fast"}
            if fast:
                data["sounded"] = fast
            return replace(ev, data=data)
        active, table = self._rule
        if not active or ev.source != "midi" or not wants_sound(ev):
            return ev
        try:
            sound = sound_for(table, ev)
            if not sound:
                return ev
            self.audio.trigger(sound, (ev.velocity or 100) / 127.0, at_ns=self.steady.at(ev.t_ns))
        except Exception:  # noqa: BLE001 - never let a sound error kill the MIDI thread
            self.errors += 1
            return ev
        self.triggers += 1
        return replace(ev, data={**ev.data, "sounded": sound})

    # ---- the frame loop ----------------------------------------------------------------------
    def connect(self, forward: Sink) -> None:
        with self._lock:
            early, self._early = self._early, []
            for ev in early:
                forward(ev)
            self._forward = forward

    def set_activity(self, active: bool, table: SoundTable | None, sensitivity: Sensitivity) -> None:
        sent = self._sent
        if sent is not None and sent[0] == active and sent[1] is table and sent[2] == sensitivity:
            return
        self._sent = (active, table, sensitivity)
        self._rule = (active, table)
        if self.native is not None:
            self._compile(active, table, sensitivity)

    def _compile(self, active: bool, table: SoundTable | None, sensitivity: Sensitivity) -> None:
        """The rule into the C MIDI callback, per input device (and each device plugged in later)."""
        from prelude_play.hits.compiled import compile_fast_table

        link = self.native
        assert link is not None
        if not active:
            link.hub.set_fast_path(None)
            return
        instruments, index = link.hub.instruments, link.sound_index

        def build(device: str) -> Any:
            return compile_fast_table(device, instruments=instruments, table=table, sensitivity=sensitivity,
                                      sound_index=index)

        link.hub.set_fast_path(build)


__all__ = ["Hits", "HitPath"]
