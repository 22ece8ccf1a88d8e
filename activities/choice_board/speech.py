"""Spoken card labels: the therapist's recording, else offline speech synthesis, else a chime.

The synthesizer is espeak-ng, run as a separate program: it is in Debian main and in nearly every
Linux distribution, macOS (Homebrew) and Windows builds; it works offline, starts in ~50 ms, speaks
English and French, and CI installs it already. pico2wave (SVOX Pico) sounds more natural but is
in Debian's non-free section (not installable here nor on a stock Debian), has no Windows or
macOS builds, and only France French; an mbrola Canadian French voice (``mb-ca1``/``mb-ca2``) is
used by espeak-ng where the clinic has installed it. A label is rendered once, at prepare time
(or when its board or language changes: a therapist action), into the audio engine's sound bank:
never on the client's tap. With no espeak-ng the card's chime confirms the choice instead.

Recordings (``record_clip``) are trimmed to the voice, levelled and kept as a WAV beside the board
file; this module only touches numpy and ``prelude_play.audio.bank``'s WAV helpers.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import wave
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

# espeak-ng voices per session language, best first (the first one that works is kept).
VOICES: dict[str, tuple[str, ...]] = {"en": ("en-us",), "fr_CA": ("mb-ca2", "mb-ca1", "fr")}
WORDS_PER_MIN = 135  # a little slower than espeak-ng's 175: clear for a child with a language delay
MAX_RECORDING_S = 8.0
CHIMES = (72, 74, 76, 79, 81, 84, 86, 88, 91)  # one chime per card (pentatonic), when nothing speaks


def chime_for(index: int) -> str:
    """The card's own chime (fallback when neither a recording nor a synthesizer is available)."""
    return f"chimes:{CHIMES[index % len(CHIMES)]}"


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited (FFT) resampling with numpy alone: importing scipy would cost the prepare
    step a second. The clip is padded with silence to ``rate/g · 2^k`` samples so both FFTs have
    small prime factors (fast), and cut back after. Fine for a clip that ends in silence."""
    x = np.asarray(x, dtype=np.float32)
    if rate == target or x.size == 0:
        return x
    from math import gcd

    g = gcd(int(rate), int(target))
    down, up = rate // g, target // g
    k = 1 << max(0, int(np.ceil(np.log2(max(1.0, x.size / down)))))
    n_in, n_out = down * k, up * k
    spec = np.fft.rfft(x, n_in)  # zero-padded
    out = np.zeros(n_out // 2 + 1, dtype=complex)
    keep = min(spec.size, out.size)
    out[:keep] = spec[:keep]
    y = np.fft.irfft(out, n_out) * (n_out / n_in)
    return y[: int(round(x.size * target / rate))].astype(np.float32)


def level(x: np.ndarray, peak_db: float = -3.0, max_gain_db: float = 24.0) -> np.ndarray:
    """Peak-normalise (a quiet recording is boosted at most ``max_gain_db``)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0:
        return x
    gain = min(10 ** (peak_db / 20) / peak, 10 ** (max_gain_db / 20))
    return (x * gain).astype(np.float32)


