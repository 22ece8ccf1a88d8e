"""The therapist's notices: what the app has to tell the therapist, kept off the child's screen.

A notice ("Level up: 2", "No microphone", a plan step that is not installed) is for the person
who runs the session, so it is never drawn on the client's screen. It waits, counted, until the
therapist sees it: on the rail (a banner while unlocked), in the overlay (the last few), or at
home. While locked, the only trace is the colour of the therapist corner's dot (not in low
stimulation), so a therapist knows to look and a child sees nothing to read.
"""

from __future__ import annotations

from typing import Iterable

KEEP = 20  # the latest notices kept for the overlay; older ones were seen or are in the log


class NoticeList(list[str]):
    """The latest notices, oldest first (a plain list for readers), and how many are unseen."""

    def __init__(self, items: Iterable[str] = ()) -> None:
        super().__init__(items)
        self.total = len(self)
        self.seen = 0

    def append(self, text: str) -> None:  # type: ignore[override]
        super().append(text)
        self.total += 1
        del self[:-KEEP]

    def extend(self, items: Iterable[str]) -> None:  # type: ignore[override]
        for text in items:
            self.append(text)

    @property
    def unseen(self) -> int:
        return min(self.total - self.seen, len(self))

    def latest(self, n: int) -> list[str]:
        """The last ``n`` notices, newest first."""
        return list(reversed(self[-n:])) if n > 0 else []

    def mark_seen(self) -> None:
        self.seen = self.total
