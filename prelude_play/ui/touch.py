"""Touch accommodations as pure logic: repeat suppression and hold-to-select.

Input: raw pointer "down"/"up" InputEvents. Output: "tap" InputEvents. A tap that an
accommodation filters is still emitted, flagged ``data["filtered"]`` ("repeat", "short_touch"),
so it is logged rather than silently dropped; activities act only on unfiltered taps.

Repeats are filtered per target (a pad, a card): a second touch on the *same* target within
``ignore_repeat_ms`` is a repeat (a bounce, a tremor), a touch on *another* target is not (two
hands, a roll across pads). ``target_of(pos)`` names the target under a position (the running
activity's ``tap_target``); None is "the rest of the screen", itself one target, so an activity
that names no targets keeps the whole screen as one, as before.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from prelude_play.events import InputEvent

TargetOf = Callable[[tuple[float, float]], "str | None"]


class TouchFilter:
    """Turns pointer downs/ups into taps, per the client's touch accommodations."""

    def __init__(self, ignore_repeat_ms: int = 250, hold_to_select_ms: int = 0,
                 target_of: TargetOf | None = None) -> None:
        self.ignore_repeat_ns = int(ignore_repeat_ms * 1e6)
        self.hold_ns = int(hold_to_select_ms * 1e6)
        self.target_of: TargetOf = target_of or (lambda pos: None)
        self._last_tap_ns: dict[str | None, int] = {}
        self._held: dict[int, InputEvent] = {}

    def configure(self, ignore_repeat_ms: int, hold_to_select_ms: int) -> None:
        self.ignore_repeat_ns = int(ignore_repeat_ms * 1e6)
        self.hold_ns = int(hold_to_select_ms * 1e6)

    def _tap(self, down: InputEvent, t_ns: int, **data: object) -> InputEvent:
        target = self.target_of(down.pos) if down.pos is not None else None
        last = self._last_tap_ns.get(target)
        if data.get("filtered") is None and last is not None and t_ns - last < self.ignore_repeat_ns:
            data["filtered"] = "repeat"
            data["since_last_ms"] = round((t_ns - last) / 1e6, 2)
        if "filtered" not in data:
            self._last_tap_ns[target] = t_ns
            if len(self._last_tap_ns) > 64:  # only the window matters: forget old targets
                self._last_tap_ns = {k: v for k, v in self._last_tap_ns.items() if t_ns - v < self.ignore_repeat_ns}
        if target is not None:
            data["target"] = target
        return replace(down, kind="tap", t_ns=t_ns, data={**down.data, **data})

    def down(self, ev: InputEvent) -> list[InputEvent]:
        if self.hold_ns <= 0:
            return [self._tap(ev, ev.t_ns)]
        self._held[ev.pointer_id] = ev
        return []

    def move(self, ev: InputEvent) -> None:
        held = self._held.get(ev.pointer_id)
        if held is not None and ev.pos is not None:
            self._held[ev.pointer_id] = replace(held, pos=ev.pos)

    def up(self, ev: InputEvent) -> list[InputEvent]:
        held = self._held.pop(ev.pointer_id, None)
        if held is None:
            return []
        held_ms = round((ev.t_ns - held.t_ns) / 1e6, 2)
        return [self._tap(held, ev.t_ns, filtered="short_touch", held_ms=held_ms)]

    def update(self, now_ns: int) -> list[InputEvent]:
        """Emit taps for touches held long enough. The tap's time is when the hold completed."""
        out = []
        for pid, held in list(self._held.items()):
            if now_ns - held.t_ns >= self.hold_ns:
                del self._held[pid]
                out.append(self._tap(held, held.t_ns + self.hold_ns, held_ms=self.hold_ns / 1e6))
        return out

    def hold_progress(self, now_ns: int) -> list[tuple[tuple[float, float], float]]:
        """(position, 0..1) for each touch still being held, to draw a progress ring."""
        if self.hold_ns <= 0:
            return []
        return [(h.pos or (0, 0), min(1.0, (now_ns - h.t_ns) / self.hold_ns)) for h in self._held.values()]
