"""Scarf moves player: notes to the synth (handles or plain triggers) and to a MIDI keyboard."""

from __future__ import annotations

from dataclasses import dataclass, field

from prelude_play.activities.scarf_moves.music import Note
from prelude_play.activities.scarf_moves.player import Player
from tests.fakes import RecordingMidiOut

MS = 1_000_000


@dataclass
class HandleEngine:
    """Fake of the engine's handle API: play → handle, stop(handle, at_ns, ramp_ms)."""

    plays: list = field(default_factory=list)
    stops: list = field(default_factory=list)
    output_latency_s: float = 0.02
    period_frames: int = 128
    rate: int = 48000

    def play(self, name, velocity=1.0, *, pan=0.0, at_ns=None, gain=1.0, loop=False):
        self.plays.append((name, velocity, at_ns))
        return len(self.plays)

    def stop(self, handle, *, at_ns=None, ramp_ms=None):
        self.stops.append((handle, at_ns, ramp_ms))


@dataclass
class TriggerEngine:
    calls: list = field(default_factory=list)
    offs: list = field(default_factory=list)

    def trigger(self, name, velocity=1.0, *, pan=0.0, at_ns=None, gain=1.0):
        self.calls.append((name, at_ns))

    def all_off(self, *, at_ns=None, ramp_ms=None):
        self.offs.append((at_ns, ramp_ms))


def notes(t0: int) -> list[Note]:
    return [Note(t0, "keys:60", 0.5, 60, 0, 200 * MS, "melody"),
            Note(t0, "drum:36", 0.5, 36, 9, 100 * MS, "drum"),
            Note(t0 + 300 * MS, "keys:64", 0.5, 64, 0, 200 * MS, "melody")]


def test_freeze_stops_exactly_our_voices_with_the_ramp():
    eng = HandleEngine()
    p = Player(audio=eng, ramp_ms=8)
    p.send(notes(1_000 * MS))
    assert [pl[2] for pl in eng.plays] == [1_000 * MS, 1_000 * MS, 1_300 * MS]
    # melody notes get a ramped note-off at their length; drums ring out
    assert {s[0] for s in eng.stops} == {1, 3}
    eng.stops.clear()
    p.stop_at(1_150 * MS)
    assert sorted(eng.stops) == [(1, 1_150 * MS, 8), (2, 1_150 * MS, 8), (3, 1_150 * MS, 8)]
    # the lead covers output latency + ramp + two periods
    assert p.lead_ns(10 * MS) >= 20 * MS + 8 * MS


def test_trigger_only_engine_gets_a_timed_all_off():
    eng = TriggerEngine()
    p = Player(audio=eng)
    p.send(notes(0))
    assert [c[1] for c in eng.calls] == [0, 0, 300 * MS]
    p.stop_at(50 * MS)
    assert eng.offs == [(50 * MS, 8.0)]


def test_midi_notes_are_sent_when_due_and_a_freeze_drops_the_rest():
    out = RecordingMidiOut()
    p = Player(midi_out=out, use_synth=False, use_midi=True)
    p.send(notes(1_000 * MS))
    p.update(999 * MS)
    assert out.sent == []
    p.update(1_000 * MS)
    assert [(m.type, m.note, m.channel) for m in out.sent] == [("note_on", 60, 0), ("note_on", 36, 9)]
    p.stop_at(1_050 * MS)
    p.update(1_049 * MS)
    assert len(out.sent) == 2
    p.update(2_000 * MS)
    later = out.sent[2:]
    assert {(m.type, m.note) for m in later} == {("note_off", 60), ("note_off", 36)}
    assert not any(m.type == "note_on" and m.note == 64 for m in out.sent)  # after the stop: never sent


def test_midi_output_through_the_activity(tmp_path):
    """output = "midi": the generator's notes reach the therapist's keyboard, the synth is silent."""
    from prelude_play.shell.pilot import run_test
    from tests.fakes import RecordingAudio

    audio, out = RecordingAudio(), RecordingMidiOut()
    with run_test(data_dir=tmp_path, audio=audio, midi_out=out, client="ari") as pilot:
        pilot.app.store.set_client_profile("ari", {"activities": {"scarf_moves": {"mode": "live", "output": "midi"}}})
        pilot.app.start_activity("scarf_moves")
        pilot.wait(1500)
        ons = [m for m in out.sent if m.type == "note_on"]
        assert ons and {m.channel for m in ons} == {0, 9}
        assert audio.calls == []
        pilot.press("space")  # freeze: every sounding note gets its note-off
        pilot.wait(300)
        sounding = set()
        for m in out.sent:
            key = (m.channel, m.note)
            if m.type == "note_on":
                sounding.add(key)
            elif m.type == "note_off":
                sounding.discard(key)
        assert not sounding
