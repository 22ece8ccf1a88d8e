"""The hub opens devices by itself, stamps events with the callback time, survives floods and
garbage, and follows devices unplugged and plugged back."""

import tracemalloc

from prelude_play.midi.instruments import Sensitivity


def test_opens_every_input_but_own_and_excluded_ports(make_hub, backend, sink):
    backend.add_device("USB Drum Pad")
    backend.add_device("Keystation 49")
    backend.add_device("prelude-play:out")  # the app's own virtual port
    backend.add_device("Midi Through:Midi Through Port-0")
    hub = make_hub()
    hub.poll()
    assert hub.inputs == ["Keystation 49", "USB Drum Pad"]
    added = sink.of("system", "device_added")
    assert sorted(e.device for e in added) == ["Keystation 49", "USB Drum Pad"]
    assert all(e.data["direction"] == "in" and e.data["reopened"] is False for e in added)


def test_include_patterns_limit_devices(make_hub, backend):
    backend.add_device("USB Drum Pad")
    backend.add_device("Keystation 49")
    hub = make_hub(include=("*drum*",))
    hub.poll()
    assert hub.inputs == ["USB Drum Pad"]


def test_timestamps_come_from_the_callback_not_from_later(make_hub, backend, clock, sink):
    backend.add_device("Pad")
    hub = make_hub()
    hub.poll()
    t_hit = clock.now_ns() + 5_000_000
    clock.advance(ms=50)  # the frame loop gets round to it much later
    backend.inject("Pad", [0x99, 38, 100], t_ns=t_hit)
    (ev,) = sink.of("midi")
    assert ev.t_ns == t_hit
    assert (ev.kind, ev.note, ev.velocity, ev.channel) == ("note_on", 38, 100, 9)
    assert ev.role == "client" and ev.data["sound"] == "drum:38" and ev.data["label"] == "snare"


def test_velocity_zero_is_note_off_and_running_status(make_hub, backend, sink):
    backend.add_device("Keys")
    hub = make_hub()
    hub.poll()
    backend.inject("Keys", [0x90, 60, 80, 64, 70, 60, 0])
    kinds = [(e.kind, e.note) for e in sink.of("midi")]
    assert kinds == [("note_on", 60), ("note_on", 64), ("note_off", 60)]
    assert sink.of("midi")[0].data["sound"] == "keys:60"
    assert hub.stats()["Keys"]["held"] == 1


def test_pedal_cc_and_other_messages_attributed(make_hub, backend, sink):
    backend.add_device("Therapist Keys")
    hub = make_hub()
    hub.poll()
    backend.inject("Therapist Keys", [0xB0, 64, 127, 0xE0, 0, 0x40, 0x90, 62, 90])
    cc, bend, note = sink.of("midi")
    # no [pedal] in the shipped map: a keyboard's own sustain pedal is that keyboard's
    assert (cc.kind, cc.control, cc.value, cc.role) == ("control_change", 64, 127, "therapist")
    assert (bend.kind, bend.value, bend.role) == ("pitchwheel", 0, "therapist")
    assert note.role == "therapist"


def test_flood_is_capped_per_device_and_note_offs_still_pass(make_hub, backend, clock, sink):
    backend.add_device("Pad")
    hub = make_hub(max_notes_per_s=1000, notes_burst=50)
    hub.poll()
    t = clock.now_ns()
    backend.inject("Pad", [0x99, 36, 100], t_ns=t)
    for i in range(10_000):  # 10 000 note-ons within 100 ms
        backend.inject("Pad", [0x99, 40 + i % 10, 100], t_ns=t + i * 10_000)
    backend.inject("Pad", [0x89, 36, 0], t_ns=t + 100_000_000)
    on = [e for e in sink.of("midi", "note_on") if not e.data.get("filtered")]
    assert 50 <= len(on) <= 50 + 1000 * 0.1 + 2  # burst + rate × 100 ms
    assert hub.stats()["Pad"]["rate_dropped"] == 10_001 - len(on)
    assert sink.of("midi", "note_off")[-1].note == 36


def test_clock_and_sysex_floods_never_reach_the_sink_nor_grow_memory(make_hub, backend, sink):
    backend.add_device("Clocky")
    hub = make_hub()
    hub.poll()
    backend.inject("Clocky", [0xF8] * 1000)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(2000):
        backend.inject("Clocky", [0xF8] * 24 + [0xFE] + [0xF0] + [0x11] * 500)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert sink.of("midi") == []
    assert grown < 200_000
    assert hub.stats()["Clocky"]["ignored"] >= 2000 * 25


def test_garbage_and_a_failing_sink_never_raise_into_the_midi_thread(make_hub, backend, clock):
    backend.add_device("Broken")
    calls = []

    def bad_sink(event):
        calls.append(event)
        raise RuntimeError("sink bug")

    hub = make_hub()
    hub._sink = bad_sink
    hub.poll()
    backend.inject("Broken", [0x00, 0xFD, 0xF4, 0x90, 200, 0x90, 60, 100, 0xF7, 0x85])
    assert [e.kind for e in calls if e.source == "midi"] == ["note_on"]
    assert hub.sink_errors >= 1


