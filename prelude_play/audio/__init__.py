"""Audio: the callback mixer engine, output backends, built-in synth, sound bank, mic capture.

Hardware libraries (sounddevice, pygame) are imported only when a backend that needs them is
opened, so importing this package is cheap and works on machines without audio.
"""

from prelude_play.audio.engine import AudioEngine, UnknownSoundError
from prelude_play.audio.backends import open_backend, open_engine
from prelude_play.audio.bank import SoundBank
from prelude_play.audio.synth import Sound

__all__ = ["AudioEngine", "UnknownSoundError", "open_engine", "open_backend", "SoundBank", "Sound"]
