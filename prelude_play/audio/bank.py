"""SoundBank: sound names → prepared buffers, rendered lazily and cached.

Names: ``drum:38`` (GM percussion note), ``guitar:60``, ``keys:64``, ``chimes:72`` (MIDI notes),
``vowel:ah:60`` / ``vowel:ee:220hz`` / ``vowel:oo:57:2.5s`` (vowel, MIDI note or Hz, optional
duration), ``click:hi`` / ``click:lo``, and ``sample:<file stem>`` for WAV files in the sample
folders (``assets/sounds`` by default: ``sample:guitar_C4``).

Rendering takes milliseconds to tens of milliseconds, so activities call ``prepare(names)``
before the timed part (OpenSesame's prepare/run): every name is checked and rendered up front and
a bad name fails there, with all bad names listed, not at the client's first hit.
"""

from __future__ import annotations

import threading
import wave
from pathlib import Path
from typing import Iterable

import numpy as np

from prelude_play.audio import synth
from prelude_play.audio.synth import Sound
from prelude_play.errors import AnalysisError, UnknownSoundError

ASSET_SOUNDS = Path(__file__).resolve().parents[2] / "assets" / "sounds"


MAX_SAMPLE_BYTES = 32 << 20
"""A sample file over 32 MB is refused unread (a pad sample is well under 1 MB)."""
MAX_SAMPLE_S = 60.0
"""The longest sample played (a song accompaniment is a file for a media player, not a pad)."""
MAX_BANK_BYTES = 256 << 20
"""All rendered sounds together (≈ 23 minutes of audio at 48 kHz): past it a new sound is
refused with an UnknownSoundError (the activity plays its placeholder), never the tablet's
memory exhausted by a board asking for many long sounds."""


def read_wav(path: str | Path, rate: int, *, max_bytes: int = MAX_SAMPLE_BYTES,
             max_seconds: float = MAX_SAMPLE_S) -> np.ndarray:
    """Any plain WAV (``audio.analysis.wavio``: 8–32-bit PCM, float, multichannel) → float32 mono
    at ``rate``; AnalysisError for anything it cannot read, too big or too long."""
    from prelude_play.audio.analysis.wavio import read_wav as read_any, resample
    from prelude_play.errors import AnalysisError

    x, sr = read_any(path, max_bytes=max_bytes)
    if x.size > max_seconds * sr:
        raise AnalysisError(f"{path}: {x.size / sr:.1f} s is longer than {max_seconds:g} s")
    if sr != rate:
        x = resample(x, sr, rate)
    return np.ascontiguousarray(x, dtype=np.float32)


def check_sound_name(name: str) -> str | None:
    """Why ``name`` can never be a sound (None: it may be; a sample's file is looked for only
    when it is rendered). The same limits as rendering, without rendering: a board's loader
    names the file and line at once."""
    parts = name.split(":")
    try:
        if parts[0] == "vowel" and len(parts) == 4:
            dur = float(parts[3].lower().rstrip("s"))
            if not 0 <= dur <= synth.MAX_VOWEL_S:
                return f"a vowel lasts at most {synth.MAX_VOWEL_S:g} s, not {parts[3]}"
        if parts[0] in ("guitar", "keys", "chimes") and len(parts) == 2:
            if not 12 <= float(parts[1]) <= 120:
                return f"MIDI note {parts[1]} outside 12..120"
        if parts[0] == "drum" and len(parts) == 2 and not 0 <= int(parts[1]) <= 127:
            return f"drum note {parts[1]} outside 0..127"
    except ValueError:
        return f"{name!r} has a number that cannot be read"
    return None


