"""The therapist PIN: stored salted and hashed, checked slowly, and locked out after wrong tries.

A PIN is four to eight digits, so it is only as strong as what guards it: it is never stored in
clear (scrypt, the standard library's memory-hard KDF: ``scrypt$N$r$p$salt$hash``), and after
``FREE_TRIES`` wrong PINs in a row the pad refuses for ``LOCKOUT_S``, doubling with every further
wrong PIN (at most ``MAX_LOCKOUT_S``). The count survives a restart (a small private file in the
data dir), so restarting the app does not reset it; every wrong PIN is logged by the shell.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

N, R, P = 2**14, 8, 1  # scrypt cost: ~50 ms on a tablet per check
FREE_TRIES = 3
LOCKOUT_S = 30.0
MAX_LOCKOUT_S = 3600.0
PIN_RE = re.compile(r"\d{4,8}")
HASH_RE = re.compile(r"scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)")


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for a PIN (a new random salt unless given)."""
    salt = salt or os.urandom(16)
    h = hashlib.scrypt(pin.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${base64.b64encode(salt).decode()}${base64.b64encode(h).decode()}"


def valid_hash(text: str) -> bool:
    return HASH_RE.fullmatch(text or "") is not None


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches the stored hash (constant-time comparison)."""
    m = HASH_RE.fullmatch(stored or "")
    if m is None or not pin:
        return False
    n, r, p = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (2 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    salt, want = base64.b64decode(m.group(4)), base64.b64decode(m.group(5))
    got = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=len(want), maxmem=64 * 1024 * 1024)
    return hmac.compare_digest(got, want)


@dataclass
class Verdict:
    ok: bool
    wait_s: float = 0.0  # > 0: locked out for this long (the PIN was not even checked)
    wrong_in_a_row: int = 0


class PinGuard:
    """Checks PINs against a hash, with the lockout; ``state_file`` keeps the count across runs.

    ``broken``: the PIN setting is malformed — the therapist screens refuse (never a default PIN)
    and say where to fix it.
    """

    def __init__(self, stored_hash: str, *, state_file: Path | None = None, broken: str | None = None,
                 now: "callable[[], float] | None" = None) -> None:  # type: ignore[valid-type]
        self.stored = stored_hash
        self.broken = broken
        self.state_file = state_file
        self._now = now or time.time  # wall time: a lockout must survive a restart
        self.wrong, self.locked_until = self._load()

    @property
    def required(self) -> bool:
        """False only when the therapist chose no PIN at all (``pin = ""``)."""
        return bool(self.stored) or self.broken is not None

    def check(self, pin: str) -> Verdict:
        now = self._now()
        if self.broken is not None:
            return Verdict(False)
        if now < self.locked_until:
            return Verdict(False, self.locked_until - now, self.wrong)
        if verify_pin(pin, self.stored):
            self.wrong, self.locked_until = 0, 0.0
            self._save()
            return Verdict(True)
        self.wrong += 1
        if self.wrong >= FREE_TRIES:
            wait = min(MAX_LOCKOUT_S, LOCKOUT_S * 2 ** (self.wrong - FREE_TRIES))
            self.locked_until = now + wait
        self._save()
        return Verdict(False, max(0.0, self.locked_until - now), self.wrong)

    def locked_for(self) -> float:
        return max(0.0, self.locked_until - self._now())

    def change(self, new_pin: str) -> str:
        """A new PIN (4–8 digits): returns its hash for the user's settings file."""
        if not PIN_RE.fullmatch(new_pin):
            raise ValueError("a PIN is 4 to 8 digits")
        self.stored = hash_pin(new_pin)
        self.broken = None
        self.wrong, self.locked_until = 0, 0.0
        self._save()
        return self.stored

    def _load(self) -> tuple[int, float]:
        if self.state_file is None:
            return 0, 0.0
        try:
            d = json.loads(self.state_file.read_text(encoding="utf-8"))
            return int(d.get("wrong", 0)), float(d.get("locked_until", 0.0))
        except (OSError, ValueError, TypeError, AttributeError):
            return 0, 0.0

    def _save(self) -> None:
        if self.state_file is None:
            return
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_name(self.state_file.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"wrong": self.wrong, "locked_until": self.locked_until}, fh)
            os.replace(tmp, self.state_file)
        except OSError:
            pass  # the lockout still holds for this run
