"""One error tree: everything Prelude Play raises on purpose is a PreludeError.

Messages are written for a therapist: what happened, where (file and line), what to do.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

_BRIEF = reprlib.Repr()
_BRIEF.maxlevel = 3
_BRIEF.maxstring = 60
_BRIEF.maxother = 60
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = _BRIEF.maxset = 6
_BRIEF.maxlong = 40


def brief(value: Any) -> str:
    """A value as a message shows it: short, and safe for any value a file can hold (a 1 MB
    string, a list nested 1 000 deep, a 5 000-digit number), so reporting a bad value can
    never be slower, bigger or more fragile than the value itself."""
    try:
        return _BRIEF.repr(value)
    except Exception:  # noqa: BLE001 - a message must always be made
        return f"<{type(value).__name__}>"


class PreludeError(Exception):
    """Base of every error Prelude Play raises deliberately."""


class ConfigError(PreludeError):
    """A config file or value is wrong. Names the file, line/key, bad value and what is allowed."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path if isinstance(path, Path) or path is None else Path(path)
        self.line = line
        self.key = key
        self.hint = hint
        self.detail = message
        where = ""
        if self.path is not None:
            where = str(self.path)
            if line is not None:
                where += f", line {line}"
            where += ": "
        if key:
            where += f"[{key}] "
        text = where + message
        if hint:
            text += f" — {hint}"
        super().__init__(text)


class ActivityError(PreludeError):
    """An activity module could not be loaded or failed while running."""

    def __init__(self, activity: str, message: str) -> None:
        self.activity = activity
        super().__init__(f"activity '{activity}': {message}")


class StoreError(PreludeError):
    """The event store cannot be opened or written (damaged, newer version, disk full)."""


class ExportError(PreludeError):
    """An export could not be written; the store is untouched."""


class DeviceError(PreludeError, OSError):
    """A MIDI or audio device failed or vanished. Raised ``from`` the backend's own error."""


class UnknownSoundError(PreludeError, KeyError):
    """A sound name that is neither loaded in the audio engine nor known to its SoundBank. Here,
    not in ``audio.engine``, because the bank raises it too and the engine uses the bank."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class AnalysisError(PreludeError):
    """Audio given for analysis cannot be read (unsupported or damaged WAV)."""


class SyncError(PreludeError):
    """The clinic sync could not finish (server unreachable, device revoked, client not assigned).
    Nothing is lost: what was not acknowledged stays in the tablet's outbox for the next round."""
