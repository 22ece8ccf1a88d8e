"""Globally unique ids for events, trials and sessions: UUIDv7 (RFC 9562).

Several tablets will merge their stores, so an id must be unique without asking anyone: 48 bits
of Unix milliseconds, then 74 random bits. Ids made in one process are strictly increasing (a
counter in the random part when two fall in the same millisecond, as RFC 9562 §6.2 allows), so
sorting by id sorts by creation, which keeps exports and merges in a sensible order. The time in
the id is a label only; the log's order and durations come from the monotonic clock.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = [0, 0]  # ms, counter of the last id


def uuid7(unix_ms: int | None = None) -> str:
    """A new UUIDv7 as its 36-character text form."""
    ms = int(time.time() * 1000) if unix_ms is None else int(unix_ms)
    rand = int.from_bytes(os.urandom(10), "big")
    with _lock:
        if unix_ms is None:
            if ms <= _last[0]:  # same (or an earlier, after a clock step) millisecond: keep order
                ms = _last[0]
                counter = (_last[1] + 1) & 0xFFF
                if counter == 0:  # 4096 ids in one millisecond: borrow the next millisecond
                    ms += 1
            else:
                counter = rand >> 68 & 0x7FF  # a random start leaves room to count up
            _last[0], _last[1] = ms, counter
        else:
            counter = rand >> 68 & 0xFFF
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand & 0x3FFF_FFFF_FFFF_FFFF
    return str(uuid.UUID(int=value))


def uuid7_time_ms(text: str) -> int:
    """The Unix milliseconds a UUIDv7 was made at (for a label; never for ordering a session)."""
    return uuid.UUID(text).int >> 80


def is_uuid(text: object) -> bool:
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True
