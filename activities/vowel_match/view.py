"""Vowel match drawing: a friendly round character whose mouth takes the vowel's shape, one
colour per vowel (always with its name, never colour alone), and a pitch line with the call's
pitch as the target and the answer's pitch (octave-folded) beside it.

Readable across a room: the banner and the vowel name are large, the character fills the left
of the screen. Low-stimulation mode keeps the mouth still (no level animation), drops the
success glow and uses muted fills.

Nothing here is a control: Call, the vowel, pitch and source, and scoring are the therapist's
(the rail and its panel), so a child's tap anywhere on this screen changes nothing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

import pygame

from prelude_play.ui import theme as th
from prelude_play.ui.widgets import draw_text, grid_rects

from .logic import LADDER, MS, fold_to, midi_to_hz, note_name, vowel_name

if TYPE_CHECKING:
    from . import VowelMatch

VOWEL_COLOURS: dict[str, tuple[int, int, int]] = {
    "ah": (222, 104, 78), "ee": (84, 176, 112), "oo": (74, 132, 214), "oh": (158, 104, 204), "eh": (214, 168, 56),
}
# Mouth (width, height) as fractions of the face radius: open for ah, wide for ee, round for oo/oh.
MOUTHS: dict[str, tuple[float, float]] = {
    "ah": (0.44, 0.52), "ee": (0.66, 0.15), "oo": (0.20, 0.23), "oh": (0.32, 0.38), "eh": (0.52, 0.30),
}
CALL = (236, 232, 220)
LIVE_MS = 400  # how long the last analysis keeps shaping the mouth


def layout(size: tuple[int, int], theme: th.Theme) -> dict[str, Any]:
    w, h = size
    s = min(w / th.DESIGN_W, h / (th.DESIGN_H - 72))
    gap = int(20 * s)
    banner = pygame.Rect(gap, gap, w - 2 * gap, int(112 * s))
    rects: dict[str, Any] = {"banner": banner}
    bottom = h - gap
    top = banner.bottom + gap
    mid_h = bottom - top
    face_w = int(w * 0.46)
    r = max(40, min(mid_h // 2 - gap, face_w // 2 - gap))
    rects["face"] = ((gap + face_w // 2, top + mid_h // 2), r)
    right = pygame.Rect(gap + face_w + gap, top, w - face_w - 3 * gap, mid_h)
    chips_h = int(min(120 * s, mid_h * 0.3))
    chips = pygame.Rect(right.x, right.y, right.width, chips_h)
    for v, cr in zip(VOWEL_COLOURS, grid_rects(chips, 1, 5, gap // 2)):
        rects[f"chip:{v}"] = cr
    rects["pitch"] = pygame.Rect(right.x, chips.bottom + gap, right.width, right.bottom - chips.bottom - gap)
    return rects


def _mix(a, b, k: float) -> tuple[int, int, int]:
    return tuple(int(a[i] + (b[i] - a[i]) * k) for i in range(3))  # type: ignore[return-value]


def banner_text(act: "VowelMatch", now_ns: int, t: Callable[[str], str]) -> tuple[str, str, tuple]:
    m = act.machine
    v = m.cal.vowel if m.cal is not None else m.target_vowel
    colour = VOWEL_COLOURS[v]
    if m.phase == "recording":
        return t("Sing the model now"), t("Recording") + f": {v}", CALL
    if m.phase in ("calling", "call_ending"):
        if m.call is not None and m.call.source == "live":
            return t("Listen…"), t("Therapist's call") + f": {v}", CALL
        return t("Listen…"), f"{v}", CALL
    if m.phase in ("response", "attempt"):
        return t("Your turn!"), t("Sing") + f" “{v}”", colour
    if m.phase == "feedback" and m.last is not None:
        a = m.last
        if a.calibration:
            cal = m.cal
            n = cal.calibration.counts()[a.target_vowel] if cal else 0
            return t("Thank you!"), t("Calibration") + f": {vowel_name(a.target_vowel, t)} {n}/{act.ms.calibration_tokens}", colour
        outcome = a.outcome
        if outcome is None and any(g.abstained for g in a.segments):  # honest, never a wrong vowel
            return t("I'm not sure"), t("Let's listen together"), th.PANEL_HI
        if outcome is None:  # no microphone, not scored yet: nothing for the client to read into
            return t("Listening done"), "", th.PANEL_HI
        j = a.judgement
        sure = not any(g.abstained for g in a.segments)
        heard = vowel_name(j.detected_vowel, t) if j and j.detected_vowel and sure else ""
        if outcome == "success":
            return t("Yes!") + f" {vowel_name(a.target_vowel, t)}", t("Great singing"), th.GOOD
        if outcome == "no_response":
            return t("Let's try again"), "", th.PANEL_HI
        sub = t("I heard") + f" “{heard}”" if heard else t("Nice sound")
        return t("Good try!"), sub, th.PARTIAL
    if m.cal is not None:
        return t("Calibration"), t("Sing") + f" “{vowel_name(v, t)}”", th.PANEL_HI
    if not act.started:
        return t("Ready"), "", th.PANEL_HI
    return t("Get ready"), "", th.PANEL_HI


def _shown_vowel(act: "VowelMatch", now_ns: int) -> tuple[str, float]:
    """The vowel the mouth shows and how open it is (0..1)."""
    m = act.machine
    target = m.cal.vowel if m.cal is not None else m.target_vowel
    low = act.theme.low_stimulation
    live = act.live
    if m.phase in ("response", "attempt") and live and (act.voicing or now_ns - act.live_ns < LIVE_MS * MS):
        v = (live.get("vowel") if not live.get("abstained") else "") or target  # never a vowel it is not sure of
        lv = float(live.get("level_dbfs") or -60.0)
        return v, (0.8 if low else max(0.35, min(1.0, (lv + 50) / 30)))
    if m.phase in ("calling", "call_ending") or m.phase == "recording":
        return target, 0.8 if low else 0.75 + 0.25 * math.sin(now_ns / 1e9 * 6.0) ** 2
    if m.phase == "feedback" and m.last is not None and m.last.outcome == "success":
        return m.last.target_vowel, 0.9
    return target, 0.0


def draw_character(surface: pygame.Surface, theme: th.Theme, center: tuple[int, int], r: int, vowel: str,
                   openness: float, colour, *, glow: bool) -> None:
    cx, cy = center
    if glow:
        pygame.draw.circle(surface, th.ACCENT, center, int(r * 1.08))
    pygame.draw.circle(surface, _mix(colour, (0, 0, 0), 0.25), center, r)
    pygame.draw.circle(surface, colour, (cx, cy - r // 20), int(r * 0.93))
    ew, eh = int(r * 0.2), int(r * 0.26)
    for sx in (-1, 1):
        ex = cx + sx * int(r * 0.34)
        ey = cy - int(r * 0.28)
        pygame.draw.ellipse(surface, (255, 255, 255), pygame.Rect(ex - ew // 2, ey - eh // 2, ew, eh))
        pygame.draw.circle(surface, (30, 30, 40), (ex, ey + eh // 8), int(ew * 0.3))
    for sx in (-1, 1):  # cheeks
        pygame.draw.circle(surface, _mix(colour, (255, 170, 170), 0.35),
                           (cx + sx * int(r * 0.58), cy + int(r * 0.1)), int(r * 0.11))
    my = cy + int(r * 0.36)
    if openness <= 0.01:
        arc = pygame.Rect(cx - int(r * 0.3), my - int(r * 0.25), int(r * 0.6), int(r * 0.3))
        pygame.draw.arc(surface, (40, 24, 30), arc, math.pi * 1.1, math.pi * 1.9, max(3, r // 22))
        return
    fw, fh = MOUTHS.get(vowel, MOUTHS["ah"])
    mw = int(r * fw * (0.75 + 0.25 * openness))
    mh = max(6, int(r * fh * openness))
    mouth = pygame.Rect(cx - mw // 2, my - mh // 2, mw, mh)
    pygame.draw.ellipse(surface, (60, 20, 30), mouth)
    if mh > r * 0.18:  # tongue
        tongue = pygame.Rect(mouth.x + mw // 4, mouth.bottom - mh // 3, mw // 2, mh // 3)
        pygame.draw.ellipse(surface, (214, 100, 110), tongue)
    if vowel == "ee":  # teeth for the smile of ee
        pygame.draw.rect(surface, (250, 250, 250), pygame.Rect(mouth.x + mw // 6, mouth.y, mw * 2 // 3, max(2, mh // 3)))
    pygame.draw.ellipse(surface, (40, 24, 30), mouth, max(2, r // 40))


def draw_pitch(surface: pygame.Surface, theme: th.Theme, rect: pygame.Rect, act: "VowelMatch", now_ns: int,
               t: Callable[[str], str]) -> None:
    pygame.draw.rect(surface, th.PANEL, rect, border_radius=theme.px(18))
    m = act.machine
    if act.mic is None:  # nothing technical for the child (the therapist was told): the vowel to sing, big
        v = m.cal.vowel if m.cal is not None else m.target_vowel
        draw_text(surface, theme, "♪ " + vowel_name(v, t) + " ♪", rect.center, 120, bold=True,
                  colour=VOWEL_COLOURS.get(v, th.TEXT), max_width=rect.width - theme.px(30))
        return
    target = m.target_f0() if (m.call is not None or m.source != "live") else None
    pad = theme.px(18)
    inner = rect.inflate(-2 * pad, -2 * pad)
    label_w = theme.px(70)
    plot = pygame.Rect(inner.x + label_w, inner.y + theme.px(34), inner.width - label_w, inner.height - theme.px(34))
    draw_text(surface, theme, t("Pitch"), (inner.x, inner.y + theme.px(12)), 26, colour=th.MUTED, anchor="midleft")
    if not target:
        draw_text(surface, theme, t("Pitch from the therapist's call"), plot.center, 24, colour=th.MUTED,
                  max_width=plot.width)
        return
    span = 0.6  # octaves either side of the target

    def y_of(f: float) -> int:
        k = math.log2(f / target) / span
        return int(plot.centery - max(-1.0, min(1.0, k)) * plot.height / 2)

    for semis in (-6, -3, 3, 6):
        y = y_of(target * 2 ** (semis / 12))
        pygame.draw.line(surface, th.PANEL_HI, (plot.x, y), (plot.right, y), 1)
    vowel = m.call.vowel if m.call is not None else m.target_vowel
    colour = VOWEL_COLOURS[vowel]
    ty = y_of(target)
    for x in range(plot.x, plot.right, theme.px(24)):  # the target: a dashed line
        pygame.draw.line(surface, colour, (x, ty), (min(x + theme.px(14), plot.right), ty), theme.px(5))
    note = 12 * math.log2(target / 440.0) + 69
    draw_text(surface, theme, note_name(int(round(note))), (inner.x, ty), 26, colour=colour, anchor="midleft")
    if m.call is None:
        return
    t0 = m.call.tap_ns
    t1 = max(now_ns, (m.current.window_end_ns if m.current else (m.call.end_ns or now_ns)))
    t1 = max(t1, t0 + 2000 * MS)
    end = m.call.end_ns
    if end is not None:
        x_end = plot.x + int(plot.width * (end - t0) / (t1 - t0))
        pygame.draw.line(surface, th.MUTED, (x_end, plot.y), (x_end, plot.bottom), theme.px(2))
    def x_of(t_ns: int) -> int:
        return plot.x + int(plot.width * max(0, min(t_ns - t0, t1 - t0)) / (t1 - t0))

    bar = theme.px(12)
    for s0, s1, f0, v in act.segments:  # each heard segment as a bar at its median pitch
        if s1 < t0 or f0 <= 0:
            continue
        answer = end is not None and s0 >= end
        f = fold_to(f0, target) if answer else f0
        c = VOWEL_COLOURS.get(v, th.TEXT) if answer else CALL
        y = y_of(f)
        pygame.draw.line(surface, c, (x_of(s0), y), (max(x_of(s0) + bar, x_of(s1)), y), bar)
        if answer and v:
            draw_text(surface, theme, vowel_name(v, t), (x_of(s0), y - theme.px(22)), 26, colour=c, anchor="midleft")
    dot = theme.px(5)
    for t_ns, f0, v in act.trace:
        if t_ns < t0 or f0 <= 0:
            continue
        x = plot.x + int(plot.width * (t_ns - t0) / (t1 - t0))
        answer = end is not None and t_ns > end
        f = fold_to(f0, target) if answer else f0
        c = VOWEL_COLOURS.get(v, th.TEXT) if answer else CALL
        pygame.draw.circle(surface, c, (x, y_of(f)), dot)


def draw(surface: pygame.Surface, theme: th.Theme, act: "VowelMatch") -> None:
    surface.fill(th.BG)
    rects = act.rects
    if not rects:
        return
    ctx = act.ctx
    assert ctx is not None
    t = ctx.t
    now = ctx.now_ns()
    low = theme.low_stimulation
    m = act.machine

    banner: pygame.Rect = rects["banner"]
    main, sub, colour = banner_text(act, now, t)
    fill = _mix(colour, th.BG, 0.45) if low else colour
    pygame.draw.rect(surface, fill, banner, border_radius=theme.px(24))
    ink = th.BG if (not low and colour not in (th.PANEL_HI,)) else th.TEXT
    cy = banner.centery - (theme.px(16) if sub else 0)
    draw_text(surface, theme, main, (banner.centerx, cy), 64, colour=ink, bold=True,
              max_width=banner.width - theme.px(420))
    if sub:
        draw_text(surface, theme, sub, (banner.centerx, banner.centery + theme.px(32)), 30, colour=ink,
                  max_width=banner.width - theme.px(420))
    draw_text(surface, theme, t("Ladder") + f" {m.ladder_level}", (banner.x + theme.px(26), banner.centery), 28,
              colour=ink, anchor="midleft")
    rung = {1: t("any sound"), 2: t("voice"), 3: t("close vowel"), 4: t("the vowel"), 5: t("vowel on pitch")}
    draw_text(surface, theme, t("Goal") + ": " + rung[m.ladder_level], (banner.right - theme.px(26), banner.centery), 26,
              colour=ink, anchor="midright")

    (fx, fy), r = rects["face"]
    vowel, openness = _shown_vowel(act, now)
    target = m.cal.vowel if m.cal is not None else m.target_vowel
    face_colour = VOWEL_COLOURS.get(vowel, VOWEL_COLOURS[target])
    if low:
        face_colour = _mix(face_colour, th.BG, 0.3)
    success = m.phase == "feedback" and m.last is not None and m.last.outcome == "success"
    draw_character(surface, theme, (fx, fy), r, vowel, openness, face_colour, glow=success and not low)
    if success and low:
        pygame.draw.circle(surface, th.GOOD, (fx, fy), r + theme.px(8), theme.px(6))

    for v in VOWEL_COLOURS:
        cr: pygame.Rect = rects[f"chip:{v}"]
        on = v == target
        heard = m.phase in ("response", "attempt") and act.live.get("vowel") == v and \
            not act.live.get("abstained") and now - act.live_ns < LIVE_MS * MS
        base = VOWEL_COLOURS[v]
        fillc = base if on else _mix(base, th.BG, 0.7)
        if low and not on:
            fillc = th.PANEL
        pygame.draw.rect(surface, fillc, cr, border_radius=theme.px(16))
        if on or heard:
            pygame.draw.rect(surface, th.FOCUS, cr, width=theme.px(5 if on else 3), border_radius=theme.px(16))
        draw_text(surface, theme, vowel_name(v, t), cr.center, 52 if on else 40, colour=th.BG if on else th.TEXT, bold=True,
                  max_width=cr.width - theme.px(8))

    draw_pitch(surface, theme, rects["pitch"], act, now, t)


__all__ = ["layout", "draw", "draw_character", "VOWEL_COLOURS", "MOUTHS", "LADDER", "midi_to_hz"]
