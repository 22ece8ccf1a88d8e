"""Choice boards, pure logic: which card is offered, highlighted, dwelt on and chosen, and when.

No pygame here: the activity maps pointer positions to card indices and turns the results
(choices, cues, accidents) into sound and log events. Every time is on the one app clock, taken
from the input event, so a choice's latency is exact even when a frame is late.

Ways to choose (a client's ``access`` settings):
  tap        direct touch (the shell's touch accommodations already applied)
  dwell      hold a finger/pointer on a card for ``dwell_ms`` (300–3000), progress ring shown
  scan       single switch: the highlight moves by itself; a press chooses
  step_scan  two switches: one moves the highlight, the other chooses
  play       each card bound to a MIDI pad/key note, a computer key or a coloured pad
Scanning is ``linear`` (card by card) or ``row_column`` (rows first, then cards in the row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

METHODS = ("tap", "dwell", "scan", "step_scan", "play")
PATTERNS = ("linear", "row_column")
DWELL_RANGE_MS = (300, 3000)
# Default pad notes for choosing by playing: GM kick, snare, closed hat, low/mid/high toms, crash,
# ride, cowbell — the pads a small kit sends — so cards 1..9 are the pads left to right.
DEFAULT_PLAY_NOTES = (36, 38, 42, 45, 48, 50, 49, 51, 56)
DEFAULT_PLAY_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9")


def _ints(value: Any) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value or () if isinstance(v, int))


def _keys(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value.lower(),)
    return tuple(str(v).lower() for v in value or ())


@dataclass(frozen=True)
class Access:
    """How one client chooses. Built from the client profile's ``access`` table."""

    method: str = "tap"
    dwell_ms: int = 1000
    pattern: str = "linear"
    scan_ms: int = 1500
    loops: int = 3
    initial_delay_ms: int = 2000
    post_choice_ms: int = 2000
    cue: bool = True
    select_keys: tuple[str, ...] = ("space", "return")
    move_keys: tuple[str, ...] = ()
    select_notes: tuple[int, ...] = ()
    move_notes: tuple[int, ...] = ()
    debounce_ms: int = 200
    play_notes: tuple[int, ...] = DEFAULT_PLAY_NOTES
    play_keys: tuple[str, ...] = DEFAULT_PLAY_KEYS

    @classmethod
    def from_profile(cls, raw: Any, notice: Callable[[str], None] = lambda s: None) -> "Access":
        """Read ``client["access"]``; a bad value falls back to its default with a notice."""
        if not isinstance(raw, dict):
            return cls()
        d = cls()
        method = raw.get("method", d.method)
        if method not in METHODS:
            notice(f"access.method {method!r} unknown; using tap (allowed: {', '.join(METHODS)})")
            method = "tap"
        pattern = raw.get("pattern", d.pattern)
        if pattern not in PATTERNS:
            notice(f"access.pattern {pattern!r} unknown; using linear")
            pattern = "linear"
        dwell = raw.get("dwell_ms", d.dwell_ms)
        if not isinstance(dwell, int) or not DWELL_RANGE_MS[0] <= dwell <= DWELL_RANGE_MS[1]:
            fixed = min(max(int(dwell) if isinstance(dwell, (int, float)) else d.dwell_ms, DWELL_RANGE_MS[0]),
                        DWELL_RANGE_MS[1])
            notice(f"access.dwell_ms {dwell!r} outside 300..3000; using {fixed}")
            dwell = fixed

        def num(key: str, lo: int, hi: int) -> int:
            v = raw.get(key, getattr(d, key))
            if not isinstance(v, int) or not lo <= v <= hi:
                notice(f"access.{key} {v!r} outside {lo}..{hi}; using {getattr(d, key)}")
                return getattr(d, key)
            return v

        two = method == "step_scan"
        # One switch: any select key/note chooses. Two switches: space moves, enter chooses.
        select_default = ("return",) if two else d.select_keys
        move_default = ("space",) if two else ()
        return cls(
            method=method, dwell_ms=dwell, pattern=pattern,
            scan_ms=num("scan_ms", 300, 10_000), loops=num("loops", 1, 20),
            initial_delay_ms=num("initial_delay_ms", 0, 10_000),
            post_choice_ms=num("post_choice_ms", 0, 10_000), cue=bool(raw.get("cue", d.cue)),
            select_keys=_keys(raw.get("select_keys", select_default)),
            move_keys=_keys(raw.get("move_keys", move_default)),
            select_notes=_ints(raw.get("select_notes", ())), move_notes=_ints(raw.get("move_notes", ())),
            debounce_ms=num("debounce_ms", 0, 2000),
            play_notes=_ints(raw.get("play_notes", d.play_notes)) or d.play_notes,
            play_keys=_keys(raw.get("play_keys", d.play_keys)) or d.play_keys,
        )

    @property
    def scanning(self) -> bool:
        return self.method in ("scan", "step_scan")


