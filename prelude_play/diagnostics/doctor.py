"""``prelude-play doctor``: what this machine has and lacks for Prelude Play, and the exact
command that fixes each missing piece.

Why: a therapist (or the person installing the app for them) meets "no sound" or "the pad does
nothing" and needs one screen that says why. Every check is cheap, never starts a server (JACK's
auto-start is off here) and never raises: a check that cannot run says so. The exit code is 0 when
everything a session needs is there, 1 when something needed is missing (optional pieces —
MIDI devices, JACK, the microphone, speech — only warn).
"""

from __future__ import annotations

import contextlib
import ctypes.util
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OK, MISSING, OPTIONAL, INFO = "ok", "missing", "optional", "info"
MARK = {OK: "ok  ", MISSING: "MISS", OPTIONAL: "warn", INFO: "info"}


@dataclass
class Check:
    """One line of the report: ``status`` is ok, missing (needed: exit code 1), optional (works
    without it, with less) or info."""

    name: str
    status: str
    detail: str
    fix: str = ""


def _fix(linux: str, macos: str = "", windows: str = "") -> str:
    """The fix for this OS (Debian/Ubuntu commands on Linux: the platform we test)."""
    if sys.platform == "darwin":
        return macos or linux
    if sys.platform.startswith("win"):
        return windows or linux
    return linux


def _apt(*packages: str) -> str:
    return "sudo apt-get install " + " ".join(packages)


