from pathlib import Path

import pytest

from prelude_play.clock import FakeClock
from prelude_play.midi.hub import MidiConfig, MidiHub
from prelude_play.midi.instruments import load_instruments
from prelude_play.midi.virtual import VirtualBackend

INSTRUMENTS = Path(__file__).resolve().parents[2] / "config" / "instruments.toml"


class Recorder:
    """A sink that records, as the shell's fast-path sink would receive events."""

    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append(event)

    def of(self, source=None, kind=None):
        return [e for e in self.events
                if (source is None or e.source == source) and (kind is None or e.kind == kind)]


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def backend(clock):
    return VirtualBackend(clock=clock)


@pytest.fixture
def sink():
    return Recorder()


@pytest.fixture
def make_hub(backend, clock, sink):
    hubs = []

    def make(**cfg):
        instruments = cfg.pop("instruments", load_instruments(INSTRUMENTS))
        sensitivity = cfg.pop("sensitivity", None)
        hub = MidiHub(backend, clock=clock, sink=sink, config=MidiConfig(backend="virtual", **cfg),
                      instruments=instruments, sensitivity=sensitivity)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.stop()
