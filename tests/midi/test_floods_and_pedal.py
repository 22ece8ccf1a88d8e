"""Issue 14, item 6: nothing a client plays is dropped without a trace, and the scoring pedal is
one named device — never any keyboard's CC64.

The app-level tests run the whole headless app on a real MidiHub over the virtual backend: bytes
go in where a MIDI cable's would, and what counts is what the event store logged.
"""

from __future__ import annotations

from prelude_play.clock import FakeClock
from prelude_play.events import InputEvent
from prelude_play.input.queue import InputQueue
from prelude_play.midi.hub import MidiConfig, MidiHub
from prelude_play.midi.instruments import load_instruments, parse_instruments
from prelude_play.midi.virtual import VirtualBackend
from prelude_play.shell.pilot import run_test
from tests.midi.conftest import INSTRUMENTS

MS = 1_000_000
PAD, FLOOD = "USB Drum Pad", "Cheap Keys"
FOOT = "FS-1 Footswitch"
WITH_PEDAL = INSTRUMENTS.read_text(encoding="utf-8") + f'\n[pedal]\ndevice = "{FOOT}*"\ncontrol = 64\n'


def logged(pilot, kind=None):
    return [e for e in pilot.app.store.events() if kind is None or e.kind == kind]


def hub_for(clock: FakeClock, backend: VirtualBackend, instruments=None) -> MidiHub:
    return MidiHub(backend, clock=clock, config=MidiConfig(backend="virtual"),
                   instruments=instruments or load_instruments(INSTRUMENTS))


# ---- the hub alone ------------------------------------------------------------------------------

def test_a_flood_is_counted_in_periodic_summaries_never_a_row_per_message(make_hub, backend, clock, sink):
    backend.add_device(FLOOD)
    hub = make_hub()
    hub.poll()
    t0 = clock.now_ns()
    n = 120_000  # 10 000 note-ons a second for 12 s
    for i in range(n):
        backend.inject(FLOOD, [0x90, 36 + i % 48, 100], t_ns=t0 + i * 100_000)
    hub.flush_floods(now_ns=t0 + 14_000 * MS)
    played = [e for e in sink.of("midi", "note_on") if not e.data.get("filtered")]
    traced = [e for e in sink.of("midi", "note_on") if e.data.get("filtered") == "flood"]
    floods = sink.of("system", "flood")
    cfg = MidiConfig()
    assert len(played) <= cfg.notes_burst + cfg.max_notes_per_s * 12 + 1
    assert len(traced) == cfg.flood_trace  # the first refused hits are passed on, marked, silent
    # every message is accounted for: played, passed on as filtered, or counted in a summary
    assert len(played) + len(traced) + sum(f.data["dropped"] for f in floods) == n
    assert 2 <= len(floods) <= 12 / cfg.flood_report_s + 2  # periodic, then one when it stopped
    assert [f.data["ended"] for f in floods] == [False] * (len(floods) - 1) + [True]
    assert floods[-1].data["flood_total"] == n - len(played)
    assert all(f.device == FLOOD and "MIDI flood from Cheap Keys" in f.data["message"] for f in floods)
    assert hub.stats()[FLOOD]["rate_dropped"] == n - len(played)


def test_a_device_unplugged_mid_flood_still_reports_it(make_hub, backend, clock, sink):
    backend.add_device(FLOOD)
    hub = make_hub()
    hub.poll()
    t0 = clock.now_ns()
    for i in range(1_000):
        backend.inject(FLOOD, [0x90, 60, 100], t_ns=t0 + i * 10_000)
    backend.remove_device(FLOOD)
    hub.poll()
    (flood,) = sink.of("system", "flood")
    assert flood.data["ended"] and flood.data["flood_total"] == hub_refused(sink)


def hub_refused(sink) -> int:
    played = [e for e in sink.of("midi", "note_on") if not e.data.get("filtered")]
    return 1_000 - len(played)


