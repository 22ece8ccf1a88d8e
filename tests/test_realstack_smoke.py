"""The real stack is present: JACK dummy server, rtmidi's JACK API, PortAudio's JACK host API."""

import pytest

pytestmark = pytest.mark.realstack


def test_rtmidi_has_jack_and_sees_a_jack_port(jack_server):
    import rtmidi

    assert rtmidi.API_UNIX_JACK in rtmidi.get_compiled_api()
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "pp-smoke")
    out.open_virtual_port("out")
    try:
        inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "pp-smoke-in")
        assert any("pp-smoke:out" in p for p in inp.get_ports())
        inp.delete()
    finally:
        out.delete()


def test_portaudio_sees_jack_host_api(jack_server):
    import sounddevice as sd

    sd._terminate(); sd._initialize()  # re-scan now that our server runs
    names = [h["name"] for h in sd.query_hostapis()]
    assert any("JACK" in n for n in names)


def test_devices_command_lists_jack_midi_and_audio(jack_server, capsys):
    import json

    import rtmidi

    from prelude_play.cli import main

    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "pp-devprobe")
    out.open_virtual_port("keys")
    try:
        assert main(["--midi-api", "jack", "devices", "--json"]) == 0
    finally:
        out.delete()
    info = json.loads(capsys.readouterr().out)
    assert any("pp-devprobe:keys" in n for n in info["midi"]["jack"]["inputs"])
    assert any(d["hostapi"].startswith("JACK") and d["outputs"] > 0 for d in info["audio"]["devices"])
