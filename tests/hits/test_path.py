"""The hit path on its own: a hit sounds from the table on the calling (MIDI) thread, the event
passed on is a new one saying what sounded (the hub's frozen event is never written), events
wait for the app's queue, what the C core played is recorded instead of played again, and a
table change reaches the C core's compiled tables, only when it changes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from prelude_play.devices import NullMidiIn
from prelude_play.events import InputEvent
from prelude_play.hits import HitPath
from prelude_play.midi.instruments import Sensitivity, load_instruments
from tests.fakes import RecordingAudio

INSTRUMENTS = Path(__file__).resolve().parents[2] / "config" / "instruments.toml"
TABLE = {"roles": {"*": {"notes": {61: "keys:60"}}, "therapist": {"default": None}}}


def hit(note=61, **kw):
    kw.setdefault("data", {"sound": f"keys:{note}"})
    return InputEvent(5_000, "midi", "note_on", device="Keys", note=note, velocity=127, channel=0, **kw)


def path(**kw):
    audio = RecordingAudio()
    hits = HitPath(audio, NullMidiIn(), steady=False, **kw)
    got: list = []
    hits.connect(got.append)
    return hits, audio, got


def test_a_hit_sounds_on_the_calling_thread_and_a_new_event_is_passed_on():
    hits, audio, got = path()
    hits.set_activity(True, TABLE, Sensitivity())
    ev = hit()
    out: list = []
    t = threading.Thread(target=lambda: out.append(hits.sink(ev)), name="midi-thread")
    t.start(); t.join()
    assert audio.calls == [{"name": "keys:60", "velocity": 1.0, "at_ns": None, "thread": "midi-thread"}]
    assert got == out and out[0] is not ev
    assert out[0].data == {"sound": "keys:61", "sounded": "keys:60"} and ev.data == {"sound": "keys:61"}
    assert (out[0].t_ns, out[0].note, out[0].role) == (ev.t_ns, ev.note, ev.role)
    assert hits.triggers == 1


def test_no_activity_pedal_and_filtered_hits_are_silent_and_passed_on_unchanged():
    hits, audio, got = path()
    evs = [hit()]
    hits.sink(evs[0])  # no activity yet
    hits.set_activity(True, TABLE, Sensitivity())
    evs += [hit(role="therapist"), hit(role="pedal"), hit(data={"sound": "keys:61", "filtered": "tremor"}),
            InputEvent(1, "system", "device_added", device="Keys")]
    for ev in evs[1:]:
        hits.sink(ev)
    assert audio.calls == [] and got == evs and all(a is b for a, b in zip(got, evs))
    hits.set_activity(False, TABLE, Sensitivity())
    hits.sink(hit())
    assert audio.calls == []


def test_events_wait_for_the_queue_and_follow_in_order():
    audio = RecordingAudio()
    hits = HitPath(audio, NullMidiIn(), steady=False)
    hits.set_activity(True, TABLE, Sensitivity())
    first, second = hits.sink(hit()), hits.sink(hit(note=62))
    assert audio.names() == ["keys:60", "keys:62"]  # the sound never waits for the app
    got: list = []
    hits.connect(got.append)
    third = hits.sink(hit(note=64))
    assert got == [first, second, third]


def test_what_the_c_core_played_is_recorded_not_played_again():
    hits, audio, got = path()
    hits.set_activity(True, TABLE, Sensitivity())
    played = hit(data={"sound": "keys:61", "fast": "keys:60"})
    silent = hit(data={"sound": "keys:61", "fast": ""})
    assert hits.sink(played).data == {"sound": "keys:61", "sounded": "keys:60"}
    assert hits.sink(silent).data == {"sound": "keys:61"}
    assert audio.calls == [] and played.data["fast"] == "keys:60"


def test_a_failing_sound_is_counted_and_the_hit_goes_on_silently():
    class Broken(RecordingAudio):
        def trigger(self, *a, **kw):
            raise KeyError("no such sound")

    hits = HitPath(Broken(), NullMidiIn(), steady=False)
    got: list = []
    hits.connect(got.append)
    hits.set_activity(True, TABLE, Sensitivity())
    ev = hit()
    assert hits.sink(ev) is ev and got == [ev] and hits.errors == 1 and hits.triggers == 0


@dataclass
class FakeHub:
    """What a NativeLink's hub offers the hit path: the instrument map and the C tables' setter."""

    instruments: object = field(default_factory=lambda: load_instruments(INSTRUMENTS))
    builders: list = field(default_factory=list)

    def set_fast_path(self, builder):
        self.builders.append(builder)


def test_the_c_core_gets_each_change_compiled_per_device_and_nothing_else():
    from prelude_play.devices.build import NativeLink

    hub = FakeHub()
    names: dict[str, int] = {}
    link = NativeLink(hub, lambda name: names.setdefault(name, len(names)), 0, ())  # type: ignore[arg-type]
    hits, _, _ = path(native=link)
    sens = Sensitivity(min_velocity=30)
    hits.set_activity(True, TABLE, sens)
    hits.set_activity(True, TABLE, sens)  # every frame: nothing changed, nothing pushed
    assert len(hub.builders) == 1
    fast = hub.builders[0]("Keystation 49")
    assert fast.min_velocity == 30 and fast.names[int(fast.sounds[61])] == "keys:60"
    hits.set_activity(True, TABLE, Sensitivity(min_velocity=40))  # a new client's sensitivity
    hits.set_activity(True, dict(TABLE), Sensitivity(min_velocity=40))  # a new table object
    hits.set_activity(False, None, Sensitivity(min_velocity=40))  # the activity stopped
    assert len(hub.builders) == 4 and hub.builders[-1] is None
