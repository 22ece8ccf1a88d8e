"""Drum turn-taking drawing: whose turn it is (banner and the lit drum), the two drums that
light the moment they are struck, and a strip showing the model and the copy on one time line.

Everything scales with the area (Theme.px); low-stimulation mode drops growth and glow and
keeps to outlines and calm colours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import pygame

from prelude_play.ui import theme as th
from prelude_play.ui.widgets import draw_text

FLASH_NS = 300_000_000
THERAPIST = (236, 168, 64)
CLIENT = (72, 150, 222)
TOGETHER = (150, 120, 210)
WAIT = th.PANEL_HI


@dataclass(frozen=True)
class Drum:
    center: tuple[int, int]
    radius: int

    @property
    def rect(self) -> pygame.Rect:
        r = pygame.Rect(0, 0, 2 * self.radius, 2 * self.radius)
        r.center = self.center
        return r

    def contains(self, pos: tuple[float, float]) -> bool:
        """Generous: a little outside the rim still counts (big targets, unsteady hands)."""
        return math.dist(pos, self.center) <= self.radius * 1.1


def layout(size: tuple[int, int], theme: th.Theme) -> dict:
    w, h = size
    s = min(w / th.DESIGN_W, h / (th.DESIGN_H - 72))
    gap = int(20 * s)
    banner = pygame.Rect(gap, gap, w - 2 * gap, int(128 * s))
    strip = pygame.Rect(gap, h - gap - int(128 * s), w - 2 * gap, int(128 * s))
    top, bottom = banner.bottom + gap, strip.top - gap
    r = max(48, min((bottom - top) // 2, int(w * 0.2)))
    cy = (top + bottom) // 2
    return {
        "banner": banner,
        "strip": strip,
        "drum:therapist": Drum((int(w * 0.27), cy), int(r * 0.82)),
        "drum:client": Drum((int(w * 0.68), cy), r),
    }


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return tuple(int(a[i] + (b[i] - a[i]) * k) for i in range(3))  # type: ignore[return-value]


def cue_text(cue: str, t: Callable[[str], str]) -> str:
    return {"on_time": t("Right on time!"), "early": t("A little early"), "late": t("A little late"),
            "faster": t("A little fast"), "slower": t("A little slow"), "count": t("Count the beats"),
            "try_again": t("Let's try again"), "great": t("Great copy!")}.get(cue, "")


def banner_text(state, now_ns: int, t: Callable[[str], str], paused: bool) -> tuple[str, str, tuple]:
    ph = state.phase
    if paused:
        return t("Paused"), "", WAIT
    if ph == "count_in":
        n = int((now_ns - state.phase_start_ns) // state.period_ns) + 1
        n = max(1, min(n, state.settings.count_in_beats))
        return f"{t('Get ready')} … {n}", "", WAIT
    if ph == "therapist":
        return t("Listen"), t("Therapist's turn"), THERAPIST
    if ph == "client":
        return t("Your turn!"), t("Play it back"), CLIENT
    if ph == "together":
        return t("Together!"), t("Play with the beat"), TOGETHER
    if ph == "feedback" and state.last is not None and state.last.judgement is not None:
        j = state.last.judgement
        sub = ""
        if state.last.waiting_failures:
            sub = t("Remember to wait for your turn")
        elif j.beat_offsets:
            sub = t("{n} of {m} on time").format(n=j.on_time, m=len(j.beat_offsets))
        return cue_text(j.cue, t), sub, WAIT
    return t("Get ready"), "", WAIT


def _draw_drum(surface: pygame.Surface, theme: th.Theme, drum: Drum, colour, active: bool, lit: float,
               label: str) -> None:
    low = theme.low_stimulation
    base = colour if active else _mix(colour, th.BG, 0.6)
    r = drum.radius
    if lit > 0 and not low:
        base = _mix(base, (255, 255, 255), 0.55 * lit)
        r += int(theme.px(12) * lit)
    pygame.draw.circle(surface, _mix(base, (0, 0, 0), 0.35), drum.center, r)  # rim
    pygame.draw.circle(surface, base, drum.center, int(r * 0.86))  # skin
    if active:
        pygame.draw.circle(surface, th.FOCUS, drum.center, r + theme.px(8), width=theme.px(6))
    if lit > 0 and low:
        pygame.draw.circle(surface, th.FOCUS, drum.center, int(r * 0.86), width=theme.px(5))
    ink = th.BG if lit > 0.3 and not low else (th.TEXT if active else th.MUTED)
    draw_text(surface, theme, label, drum.center, 40, colour=ink, bold=True,
              max_width=int(r * 1.6))


def _lit(state, actor: str, now_ns: int) -> float:
    best = 0.0
    for t_ns, who, _phase in state.recent:
        if who == actor and 0 <= now_ns - t_ns < FLASH_NS:
            best = max(best, 1 - (now_ns - t_ns) / FLASH_NS)
    if actor == "therapist":  # the app's own pattern lights the therapist's drum as it plays
        for h in state.model:
            if h.actor == "app" and h.source == "pattern" and 0 <= now_ns - h.t_ns < FLASH_NS:
                best = max(best, 1 - (now_ns - h.t_ns) / FLASH_NS)
    return best


def _draw_strip(surface: pygame.Surface, theme: th.Theme, strip: pygame.Rect, state, now_ns: int,
                t: Callable[[str], str], show_verdicts: bool) -> None:
    pygame.draw.rect(surface, th.PANEL, strip, border_radius=theme.px(18))
    period = state.period_ns
    label_w = theme.px(150)
    x0, x1 = strip.x + label_w, strip.right - theme.px(30)
    rows = (strip.y + strip.height // 3, strip.y + 2 * strip.height // 3)
    draw_text(surface, theme, t("Model"), (strip.x + theme.px(24), rows[0]), 28, colour=th.MUTED, anchor="midleft")
    draw_text(surface, theme, t("You"), (strip.x + theme.px(24), rows[1]), 28, colour=th.MUTED, anchor="midleft")
    m0, c0 = state.model_start_ns, state.client_start_ns
    model = [h for h in state.model if h.t_ns <= now_ns]
    span = period
    if state.pattern is not None:
        span = max(span, state.pattern.beats * period)
    if model:
        span = max(span, model[-1].t_ns - m0 + period // 2)
    if state.copy:
        span = max(span, state.copy[-1].t_ns - c0 + period // 2)

    def x_at(dt: int) -> int:
        return int(x0 + (x1 - x0) * max(0.0, min(1.0, dt / span)))

    beats = int(span // period) + 1
    for b in range(beats):
        x = x_at(b * period)
        for y in rows:
            pygame.draw.line(surface, th.PANEL_HI, (x, y - theme.px(18)), (x, y + theme.px(18)), theme.px(2))
    dot = theme.px(13)
    for h in model:
        size = dot if h.velocity >= 90 else int(dot * (0.55 + 0.45 * h.velocity / 90))
        pygame.draw.circle(surface, THERAPIST, (x_at(h.t_ns - m0), rows[0]), size)
    verdicts: dict[int, str] = {}
    rec = state.last
    judged = rec is not None and rec.judgement is not None and rec.exchange == state.exchange
    if judged and show_verdicts:
        for o in rec.judgement.beat_offsets:
            if o.hit_ns is not None:
                verdicts[o.hit_ns] = o.verdict
            else:
                pygame.draw.circle(surface, th.MUTED, (x_at(o.expected_ns - c0), rows[1]), dot, width=theme.px(3))
    for h in state.copy:
        v = verdicts.get(h.t_ns)
        colour = {"on_time": th.GOOD, "early": th.PARTIAL, "late": th.PARTIAL}.get(v or "", CLIENT)
        size = dot if h.velocity >= 90 else int(dot * (0.55 + 0.45 * h.velocity / 90))
        pygame.draw.circle(surface, colour, (x_at(h.t_ns - c0), rows[1]), size)
        if v in ("early", "late"):
            draw_text(surface, theme, t("early") if v == "early" else t("late"),
                      (x_at(h.t_ns - c0), rows[1] + theme.px(30)), 20, colour=th.PARTIAL)


def draw(surface: pygame.Surface, theme: th.Theme, rects: dict, state, now_ns: int,
         t: Callable[[str], str], *, live_cues: bool = False, paused: bool = False) -> None:
    surface.fill(th.BG)
    if not rects:
        return
    banner: pygame.Rect = rects["banner"]
    main, sub, colour = banner_text(state, now_ns, t, paused)
    low = theme.low_stimulation
    fill = _mix(colour, th.BG, 0.35) if low else colour
    pygame.draw.rect(surface, fill, banner, border_radius=theme.px(24))
    text_colour = th.BG if colour in (THERAPIST, CLIENT) and not low else th.TEXT
    cy = banner.centery - (theme.px(18) if sub else 0)
    draw_text(surface, theme, main, (banner.centerx, cy), 64, colour=text_colour, bold=True,
              max_width=banner.width - theme.px(460))
    if sub:
        draw_text(surface, theme, sub, (banner.centerx, banner.centery + theme.px(34)), 28,
                  colour=text_colour, max_width=banner.width - theme.px(460))
    lock = f" · {t('locked')}" if state.level.locked else ""
    draw_text(surface, theme, f"{t('Level')} {state.level.level}{lock}", (banner.x + theme.px(28), banner.centery),
              30, colour=text_colour, anchor="midleft")
    if state.pulse_on:
        bpb = state.settings.beats_per_bar
        idx = state.beat_index(now_ns)
        r = theme.px(11)
        for i in range(bpb):
            x = banner.right - theme.px(28) - (bpb - 1 - i) * theme.px(32) - r
            on = idx is not None and idx % bpb == i
            c = text_colour if on else _mix(fill, th.BG, 0.5)
            pygame.draw.circle(surface, c, (x, banner.centery - theme.px(16)), r if on or low else r - 2)
        draw_text(surface, theme, f"{state.settings.bpm:.0f} BPM",
                  (banner.right - theme.px(28), banner.centery + theme.px(22)), 24, colour=text_colour,
                  anchor="midright")

    ph = state.phase
    for who, col, label in (("therapist", THERAPIST, t("Therapist")), ("client", CLIENT, t("You"))):
        active = (not paused) and (ph == who or ph == "together")
        _draw_drum(surface, theme, rects[f"drum:{who}"], col, active, _lit(state, who, now_ns), label)
    _draw_strip(surface, theme, rects["strip"], state, now_ns, t,
                show_verdicts=(ph == "feedback") or live_cues)
