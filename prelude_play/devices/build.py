"""Open the real devices from config and command-line overrides: the audio engine, the MIDI hub
and its output, the microphone; and link the C audio core to the C MIDI callback.

Used by the command line (devices in the app's process) and by the real-time child
(``prelude_play.rt.host``). Hardware libraries are imported lazily here, never at module import,
so tests and machines without them still run. Each failure becomes a notice for the therapist
and a fallback (a silent engine, a do-nothing stand-in from ``devices.null``) rather than a
crash: the caller always gets an object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from prelude_play.clock import Clock
from prelude_play.config import AppConfig
from prelude_play.devices.null import NullAudio, NullMidiIn, NullMidiOut
from prelude_play.devices.protocols import AudioOut, Mic, MidiIn, MidiOut

if TYPE_CHECKING:
    from prelude_play.midi.hub import MidiHub
    from prelude_play.midi.instruments import InstrumentMap


def build_audio(cfg: AppConfig, clock: Clock, backend: str | None = None) -> tuple[AudioOut, list[str]]:
    """The audio engine on the configured backend (auto: PortAudio, then SDL, then silent).

    The engine gets the built-in synth + shipped samples as its sound bank; the master volume
    is capped by ``max_volume`` (a hard ceiling in the limiter) to protect clients' hearing.
    """
    name = backend or cfg.audio.backend
    try:
        from prelude_play.audio import SoundBank, open_engine
    except ImportError as exc:
        return NullAudio(cfg.audio.rate, cfg.audio.period), [f"Audio unavailable ({exc}); running silent"]
    limit_dbfs = 20 * math.log10(max(cfg.audio.max_volume, 1e-3))
    opts: dict[str, Any] = dict(rate=cfg.audio.rate, blocksize=cfg.audio.period, clock=clock,
                                master_volume=min(cfg.audio.master_volume, cfg.audio.max_volume),
                                limit_dbfs=limit_dbfs, core=cfg.audio.core)
    if cfg.audio.device:
        opts["device"] = cfg.audio.device
    try:
        engine = open_engine(name, bank=SoundBank(rate=cfg.audio.rate), **opts)
    except Exception as exc:  # any backend failure: run silent with a visible notice
        opts.pop("device", None)
        engine = open_engine("null", bank=SoundBank(rate=cfg.audio.rate), **opts)
        return engine, [f"No audio output ({exc}); running silent"]
    notes = [n for n in (engine.notice, engine.core_notice) if n]
    return engine, notes


@dataclass(frozen=True)
class NativeLink:
    """The C audio core joined to the C MIDI callback (``link_native``): what the hit path needs
    to compile an activity's sound table into the callback (``prelude_play.hits.HitPath``), and
    the facts for the session's provenance."""

    hub: MidiHub
    sound_index: Callable[[str], int | None]  # the engine's sound name -> its index in the C mixer
    delay_ns: int
    facts: tuple[str, ...]


def link_native(audio: AudioOut, midi: MidiIn, fast_path: str = "steady") -> NativeLink | None:
    """Join the C audio core and the C MIDI callback when both run (same JACK server); None when
    they do not (no C core, another MIDI backend, the Python mixer, devices in the real-time child).

    The mixer then takes its block times from the MIDI client's frame clock, so a hit's stamp and
    its sound's start are on one exact map; and the MIDI callback may start fast-path sounds
    itself at ``stamp + output latency + one period`` (the hit's own offset in the next period:
    every hit gets the same latency, whichever order JACK runs the two clients in)."""
    from prelude_play.audio.engine import AudioEngine
    from prelude_play.midi.hub import MidiHub

    if not isinstance(audio, AudioEngine) or audio.native is None or not isinstance(midi, MidiHub):
        return None
    backend = midi.fast_backend
    if backend is None or backend.native_ptr is None:
        return None
    latency_ns = int(audio.output_latency_s * 1e9)
    period_ns = int(audio.period_frames * 1e9 / max(1, audio.rate))
    facts = []
    on_jack = audio.on_jack
    if on_jack:
        facts.append("audio blocks timed on the JACK MIDI client's frame clock")
        delay = latency_ns + period_ns
    else:  # different clocks: the DLL maps them; leave a second period of room
        delay = latency_ns + 2 * period_ns
    if fast_path == "asap":
        delay = 0  # every hit at the next block: lowest latency, a period of spread
    backend.attach_mixer(audio.native, delay, clock_latency_ns=latency_ns if on_jack else None)
    facts.append(f"MIDI fast path in C, hit + {delay / 1e6:.2f} ms")
    return NativeLink(midi, audio.index_of, delay, tuple(facts))


