"""Which PortAudio host API and device the app takes on each OS, from a fake ``sounddevice``.

No Windows or Mac needed: the lists below are what PortAudio reports there (host APIs in
PortAudio's order, each physical device listed once per host API).
"""

from __future__ import annotations

import sys

import pytest

from prelude_play.audio.backends import portaudio
from prelude_play.audio.backends.portaudio import (SoundDeviceBackend, hostapi_preference, pick_device,
                                                   pick_hostapi, stream_settings)
from prelude_play.errors import DeviceError

SPEAKERS = "Speakers (Realtek(R) Audio)"
MIC = "Microphone Array (Realtek(R) Audio)"


class FakeStream:
    def __init__(self, sd: "FakeSd", device: int, extra_settings=None, **kw) -> None:
        if sd.hostapi_of(device) in sd.refuse:
            raise RuntimeError("Error opening OutputStream: Invalid sample rate [PaErrorCode -9997]")
        sd.opened.append((device, extra_settings))
        self.device, self.latency = device, 0.01


class FakeSd:
    """``sounddevice``'s query functions over a table: apis = [(name, default_out, default_in)],
    devices = [(name, hostapi, inputs, outputs)]."""

    def __init__(self, apis, devices, refuse=()) -> None:
        self.apis, self.devices, self.refuse = apis, devices, set(refuse)
        self.opened: list[tuple[int, object]] = []

    def query_hostapis(self, index=None):
        table = tuple({"name": n, "default_output_device": o, "default_input_device": i,
                       "devices": [k for k, d in enumerate(self.devices) if d[1] == a]}
                      for a, (n, o, i) in enumerate(self.apis))
        return table if index is None else table[index]

    def query_devices(self, device=None):
        table = [{"name": n, "hostapi": a, "max_input_channels": i, "max_output_channels": o}
                 for n, a, i, o in self.devices]
        return table if device is None else table[device]

    def hostapi_of(self, device: int) -> str:
        return self.apis[self.devices[device][1]][0]

    def WasapiSettings(self, exclusive=False, auto_convert=False):
        return ("wasapi", exclusive, auto_convert)

    def OutputStream(self, **kw):
        return FakeStream(self, **kw)


def windows(**kw) -> FakeSd:
    return FakeSd(
        [("MME", 1, 3), ("Windows DirectSound", 5, 7), ("Windows WASAPI", 8, 9), ("Windows WDM-KS", 10, -1)],
        [("Microsoft Sound Mapper - Input", 0, 2, 0), ("Speakers (Realtek(R) Audio)", 0, 0, 2),
         ("Microsoft Sound Mapper - Output", 0, 0, 2), ("Microphone Array (Realtek(R) ", 0, 2, 0),
         ("Primary Sound Capture Driver", 1, 2, 0), (SPEAKERS, 1, 0, 2),
         ("Primary Sound Driver", 1, 0, 2), (MIC, 1, 2, 0),
         (SPEAKERS, 2, 0, 2), (MIC, 2, 2, 0),
         ("Speakers (Realtek HD Audio output)", 3, 0, 2)], **kw)


def mac() -> FakeSd:
    return FakeSd([("Core Audio", 1, 0)], [("MacBook Pro Microphone", 0, 1, 0), ("MacBook Pro Speakers", 0, 0, 2)])


def linux(jack: bool) -> FakeSd:
    apis = [("ALSA", 1, 0)] + ([("JACK Audio Connection Kit", 2, 2)] if jack else [])
    devs = [("HDA Intel PCH: ALC257 Analog (hw:0,0)", 0, 2, 2), ("default", 0, 32, 32)]
    if jack:
        devs.append(("system", 1, 2, 2))
    return FakeSd(apis, devs)


@pytest.fixture
def on(monkeypatch):
    def set_platform(name: str) -> None:
        monkeypatch.setattr(sys, "platform", name)
    return set_platform


def test_windows_prefers_wasapi_then_directsound_then_mme(on):
    sd = windows()
    on("win32")
    assert hostapi_preference(sd, "auto") == [2, 1, 0]
    api = pick_hostapi(sd, "auto")
    assert sd.query_hostapis(api)["name"] == "Windows WASAPI"
    assert pick_device(sd, None, api, "output") == 8  # WASAPI's default output
    assert pick_device(sd, None, pick_hostapi(sd, None, "input"), "input") == 9


def test_windows_without_wasapi_devices_takes_directsound_then_mme(on):
    on("win32")
    sd = windows()
    sd.devices = [d for d in sd.devices if d[1] != 2]  # WASAPI lists nothing (a broken driver)
    assert sd.query_hostapis(pick_hostapi(sd, None))["name"] == "Windows DirectSound"
    sd.devices = [d for d in sd.devices if d[1] != 1]
    assert sd.query_hostapis(pick_hostapi(sd, None))["name"] == "MME"


def test_windows_device_by_name_is_taken_on_wasapi(on):
    """The same speakers are listed under MME, DirectSound and WASAPI: a name picks WASAPI's."""
    on("win32")
    sd = windows()
    assert pick_device(sd, "speakers (realtek(r)", pick_hostapi(sd, "auto"), "output") == 8


def test_a_configured_host_api_wins_on_windows(on):
    on("win32")
    sd = windows()
    assert hostapi_preference(sd, "MME") == [0]
    with pytest.raises(DeviceError, match="ASIO.*not found"):
        pick_hostapi(sd, "ASIO")


def test_macos_takes_core_audio(on):
    on("darwin")
    sd = mac()
    api = pick_hostapi(sd, "auto")
    assert sd.query_hostapis(api)["name"] == "Core Audio" and pick_device(sd, None, api, "output") == 1


def test_linux_takes_jack_when_there_else_portaudios_default(on):
    on("linux")
    assert pick_hostapi(linux(jack=True), "auto") == 1
    assert pick_hostapi(linux(jack=False), "auto") is None
    assert pick_device(linux(jack=False), None, None, "output") is None


def test_wasapi_streams_ask_windows_to_convert_the_rate(on):
    on("win32")
    sd = windows()
    assert stream_settings(sd, 2) == ("wasapi", False, True)
    assert stream_settings(sd, 0) is None and stream_settings(sd, None) is None

    class OldSd(FakeSd):  # sounddevice < 0.4.7 has no auto_convert
        def WasapiSettings(self, exclusive=False):
            return ("wasapi", exclusive)

    old = windows()
    old.__class__ = OldSd
    assert stream_settings(old, 2) is None


def test_output_opens_on_wasapi_with_conversion(on, monkeypatch):
    on("win32")
    sd = windows()
    monkeypatch.setattr(portaudio, "import_sounddevice", lambda: sd)
    be = SoundDeviceBackend()
    assert sd.opened == [(8, ("wasapi", False, True))]
    assert be.device_name == f"{SPEAKERS} (Windows WASAPI)" and be.notice is None


def test_output_falls_back_to_directsound_when_wasapi_refuses(on, monkeypatch):
    on("win32")
    sd = windows(refuse={"Windows WASAPI"})
    monkeypatch.setattr(portaudio, "import_sounddevice", lambda: sd)
    be = SoundDeviceBackend()
    assert sd.opened == [(5, None)]
    assert "DirectSound" in be.device_name and "Windows WASAPI: " in be.notice


def test_output_fails_with_every_reason(on, monkeypatch):
    on("win32")
    sd = windows(refuse={"Windows WASAPI", "Windows DirectSound", "MME"})
    monkeypatch.setattr(portaudio, "import_sounddevice", lambda: sd)
    with pytest.raises(DeviceError, match="WASAPI.*DirectSound.*MME"):
        SoundDeviceBackend()
