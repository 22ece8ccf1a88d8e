"""``prelude-play devices``: the MIDI ports each MIDI API can see."""

from __future__ import annotations

from typing import Any

from prelude_play.clock import MonotonicClock
from prelude_play.errors import DeviceError


def list_devices(api: str = "auto", *, client_name: str = "prelude-play-list") -> dict[str, Any]:
    """MIDI inputs and outputs per API: ``{"midi": {"<api>": {"inputs": [...], "outputs":
    [...], "error": str | None}}}``. ``api="auto"`` lists every API this rtmidi was built with;
    an API that cannot start (no JACK server, no ALSA sequencer) gets an ``error`` instead of
    raising, so the listing always completes."""
    from prelude_play.midi.rtmidi_backend import RtMidiBackend, compiled_api_names

    try:
        apis = compiled_api_names() if api == "auto" else [api]
    except DeviceError as exc:
        return {"midi": {}, "error": str(exc)}
    result: dict[str, Any] = {}
    for name in apis:
        entry: dict[str, Any] = {"inputs": [], "outputs": [], "error": None}
        backend = None
        try:
            backend = RtMidiBackend(clock=MonotonicClock(), api=name, client_name=client_name)
            entry["inputs"] = [n for n in backend.input_names() if not backend.is_own_port(n)]
            entry["outputs"] = [n for n in backend.output_names() if not backend.is_own_port(n)]
        except Exception as exc:  # noqa: BLE001 - one broken API must not hide the others
            entry["error"] = str(exc)
        finally:
            if backend is not None:
                backend.close()
        result[name] = entry
    return {"midi": result}