@dataclass(frozen=True)
class Choice:
    """A card chosen (or a therapist's model of a choice) with what the log needs."""

    index: int
    t_ns: int
    method: str
    actor: str
    source: str
    device: str
    latency_ms: float
    latency_from: str  # "board" | "prompt"


@dataclass
class Dwell:
    card: int | None
    start_ns: int
    pos: tuple[float, float] | None = None


@dataclass
class Scan:
    """Scanning position. ``level`` is "rows" or "cells"; ``row``/``cell`` index within it."""

    active: bool = False
    level: str = "cells"
    row: int = 0
    cell: int = 0
    next_ns: int | None = None
    loops_done: int = 0
    last_switch_ns: int | None = None


@dataclass
class BoardState:
    """One board on screen: its presentation time, dwell timers, scan highlight and history."""

    n: int
    rows: int
    cols: int
    access: Access
    shown_ns: int
    prompt_ns: int | None = None
    model_next: bool = False
    dwells: dict[int, Dwell] = field(default_factory=dict)
    scan: Scan = field(default_factory=Scan)
    chosen: list[tuple[int, int]] = field(default_factory=list)  # (card, t_ns) for feedback
    count: int = 0
    cells: tuple[tuple[int, int] | None, ...] | None = None
    """Each card's (row, col), None for a hidden card; None = cards fill the grid in reading order.
    Scanning follows the cards where they are: gaps and hidden cards are skipped."""

    # ---- geometry of the grid ------------------------------------------------------------

    def _rows(self) -> list[list[int]]:
        """The visible cards row by row, left to right (rows with none left out)."""
        if self.cells is None:
            return [list(range(r * self.cols, min((r + 1) * self.cols, self.n)))
                    for r in range((self.n + self.cols - 1) // self.cols)]
        rows: dict[int, list[tuple[int, int]]] = {}
        for i, cell in enumerate(self.cells):
            if cell is not None:
                rows.setdefault(cell[0], []).append((cell[1], i))
        return [[i for _, i in sorted(rows[r])] for r in sorted(rows)]

    def row_cards(self, row: int) -> list[int]:
        rows = self._rows()
        return rows[row] if 0 <= row < len(rows) else []

    def row_of(self, card: int) -> int:
        """The scan row (among rows with visible cards) that holds ``card``."""
        return next((r for r, cards in enumerate(self._rows()) if card in cards), 0)

    def _items(self) -> list[int]:
        return [i for row in self._rows() for i in row]

    @property
    def used_rows(self) -> int:
        return len(self._rows())

    def _row_column(self) -> bool:
        return self.access.pattern == "row_column" and self.used_rows > 1

    # ---- presenting and prompting ----------------------------------------------------------

    def present(self, now_ns: int) -> None:
        """The board (re)appears: choice latency counts from here; scanning restarts."""
        self.shown_ns = now_ns
        self.prompt_ns = None
        self.dwells.clear()
        if self.access.scanning:
            self.start_scan(now_ns)

    def prompt(self, now_ns: int) -> None:
        """The therapist prompted ("which one?"): latency counts from the prompt instead."""
        self.prompt_ns = now_ns

    def choose(self, index: int, t_ns: int, *, method: str, source: str, device: str = "",
               actor: str = "client") -> Choice:
        """Record a choice; a pending "model next" turns it into the therapist's model."""
        if self.model_next:
            actor, self.model_next = "therapist", False
        start, frm = (self.prompt_ns, "prompt") if self.prompt_ns is not None and self.prompt_ns <= t_ns \
            else (self.shown_ns, "board")
        c = Choice(index, t_ns, method, actor, source, device, round((t_ns - start) / 1e6, 2), frm)
        self.chosen.append((index, t_ns))
        del self.chosen[:-8]
        if actor == "client":
            self.count += 1
        # The next choice is timed from this one; the therapist's prompt is used up.
        self.shown_ns, self.prompt_ns = t_ns, None
        self.dwells.clear()
        if self.access.scanning:
            self._reset_scan(t_ns, self.access.post_choice_ms)
        return c

    # ---- dwell ----------------------------------------------------------------------------

    def dwell_down(self, pointer: int, card: int | None, t_ns: int, pos: tuple[float, float] | None = None) -> None:
        self.dwells[pointer] = Dwell(card, t_ns, pos)

    def dwell_move(self, pointer: int, card: int | None, t_ns: int, pos: tuple[float, float] | None = None) -> None:
        """Moving to another card restarts the timer there (moving within a card does not)."""
        d = self.dwells.get(pointer)
        if d is None:
            return
        if d.card != card:
            self.dwells[pointer] = Dwell(card, t_ns, pos)
        else:
            d.pos = pos

    def dwell_up(self, pointer: int, t_ns: int) -> tuple[int, float] | None:
        """Pointer lifted before the dwell completed on a card: (card, held_ms) — an accident."""
        d = self.dwells.pop(pointer, None)
        if d is None or d.card is None:
            return None
        return d.card, round((t_ns - d.start_ns) / 1e6, 2)

    def dwell_due(self, now_ns: int) -> list[tuple[int, int, int]]:
        """Dwells completed by ``now_ns``: (pointer, card, time the dwell completed)."""
        need = self.access.dwell_ms * 1_000_000
        out = []
        for pid, d in list(self.dwells.items()):
            if d.card is not None and now_ns - d.start_ns >= need:
                out.append((pid, d.card, d.start_ns + need))
                del self.dwells[pid]
        return out

    def dwell_progress(self, now_ns: int) -> list[tuple[int, float, tuple[float, float] | None]]:
        need = self.access.dwell_ms * 1_000_000
        return [(d.card, min(1.0, max(0.0, (now_ns - d.start_ns) / need)), d.pos)
                for d in self.dwells.values() if d.card is not None]

    # ---- scanning -------------------------------------------------------------------------

    def start_scan(self, now_ns: int) -> None:
        self._reset_scan(now_ns, 0)

    def _reset_scan(self, now_ns: int, pause_ms: int) -> None:
        """Highlight the first item; it stays for the initial delay (plus any pause) before moving."""
        s = self.scan
        s.active = True
        s.level = "rows" if self._row_column() else "cells"
        s.row = s.cell = 0
        s.loops_done = 0
        s.next_ns = None
        if self.access.method == "scan":
            s.next_ns = now_ns + (pause_ms + self.access.initial_delay_ms + self.access.scan_ms) * 1_000_000

    def highlighted(self) -> list[int]:
        """Cards lit by the scan now (a whole row at the row level)."""
        s = self.scan
        if not s.active:
            return []
        if s.level == "rows":
            return self.row_cards(s.row)
        items = self.row_cards(s.row) if self._row_column() else self._items()
        return [items[s.cell]] if s.cell < len(items) else []

    def _advance(self) -> str:
        """Move the highlight one item; returns "moved", "row_exit" or "timeout"."""
        s = self.scan
        if s.level == "rows":
            s.row += 1
            if s.row >= self.used_rows:
                s.row = 0
                s.loops_done += 1
        else:
            items = self.row_cards(s.row) if self._row_column() else self._items()
            s.cell += 1
            if s.cell >= len(items):
                s.cell = 0
                s.loops_done += 1
                if self._row_column() and s.loops_done >= self.access.loops:
                    # No choice in this row: back to scanning rows (from the next row down).
                    s.level, s.loops_done, s.cell = "rows", 0, 0
                    s.row = (s.row + 1) % self.used_rows
                    return "row_exit"
        if s.level == "rows" or not self._row_column():
            if s.loops_done >= self.access.loops and self.access.method == "scan":
                s.active, s.next_ns = False, None
                return "timeout"
        return "moved"

    def scan_update(self, now_ns: int) -> tuple[list[list[int]], bool]:
        """Automatic scanning to ``now_ns``: (each new highlight, whether the scan timed out)."""
        s = self.scan
        moves: list[list[int]] = []
        if self.access.method != "scan":
            return moves, False
        while s.active and s.next_ns is not None and now_ns >= s.next_ns:
            result = self._advance()
            if result == "timeout":
                return moves, True
            s.next_ns += self.access.scan_ms * 1_000_000
            moves.append(self.highlighted())
        return moves, False

    def _debounced(self, t_ns: int) -> bool:
        s = self.scan
        if s.last_switch_ns is not None and t_ns - s.last_switch_ns < self.access.debounce_ms * 1_000_000:
            return True
        s.last_switch_ns = t_ns
        return False

    def switch_move(self, t_ns: int) -> list[int] | str:
        """Two-switch: the move switch. Returns the new highlight, or "bounce" if debounced."""
        if self._debounced(t_ns):
            return "bounce"
        if not self.scan.active:
            self.start_scan(t_ns)
            return self.highlighted()
        self._advance()
        return self.highlighted()

    def switch_select(self, t_ns: int) -> int | list[int] | str | None:
        """The select switch: a card index (chosen), a list (entered a row / restarted the scan),
        "bounce" (a too-quick repeat press) or None."""
        if self._debounced(t_ns):
            return "bounce"
        s = self.scan
        if not s.active:  # a press after a timed-out scan starts it again
            self.start_scan(t_ns)
            return self.highlighted()
        if s.level == "rows":
            s.level, s.cell, s.loops_done = "cells", 0, 0
            if self.access.method == "scan":
                s.next_ns = t_ns + (self.access.initial_delay_ms + self.access.scan_ms) * 1_000_000
            return self.highlighted()
        lit = self.highlighted()
        return lit[0] if lit else None
