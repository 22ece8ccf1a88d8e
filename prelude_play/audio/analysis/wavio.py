"""Read an audio file (WAV and whatever else libsndfile reads) into mono float32, and resample
it to the analysis rate.

One reader for the whole app, soundfile (libsndfile, shipped inside its wheels): 8–32-bit PCM,
float, mu-law/A-law/ADPCM WAVs, WAVE_FORMAT_EXTENSIBLE, FLAC, OGG, AIFF. Ours is only what a
therapist needs around it: a size and length limit checked before reading (memory stays
bounded whatever the header says), a channel mix-down block by block, and an error that names
the file, says what is wrong and what is supported, instead of a library traceback.
Resampling is soxr (libsoxr's VHQ polyphase filter), not scipy: scipy costs over a second to
import and ~100 MB in a bundle for this one call.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from prelude_play.errors import AnalysisError

SUPPORTED = (
    "WAV (PCM 8-32-bit, float, mu-law, A-law, ADPCM), FLAC, OGG/Vorbis or AIFF, "
    "mono or multichannel, 8-192 kHz"
)
MIN_RATE = 8000
MAX_RATE = 192000
MAX_BYTES = 100 << 20
"""A file over 100 MB is refused unread (an hour of 16-bit mono at 16 kHz is 115 MB)."""
MAX_FRAMES = 1 << 25
"""At most 33.5 M frames (11.6 min at 48 kHz): with the mono result and one block being
converted, reading never takes more than ~ 134 MB whatever the header says."""
BLOCK_FRAMES = 1 << 16
MAX_CHANNELS = 64


def _fail(path: Path, what: str) -> AnalysisError:
    return AnalysisError(f"{path}: {what}. Supported: {SUPPORTED}.")


def read_wav(path: str | Path, *, max_bytes: int = MAX_BYTES) -> tuple[np.ndarray, int]:
    """Return ``(samples, rate)``: mono float32 in [-1, 1] (channels averaged) and the file's rate.

    Raises AnalysisError naming the file and what is supported for anything we cannot read,
    including a file over ``max_bytes`` or ``MAX_FRAMES`` frames (memory stays bounded).
    """
    import soundfile as sf

    p = Path(path)
    try:
        size = os.stat(p).st_size
    except OSError as exc:
        raise AnalysisError(f"{p}: cannot open ({exc.strerror or exc})") from exc
    if size > max_bytes:
        raise AnalysisError(f"{p}: file is over {max_bytes / 2**20:.0f} MB; cut it into shorter recordings")
    try:
        f = sf.SoundFile(p)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        why = str(getattr(exc, "error_string", "") or exc).strip().rstrip(".")
        if "channel" in why.lower() and "zero" in why.lower():
            raise _fail(p, "zero channels (a damaged header)") from exc
        raise _fail(p, f"not a WAV or other audio file this app reads ({why}); save it again as a WAV "
                       "from the recorder or an audio editor") from exc
    with f:
        rate, channels, n = int(f.samplerate), int(f.channels), int(f.frames)
        if not MIN_RATE <= rate <= MAX_RATE:
            raise _fail(p, f"sample rate {rate} Hz is out of range")
        if not 1 <= channels <= MAX_CHANNELS:
            raise _fail(p, f"{channels} channels is not supported")
        if n <= 0:
            raise _fail(p, "no audio in the file (empty data chunk)")
        if n > MAX_FRAMES:
            raise AnalysisError(f"{p}: {n:,} frames is longer than {MAX_FRAMES:,} "
                                f"({MAX_FRAMES / rate / 60:.1f} min at {rate} Hz); cut it into shorter recordings")
        float64 = f.subtype == "DOUBLE"
        out = np.zeros(n, dtype=np.float64 if float64 else np.float32)
        done = 0
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN are refused below
                while done < n:
                    block = f.read(min(BLOCK_FRAMES, n - done), dtype="float64" if float64 else "float32",
                                   always_2d=True)
                    if len(block) == 0:
                        break
                    out[done:done + len(block)] = block.mean(axis=1) if channels > 1 else block[:, 0]
                    done += len(block)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise _fail(p, f"damaged audio data ({exc})") from exc
    if done == 0:
        raise _fail(p, "no audio in the file (empty data chunk)")
    with np.errstate(over="ignore", invalid="ignore"):
        x = out[:done].astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise _fail(p, "float samples contain NaN, infinity or values far out of range")
    return x, rate


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Anti-aliased resampling (soxr, very high quality) from ``rate`` to ``target`` Hz, as float32."""
    if rate == target:
        return np.asarray(x, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(x, dtype=np.float32), rate, target, quality="VHQ").astype(np.float32, copy=False)
