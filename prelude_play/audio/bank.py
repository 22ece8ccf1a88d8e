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
from prelude_play.errors import UnknownSoundError

ASSET_SOUNDS = Path(__file__).resolve().parents[2] / "assets" / "sounds"


def read_wav(path: str | Path, rate: int) -> np.ndarray:
    """16/24/32-bit PCM WAV → float32 mono at ``rate`` (channels averaged, resampled if needed)."""
    from prelude_play.errors import AnalysisError

    try:
        with wave.open(str(path), "rb") as w:
            ch, width, sr, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError, OSError) as exc:
        raise AnalysisError(f"cannot read WAV {path}: {exc}") from exc
    if width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        i = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16))
        i = np.where(i >= 1 << 23, i - (1 << 24), i)
        x = i.astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise AnalysisError(f"unsupported WAV sample width {width * 8} bit in {path}")
    x = x.reshape(-1, ch).mean(axis=1) if ch > 1 else x
    if sr != rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(sr, rate)
        x = resample_poly(x, rate // g, sr // g).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


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
        snd = self._render(name)
        with self._lock:
            return self._cache.setdefault(name, snd)

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
        except (KeyError, ValueError) as exc:
            raise UnknownSoundError(f"{name!r}: {exc.args[0] if exc.args else exc}") from exc
        raise UnknownSoundError(
            f"{name!r} is not a sound name (drum:N, guitar:N, keys:N, chimes:N, vowel:V:N, "
            "click:hi|lo, sample:STEM)"
        )


__all__ = ["SoundBank", "read_wav", "ASSET_SOUNDS"]
