"""The real-time child process through its proxies (null audio, the in-memory virtual MIDI
backend driven through the child's test hook): clocks agree, hits sound in the child with their
original stamps, commands reach the engine, a killed child is noticed and replaced, close is clean."""

from __future__ import annotations

import time

import numpy as np
import pytest

from prelude_play.audio.engine import UnknownSoundError
from prelude_play.config import AppConfig
from prelude_play.devices import NullMidiIn
from prelude_play.errors import DeviceError
from prelude_play.midi.instruments import Sensitivity
from prelude_play.rt.proxy import start_rt

NOTE_ON = bytes([0x99, 38, 100])


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture(scope="module")
def rt():
    cfg = AppConfig()
    cfg.audio.input_enabled = False
    dev = start_rt(cfg, audio_backend="null", midi_api="virtual", status_interval_s=0.05)
    got: list = []
    dev.set_sink(got.append)
    dev.got = got
    dev.midi.virtual("add_device", "Pad")
    yield dev
    dev.audio.close()


def test_child_clock_is_the_app_clock(rt):
    # perf_counter_ns is CLOCK_MONOTONIC: the child's reading lies between two of ours
    for _ in range(20):
        before = time.perf_counter_ns()
        theirs = rt.rt.request("ping")
        after = time.perf_counter_ns()
        assert before <= theirs <= after
    assert rt.rt.pid is not None and rt.rt.info["pid"] == rt.rt.pid


def test_hit_sounds_in_child_and_arrives_with_its_stamp(rt):
    assert wait_for(lambda: any(e.kind == "device_added" and e.device == "Pad" for e in rt.got))
    rt.hits.set_activity(True, None, Sensitivity())
    rt.audio.prepare(["drum:38"])
    before = rt.audio.stats()["fast_triggers"]
    t = time.perf_counter_ns() - 3_000_000  # a stamp from the past: it must come back unchanged
    rt.midi.virtual("inject", "Pad", NOTE_ON, t)
    assert wait_for(lambda: any(e.kind == "note_on" and e.t_ns == t for e in rt.got))
    ev = next(e for e in rt.got if e.kind == "note_on" and e.t_ns == t)
    assert ev.data["sounded"] == "drum:38" and ev.velocity == 100 and ev.role == "client"
    assert rt.audio.stats()["fast_triggers"] == before + 1
    # no activity: the child stays silent but still forwards the hit
    rt.hits.set_activity(False, None, Sensitivity())
    t2 = time.perf_counter_ns()
    rt.midi.virtual("inject", "Pad", NOTE_ON, t2)
    assert wait_for(lambda: any(e.t_ns == t2 for e in rt.got))
    assert "sounded" not in next(e for e in rt.got if e.t_ns == t2).data
    assert rt.audio.stats()["fast_triggers"] == before + 1


def test_commands_reach_the_engine(rt):
    rt.audio.load("tone", np.full(4800, 0.1, np.float32))
    assert rt.audio.loaded("tone")
    with pytest.raises(UnknownSoundError):
        rt.audio.prepare(["no-such-sound:1"])
    n0, _ = rt.audio.voice_starts()
    h = rt.audio.play("tone", 0.5)
    rt.audio.trigger("tone", 0.5)
    assert wait_for(lambda: len(rt.audio.voice_starts(n0)[1]) >= 2)
    rt.audio.stop(h)
    rt.audio.all_off()
    assert wait_for(lambda: rt.audio.stats()["active_voices"] == 0)
    assert rt.audio.rate == 48000 and rt.audio.period_frames == 128 and rt.audio.backend_name == "null"
    assert rt.midi.inputs == ["Pad"]


def test_killed_child_is_noticed_and_replaced(rt):
    rt.hits.set_activity(True, None, Sensitivity())
    old = rt.rt.pid
    rt.rt.proc.kill()
    assert wait_for(lambda: rt.audio.poll() is not None)
    assert "stopped" in rt.audio.poll()
    assert any(e.kind == "rt_process" for e in rt.got)
    with pytest.raises(DeviceError):
        rt.rt.request("ping")
    rt.audio.trigger("tone")  # dropped, never blocks
    rt.audio.reopen()
    assert rt.rt.pid != old and rt.audio.poll() is None
    # the new child was told again what the old one knew: sounds, fast-path table
    assert rt.audio.loaded("tone")
    rt.midi.virtual("add_device", "Pad")
    t = time.perf_counter_ns()
    rt.midi.virtual("inject", "Pad", NOTE_ON, t)
    assert wait_for(lambda: any(e.t_ns == t and e.data.get("sounded") == "drum:38" for e in rt.got))


def test_close_stops_the_child():
    cfg = AppConfig()
    dev = start_rt(cfg, audio_backend="null", midi_api="none")
    proc = dev.rt.proc
    assert isinstance(dev.midi, NullMidiIn) and proc.is_alive()  # midi_api "none": the stand-in
    dev.audio.close()
    assert proc.exitcode == 0  # closed itself on request, not killed
    assert dev.audio.poll() is None  # closing is not a problem to report
    dev.audio.trigger("drum:38")  # after close: dropped quietly


def test_the_audio_process_keeps_its_own_log_and_a_native_crash_report(tmp_path):
    """The C core runs in the separate audio process, so a crash there must leave a trace too:
    its own log file, and faulthandler's report when it dies of a signal (here SIGSEGV)."""
    import os
    import signal

    from prelude_play.rt.host import AUDIO_CRASH_NAME, AUDIO_LOG_NAME

    dev = start_rt(AppConfig(), audio_backend="null", midi_api="none", log_dir=tmp_path)
    proc = dev.rt.proc
    try:
        assert wait_for(lambda: (tmp_path / AUDIO_LOG_NAME).is_file()
                        and f"audio process {proc.pid} started" in (tmp_path / AUDIO_LOG_NAME).read_text())
        os.kill(proc.pid, signal.SIGSEGV)
        proc.join(10)
        report = (tmp_path / AUDIO_CRASH_NAME).read_text()
        assert "Segmentation fault" in report and "child_main" in report  # where it stood
        assert oct((tmp_path / AUDIO_CRASH_NAME).stat().st_mode & 0o777) == "0o600"
        assert oct((tmp_path / AUDIO_LOG_NAME).stat().st_mode & 0o777) == "0o600"
    finally:
        dev.audio.close()
