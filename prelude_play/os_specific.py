"""What the app does differently per operating system, outside the audio/MIDI backends and the
C core (rt/pp_platform.h): how private the data folder can be made.

The data folder holds clients' therapy records. On Linux and macOS the app makes it owner-only
(folder 0700, store files 0600): other accounts on the computer cannot read it, administrators
(root) still can. On Windows, POSIX modes mean nothing (``os.chmod`` only sets the read-only
flag), so the folder is as private as its place: the default one (platformdirs,
``%LOCALAPPDATA%\\prelude-play``) is inside the user's profile, which Windows keeps to that user,
SYSTEM and Administrators; a ``--data-dir`` elsewhere (``C:\\PreludeData``, a shared drive) has
that place's permissions, which often let every user of the computer read it. The app does not
rewrite Windows ACLs (with icacls or pywin32): that could not be tested here, and a wrong ACL can
lock a therapist out of their own records. It says instead what the privacy rests on.

(Not named ``platform.py``: run as a script from this folder, or analysed by a bundler that adds
the entry script's folder to the path, it would shadow the standard library's ``platform``, which
numpy, pygame and sounddevice import.)
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path


def _inside(path: Path, folder: Path) -> bool:
    p = os.path.normcase(os.path.abspath(path))
    f = os.path.normcase(os.path.abspath(folder)).rstrip(os.sep)
    return p == f or p.startswith(f + os.sep)


def make_private_dir(path: Path, *, home: Path | None = None) -> list[str]:
    """Create ``path`` (with its parents) and keep it to the current user as far as this OS lets a
    program. Returns notices for the therapist where its privacy rests on something else."""
    path.mkdir(parents=True, exist_ok=True)
    if sys.platform.startswith(("win32", "cygwin")):
        home = Path.home() if home is None else home
        notices = [f"On Windows the client data in {path} is protected by your Windows user account, "
                   "not by Prelude Play: use a Windows account of your own, with a password "
                   "(and BitLocker on a laptop)."]
        if not _inside(path, home):
            notices.append(f"The data folder {path} is outside your user folder {home}, so it keeps that "
                           "place's permissions, which often let every user of this computer read it. "
                           "Use the default data folder or one inside your user folder.")
        return notices
    try:
        os.chmod(path, stat.S_IRWXU)
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        return [f"Could not make the data folder {path} private ({exc.strerror or exc}): other accounts "
                "on this computer may be able to read it."]
    if mode & 0o077:
        return [f"The data folder {path} stays readable by other accounts on this computer (its drive "
                "ignores permissions, e.g. a USB stick or a network share): keep client data on the "
                "computer's own disk."]
    return []
