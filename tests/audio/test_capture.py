"""Capture: ring → consumers with app-clock times, level meter, JACK input."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from prelude_play.audio.capture import SILENCE_DB, Capture, open_capture
from prelude_play.clock import FakeClock

RATE = 48000


def test_offline_feed_reaches_consumers_with_exact_times():
    clock = FakeClock(5_000_000_000)
    cap = Capture("offline", rate=RATE, clock=clock, ring_seconds=1)
    cap.start()
    got: list[tuple[int, int]] = []
    cap.add_consumer(lambda x, t0: got.append((x.size, t0)))
    cap.feed(np.zeros(1000, np.float32))
    cap.feed(np.zeros(500, np.float32))
    assert got == [(1000, 5_000_000_000), (500, 5_000_000_000 + round(1000 * 1e9 / RATE))]
    assert cap.frame_to_ns(RATE) == 6_000_000_000


def test_level_meter_reads_rms_and_peak():
    cap = Capture("offline", rate=RATE, clock=FakeClock())
    cap.start()
    assert cap.level() == (SILENCE_DB, SILENCE_DB)
    t = np.arange(RATE // 2) / RATE
    cap.feed((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    rms, peak = cap.level()
    assert rms == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.1)
    assert peak == pytest.approx(20 * math.log10(0.5), abs=0.1)


def test_ring_overrun_skips_ahead_and_counts():
    cap = Capture("offline", rate=RATE, clock=FakeClock(), ring_seconds=0.05)
    cap.start()
    got = []
    cap.add_consumer(lambda x, t0: got.append(x.copy()))
    sig = np.arange(20000, dtype=np.float32)
    cap.feed(sig)
    assert cap.overruns == 1
    size = got[0].size
    np.testing.assert_array_equal(got[0], sig[-size:])  # newest data kept, in order


def test_ring_wraps_without_losing_samples():
    cap = Capture("offline", rate=RATE, clock=FakeClock(), ring_seconds=0.05)
    cap.start()
    chunks = []
    cap.add_consumer(lambda x, t0: chunks.append(x))
    sig = np.random.default_rng(1).standard_normal(10_000).astype(np.float32)
    for i in range(0, sig.size, 700):
        cap.feed(sig[i : i + 700])
    np.testing.assert_array_equal(np.concatenate(chunks), sig)


def test_bad_consumer_does_not_stop_capture():
    cap = Capture("offline", rate=RATE, clock=FakeClock())
    cap.start()
    ok = []
    cap.add_consumer(lambda x, t0: 1 / 0)
    cap.add_consumer(lambda x, t0: ok.append(x.size))
    cap.feed(np.zeros(256, np.float32))
    assert ok == [256] and cap.consumer_errors == 1


@pytest.mark.realstack
def test_jack_input_hears_the_probe_tone(jack_server):
    import sounddevice as sd

    from tests.audio.probe import Probe

    sd._terminate()
    sd._initialize()
    probe = Probe(seconds=1.0, tone_hz=440.0, tone_amp=0.25)
    cap = open_capture("sounddevice", rate=RATE, blocksize=128)
    try:
        assert cap.backend == "sounddevice"
        ins = probe.app_ports(is_output=False)
        assert ins, "PortAudio registered no JACK input port"
        for p in ins:
            probe.c.connect(probe.out, p)
        got = []
        cap.add_consumer(lambda x, t0: got.append(t0))
        end = time.monotonic() + 3
        while time.monotonic() < end and cap.level()[0] < -20:
            time.sleep(0.02)
        rms, peak = cap.level()
        assert rms == pytest.approx(20 * math.log10(0.25 / math.sqrt(2)), abs=1.0)
        assert peak == pytest.approx(20 * math.log10(0.25), abs=1.0)
        assert got and abs(got[-1] - time.perf_counter_ns()) < 200_000_000
    finally:
        cap.close()
        probe.close()
