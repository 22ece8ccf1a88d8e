"""The devices behind typed seams, and where they come from.

``protocols``: ``AudioOut``, ``MidiIn``, ``MidiOut``, ``Mic`` — what the shell, the session, the
activities and the fast path may ask of a device. ``null``: their do-nothing stand-ins.
``build``: the real ones opened from config (audio engine, MIDI hub, microphone), and the C
audio core linked to the C MIDI callback. The concrete devices live in ``prelude_play.audio`` and
``prelude_play.midi``; in the separate real-time process, their proxies in ``prelude_play.rt``.

Only the seams are imported here (cheaply): ``build`` opens hardware and is imported by who uses it.
"""

from prelude_play.devices.null import NullAudio, NullMic, NullMidiIn, NullMidiOut, is_stand_in
from prelude_play.devices.protocols import AudioOut, Mic, MidiIn, MidiOut, Sink

__all__ = ["AudioOut", "MidiIn", "MidiOut", "Mic", "Sink", "NullAudio", "NullMidiIn", "NullMidiOut", "NullMic",
           "is_stand_in"]
