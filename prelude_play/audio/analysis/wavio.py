"""Read any plain WAV into mono float32, and resample it to the analysis rate.

Our own RIFF chunk parser rather than ``scipy.io.wavfile``: we need 24-bit and
WAVE_FORMAT_EXTENSIBLE everywhere, and a therapist-readable error for everything else
(compressed formats, truncated files, not a WAV at all) instead of a library traceback.
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from prelude_play.errors import AnalysisError

SUPPORTED = (
    "WAV (RIFF/WAVE) with PCM 8/16/24/32-bit integer or 32/64-bit float samples, "
    "mono or multichannel, 8-192 kHz"
)
MIN_RATE = 8000
MAX_RATE = 192000
MAX_BYTES = 100 << 20
"""A WAV over 100 MB is refused unread (an hour of 16-bit mono at 16 kHz is 115 MB)."""
MAX_FRAMES = 1 << 25
"""At most 33.5 M frames (11.6 min at 48 kHz): with the mono result and one channel being
converted, reading never takes more than ~ 3 × 134 MB whatever the header says."""

_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_FORMAT_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
    0x0161: "WMA",
    0x2000: "AC-3",
}


def _fail(path: Path, what: str) -> AnalysisError:
    return AnalysisError(f"{path}: {what}. Supported: {SUPPORTED}.")


def read_wav(path: str | Path, *, max_bytes: int = MAX_BYTES) -> tuple[np.ndarray, int]:
    """Return ``(samples, rate)``: mono float32 in [-1, 1] (channels averaged) and the file's rate.

    Raises AnalysisError naming the file and what is supported for anything we cannot read,
    including a file over ``max_bytes`` or ``MAX_FRAMES`` frames (memory stays bounded).
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:  # read(n) allocates n bytes at once: ask for no more than is there
            raw = fh.read(min(os.fstat(fh.fileno()).st_size, max_bytes) + 1)
    except OSError as exc:
        raise AnalysisError(f"{p}: cannot open ({exc.strerror or exc})") from exc
    if len(raw) > max_bytes:
        raise AnalysisError(f"{p}: file is over {max_bytes / 2**20:.0f} MB; cut it into shorter recordings")
    if len(raw) < 12 or raw[0:4] not in (b"RIFF", b"RIFX", b"RF64") or raw[8:12] != b"WAVE":
        raise _fail(p, "not a WAV file (no RIFF/WAVE header)")
    if raw[0:4] != b"RIFF":
        raise _fail(p, f"{raw[0:4].decode('ascii')} WAV variant is not supported")

    fmt: tuple[int, int, int, int, int] | None = None  # tag, channels, rate, block_align, bits
    data: bytes | None = None
    pos = 12
    while pos + 8 <= len(raw):
        cid = raw[pos : pos + 4]
        (size,) = struct.unpack_from("<I", raw, pos + 4)
        body_start = pos + 8
        body_end = body_start + size
        if cid == b"fmt ":
            if size < 16 or body_end > len(raw):
                raise _fail(p, "damaged 'fmt ' chunk")
            tag, channels, rate, _bps, align, bits = struct.unpack_from("<HHIIHH", raw, body_start)
            if tag == _EXTENSIBLE:
                if size < 40:
                    raise _fail(p, "damaged WAVE_FORMAT_EXTENSIBLE header")
                valid_bits = struct.unpack_from("<H", raw, body_start + 18)[0]
                sub = raw[body_start + 24 : body_start + 40]
                if sub[2:] != _GUID_TAIL:
                    raise _fail(p, "unknown WAVE_FORMAT_EXTENSIBLE sub-format")
                tag = struct.unpack_from("<H", sub, 0)[0]
                if valid_bits and valid_bits > bits:
                    raise _fail(p, "damaged WAVE_FORMAT_EXTENSIBLE header (valid bits > container)")
            fmt = (tag, channels, rate, align, bits)
        elif cid == b"data":
            if fmt is None:
                raise _fail(p, "'data' chunk before 'fmt ' chunk")
            if body_end > len(raw):
                raise _fail(
                    p,
                    f"file is truncated (data chunk says {size} bytes, "
                    f"only {len(raw) - body_start} present)",
                )
            data = raw[body_start:body_end]
            break
        pos = body_end + (size & 1)  # chunks are word aligned
    if fmt is None:
        raise _fail(p, "no 'fmt ' chunk (damaged or truncated WAV)")
    if data is None:
        raise _fail(p, "no 'data' chunk (damaged or truncated WAV)")

    tag, channels, rate, align, bits = fmt
    if tag not in (_PCM, _FLOAT):
        name = _FORMAT_NAMES.get(tag, f"format 0x{tag:04X}")
        raise _fail(p, f"compressed or unknown sample format ({name})")
    if channels < 1:
        raise _fail(p, "zero channels")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise _fail(p, f"sample rate {rate} Hz is out of range")
    width = bits // 8 if bits % 8 == 0 else 0
    if tag == _PCM and width not in (1, 2, 3, 4):
        raise _fail(p, f"{bits}-bit PCM is not supported")
    if tag == _FLOAT and width not in (4, 8):
        raise _fail(p, f"{bits}-bit float is not supported")
    if align != width * channels:
        raise _fail(p, f"inconsistent header (block align {align} for {channels}x{bits}-bit)")
    n = len(data) // align
    if n == 0:
        raise _fail(p, "no audio in the file (empty data chunk)")
    if n > MAX_FRAMES:
        raise AnalysisError(f"{p}: {n:,} frames is longer than {MAX_FRAMES:,} "
                            f"({MAX_FRAMES / rate / 60:.1f} min at {rate} Hz); cut it into shorter recordings")
    frames = np.frombuffer(data, dtype=np.uint8, count=n * align).reshape(n, align)
    out = np.zeros(n, dtype=np.float64 if tag == _FLOAT and width == 8 else np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN are refused below
        for c in range(channels):  # one channel at a time: memory is the result plus one channel
            out += _channel(frames[:, c * width:(c + 1) * width], tag, width)
        if channels > 1:
            out /= channels
    with np.errstate(over="ignore", invalid="ignore"):
        x = out.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise _fail(p, "float samples contain NaN, infinity or values far out of range")
    return x, int(rate)


def _channel(b: np.ndarray, tag: int, width: int) -> np.ndarray:
    """One channel's bytes (frames × width) as float samples in [-1, 1]."""
    raw = np.ascontiguousarray(b).reshape(-1)
    if tag == _FLOAT:
        return raw.view("<f4").astype(np.float32) if width == 4 else raw.view("<f8").astype(np.float64)
    if width == 1:
        return (raw.astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return raw.view("<i2").astype(np.float32) / 32768.0
    if width == 3:
        v = b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float32) / float(1 << 23)
    return (raw.view("<i4").astype(np.float64) / 2147483648.0).astype(np.float32)


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased) from ``rate`` to ``target`` Hz, as float32."""
    if rate == target:
        return np.asarray(x, dtype=np.float32)
    frac = Fraction(target, rate).limit_denominator(1000)
    y = resample_poly(np.asarray(x, dtype=np.float64), frac.numerator, frac.denominator)
    return y.astype(np.float32)
