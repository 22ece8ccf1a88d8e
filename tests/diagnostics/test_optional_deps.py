"""JACK-Client is a Linux-only dependency (issue 17): without it the app still takes
``--midi-api jack`` (through rtmidi's JACK API) and doctor says how to get the binding."""

from __future__ import annotations

import sys

from prelude_play.devices.build import midi_backend_for
from prelude_play.diagnostics import doctor


def test_midi_jack_falls_back_to_rtmidi_without_jack_client(monkeypatch):
    monkeypatch.setitem(sys.modules, "jack", None)  # import jack -> ImportError
    assert midi_backend_for("jack") == ("rtmidi", "jack")


def test_doctor_names_the_missing_jack_binding(monkeypatch):
    monkeypatch.setitem(sys.modules, "jack", None)
    monkeypatch.setattr(doctor.shutil, "which", lambda name: "/usr/bin/jackd" if name == "jackd" else None)
    installed, binding = doctor.check_jack()
    assert installed.status == doctor.OK
    assert binding.name == "JACK-Client" and binding.fix == "pip install JACK-Client"
