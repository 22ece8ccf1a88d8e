"""Backends: null runs the mixer in real time, auto falls back, sdl and sounddevice play."""

from __future__ import annotations

import time

import numpy as np
import pytest

from prelude_play.audio import open_engine
from prelude_play.audio.backends import BACKENDS, open_backend
from prelude_play.errors import ConfigError, DeviceError


def wait_for(pred, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="audio backend"):
        open_backend("bogus")


def test_null_backend_runs_the_mixer_in_real_time():
    e = open_engine("null", blocksize=256)
    try:
        e.load("dc", np.full(10, 0.1, np.float32))
        e.trigger("dc")
        assert wait_for(lambda: e.stats()["frames"] > 48000 // 4)
        st = e.stats()
        assert st["queued_commands"] == 0 and e.voice_starts()[0] == 1
        assert 0 < st["load_mean"] < 1
    finally:
        e.close()
    assert e.poll() is None


def test_named_backend_failure_falls_back_with_a_notice(monkeypatch):
    from prelude_play.audio.backends import portaudio, sdl

    def broken(*a, **k):
        raise DeviceError("no PortAudio here")

    monkeypatch.setattr(portaudio.SoundDeviceBackend, "__init__", broken)
    monkeypatch.setattr(sdl.SdlBackend, "__init__", broken)
    e = open_engine("sounddevice")
    try:
        assert e.backend_name == "null" and "silent" in e.notice
    finally:
        e.close()
    with pytest.raises(DeviceError):
        open_engine("sounddevice", fallback=False)


def test_sdl_backend_calls_the_mixer(monkeypatch):
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    try:
        e = open_engine("sdl", blocksize=512, fallback=False)
    except DeviceError as exc:
        pytest.skip(f"SDL audio unavailable: {exc}")
    try:
        assert wait_for(lambda: e.stats()["callbacks"] > 5)
        assert e.backend_name == "sdl" and e.stats()["errors"] == 0
    finally:
        e.close()


def test_sdl_backend_reopens_audio_without_proc(monkeypatch):
    """pygame.init() opens pygame.mixer, which the backend closes (that also stops SDL's audio) and
    then restarts SDL audio alone: through pygame, not /proc (absent on Windows and macOS)."""
    import builtins

    import pygame

    real_open = builtins.open

    def no_proc(path, *a, **k):
        if str(path).startswith("/proc"):
            raise FileNotFoundError(path)
        return real_open(path, *a, **k)

    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    monkeypatch.setattr(builtins, "open", no_proc)
    pygame.quit()  # so that the backend's pygame.init() opens the mixer again
    e = open_engine("sdl", blocksize=512, fallback=False)
    try:
        assert wait_for(lambda: e.stats()["callbacks"] > 5)
    finally:
        e.close()


def test_backends_are_imported_lazily():
    import subprocess
    import sys

    code = (
        "import sys, prelude_play.audio as a; e=a.open_engine('offline'); "
        "print('sounddevice' in sys.modules, 'pygame' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert set(BACKENDS) >= {"sounddevice", "sdl", "null", "offline"}


@pytest.mark.realstack
def test_sounddevice_on_jack_plays_a_trigger_the_probe_hears(jack_server):
    import sounddevice as sd

    from tests.audio.probe import Probe

    sd._terminate()
    sd._initialize()
    probe = Probe(seconds=3.0)
    e = open_engine("sounddevice", blocksize=128, fallback=False)
    try:
        assert "JACK" in e.backend.describe()
        assert e.period_frames == 128 and e.rate == 48000
        outs = probe.app_ports(is_output=True)
        assert outs, "PortAudio registered no JACK output port"
        probe.c.connect(outs[0], probe.inp)
        e.load("click", np.full(480, 0.5, np.float32))
        time.sleep(0.3)
        t_call = e.clock.now_ns()
        e.trigger("click")
        assert wait_for(lambda: probe.onset_time_ns() is not None, 2.0)
        # the probe reads the app's port in the same JACK cycle PortAudio wrote it (the cycle
        # may have begun just before the call), so the figure lies in (-1 period, a few periods)
        latency_ms = (probe.onset_time_ns() - t_call) / 1e6
        assert -128 / 48 < latency_ms < 25, latency_ms
        st = e.stats()
        assert st["callbacks"] > 50 and 0 < st["load_mean"] < st["load_max"]
        assert e.first_output_frame_ns is not None and e.output_latency_s > 0
    finally:
        e.close()
        probe.close()
