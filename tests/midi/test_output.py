"""MidiOutput and port base classes: checked sends, timed note-offs, lights, panic."""

import mido
import pytest

from prelude_play.clock import FakeClock
from prelude_play.errors import DeviceError
from prelude_play.midi.output import MidiOutput
from prelude_play.midi.virtual import VirtualBackend


@pytest.fixture
def setup():
    clock = FakeClock()
    backend = VirtualBackend(clock=clock)
    dev = backend.add_device("Keys")
    return clock, backend, dev


def test_port_send_checks_and_close_silences_once(setup):
    clock, backend, dev = setup
    port = backend.open_output("Keys")
    with pytest.raises(TypeError):
        port.send(b"\x90\x3c\x40")
    port.send(mido.Message("note_on", note=60, velocity=64, channel=3))
    port.close()
    port.close()
    assert dev.received[1] == mido.Message("note_off", note=60, velocity=0, channel=3)
    assert sum(1 for m in dev.received if m.type == "control_change" and m.control == 123) == 16
    with pytest.raises(ValueError):
        port.send(mido.Message("note_on"))


def test_unplugged_port_raises_device_error_which_is_an_oserror(setup):
    _, backend, _ = setup
    port = backend.open_output("Keys")
    backend.remove_device("Keys")
    with pytest.raises(DeviceError) as info:
        port.send(mido.Message("note_on"))
    assert isinstance(info.value, OSError)
    port.close()  # closing a dead port is quiet


def test_play_schedules_note_off(setup):
    clock, backend, dev = setup
    out = MidiOutput("Keys", backend.open_output("Keys"), clock=clock, background=False)
    out.play(64, velocity=70, duration_s=0.25)
    assert out.run_due() == 0
    clock.advance(ms=260)
    assert out.run_due() == 1
    assert [(m.type, m.note) for m in dev.received] == [("note_on", 64), ("note_off", 64)]
    out.close()


def test_lights_only_with_a_light_channel(setup):
    clock, backend, dev = setup
    plain = MidiOutput("Keys", backend.open_output("Keys"), clock=clock)
    assert plain.light(60) is False
    lit = MidiOutput("Keys", backend.open_output("Keys"), clock=clock, light_channel=15)
    assert lit.light(60) and lit.light(60, on=False)
    assert [(m.type, m.channel) for m in dev.received] == [("note_on", 15), ("note_off", 15)]


def test_panic_sends_pending_offs_explicit_offs_and_resets(setup):
    clock, backend, dev = setup
    out = MidiOutput("Keys", backend.open_output("Keys"), clock=clock)
    out.note_on(60, channel=1)
    out.play(62, duration_s=10)
    out.panic()
    offs = {(m.channel, m.note) for m in dev.received if m.type == "note_off"}
    assert offs == {(1, 60), (0, 62)}
    ccs = [(m.channel, m.control) for m in dev.received if m.type == "control_change"]
    assert {c for c in ccs if c[1] == 123} == {(ch, 123) for ch in range(16)}
    assert {c for c in ccs if c[1] == 121} == {(ch, 121) for ch in range(16)}
    clock.advance(ms=20_000)
    assert out.run_due() == 0  # nothing left to fire later


def test_scheduler_thread_sends_due_note_offs():
    import time

    from prelude_play.clock import MonotonicClock
    backend = VirtualBackend(clock=MonotonicClock())
    dev = backend.add_device("Keys")
    out = MidiOutput("Keys", backend.open_output("Keys"), clock=MonotonicClock())
    out.play(60, duration_s=0.02)
    deadline = time.monotonic() + 2
    while len(dev.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert [m.type for m in dev.received[:2]] == ["note_on", "note_off"]
    out.close()
    out.close()