def audio_devices() -> tuple[list[dict[str, Any]], str | None]:
    """PortAudio's devices, or why PortAudio is unavailable."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        return [], str(exc)
    try:
        apis = sd.query_hostapis()
        return [{"name": d["name"], "hostapi": apis[d["hostapi"]]["name"], "inputs": d["max_input_channels"],
                 "outputs": d["max_output_channels"]} for d in sd.query_devices()], None
    except Exception as exc:  # noqa: BLE001 - PortAudio errors are plain Exceptions
        return [], str(exc)


def check_audio(devices: list[dict[str, Any]], error: str | None) -> list[Check]:
    if error is not None:
        return [Check("audio output", MISSING, f"PortAudio is not available ({error}); the app falls back to "
                      "SDL audio or runs silent",
                      _fix(_apt("libportaudio2"), "brew install portaudio",
                           "pip install --force-reinstall sounddevice"))]
    outs = [d for d in devices if d["outputs"] > 0]
    ins = [d for d in devices if d["inputs"] > 0]
    checks = []
    if outs:
        names = ", ".join(sorted({f"{d['name']} ({d['hostapi']})" for d in outs})[:4])
        checks.append(Check("audio output", OK, f"{len(outs)} device(s): {names}"))
    else:
        checks.append(Check("audio output", MISSING, "no audio output device: sessions would be silent",
                            _fix("plug in speakers or headphones; check `aplay -l`; " + _apt("alsa-utils"),
                                 "plug in speakers; System Settings > Sound",
                                 "plug in speakers; Settings > System > Sound")))
    if ins:
        checks.append(Check("microphone", OK, f"{len(ins)} input device(s): "
                            + ", ".join(sorted({d["name"] for d in ins})[:3])))
    else:
        checks.append(Check("microphone", OPTIONAL, "no microphone: the vowel and singing activities need one",
                            _fix("plug in a USB microphone; check `arecord -l`",
                                 "plug in a microphone; allow it in System Settings > Privacy > Microphone",
                                 "plug in a microphone; Settings > Privacy > Microphone")))
    return checks


def check_midi() -> list[Check]:
    try:
        from prelude_play.midi.devices import list_devices
    except ImportError as exc:
        return [Check("MIDI", OPTIONAL, f"MIDI support is not installed ({exc})", "pip install python-rtmidi mido")]
    try:
        info = list_devices("auto", client_name="prelude-play-doctor")
    except Exception as exc:  # noqa: BLE001 - rtmidi without a usable API
        return [Check("MIDI", OPTIONAL, f"MIDI cannot start: {exc}", "pip install --force-reinstall python-rtmidi")]
    if info.get("error"):
        return [Check("MIDI", OPTIONAL, f"MIDI cannot start: {info['error']}",
                      "pip install --force-reinstall python-rtmidi")]
    apis = info["midi"]
    working = {name: e for name, e in apis.items() if not e.get("error")}
    if not working:
        why = "; ".join(f"{n}: {e['error']}" for n, e in apis.items()) or "rtmidi was built without any MIDI API"
        return [Check("MIDI API", OPTIONAL, why,
                      _fix("sudo modprobe snd-seq  (the ALSA sequencer)", "", ""))]
    checks = [Check("MIDI API", OK, ", ".join(sorted(working)))]
    ports = sorted({p for e in working.values() for p in e["inputs"]
                    if "Midi Through" not in p and "through" not in p.lower()})
    if ports:
        checks.append(Check("MIDI devices", OK, ", ".join(ports[:5])))
    else:
        checks.append(Check("MIDI devices", OPTIONAL, "no MIDI keyboard or pad connected (touch and mouse work)",
                            "plug in the pad or keyboard by USB; then `prelude-play devices`"))
    return checks


def check_native() -> Check:
    try:
        from prelude_play import native
    except Exception as exc:  # noqa: BLE001
        return Check("C core", OPTIONAL, f"cannot load: {exc}", "pip install --force-reinstall prelude-play")
    if native.available():
        return Check("C core", OK, "the real-time mixer in C is loaded")
    return Check("C core", OPTIONAL, f"not loaded ({native.why_unavailable()}); the slower Python mixer is used",
                 _fix(_apt("gcc", "libc6-dev") + " && pip install --force-reinstall --no-binary prelude-play "
                      "prelude-play   (or, in a checkout: rm .venv/.installed-stamp && ./dev run)",
                      "xcode-select --install && pip install --force-reinstall prelude-play",
                      "python tools/cross_compile.py --cc gcc --objdump objdump --out prelude_play/native  "
                      "(with MSYS2's mingw-w64 gcc)"))


def check_jack() -> list[Check]:
    """Installed (jackd or libjack) and running (a client can connect without starting one)."""
    jackd = shutil.which("jackd") or shutil.which("jackdbus")
    lib = ctypes.util.find_library("jack")
    install = _fix(_apt("jackd2"), "brew install jack", "install JACK2 from https://jackaudio.org/downloads/")
    if not (jackd or lib):
        return [Check("JACK", OPTIONAL, "JACK is not installed (optional: the lowest latency on Linux; "
                      "ALSA/PulseAudio work without it)", install)]
    checks = [Check("JACK installed", OK, jackd or f"libjack ({lib})")]
    try:
        import jack
    except (ImportError, OSError) as exc:
        checks.append(Check("JACK-Client", OPTIONAL, f"the Python JACK binding is missing ({exc})",
                            "pip install JACK-Client"))
        return checks
    old = os.environ.get("JACK_NO_START_SERVER")
    os.environ["JACK_NO_START_SERVER"] = "1"
    try:
        client = jack.Client("prelude-play-doctor", no_start_server=True)
    except jack.JackError:
        checks.append(Check("JACK server", OPTIONAL, "not running (the app uses ALSA/PulseAudio instead)",
                            _fix("jackd -d alsa -r 48000 -p 128 &   (or start it in QjackCtl)",
                                 "jackd -d coreaudio &", "start JACK from QjackCtl")))
        return checks
    finally:
        if old is None:
            os.environ.pop("JACK_NO_START_SERVER", None)
        else:
            os.environ["JACK_NO_START_SERVER"] = old
    try:
        checks.append(Check("JACK server", OK, f"running: {client.samplerate} Hz, {client.blocksize} frames "
                            f"({1000 * client.blocksize / client.samplerate:.1f} ms)"))
    finally:
        client.close()
    return checks


def check_font() -> Check:
    from prelude_play.config import resource_dir

    folder = resource_dir("assets") / "fonts"
    missing = [n for n in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf") if not (folder / n).is_file()]
    if missing:
        return Check("font", MISSING, f"{', '.join(missing)} not in {folder}: the install is incomplete",
                     "pip install --force-reinstall prelude-play")
    return Check("font", OK, f"DejaVu Sans in {folder}")


def check_speech() -> Check:
    exe = shutil.which("espeak-ng")
    if exe:
        return Check("speech (espeak-ng)", OK, exe)
    return Check("speech (espeak-ng)", OPTIONAL, "not installed: choice cards without a recording play a chime "
                 "instead of speaking", _fix(_apt("espeak-ng"), "brew install espeak-ng",
                                             "install espeak-ng from https://github.com/espeak-ng/espeak-ng/releases"))


def check_sounds() -> Check:
    """The instrument sounds: the built-in synth and the shipped samples (no SoundFont needed)."""
    from prelude_play.config import resource_dir

    folder = resource_dir("assets") / "sounds"
    n = len(list(folder.rglob("*.wav"))) if folder.is_dir() else 0
    return Check("sounds / SoundFont", INFO, f"built-in synth and {n} shipped sample(s) in {folder}; "
                 "no SoundFont is needed")


def check_data_dir(data_dir: Path) -> Check:
    probe = data_dir if data_dir.exists() else next((p for p in data_dir.parents if p.exists()), data_dir)
    if os.access(probe, os.W_OK):
        db = data_dir / "prelude.db"
        return Check("data folder", OK, f"{data_dir}" + (" (event store present)" if db.exists() else " (new)"))
    return Check("data folder", MISSING, f"{data_dir} cannot be written", "pass --data-dir with a folder you own")


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """libjack and ALSA print their own failures ("Cannot connect to server socket") straight to
    file descriptor 2: hidden while probing, since the report says it better."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def run_checks(data_dir: Path) -> list[Check]:
    with quiet_native_stderr():
        devices, error = audio_devices()
        jack_checks, midi_checks = check_jack(), check_midi()
    from prelude_play.diagnostics.logs import default_log_dir

    logs = Check("logs", INFO, f"{default_log_dir()} (for support: prelude-play support-bundle --out FILE)")
    return [check_data_dir(data_dir), *check_audio(devices, error), check_native(), *jack_checks,
            *midi_checks, check_font(), check_speech(), check_sounds(), logs]


def report(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"[{MARK[c.status]}] {c.name}: {c.detail}")
        if c.fix and c.status != OK:
            lines.append(f"       fix: {c.fix}")
    needed = [c for c in checks if c.status == MISSING]
    lines.append("Ready for sessions." if not needed else
                 f"Not ready: {len(needed)} needed piece(s) missing ({', '.join(c.name for c in needed)}).")
    return "\n".join(lines)


def run_doctor(data_dir: Path, *, as_json: bool = False) -> int:
    """The ``doctor`` command: print the report; 0 when nothing needed is missing, else 1."""
    checks = run_checks(data_dir)
    if as_json:
        print(json.dumps([asdict(c) for c in checks], indent=2, ensure_ascii=False))
    else:
        print(report(checks))
    return 1 if any(c.status == MISSING for c in checks) else 0
