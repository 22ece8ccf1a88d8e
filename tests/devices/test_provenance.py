"""A session's provenance says which devices it ran on, from each device's typed ``describe()``:
with a real MIDI hub (virtual backend) it names the MIDI inputs that were open. (It used to call
``dev.inputs()`` on a hub whose ``inputs`` is a property, so the inputs were never recorded.)"""

from __future__ import annotations

from pathlib import Path

from prelude_play.clock import FakeClock
from prelude_play.midi.hub import MidiConfig, MidiHub
from prelude_play.midi.instruments import load_instruments
from prelude_play.midi.virtual import VirtualBackend
from prelude_play.shell.pilot import run_test
from tests.fakes import RecordingAudio, RecordingMidiOut

INSTRUMENTS = Path(__file__).resolve().parents[2] / "config" / "instruments.toml"


def virtual_hub(clock, *devices):
    backend = VirtualBackend(clock=clock)
    for name in devices:
        backend.add_device(name)
    hub = MidiHub(backend, clock=clock, instruments=load_instruments(INSTRUMENTS),
                  config=MidiConfig(backend="virtual", api="virtual", poll_interval_s=60))
    hub.start()  # opens both devices now; its events wait for the app's hit path (set_sink)
    return hub, backend


def test_a_sessions_provenance_names_its_midi_inputs(tmp_path):
    clock = FakeClock()
    hub, _ = virtual_hub(clock, "Keystation 49", "USB Drum Pad")
    with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), midi=hub, midi_out=RecordingMidiOut(),
                  client="c1", activity="free_play") as pilot:
        prov = pilot.app.store.sessions()[0]["provenance"]  # recorded when the session began
    assert prov["midi"]["inputs"] == ["Keystation 49", "USB Drum Pad"]
    assert prov["midi"]["hub"] == "MidiHub" and prov["midi"]["backend"] == "virtual"
    assert prov["realtime_core"] == {"audio": "python", "midi": "python", "links": []}
    assert prov["audio"] is None  # a test fake describes no device
    assert prov["mic"] is None  # nobody opened the microphone


def test_a_real_hub_feeds_the_hit_path_and_the_log(tmp_path):
    """Inline wiring end to end: the hub's device_added (emitted before the app existed) reaches
    the therapist's notices; a pad hit sounds from the activity's table on the hit path and is
    logged as sounded by the fast path."""
    clock = FakeClock()
    hub, backend = virtual_hub(clock, "USB Drum Pad")
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, midi=hub, client="c1", activity="free_play") as pilot:
        assert any("USB Drum Pad" in n for n in pilot.app.notices), pilot.app.notices
        backend.inject("USB Drum Pad", [0x99, 38, 100], t_ns=clock.now_ns())
        assert audio.names() == ["drum:38"] and audio.calls[0]["thread"] == "MainThread"
        pilot.step()
        pilot.app.store.flush()
        (hit,) = [e for e in pilot.app.store.events() if e.kind == "hit"]
        assert hit.data["sound"] == "drum:38" and hit.data["sounded_by_fast_path"]
