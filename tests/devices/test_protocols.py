"""Every device the shell, the session, the activities and the fast path can be handed — the real
ones, the separate process's proxies and the do-nothing stand-ins — is an instance of its seam's
Protocol and has each member with a compatible signature; so is every hit path. The shell code
never probes a device with ``getattr``: this is what lets it."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from prelude_play.clock import FakeClock
from prelude_play.config import AppConfig
from prelude_play.devices import (AudioOut, Mic, MidiIn, MidiOut, NullAudio, NullMic, NullMidiIn, NullMidiOut,
                                  is_stand_in)
from prelude_play.hits import HitPath, Hits
from prelude_play.rt.host import RtOptions
from prelude_play.rt.proxy import AudioProxy, MidiOutputProxy, MidiProxy, RemoteHits, RtProcess


def members(proto: type) -> list[str]:
    """A Protocol's own members: its methods, properties and annotated attributes."""
    names = {n for n in vars(proto) if not n.startswith("_")}
    names |= {n for n in getattr(proto, "__annotations__", {}) if not n.startswith("_")}
    return sorted(names)


def assert_conforms(obj: Any, proto: type) -> None:
    assert isinstance(obj, proto), f"{type(obj).__name__} is not a {proto.__name__}"
    for name in members(proto):
        assert hasattr(obj, name), f"{type(obj).__name__} lacks {proto.__name__}.{name}"
        want = inspect.getattr_static(proto, name)
        if not inspect.isfunction(want):
            continue  # a property or attribute: present is what the shell needs
        assert callable(getattr(obj, name)), f"{type(obj).__name__}.{name} is not callable"
        assert_compatible(want, getattr(obj, name), f"{type(obj).__name__}.{name}")


def assert_compatible(want: Any, have: Any, where: str) -> None:
    """``have`` accepts every call ``want`` allows: same parameter names and kinds, a default
    wherever the protocol has one, and nothing extra without a default."""
    wp = [p for p in inspect.signature(want).parameters.values() if p.name != "self"]
    hp = {p.name: p for p in inspect.signature(have).parameters.values()}
    for p in wp:
        assert p.name in hp, f"{where}: no parameter {p.name!r}"
        q = hp[p.name]
        assert q.kind == p.kind or (p.kind == p.POSITIONAL_OR_KEYWORD and q.kind == q.POSITIONAL_OR_KEYWORD), \
            f"{where}: {p.name!r} is {q.kind.description}, the protocol says {p.kind.description}"
        if p.default is not p.empty:
            assert q.default is not q.empty, f"{where}: {p.name!r} needs a default"
    extra = [q for n, q in hp.items() if n not in {p.name for p in wp}
             and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD) and q.default is q.empty]
    assert not extra, f"{where}: required parameters the protocol does not have: {extra}"


@pytest.fixture
def rt():
    """A real-time child that was never started: its proxies answer from what they cached."""
    return RtProcess(RtOptions(cfg=AppConfig()))


@pytest.fixture
def engine():
    from prelude_play.audio import SoundBank, open_engine

    e = open_engine("offline", clock=FakeClock(), rate=48000, blocksize=128, bank=SoundBank(48000))
    yield e
    e.close()


@pytest.fixture
def hub():
    from prelude_play.midi.hub import MidiHub
    from prelude_play.midi.virtual import VirtualBackend

    clock = FakeClock()
    h = MidiHub(VirtualBackend(clock=clock), clock=clock)
    yield h
    h.stop()


def test_audio_outputs(engine, rt):
    for dev in (engine, AudioProxy(rt), NullAudio()):
        assert_conforms(dev, AudioOut)


def test_midi_inputs(hub, rt):
    for dev in (hub, MidiProxy(rt), NullMidiIn()):
        assert_conforms(dev, MidiIn)


def test_midi_outputs(hub, rt):
    out = hub.open_output("Keys*")
    for dev in (out, MidiOutputProxy(rt), NullMidiOut(), NullMidiIn().open_output("x")):
        assert_conforms(dev, MidiOut)


def test_microphones():
    from prelude_play.audio.capture import open_capture

    cap = open_capture("null", rate=48000, clock=FakeClock())
    try:
        for dev in (cap, NullMic()):
            assert_conforms(dev, Mic)
    finally:
        cap.close()


def test_hit_paths(rt):
    for path in (HitPath(NullAudio(), NullMidiIn()), RemoteHits(rt)):
        assert_conforms(path, Hits)


def test_stand_ins_say_there_is_no_device():
    for dev in (NullAudio(), NullMidiIn(), NullMidiOut(), NullMic()):
        assert is_stand_in(dev) and dev.describe() is None
    assert NullAudio().core == NullMidiIn().core == "none"

    class Recording(NullAudio):
        pass

    assert not is_stand_in(Recording())  # a test fake built on a stand-in is a device


def test_the_protocols_list_what_the_shell_uses():
    """Guard against a seam that grew by accident (or lost what the fast path needs)."""
    assert members(AudioOut) == sorted([
        "rate", "period_frames", "output_latency_s", "backend_name", "core", "describe", "master_volume", "trigger", "play",
        "stop", "all_off", "prepare", "load", "next_block_dac_ns", "stats", "poll", "reopen", "close"])
    assert members(MidiIn) == sorted([
        "inputs", "core", "sensitivity", "set_sensitivity", "set_sink", "open_output", "stats", "panic", "stop",
        "describe"])
    assert members(MidiOut) == sorted(["connected", "send", "note_on", "note_off", "panic", "close", "describe"])
    assert members(Mic) == sorted(["rate", "backend", "notice", "add_consumer", "remove_consumer", "latest",
                                   "frame_to_ns", "close", "describe"])
    assert members(Hits) == sorted(["connect", "sink", "set_activity", "delay_ms"])
