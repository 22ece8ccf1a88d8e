"""WAV reading: every supported encoding decodes to the right samples; anything else is a clear
AnalysisError naming the file."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from prelude_play.audio.analysis.wavio import read_wav, resample
from prelude_play.errors import AnalysisError

_PCM_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def _encode(x: np.ndarray, kind: str, bits: int) -> bytes:
    if kind == "float":
        return x.astype("<f4" if bits == 32 else "<f8").tobytes()
    if bits == 8:
        return np.clip(np.round(x * 127 + 128), 0, 255).astype(np.uint8).tobytes()
    scale = float(2 ** (bits - 1) - 1)
    v = np.round(x * scale).astype(np.int64)
    if bits == 24:
        v &= 0xFFFFFF
        return np.stack([v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF], axis=-1).astype(np.uint8).tobytes()
    return v.astype({16: "<i2", 32: "<i4"}[bits]).tobytes()


def write_wav(
    path: Path, x: np.ndarray, rate: int, kind: str = "pcm", bits: int = 16,
    extensible: bool = False, tag: int | None = None, junk: bool = False,
) -> Path:
    """Write a WAV by hand so every encoding (incl. 24-bit, extensible) can be produced."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64).T).T
    if x.ndim == 1:
        x = x[:, None]
    ch = x.shape[1]
    data = _encode(x.reshape(-1), kind, bits)
    fmt_tag = tag if tag is not None else (1 if kind == "pcm" else 3)
    align = ch * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHH", 0xFFFE, ch, rate, rate * align, align, bits)
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", fmt_tag) + _PCM_GUID_TAIL
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, ch, rate, rate * align, align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if junk:
        chunks += b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd size, padded
    chunks += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    return path


def _sine(rate: int, n: int = 800) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)


@pytest.mark.parametrize(
    "kind,bits,extensible,tol",
    [
        ("pcm", 8, False, 1 / 100),
        ("pcm", 16, False, 1e-4),
        ("pcm", 24, False, 1e-6),
        ("pcm", 32, False, 1e-7),
        ("float", 32, False, 1e-7),
        ("float", 64, False, 1e-7),
        ("pcm", 24, True, 1e-6),
        ("float", 32, True, 1e-7),
    ],
)
def test_encodings_decode_to_the_written_samples(tmp_path, kind, bits, extensible, tol):
    x = _sine(44100)
    p = write_wav(tmp_path / "a.wav", x, 44100, kind, bits, extensible)
    y, rate = read_wav(p)
    assert rate == 44100 and y.dtype == np.float32 and len(y) == len(x)
    assert np.max(np.abs(y - x)) < tol


def test_negative_24_bit_values_keep_their_sign(tmp_path):
    x = np.array([-0.75, -0.25, 0.0, 0.25, 0.75])
    y, _ = read_wav(write_wav(tmp_path / "n.wav", x, 8000, "pcm", 24))
    assert np.allclose(y, x, atol=1e-6)


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 32000, 44100, 48000])
def test_rates_and_stereo_mixdown(tmp_path, rate):
    left = _sine(rate, 400)
    stereo = np.stack([left, -0.5 * left], axis=1)
    y, r = read_wav(write_wav(tmp_path / "s.wav", stereo, rate, junk=True))
    assert r == rate
    assert np.allclose(y, 0.25 * left, atol=1e-4)


def test_resample_keeps_a_tone_and_changes_length():
    x = _sine(48000, 48000).astype(np.float32)
    y = resample(x, 48000, 16000)
    assert len(y) == 16000
    spec = np.abs(np.fft.rfft(y[1000:-1000] * np.hanning(14000)))
    assert abs(np.argmax(spec) * 16000 / 14000 - 440) < 2


def _errmsg(path: Path) -> str:
    with pytest.raises(AnalysisError) as info:
        read_wav(path)
    msg = str(info.value)
    assert str(path) in msg and "Supported:" in msg
    return msg


def test_not_a_wav(tmp_path):
    p = tmp_path / "x.wav"
    p.write_bytes(b"ID3\x03\x00" + bytes(100))
    assert "not a WAV" in _errmsg(p)


def test_compressed_wavs_decode_or_say_what_to_do(tmp_path):
    """soundfile (libsndfile) decodes mu-law, which the hand-written reader refused; a format it
    cannot read (MP3 inside a WAV header) is named as unreadable, with what to do."""
    import soundfile as sf

    sf.write(tmp_path / "ulaw.wav", _sine(8000), 8000, subtype="ULAW")
    y, rate = read_wav(tmp_path / "ulaw.wav")
    assert rate == 8000 and len(y) == 800 and np.max(np.abs(y - _sine(8000))) < 0.02
    msg = _errmsg(write_wav(tmp_path / "mp3.wav", _sine(8000), 8000, bits=16, tag=0x0055))
    assert "not a WAV or other audio file this app reads" in msg and "save it again as a WAV" in msg


def test_flac_reads_like_wav(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "a.flac", _sine(16000), 16000)
    y, rate = read_wav(tmp_path / "a.flac")
    assert rate == 16000 and np.max(np.abs(y - _sine(16000))) < 1e-4


def test_truncated_file_is_read_as_far_as_it_goes(tmp_path):
    """A recording cut short (the recorder's battery died) keeps what was recorded."""
    p = write_wav(tmp_path / "t.wav", _sine(8000), 8000)
    p.write_bytes(p.read_bytes()[:-100])
    y, _ = read_wav(p)
    assert len(y) == 750 and np.allclose(y, _sine(8000)[:750], atol=1e-4)


def test_header_only_and_empty_data(tmp_path):
    p = write_wav(tmp_path / "h.wav", _sine(8000), 8000)
    p.write_bytes(p.read_bytes()[:36])
    assert "data" in _errmsg(p)
    q = write_wav(tmp_path / "e.wav", np.zeros(0), 8000)
    assert "empty" in _errmsg(q)


def test_rate_below_minimum_and_missing_file(tmp_path):
    p = write_wav(tmp_path / "low.wav", _sine(4000), 4000)
    assert "4000 Hz" in _errmsg(p)
    with pytest.raises(AnalysisError, match="cannot open"):
        read_wav(tmp_path / "nope.wav")
