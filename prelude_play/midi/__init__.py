"""MIDI: ports and backends (rtmidi, virtual), the hub with its device watcher, instrument
maps, sensitivity filtering and output. Hardware libraries are imported only when a backend
that needs them is loaded."""

from prelude_play.midi.backend import Backend, load_backend
from prelude_play.midi.decode import MidiDecoder
from prelude_play.midi.devices import list_devices
from prelude_play.midi.hub import MidiConfig, MidiHub
from prelude_play.midi.instruments import (
    InstrumentMap,
    Resolution,
    Sensitivity,
    SensitivityFilter,
    load_instruments,
    parse_instruments,
)
from prelude_play.midi.output import MidiOutput
from prelude_play.midi.ports import MidiIn, MidiOut

__all__ = [
    "Backend", "InstrumentMap", "MidiConfig", "MidiDecoder", "MidiHub", "MidiIn", "MidiOut",
    "MidiOutput", "Resolution", "Sensitivity", "SensitivityFilter", "list_devices",
    "load_backend", "load_instruments", "parse_instruments",
]