def write_wav(path: str | Path, x: np.ndarray, rate: int) -> Path:
    """float mono → 16-bit PCM WAV, written atomically (a crash never leaves half a file): what
    ``read_wav`` reads back, e.g. a therapist's recording kept beside a board file."""
    path = Path(path)
    pcm = (np.clip(np.asarray(x, dtype=np.float32).reshape(-1), -1.0, 1.0) * 32767).astype("<i2")
    tmp = path.with_name(path.name + ".tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())
    tmp.replace(path)
    return path


class SoundBank:
    """Thread-safe cache of rendered sounds (renders happen in the caller's thread)."""

    def __init__(self, rate: int = synth.DEFAULT_RATE, sample_dirs: Iterable[str | Path] | None = None) -> None:
        self.rate = int(rate)
        self.sample_dirs = [Path(p) for p in (sample_dirs if sample_dirs is not None else [ASSET_SOUNDS])]
        self._cache: dict[str, Sound] = {}
        self._lock = threading.Lock()
        self.max_bytes = MAX_BANK_BYTES
        self.bytes = 0

    def samples(self) -> list[str]:
        """Names of the WAV samples available as ``sample:<stem>``."""
        out = set()
        for d in self.sample_dirs:
            if d.is_dir():
                out.update(f"sample:{p.stem}" for p in d.glob("*.wav"))
        return sorted(out)

    def get(self, name: str) -> Sound:
        with self._lock:
            snd = self._cache.get(name)
        if snd is not None:
            return snd
        if len(name) > 200:
            raise UnknownSoundError(f"{name[:40]!r}…: a sound name is at most 200 characters")
        snd = self._render(name)
        with self._lock:
            have = self._cache.get(name)
            if have is not None:
                return have
            size = int(snd.data.nbytes)
            if self.bytes + size > self.max_bytes:
                raise UnknownSoundError(
                    f"{name!r}: no room for it ({self.bytes / 2**20:.0f} MB of sounds already, "
                    f"at most {self.max_bytes / 2**20:.0f} MB)")
            self.bytes += size
            self._cache[name] = snd
            return snd

    def prepare(self, names: Iterable[str]) -> dict[str, Sound]:
        """Render every name now; raise UnknownSoundError listing all bad names."""
        out: dict[str, Sound] = {}
        bad: list[str] = []
        for n in names:
            try:
                out[n] = self.get(n)
            except UnknownSoundError as exc:
                bad.append(f"{n} ({exc})")
        if bad:
            raise UnknownSoundError("unknown sounds: " + "; ".join(bad))
        return out

    def _render(self, name: str) -> Sound:
        parts = name.split(":")
        kind = parts[0]
        r = self.rate
        try:
            problem = check_sound_name(name)
            if problem:
                raise ValueError(problem)
            if kind == "drum" and len(parts) == 2:
                return synth.drum(int(parts[1]), r)
            if kind in ("guitar", "keys", "chimes") and len(parts) == 2:
                note = float(parts[1])
                if not 12 <= note <= 120:
                    raise ValueError(f"MIDI note {parts[1]} outside 12..120")
                return getattr(synth, kind)(note, r)
            if kind == "vowel" and len(parts) in (3, 4):
                p = parts[2].lower()
                is_hz = p.endswith("hz")
                pitch = float(p[:-2] if is_hz else p)
                kw = {}
                if len(parts) == 4:
                    kw["dur"] = float(parts[3].lower().rstrip("s"))
                snd = synth.vowel(parts[1], pitch, r, pitch_is_hz=is_hz, **kw)
                return Sound(name, snd.data, r, snd.loop, snd.release_ms)
            if kind == "click" and len(parts) == 2 and parts[1] in ("hi", "lo"):
                return synth.click(parts[1] == "hi", r)
            if kind == "sample" and len(parts) == 2:
                for d in self.sample_dirs:
                    p = d / f"{parts[1]}.wav"
                    if p.is_file():
                        return Sound(name, read_wav(p, r), r, None, 60.0)
                raise KeyError(f"no {parts[1]}.wav in {', '.join(map(str, self.sample_dirs))}")
        except (KeyError, ValueError, OverflowError, AnalysisError) as exc:
            raise UnknownSoundError(f"{name!r}: {exc.args[0] if exc.args else exc}") from exc
        raise UnknownSoundError(
            f"{name!r} is not a sound name (drum:N, guitar:N, keys:N, chimes:N, vowel:V:N, "
            "click:hi|lo, sample:STEM)"
        )


__all__ = ["SoundBank", "read_wav", "check_sound_name", "ASSET_SOUNDS", "MAX_BANK_BYTES"]
