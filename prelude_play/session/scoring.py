"""The scoring grammar: combined outcome × prompt codes, and a one-pedal tap / double-tap / hold.

A therapist scores a trial with one touch or one press, as in Catalyst or Motivity: the code says
outcome and prompt together. ``+I`` success independent, ``+G`` / ``+V`` / ``+M`` / ``+P`` success at
the gestural / verbal / model / physical prompt (one letter per configured prompt level), ``±``
partial, ``-`` not yet, ``NR`` no response. The plain outcome names (``success`` ...) still work and
take the prompt level armed for the next score. Other actions: ``undo``, ``prompt_next``,
``prompt_reset``, ``panic``, ``primary`` (the activity's own main action, e.g. Call).

Everything here is pure: key names, MIDI messages and times in, actions out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from prelude_play.errors import ConfigError

ACTIONS = ("undo", "prompt_next", "prompt_reset", "panic", "primary")
FAIL_CODES = {"±": "partial", "+-": "partial", "+/-": "partial", "-": "not_yet", "−": "not_yet",
              "NR": "no_response"}


@dataclass(frozen=True)
class ScoreCode:
    """What one press records: an outcome, and a prompt (None: the level armed for the next score)."""

    code: str
    outcome: str
    prompt: str | None


def prompt_letters(prompt_levels: Iterable[str]) -> dict[str, str]:
    """One letter per prompt level (I, G, V, M, P for the defaults); a clash takes two letters."""
    out: dict[str, str] = {}
    for level in prompt_levels:
        letter = level[:1].upper()
        if letter in out.values():
            letter = level[:2].upper()
        out[level] = letter
    return out


def score_codes(prompt_levels: Iterable[str], outcomes: Iterable[str]) -> dict[str, ScoreCode]:
    """Every code the grammar knows for these prompt levels and outcomes, by code text."""
    levels = list(prompt_levels)
    outs = list(outcomes)
    codes: dict[str, ScoreCode] = {}
    if "success" in outs:
        for level, letter in prompt_letters(levels).items():
            codes[f"+{letter}"] = ScoreCode(f"+{letter}", "success", level)
    for code, outcome in FAIL_CODES.items():
        if outcome in outs:
            codes[code] = ScoreCode(code, outcome, None)
    for outcome in outs:
        codes[outcome] = ScoreCode(outcome, outcome, None)
    return codes


def rail_codes(prompt_levels: Iterable[str], outcomes: Iterable[str]) -> list[ScoreCode]:
    """The buttons of the scoring rail, in order: each success prompt, then ±, −, NR."""
    codes = score_codes(prompt_levels, outcomes)
    out = [c for k, c in codes.items() if k.startswith("+") and c.outcome == "success"]
    for k in ("±", "-", "NR"):
        if k in codes:
            out.append(codes[k])
    shown = {c.outcome for c in out}
    out += [c for k, c in codes.items() if k == c.outcome and c.outcome not in shown and c.outcome != "success"]
    return out


def check_action(action: str, prompt_levels: Iterable[str], outcomes: Iterable[str]) -> str | None:
    """None if ``action`` is known, else what is allowed (for a ConfigError hint)."""
    codes = score_codes(prompt_levels, outcomes)
    if action in codes or action in ACTIONS:
        return None
    return "use a score code (" + ", ".join(k for k in codes if not k.isidentifier()) + "), an outcome (" \
        + ", ".join(outcomes) + ") or " + ", ".join(ACTIONS)


# ---- one pedal, three gestures --------------------------------------------------------------

@dataclass(frozen=True)
class PedalSettings:
    tap: str = "+I"
    double_tap: str = "-"
    hold: str = "undo"
    double_tap_ms: float = 350.0
    hold_ms: float = 700.0

    def __post_init__(self) -> None:
        if not 100 <= self.double_tap_ms <= 1500:
            raise ConfigError(f"double_tap_ms {self.double_tap_ms!r}", key="scoring.pedal.double_tap_ms",
                              hint="100–1500 ms")
        if not 200 <= self.hold_ms <= 5000:
            raise ConfigError(f"hold_ms {self.hold_ms!r}", key="scoring.pedal.hold_ms", hint="200–5000 ms")


class PedalGrammar:
    """Turns presses and releases of one pedal into tap, double tap and hold.

    A hold fires as soon as the pedal has been down ``hold_ms`` (the therapist feels it happen);
    a tap is only known once ``double_tap_ms`` passed with no second press, so ``due(now)`` is
    asked every frame. Times are the MIDI callback's stamps; ``due`` uses the one clock too.
    """

    def __init__(self, settings: PedalSettings | None = None) -> None:
        self.s = settings or PedalSettings()
        self._down_ns: int | None = None
        self._held = False
        self._taps: list[int] = []  # release times of completed short presses awaiting a second

    def press(self, t_ns: int) -> list[tuple[str, int]]:
        out = self._expire(t_ns)
        if self._down_ns is not None:  # a second press without a release (a lost message): restart
            self._down_ns = t_ns
            return out
        self._down_ns, self._held = t_ns, False
        return out

    def release(self, t_ns: int) -> list[tuple[str, int]]:
        down, self._down_ns = self._down_ns, None
        if down is None or self._held:
            self._held = False
            return []
        if t_ns - down >= self.s.hold_ms * 1e6:
            return self._flush_tap() + [(self.s.hold, down)]
        self._taps.append(down)
        if len(self._taps) >= 2:
            first = self._taps[0]
            self._taps.clear()
            return [(self.s.double_tap, first)]
        return []

    def due(self, now_ns: int) -> list[tuple[str, int]]:
        out = self._expire(now_ns)
        if self._down_ns is not None and not self._held and now_ns - self._down_ns >= self.s.hold_ms * 1e6:
            self._held = True
            out += self._flush_tap() + [(self.s.hold, self._down_ns)]
        return out

    def next_due_ns(self) -> int | None:
        """When ``due`` may next have something (a tap's double-tap window ending, a press
        becoming a hold): the loop sleeps until then, not longer."""
        times = []
        if self._taps:
            times.append(self._taps[0] + int(self.s.double_tap_ms * 1e6))
        if self._down_ns is not None and not self._held:
            times.append(self._down_ns + int(self.s.hold_ms * 1e6))
        return min(times) if times else None

    def _expire(self, now_ns: int) -> list[tuple[str, int]]:
        """A single tap whose double-tap window is over (and no second press began inside it)."""
        window = self.s.double_tap_ms * 1e6
        if not self._taps or now_ns - self._taps[0] < window:
            return []
        if self._down_ns is not None and self._down_ns - self._taps[0] < window:
            return []  # the second press began in time: wait for its release
        return self._flush_tap()

    def _flush_tap(self) -> list[tuple[str, int]]:
        if not self._taps:
            return []
        first = self._taps[0]
        self._taps.clear()
        return [(self.s.tap, first)]