def load_instrument_map(data_dir: Path | None) -> tuple[InstrumentMap, list[str]]:
    """The shipped instrument map, or the user's own ``<data dir>/config/instruments.toml``."""
    from prelude_play.config import resource_dir
    from prelude_play.errors import ConfigError
    from prelude_play.midi.instruments import InstrumentMap, load_instruments

    shipped = resource_dir("config") / "instruments.toml"
    user = data_dir / "config" / "instruments.toml" if data_dir else None
    notes: list[str] = []
    if user is not None and user.exists():
        try:
            return load_instruments(user), []
        except ConfigError as exc:  # the therapist's own file: fall back to the shipped map
            notes.append(f"{exc} (using the shipped instrument map, with no scoring pedal)")
    try:
        return load_instruments(shipped), notes
    except ConfigError as exc:
        return InstrumentMap(), notes + [f"{exc} (using a plain map: every pad and key is the client's)"]


def midi_backend_for(api: str) -> tuple[str, str]:
    """(backend name, backend API) for a config/CLI ``midi.api``.

    ``jack`` means the JACK-Client backend when the ``jack`` module loads (frame-exact stamps,
    and no GIL held while waiting on the JACK server, which python-rtmidi does and which can
    deadlock against the audio engine's Python JACK callback); otherwise rtmidi's JACK API.
    ``rtmidi-jack`` forces rtmidi's JACK API."""
    if api == "virtual":
        return "virtual", "auto"
    if api == "rtmidi-jack":
        return "rtmidi", "jack"
    if api == "jack":
        try:
            import jack  # noqa: F401 - JACK-Client; loads libjack
        except (ImportError, OSError):
            return "rtmidi", "jack"
        return "jackclient", "jack"
    return "rtmidi", api


def build_midi(cfg: AppConfig, clock: Clock, api: str | None = None,
               data_dir: Path | None = None) -> tuple[MidiIn, MidiOut, list[str]]:
    """The MIDI hub (every input, hot-plug) and the keyboard output (``midi.output``), started;
    stand-ins when there is none. The hub holds its events until ``set_sink`` says where they go
    (the hit path: ``prelude_play.hits.HitPath``)."""
    api = api or cfg.midi.api
    if api == "none":
        return NullMidiIn(), NullMidiOut(), []
    try:
        from prelude_play.midi.backend import load_backend
        from prelude_play.midi.hub import MidiConfig as HubConfig
        from prelude_play.midi.hub import MidiHub
    except ImportError as exc:
        return NullMidiIn(), NullMidiOut(), [f"MIDI unavailable ({exc}); touch and keys still work"]
    instruments, notices = load_instrument_map(data_dir)
    backend_name, backend_api = midi_backend_for(api)
    opts: dict[str, Any] = {"core": cfg.audio.core} if backend_name == "jackclient" else {}
    try:
        backend = load_backend(backend_name, clock=clock, api=backend_api, **opts)
        hub = MidiHub(backend, clock=clock, instruments=instruments, config=HubConfig(
            backend=backend_name, api=backend_api,
            include=tuple(cfg.midi.include), exclude=tuple(cfg.midi.exclude),
            poll_interval_s=cfg.midi.watch_interval_s))
        hub.start()
        out: MidiOut = hub.open_output(cfg.midi.output) if cfg.midi.output else NullMidiOut()
    except Exception as exc:  # no MIDI system at all (e.g. no ALSA sequencer): touch still works
        return NullMidiIn(), NullMidiOut(), notices + [f"MIDI could not start ({exc}); touch and keys still work"]
    return hub, out, notices


def mic_factory(cfg: AppConfig, clock: Clock, backend: str | None = None) -> Callable[[], Mic] | None:
    """A function that opens the microphone on demand (None when input is disabled).

    With the silent audio backend the mic is silent too (``null`` capture), so tests and
    machines without audio behave the same.
    """
    if not cfg.audio.input_enabled:
        return None

    def open_() -> Mic:
        from prelude_play.audio.capture import open_capture

        name = "null" if (backend or cfg.audio.backend) == "null" else "auto"
        return open_capture(name, rate=cfg.audio.rate, clock=clock)

    return open_