def trim_voice(x: np.ndarray, rate: int, *, floor_db: float = -45.0, below_peak_db: float = 30.0,
               pad_s: float = 0.06) -> np.ndarray | None:
    """The part of a recording with the voice in it (10 ms frames above a threshold), with a little
    air and short fades; None if nothing was heard."""
    x = np.asarray(x, dtype=np.float32)
    hop = max(1, rate // 100)
    n = x.size // hop
    if n == 0:
        return None
    rms = np.sqrt(np.mean(np.square(x[: n * hop].reshape(n, hop), dtype=np.float64), axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-9))
    thresh = max(floor_db, float(db.max()) - below_peak_db)
    loud = np.flatnonzero(db > thresh)
    if loud.size == 0 or db.max() < floor_db:
        return None
    pad = int(pad_s * rate)
    y = x[max(0, loud[0] * hop - pad): min(x.size, (loud[-1] + 1) * hop + pad)].copy()
    fade = min(int(0.01 * rate), y.size // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        y[:fade] *= ramp
        y[-fade:] *= ramp[::-1]
    return y


def read_clip(path: Path, rate: int) -> np.ndarray:
    """A WAV file as float32 mono at ``rate`` (the project's reader; resampled here without scipy)."""
    from prelude_play.audio.bank import read_wav

    with wave.open(str(path), "rb") as w:
        own = w.getframerate()
    return resample(read_wav(path, own), own, rate)


class Synthesizer:
    """espeak-ng behind a small interface; ``available`` is False when it is not installed."""

    def __init__(self, exe: str | None = None, *, timeout_s: float = 10.0) -> None:
        self.exe = exe if exe is not None else (shutil.which("espeak-ng") or "")
        self.timeout_s = timeout_s
        self._voice: dict[str, str | None] = {}  # language -> the voice that works (None: none does)

    @property
    def available(self) -> bool:
        return bool(self.exe)

    @property
    def name(self) -> str:
        return "espeak-ng" if self.exe else "none"

    def _run(self, voice: str, text: str, out: Path) -> subprocess.Popen[bytes]:
        # "--" so a label starting with "-" is spoken, not read as an option
        return subprocess.Popen([self.exe, "-v", voice, "-s", str(WORDS_PER_MIN), "-w", str(out), "--", text],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def voice_for(self, language: str) -> str | None:
        """The first voice of the language that renders (tried once per language)."""
        if language not in self._voice:
            voices = VOICES.get(language, VOICES["en"])
            self._voice[language] = voices[-1]  # the last resort needs no probe: its labels fail alone
            with tempfile.TemporaryDirectory(prefix="pp-tts-") as tmp:
                for v in voices[:-1]:
                    out = Path(tmp) / "probe.wav"
                    try:
                        ok = self._run(v, "a", out).wait(self.timeout_s) == 0 and out.stat().st_size > 44
                    except (OSError, subprocess.TimeoutExpired):
                        ok = False
                    if ok:
                        self._voice[language] = v
                        break
        return self._voice[language]

    def render(self, texts: Iterable[str], language: str, rate: int,
               stop: Callable[[], bool] = lambda: False, parallel: int = 6) -> dict[str, np.ndarray]:
        """Speak each text into float32 mono at ``rate``, a few processes at a time; texts that
        fail are left out (the caller falls back to the chime)."""
        voice = self.voice_for(language) if self.available else None
        todo = list(dict.fromkeys(t for t in texts if t.strip()))
        out: dict[str, np.ndarray] = {}
        if voice is None or not todo:
            return out
        with tempfile.TemporaryDirectory(prefix="pp-tts-") as tmp:
            for start in range(0, len(todo), parallel):
                if stop():
                    break
                batch = [(t, Path(tmp) / f"{start + k}.wav") for k, t in enumerate(todo[start:start + parallel])]
                procs = []
                for t, path in batch:
                    try:
                        procs.append((t, path, self._run(voice, t, path)))
                    except OSError:
                        continue
                for t, path, proc in procs:
                    try:
                        if proc.wait(self.timeout_s) != 0:
                            continue
                        x = read_clip(path, rate)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        continue
                    except Exception:  # a damaged file: this label falls back to its chime
                        continue
                    if x.size:
                        out[t] = level(x, -6.0, 12.0)
        return out


class Voices:
    """The spoken form of each label: loaded into the engine once, looked up on the tap.

    ``ensure`` renders what is missing (prepare time, a board shown, the language switched: never a
    tap); ``background`` does the same for the other boards on a worker thread, so the first board
    is ready at once and the rest soon after. Thread-safe: one lock around the bookkeeping."""

    def __init__(self, synth: Synthesizer, load: Callable[[str, np.ndarray], None], rate: int) -> None:
        self.synth = synth
        self.load = load
        self.rate = rate
        self._lock = threading.Lock()
        self._render_lock = threading.Lock()
        self._ready: dict[tuple[str, str], tuple[str, int]] = {}  # (language, text) -> (sound, duration ns)
        self._failed: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sound(self, language: str, text: str) -> tuple[str, int] | None:
        with self._lock:
            return self._ready.get((language, text))

    def add(self, name: str, key: tuple[str, str], x: np.ndarray) -> None:
        self.load(name, x)
        with self._lock:
            self._ready[key] = (name, int(x.size / self.rate * 1e9))

    def _missing(self, language: str, texts: Iterable[str]) -> list[str]:
        with self._lock:
            return [t for t in dict.fromkeys(texts) if (language, t) not in self._ready
                    and (language, t) not in self._failed]

    def ensure(self, language: str, texts: Iterable[str]) -> None:
        texts = list(texts)
        if not self._missing(language, texts):  # the usual case: never wait for the worker
            return
        with self._render_lock:  # never two renders of the same label (worker and a board shown)
            todo = self._missing(language, texts)
            if not todo:
                return
            got = self.synth.render(todo, language, self.rate, stop=self._stop.is_set)
            for t in todo:
                if t in got:
                    self.add(f"choice_board:say:{language}:{t}", (language, t), got[t])
                elif not self._stop.is_set():
                    with self._lock:
                        self._failed.add((language, t))

    def background(self, language: str, groups: list[list[str]]) -> None:
        """Render ``groups`` (one per board) on a worker thread, one board at a time."""
        if not self.synth.available or not groups:
            return

        def work() -> None:
            for texts in groups:
                if self._stop.is_set():
                    return
                self.ensure(language, texts)

        self._thread = threading.Thread(target=work, name="choice_board-speech", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