def test_one_devices_flood_costs_another_device_nothing(make_hub, backend, clock, sink):
    backend.add_device(FLOOD)
    backend.add_device(PAD)
    hub = make_hub()
    hub.poll()
    t0 = clock.now_ns()
    real = []
    for i in range(10_000):  # 1 s at 10 000 notes/s, and a pad hit every 50 ms
        t = t0 + i * 100_000
        backend.inject(FLOOD, [0x90, 60, 100, 0x80, 60, 0], t_ns=t)
        if i % 500 == 0:
            backend.inject(PAD, [0x99, 38, 90], t_ns=t)
            real.append(t)
    pad = [e for e in sink.of("midi", "note_on") if e.device == PAD]
    assert [e.t_ns for e in pad] == real and not any(e.data.get("filtered") for e in pad)
    assert hub.stats()[PAD]["rate_dropped"] == 0


def test_a_pressure_stream_never_costs_a_note(make_hub, backend, clock, sink):
    backend.add_device("Keystation 49")
    hub = make_hub()
    hub.poll()
    t0 = clock.now_ns()
    for i in range(5_000):  # channel pressure at 5 000/s (a sticky key), a note every 100 ms
        backend.inject("Keystation 49", [0xD0, i % 128], t_ns=t0 + i * 200_000)
        if i % 500 == 0:
            backend.inject("Keystation 49", [0x90, 60 + i // 500, 80], t_ns=t0 + i * 200_000)
    notes = [e for e in sink.of("midi", "note_on") if not e.data.get("filtered")]
    assert len(notes) == 10


def test_the_input_queue_reports_what_it_could_not_take():
    q = InputQueue(maxsize=10)
    for i in range(25):
        q.put(InputEvent(i * MS, "midi", "note_on", device="Cheap Keys" if i % 5 else "Pad", note=60))
    out = q.drain()
    report, rest = out[0], out[1:]
    assert len(rest) == 10 and q.dropped == 15
    assert (report.source, report.kind, report.device) == ("system", "flood", "Cheap Keys")
    assert report.data["dropped"] == 15 and report.data["where"] == "input_queue"
    assert report.data["devices"] == {"Cheap Keys": 12, "Pad": 3}
    assert q.drain() == []  # reported once


# ---- the whole app: what the store holds ---------------------------------------------------------

def test_a_10k_notes_per_s_flood_while_a_client_pad_plays_every_real_hit_logged(tmp_path):
    clock = FakeClock()
    backend = VirtualBackend(clock=clock)
    backend.add_device(FLOOD)
    backend.add_device(PAD)
    hub = hub_for(clock, backend)
    hub.poll()
    with run_test(data_dir=tmp_path, clock=clock, midi=hub, client="ari", activity="free_play") as pilot:
        real = 0
        for ms in range(2_000):  # 2 s: 10 flood notes every 0.1 ms, a frame every ms
            t = clock.now_ns()
            for k in range(10):
                backend.inject(FLOOD, [0x90, 40 + k, 100, 0x80, 40 + k, 0], t_ns=t + k * 100_000)
            if ms % 100 == 50:  # the client's pad, 20 hits
                backend.inject(PAD, [0x99, 38, 90, 0x89, 38, 0], t_ns=t + 50_000)
                real += 1
            pilot.step(frame_ms=1)
        pilot.wait(1_500)
        hub.flush_floods()
        pilot.step()
        hits = logged(pilot, "hit")
        pad_hits = [e for e in hits if e.device == PAD]
        assert len(pad_hits) == real == 20  # every real hit logged
        flood_hits = [e for e in hits if e.device == FLOOD]
        floods = [e for e in logged(pilot, "flood") if e.device == FLOOD]
        filtered = [e for e in logged(pilot, "filtered_hit") if e.device == FLOOD]
        assert floods and floods[-1].data["ended"]
        assert all(f.data["dropped"] > 0 or f.data["ended"] for f in floods)
        assert [f.data["reason"] for f in filtered] == ["flood"] * MidiConfig().flood_trace
        # the flood is accounted for: 20 000 note-ons = logged hits + filtered + counted
        counted = sum(f.data["by_kind"].get("note_on", 0) for f in floods)
        assert len(flood_hits) + len(filtered) + counted == 20_000
        assert len(flood_hits) <= MidiConfig().notes_burst + 2 * MidiConfig().max_notes_per_s
        assert pilot.app.queue.dropped == 0  # the limits keep the frame loop's queue from overflowing


def test_a_client_keyboards_sustain_pedal_never_scores_the_configured_pedal_does(tmp_path):
    clock = FakeClock()
    backend = VirtualBackend(clock=clock)
    for d in ("Keystation 49", FOOT, "Garbage Box"):
        backend.add_device(d)
    hub = hub_for(clock, backend, parse_instruments(WITH_PEDAL, INSTRUMENTS))
    hub.poll()
    with run_test(data_dir=tmp_path, clock=clock, midi=hub, client="ari", activity="free_play") as pilot:
        for device in ("Keystation 49", "Garbage Box"):  # sustain pedal down/up, and garbage CC64s
            for _ in range(11):
                backend.inject(device, [0xB0, 64, 127], t_ns=clock.now_ns())
                pilot.wait(50)
                backend.inject(device, [0xB0, 64, 0], t_ns=clock.now_ns())
                pilot.wait(500)
        assert logged(pilot, "score") == []
        backend.inject(FOOT, [0xB0, 64, 127], t_ns=clock.now_ns())  # the therapist's foot: a tap
        pilot.wait(50)
        backend.inject(FOOT, [0xB0, 64, 0], t_ns=clock.now_ns())
        pilot.wait(500)
        scores = logged(pilot, "score")
        # (a tap known by its double-tap window running out is logged from the frame loop as "pedal")
        assert [(s.outcome, s.prompt, s.source) for s in scores] == [("success", "independent", "midi")]


def test_the_shipped_map_has_no_pedal_and_a_wildcard_pedal_is_refused():
    import pytest

    from prelude_play.errors import ConfigError

    shipped = load_instruments(INSTRUMENTS)
    assert shipped.pedal is None
    assert {shipped.resolve(d, 0, 64, kind="cc").role for d in ("Keystation 49", "FS-1", "x")} == {"client"}
    for device in ('"*"', '"**"', '"?*"', '" * "'):
        with pytest.raises(ConfigError, match="does not name one device"):
            parse_instruments(f"[pedal]\ndevice = {device}\n")
    with pytest.raises(ConfigError, match=r"\[pedal\]"):
        parse_instruments('[[rule]]\ndevice = "*"\ncontrol = 64\nrole = "pedal"\n')
    m = parse_instruments('[pedal]\ndevice = "FS-3*"\ncontrols = [64, 65]\nnote = 36\n')
    assert m.resolve("FS-3 pedal", 0, 65, kind="cc").role == "pedal"
    assert m.resolve("FS-3 pedal", 0, 36).role == "pedal"
    assert m.resolve("FS-3 pedal", 0, 1, kind="cc").role == "client"  # only its named controls
    assert m.resolve("Keystation", 0, 64, kind="cc").role == "client"


def test_pedal_command_writes_the_users_map_and_refuses_any_device(tmp_path, capsys):
    from prelude_play.cli import main

    assert main(["--data-dir", str(tmp_path), "pedal", "FS-1 Footswitch*"]) == 0
    user = tmp_path / "config" / "instruments.toml"
    m = load_instruments(user)
    assert m.pedal is not None and m.pedal.device == "FS-1 Footswitch*" and m.pedal.controls == {64}
    assert len(m.rules) == len(load_instruments(INSTRUMENTS).rules)  # the rest of the map is kept
    assert main(["--data-dir", str(tmp_path), "pedal", "*"]) == 1
    assert load_instruments(user).pedal.device == "FS-1 Footswitch*"  # unchanged
    assert main(["--data-dir", str(tmp_path), "pedal", "--none"]) == 0
    assert load_instruments(user).pedal is None
