"""How big a picture is, from its first bytes, before anything decodes it.

A 390 kB PNG can say 20000 × 20000: decoding it takes 1.6 GB (2 GB with the copy a surface
conversion makes). So a picture file is measured from its header first — PNG's IHDR, JPEG's
start-of-frame — and refused above a pixel budget; the caller shows a placeholder and names the
file. Pure Python on bytes, no pygame: the fuzz tests feed it anything.
"""

from __future__ import annotations

import struct
from pathlib import Path

MAX_PICTURE_BYTES = 20 << 20
"""A picture file over 20 MB is refused unread (a phone photo is 3–8 MB)."""
MAX_SVG_BYTES = 2 << 20
MAX_PIXELS = 25_000_000
"""The largest picture decoded: a 24-megapixel camera photo (6000 × 4000) passes, 100 MB of
pixels at most while it is scaled down."""
MAX_SIDE = 16384
KEEP_SIDE = 1024
"""Pictures are kept at most this big after loading (a card never draws one larger)."""
HEAD_BYTES = 512 << 10
"""How far into a JPEG its size is looked for (EXIF blocks come first; 64 kB each at most)."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class PictureProblem(ValueError):
    """Why a picture file is not loaded (a message for the therapist's notice)."""


def header_size(head: bytes) -> tuple[str, int, int]:
    """(format, width, height) from a PNG or JPEG file's first bytes; PictureProblem otherwise."""
    if head.startswith(PNG_SIGNATURE):
        if len(head) < 24 or head[12:16] != b"IHDR":
            raise PictureProblem("damaged PNG (no IHDR header)")
        w, h = struct.unpack(">II", head[16:24])
        return "png", w, h
    if head.startswith(b"\xff\xd8"):
        return ("jpeg", *_jpeg_size(head))
    raise PictureProblem("not a PNG or JPEG picture")


def _jpeg_size(head: bytes) -> tuple[int, int]:
    pos = 2
    n = len(head)
    while pos < n:
        if head[pos] != 0xFF:
            raise PictureProblem("damaged JPEG (no marker where one should be)")
        while pos < n and head[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            break
        marker = head[pos]
        pos += 1
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        if marker == 0xD9 or marker == 0xDA:
            raise PictureProblem("damaged JPEG (image data before its size)")
        if pos + 2 > n:
            break
        (length,) = struct.unpack(">H", head[pos:pos + 2])
        if length < 2:
            raise PictureProblem("damaged JPEG (bad segment length)")
        if marker in _SOF:
            if pos + 7 > n:
                break
            h, w = struct.unpack(">HH", head[pos + 3:pos + 7])
            return w, h
        pos += length
    raise PictureProblem("JPEG whose size cannot be found in its first 512 kB")


def check_picture(path: Path) -> tuple[int, int] | None:
    """The (width, height) a raster picture will decode to, or None for an SVG (rendered at a
    fixed size). Raises PictureProblem for a file too big, unreadable, not a PNG/JPEG/SVG, or
    over the pixel budget."""
    try:
        size = path.stat().st_size
        if path.suffix.lower() == ".svg":
            if size > MAX_SVG_BYTES:
                raise PictureProblem(f"SVG file is over {MAX_SVG_BYTES >> 20} MB")
            return None
        if size > MAX_PICTURE_BYTES:
            raise PictureProblem(f"file is over {MAX_PICTURE_BYTES >> 20} MB")
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise PictureProblem(f"cannot be read ({exc.strerror or exc})") from None
    _fmt, w, h = header_size(head)
    if w < 1 or h < 1:
        raise PictureProblem(f"says it is {w} × {h} pixels")
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise PictureProblem(f"{w} × {h} pixels is too big (at most {MAX_PIXELS / 1e6:.0f} megapixels, "
                             f"{MAX_SIDE} a side): save a smaller copy")
    return w, h


__all__ = ["check_picture", "header_size", "PictureProblem", "MAX_PIXELS", "KEEP_SIDE"]
