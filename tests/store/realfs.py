"""Real filesystems for the store's fault tests: an ext4 image on a loop device, a small tmpfs.

Both need root (mount, losetup); without it the tests skip with the reason (and CI, which runs
as root, turns a skipped realstack test into a failure).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a loop device or a tmpfs (real-filesystem store test)")
    for tool in ("losetup", "mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (util-linux / e2fsprogs)")


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def loop_mount(image: Path, where: Path, options: str = "") -> Iterator[str]:
    """Mount ``image`` (ext4) on its own loop device at ``where``; yields the loop device."""
    where.mkdir(parents=True, exist_ok=True)
    dev = _run("losetup", "--find", "--show", str(image))
    try:
        _run("mount", *(["-o", options] if options else []), dev, str(where))
        try:
            yield dev
        finally:
            subprocess.run(["umount", str(where)], capture_output=True)
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True)


def make_ext4(image: Path, size_mb: int = 32) -> Path:
    image.parent.mkdir(parents=True, exist_ok=True)
    with open(image, "wb") as fh:
        fh.truncate(size_mb << 20)
    _run("mkfs.ext4", "-q", "-F", str(image))
    return image


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where))
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def trigger_ext4_error(dev: str) -> None:
    """Make ext4 hit an error now: with ``errors=remount-ro`` it aborts its journal and turns the
    filesystem read-only under the open store, as a failing SD card or disk does. (``mount -o
    remount,ro`` cannot do this: it refuses while the store has files open for writing.)"""
    Path(f"/sys/fs/ext4/{Path(dev).name}/trigger_fs_error").write_text("prelude-play test\n")
