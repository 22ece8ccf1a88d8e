"""selftest: burst finding by cross-correlation (offline), and a real round trip through a JACK
loopback (the app's own output ports wired to its input ports)."""

import json
from argparse import Namespace

import numpy as np
import pytest

from prelude_play.audio.selftest import burst, find_lags, stats_ms


def test_find_lags_recovers_known_delays_under_noise_and_reports_missing_bursts():
    rng = np.random.default_rng(3)
    tpl = burst()
    rec = (0.01 * rng.standard_normal(48000)).astype(np.float32)
    positions = [1000, 9000, 17000, 25000, 33000]
    delays = [128, 131, 256, 0, None]  # the last burst never came back
    for p, d in zip(positions, delays):
        if d is not None:
            rec[p + d : p + d + tpl.size] += 0.5 * tpl  # attenuated, like a real cable
    assert find_lags(rec, tpl, positions, max_lag=2000) == delays


def test_find_lags_ignores_an_unrelated_signal():
    rng = np.random.default_rng(4)
    noise = rng.standard_normal(20000).astype(np.float32)
    tone = np.sin(np.arange(20000) * 0.05).astype(np.float32)
    for rec in (noise * 0.3, tone * 0.5, np.zeros(20000, np.float32)):
        assert find_lags(rec, burst(), [1000, 8000], max_lag=4000) == [None, None]


def test_stats_ms():
    s = stats_ms([1.0, 2.0, 3.0])
    assert s["median"] == 2.0 and s["min"] == 1.0 and s["max"] == 3.0 and s["sd"] == pytest.approx(1.0)
    assert stats_ms([]) == {}


def _loopback(client):
    """Wire every PortAudio output of the selftest's stream to its first input."""
    outs = [p.name for p in client.get_ports("PortAudio", is_audio=True, is_output=True)]
    ins = [p.name for p in client.get_ports("PortAudio", is_audio=True, is_input=True)]
    assert outs and ins, f"selftest stream ports not found: {outs} {ins}"
    for o in outs[:1]:
        client.connect(o, ins[0])


@pytest.mark.realstack
def test_round_trip_through_a_jack_loopback_is_finite_and_steady(jack_server):
    import jack

    from prelude_play.audio.selftest import measure

    client = jack.Client("pp-selftest-wire", no_start_server=True)
    try:
        r = measure(rate=48000, period=128, seconds=2.0, on_open=lambda: _loopback(client))
    finally:
        client.close()
    assert "JACK" in r.host_api
    lp = r.loopback
    assert lp["wired"], lp
    assert lp["found"] >= lp["bursts"] - 2  # an xrun on a busy machine may cost a burst
    rt = lp["round_trip_ms"]
    # a JACK self-loop costs whole periods (at least the one cycle JACK inserts in a feedback loop)
    assert 2.6 <= rt["median"] < 50.0
    assert r.callback_interval_ms["median"] == pytest.approx(128 / 48, rel=0.25)


@pytest.mark.realstack
def test_selftest_command_without_loopback_stores_its_figures(jack_server, tmp_path, capsys):
    from prelude_play.audio.selftest import run_selftest
    from prelude_play.cli import load_config

    args = Namespace(json=True, language=None, size=None, seconds=1.0)
    assert run_selftest(args, tmp_path, load_config(args, tmp_path)) == 0
    saved = json.loads((tmp_path / "selftest.json").read_text())
    assert saved == json.loads(capsys.readouterr().out)
    assert saved["loopback"]["wired"] is False  # nothing is wired: the dummy capture is silent
    assert saved["reported_output_latency_ms"] > 0
    assert saved["callbacks"] > 100 and saved["callback_jitter_sd_ms"] >= 0
