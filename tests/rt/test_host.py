"""The child's command handler and outbox, in-process with fakes: commands map to engine calls,
UI-side handles map to engine handles, the child's hit path sounds hits from the activity's
table, and the outbox batches events in order between other messages."""

from __future__ import annotations

import mido
import pytest

from prelude_play.config import AppConfig
from prelude_play.devices import NullAudio, NullMidiIn
from prelude_play.errors import PreludeError
from prelude_play.events import InputEvent
from prelude_play.rt.host import Outbox, RtHost, RtOptions


class FakeEngine(NullAudio):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []
        self.next_handle = 100

    def play(self, name, velocity, *, pan, at_ns, gain, loop):
        self.next_handle += 1
        self.calls.append(("play", name, velocity, at_ns, loop, self.next_handle))
        return self.next_handle

    def trigger(self, name, velocity=1.0, *, pan=0.0, at_ns=None, gain=1.0):
        self.calls.append(("trigger", name, round(velocity, 3), at_ns))

    def stop(self, handle, *, at_ns=None, ramp_ms=None):
        self.calls.append(("stop", handle, at_ns, ramp_ms))

    def all_off(self, *, at_ns=None, ramp_ms=None):
        self.calls.append(("all_off", at_ns, ramp_ms))


class FakeOut:
    def __init__(self) -> None:
        self.sent: list = []

    def send(self, msg):
        self.sent.append(msg)
        return True

    def note_on(self, note, velocity=80, channel=0):
        self.sent.append(("note_on", note, velocity, channel))
        return True


def host():
    sent: list = []
    cfg = AppConfig()
    cfg.audio.fast_path = "asap"
    h = RtHost(RtOptions(cfg=cfg), sent.append)
    h.attach(FakeEngine(), NullMidiIn())
    return h, sent


def test_handles_are_mapped_and_commands_reach_the_engine():
    h, _ = host()
    h.handle("play", (1, "drum:38", 0.5, 0.0, 123, 1.0, False))
    h.handle("play", (2, "keys:60", 0.7, 0.0, None, 1.0, True))
    h.handle("stop", (2, 5, 10.0))
    h.handle("stop", (2, 5, 10.0))  # twice, or a handle never played: nothing happens
    h.handle("stop", (99, None, None))
    h.handle("all_off", (None, 3.0))
    calls = h.engine.calls
    assert calls[0][:5] == ("play", "drum:38", 0.5, 123, False)
    assert calls[2] == ("stop", calls[1][5], 5, 10.0)  # UI handle 2 -> the engine's own handle
    assert calls[3:] == [("all_off", None, 3.0)]
    with pytest.raises(PreludeError):
        h.handle("no_such_op", ())


def test_hits_sound_from_the_table_only_while_an_activity_runs():
    h, sent = host()
    hit = InputEvent(5_000, "midi", "note_on", note=61, velocity=127, channel=0, data={"sound": "keys:61"})
    h.hits.sink(hit)
    assert h.engine.calls == [] and sent == [("event", hit)]  # no activity yet: silent, forwarded
    table = {"roles": {"*": {"notes": {61: "keys:60"}}, "therapist": {"default": None}}}
    h.handle("fast", (True, table))
    h.hits.sink(hit)
    assert h.engine.calls == [("trigger", "keys:60", 1.0, None)]
    assert sent[1][1].data["sounded"] == "keys:60" and "sounded" not in hit.data  # a new event, hit untouched
    assert sent[1][1].t_ns == hit.t_ns and sent[1][1].note == 61
    th = InputEvent(6_000, "midi", "note_on", note=61, velocity=90, role="therapist")
    pedal = InputEvent(7_000, "midi", "note_on", note=64, velocity=90, role="pedal", data={"sound": "x"})
    filtered = InputEvent(8_000, "midi", "note_on", note=61, velocity=5, data={"filtered": "below_threshold"})
    for ev in (th, pedal, filtered):
        h.hits.sink(ev)
    assert len(h.engine.calls) == 1 and h.status()["stats"]["fast_triggers"] == 1
    assert [m[1] for m in sent[2:]] == [th, pedal, filtered]  # every event reaches the UI


def test_midi_output_commands_travel_as_bytes():
    h, _ = host()
    out = FakeOut()
    h.outputs[0] = out
    msg = mido.Message("note_on", note=60, velocity=70, channel=2)
    assert h.handle("midi_out", (0, "send", (bytes(msg.bytes()),)))
    assert out.sent[0] == msg
    assert h.handle("midi_out", (0, "note_on", (62, 80, 0)))
    assert h.handle("midi_out", (7, "note_on", (62, 80, 0))) is False  # no such output
    with pytest.raises(PreludeError):
        h.handle("midi_out", (0, "close", ()))


class Pipe:
    def __init__(self) -> None:
        self.msgs: list = []

    def send(self, msg) -> None:
        self.msgs.append(msg)


def test_outbox_batches_events_in_order():
    pipe = Pipe()
    box = Outbox(pipe)
    a, b, c = (InputEvent(i, "midi", "note_on", note=i) for i in range(3))
    box.event(a)
    box.event(b)
    box.put(("reply", 1, True, None))
    box.event(c)
    box.flush()
    assert pipe.msgs == [("events", [a, b]), ("reply", 1, True, None), ("events", [c])]



def test_outbox_turns_an_unpicklable_reply_into_an_error():
    import multiprocessing

    r, w = multiprocessing.Pipe(duplex=False)
    box = Outbox(w)
    box.put(("reply", 2, True, lambda: None))
    box.flush()
    kind, rid, ok, err = r.recv()
    assert (kind, rid, ok) == ("reply", 2, False) and isinstance(err, PreludeError)
