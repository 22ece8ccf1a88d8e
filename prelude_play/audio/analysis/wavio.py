"""Read any plain WAV into mono float32, and resample it to the analysis rate.

Our own RIFF chunk parser rather than ``scipy.io.wavfile``: we need 24-bit and
WAVE_FORMAT_EXTENSIBLE everywhere, and a therapist-readable error for everything else
(compressed formats, truncated files, not a WAV at all) instead of a library traceback.
"""

from __future__ import annotations

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


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Return ``(samples, rate)``: mono float32 in [-1, 1] (channels averaged) and the file's rate.

    Raises AnalysisError naming the file and what is supported for anything we cannot read.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise AnalysisError(f"{p}: cannot open ({exc.strerror or exc})") from exc
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
    buf = np.frombuffer(data, dtype=np.uint8, count=n * align)

    if tag == _FLOAT:
        x = buf.view("<f4" if width == 4 else "<f8").astype(np.float64)
    elif width == 1:
        x = (buf.astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        x = buf.view("<i2").astype(np.float64) / 32768.0
    elif width == 3:
        b = buf.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float64) / float(1 << 23)
    else:
        x = buf.view("<i4").astype(np.float64) / 2147483648.0
    if not np.all(np.isfinite(x)):
        raise _fail(p, "float samples contain NaN or infinity")
    x = x.reshape(n, channels).mean(axis=1)
    return x.astype(np.float32), int(rate)


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased) from ``rate`` to ``target`` Hz, as float32."""
    if rate == target:
        return np.asarray(x, dtype=np.float32)
    frac = Fraction(target, rate).limit_denominator(1000)
    y = resample_poly(np.asarray(x, dtype=np.float64), frac.numerator, frac.denominator)
    return y.astype(np.float32)