def test_unplug_releases_stuck_notes_and_replug_reopens(make_hub, backend, sink):
    backend.add_device("Keys")
    out_dev = backend.add_device("Synth", input=False)
    hub = make_hub()
    hub.poll()
    synth = hub.open_output("Synth")
    synth.note_on(72)
    backend.inject("Keys", [0x90, 60, 80, 0x90, 67, 80, 0x90, 67, 0])
    backend.remove_device("Keys")
    sink.events.clear()
    events = hub.poll()  # the watcher's next poll, driven explicitly
    assert [(e.kind, e.device) for e in events] == [("device_removed", "Keys")]
    offs = sink.of("midi", "note_off")
    assert [(e.note, e.data["synthetic"], e.data["reason"]) for e in offs] == [(60, True, "device_removed")]
    sent = [m for m in out_dev.received if m.type in ("note_off", "control_change")]
    assert any(m.type == "note_off" and m.note == 72 for m in sent)
    assert {m.channel for m in sent if m.type == "control_change" and m.control == 123} == set(range(16))
    assert hub.inputs == []

    backend.add_device("Keys")
    events = hub.poll()
    assert [(e.kind, e.device, e.data["reopened"]) for e in events] == [("device_added", "Keys", True)]
    sink.events.clear()
    backend.inject("Keys", [0x90, 61, 80])
    assert [e.note for e in sink.of("midi")] == [61]


def test_watcher_thread_polls_by_itself(make_hub, backend, sink):
    import time
    hub = make_hub(poll_interval_s=0.02)
    hub.start()
    backend.add_device("Late Pad")
    deadline = time.monotonic() + 2
    while "Late Pad" not in hub.inputs and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "Late Pad" in hub.inputs
    hub.stop()
    hub.stop()  # safe twice


def test_listing_failure_is_reported_once_and_recovers(make_hub, backend, sink):
    backend.add_device("Keys")
    hub = make_hub()
    hub.poll()
    backend.fail_listing = OSError("server gone")
    first, second = hub.poll(), hub.poll()
    assert [e.kind for e in first] == ["device_error", "device_removed"]
    assert second == []
    backend.fail_listing = None
    assert [e.kind for e in hub.poll()] == ["device_added"]


def test_sensitivity_marks_but_never_drops(make_hub, backend, clock, sink):
    backend.add_device("Pad")
    hub = make_hub(sensitivity=Sensitivity(min_velocity=30, tremor_ms=80))
    hub.poll()
    t = clock.now_ns()
    for dt_ms, vel in [(0, 100), (30, 100), (60, 100), (300, 20), (600, 90), (601, 90)]:
        backend.inject("Pad", [0x99, 38, vel], t_ns=t + dt_ms * 1_000_000)
    on = sink.of("midi", "note_on")
    assert [e.data.get("filtered") for e in on] == [None, "tremor", "tremor", "below_threshold", None, "tremor"]
    hub.set_sensitivity(Sensitivity())
    backend.inject("Pad", [0x99, 38, 20], t_ns=t + 2_000_000_000)
    assert sink.of("midi", "note_on")[-1].data.get("filtered") is None


def test_therapist_hits_are_never_filtered(make_hub, backend, clock, sink):
    backend.add_device("Therapist Drum")
    hub = make_hub(sensitivity=Sensitivity(min_velocity=100, tremor_ms=500))
    hub.poll()
    backend.inject("Therapist Drum", [0x90, 38, 10, 0x90, 38, 10])
    assert [e.data.get("filtered") for e in sink.of("midi", "note_on")] == [None, None]


def test_output_survives_unplug_and_is_reattached(make_hub, backend, sink):
    dev = backend.add_device("Synth", input=False)
    hub = make_hub()
    out = hub.open_output("synth")
    assert out.connected and out.note_on(60)
    backend.remove_device("Synth")
    assert out.note_on(62) is False  # device gone: dropped, not raised
    events = hub.poll()
    assert [(e.kind, e.data["direction"]) for e in events] == [("device_removed", "out")]
    dev2 = backend.add_device("Synth", input=False)
    assert [(e.kind, e.data["direction"]) for e in hub.poll()] == [("device_added", "out")]
    assert out.note_on(64)
    assert [m.note for m in dev2.received if m.type == "note_on"] == [64]
    assert [m.note for m in dev.received if m.type == "note_on"] == [60]


def test_events_before_a_sink_is_set_wait_and_follow_in_order(backend, clock, sink):
    """build_midi starts the hub before the app's hit path exists: the first device_added and
    anything played meanwhile are kept (bounded) and delivered, in order, by set_sink."""
    from prelude_play.midi.hub import MidiConfig, MidiHub

    backend.add_device("Pad")
    hub = MidiHub(backend, clock=clock, config=MidiConfig(backend="virtual"))
    try:
        hub.poll()
        backend.inject("Pad", [0x99, 38, 100], t_ns=clock.now_ns())
        assert sink.events == []
        hub.set_sink(sink)
        assert [(e.source, e.kind) for e in sink.events] == [("system", "device_added"), ("midi", "note_on")]
        backend.inject("Pad", [0x89, 38, 0], t_ns=clock.now_ns())
        assert sink.events[-1].kind == "note_off"  # straight through from now on
    finally:
        hub.stop()


def test_describe_and_core_for_provenance(make_hub, backend):
    backend.add_device("Keystation 49")
    hub = make_hub()
    hub.poll()
    hub.open_output("Keystation*")
    d = hub.describe()
    assert d["inputs"] == ["Keystation 49"] and d["outputs"] == ["Keystation 49"] and d["backend"] == "virtual"
    assert hub.core == "python" and hub.fast_backend is None  # the virtual backend has no C fast path
    assert hub.sensitivity == hub.filter.sensitivity
