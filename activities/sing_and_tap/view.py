"""Sing and tap drawing: the word's picture, its syllables placed high or low on their pitch,
and the child's two drums, which light on each syllable's beat.

For a child across the room: one picture, one word in large letters, two large drums and one
short banner ("Listen", "Sing with me"...). Calm colours on the dark theme; low-stimulation mode
mutes the fills and drops the glow. Nothing here is a therapist control: the drums are the
child's instruments (a tap plays its note and is logged), and Sing, the stage, the word and the
rule are on the therapist's rail and panel.

``WordEditor`` is the therapist's screen for the client's own words ("more", "all done", a
name), drawn in the activity area while the therapist works it (``therapist_mode``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pygame

from prelude_play.config import resource_dir
from prelude_play.events import InputEvent
from prelude_play.ui import theme as th
from prelude_play.ui.widgets import Button, draw_text

from .logic import Target, own_target

if TYPE_CHECKING:
    from . import SingAndTap

HIGH = (236, 150, 90)  # the high drum: warm
LOW = (90, 140, 210)  # the low drum: cool
BANNERS = {"listen": "Listen", "unison": "Sing with me", "fading": "Finish the word", "alone": "Your turn",
           "no_drums": "Just sing"}


def layout(size: tuple[int, int], theme: th.Theme) -> dict[str, Any]:
    w, h = size
    s = min(w / th.DESIGN_W, h / (th.DESIGN_H - 72))
    gap = int(22 * s)
    banner = pygame.Rect(gap, gap, w - 2 * gap, int(96 * s))
    drums_h = int(h * 0.36)
    top = banner.bottom + gap
    mid = pygame.Rect(gap, top, w - 2 * gap, h - top - drums_h - gap)
    pic = min(mid.height, int(w * 0.3))
    picture = pygame.Rect(mid.x + int(mid.width * 0.04), mid.y, pic, pic)
    words = pygame.Rect(picture.right + 2 * gap, mid.y, mid.right - picture.right - 2 * gap, mid.height)
    r = min(int(drums_h * 0.46), int(w * 0.16))
    cy = h - gap - r
    low = pygame.Rect(0, 0, 2 * r, 2 * r)
    low.center = (int(w * 0.3), cy)
    high = pygame.Rect(0, 0, int(1.8 * r), int(1.8 * r))
    high.center = (int(w * 0.7), cy)
    return {"banner": banner, "picture": picture, "word": words, "drum:low": low, "drum:high": high}


def _mix(a, b, k: float) -> tuple[int, int, int]:
    return tuple(int(a[i] + (b[i] - a[i]) * k) for i in range(3))  # type: ignore[return-value]


_PICTURES: dict[tuple[str, int], pygame.Surface | None] = {}


def picture(name: str, box: int) -> pygame.Surface | None:
    """A picture from assets/images scaled to ``box`` (cached; None when missing)."""
    key = (name, box)
    if key not in _PICTURES:
        path = resource_dir("assets") / "images" / f"{name}.png"
        try:
            img = pygame.image.load(str(path)) if name and path.is_file() else None
        except (pygame.error, OSError):
            img = None
        _PICTURES[key] = pygame.transform.smoothscale(img, (box, box)) if img is not None else None
    return _PICTURES[key]


def picture_names() -> list[str]:
    return sorted(p.stem for p in (resource_dir("assets") / "images").glob("*.png"))


def banner_text(act: "SingAndTap", t: Callable[[str], str]) -> tuple[str, tuple[int, int, int]]:
    m = act.machine
    p = m.current
    if p is not None:
        if m.phase == "model" and p.stage not in ("unison", "fading"):
            return t("Listen"), th.PANEL_HI
        if m.phase == "analysing":
            return t("Listening…"), th.PANEL_HI
        return t(BANNERS[p.stage]), (HIGH if p.stage != "listen" else th.PANEL_HI)
    if m.phase == "feedback" and m.last is not None:
        o = m.last.outcome
        if o == "success":
            return t("Great singing!"), th.GOOD
        if o in ("partial", "not_yet"):
            return t("Good try!"), th.PARTIAL
        if o == "no_response":
            return t("Let's try again"), th.PANEL_HI
        return t("Thank you!"), th.PANEL_HI
    if not act.started:
        return t("Ready"), th.PANEL_HI
    return t("Get ready"), th.PANEL_HI


def draw(surface: pygame.Surface, theme: th.Theme, act: "SingAndTap") -> None:
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
    p = m.current or (m.last if m.phase == "feedback" else None)
    target: Target = p.target if p is not None else act.target

    banner: pygame.Rect = rects["banner"]
    text, colour = banner_text(act, t)
    fill = _mix(colour, th.BG, 0.5) if low else colour
    pygame.draw.rect(surface, fill, banner, border_radius=theme.px(26))
    ink = th.TEXT if fill in (th.PANEL_HI,) or low else th.BG
    draw_text(surface, theme, text, banner.center, 62, colour=ink, bold=True, max_width=banner.width - theme.px(60))

    pic: pygame.Rect = rects["picture"]
    pygame.draw.rect(surface, th.PANEL, pic, border_radius=theme.px(28))
    img = picture(target.picture, int(pic.width * 0.8))
    if img is not None:
        surface.blit(img, img.get_rect(center=pic.center))
    else:
        draw_text(surface, theme, target.word, pic.center, 54, colour=th.TEXT, bold=True,
                  max_width=pic.width - theme.px(24))

    lit = act.lit_drums(now)
    # the syllables, each on its pitch: high ones up, low ones down; the one being sung lit
    area: pygame.Rect = rects["word"]
    n = target.size
    cw = area.width // max(n, 2)
    drums = target.drums(act.s.interval)
    lo_p, hi_p = min(target.pitches), max(target.pitches)
    now_i = None
    if p is not None:
        now_i = next((i for i, (on, off) in enumerate(zip(p.beats_ns, p.ends_ns)) if on <= now < off), None)
    heard: set[int] = set()
    if m.phase == "feedback" and m.last is not None and m.last.judgement is not None:
        heard = {r["i"] for r in m.last.judgement.syllables if r.get("approx_correct") or r.get("tap", {}).get("drum_ok")}
    for i, (syl, pitch) in enumerate(zip(target.syllables, target.pitches)):
        k = 0.5 if hi_p == lo_p else (pitch - lo_p) / (hi_p - lo_p)
        cx = area.x + cw * i + cw // 2
        cy = int(area.bottom - theme.px(70) - k * (area.height - theme.px(140)))
        c = HIGH if drums[i] == "high" else LOW
        on = i == now_i and p is not None and p.stage != "no_drums"
        chip = pygame.Rect(0, 0, min(cw - theme.px(16), theme.px(230)), theme.px(104))
        chip.center = (cx, cy)
        pygame.draw.rect(surface, c if on else _mix(c, th.BG, 0.55 if not low else 0.7), chip,
                         border_radius=theme.px(24))
        if i in heard:
            pygame.draw.rect(surface, th.GOOD, chip, width=theme.px(6), border_radius=theme.px(24))
        draw_text(surface, theme, syl, chip.center, 64, colour=th.BG if on else th.TEXT, bold=True,
                  max_width=chip.width - theme.px(12))

    for drum, base in (("low", LOW), ("high", HIGH)):
        r: pygame.Rect = rects[f"drum:{drum}"]
        on = drum in lit
        if p is not None and p.stage == "no_drums" and drum not in act.lit:
            base = _mix(base, th.BG, 0.6)
        if on and not low:
            pygame.draw.circle(surface, th.ACCENT, r.center, int(r.width / 2 * 1.08))
        rim = _mix(base, (0, 0, 0), 0.3)
        pygame.draw.circle(surface, rim, r.center, r.width // 2)
        head = base if on else _mix(base, th.BG, 0.45 if not low else 0.6)
        pygame.draw.circle(surface, head, r.center, int(r.width / 2 * 0.86))
        if on and low:
            pygame.draw.circle(surface, th.FOCUS, r.center, r.width // 2, theme.px(6))
        word = t("high") if drum == "high" else t("low")
        draw_text(surface, theme, word, r.center, 54, colour=th.BG if on else th.TEXT, bold=True)


# ----------------------------------------------------------------------------- the editor

KEY_CHARS = {"space": " ", "-": "-", "minus": "-", "'": "'", "quote": "'"}


class WordEditor:
    """The client's own words: type one (syllables split by "-" or spaces), pick its picture, add
    it; remove one. Each change is saved at once (``on_save``) in the client's profile."""

    def __init__(self, words: list[Target], t: Callable[[str], str], on_save: Callable[[list[Target]], None],
                 interval: int) -> None:
        self.words = list(words)
        self.t = t
        self.on_save = on_save
        self.interval = interval
        self.text = ""
        self.pictures = [""] + picture_names()
        self.pic = 0
        self.message = ""
        self.buttons: list[Button] = []
        self.size = (1280, 728)
        self.closed = False
        self.dirty = False

    def layout(self, size: tuple[int, int], theme: th.Theme) -> None:
        self.size = size
        t = self.t
        w, h = size
        g = theme.px(20)
        bh = theme.px(84)
        row = pygame.Rect(g, g + theme.px(120), w - 2 * g, bh)
        field_w = int(row.width * 0.5)
        pic_label = self.pictures[self.pic] or t("no picture")
        self.field = pygame.Rect(row.x, row.y, field_w, bh)
        self.buttons = [
            Button("edit:picture", t("Picture") + f": {pic_label}", pygame.Rect(row.x + field_w + g, row.y,
                                                                               int(row.width * 0.28), bh),
                   on_press=self.cycle_picture, font_size=26),
            Button("edit:add", t("Add"), pygame.Rect(row.right - int(row.width * 0.18) + g, row.y,
                                                     int(row.width * 0.18) - g, bh), on_press=self.add,
                   colour=th.GOOD, text_colour=th.BG),
        ]
        y = row.bottom + 2 * g
        for i, word in enumerate(self.words):
            col, line = i % 2, i // 2
            r = pygame.Rect(g + col * (w // 2), y + line * (bh + g), w // 2 - 2 * g, bh)
            self.buttons.append(Button(f"edit:remove:{word.id}", t("Remove") + f": {word.word}", r,
                                       on_press=lambda wid=word.id: self.remove(wid), font_size=28))
        self.buttons.append(Button("edit:done", t("Done"), pygame.Rect(w - g - theme.px(260), h - g - bh,
                                                                       theme.px(260), bh),
                                   on_press=self.done, colour=th.ACCENT, text_colour=th.BG))

    def find(self, target: str) -> pygame.Rect | None:
        if target == "edit:field":
            return self.field
        return next((b.rect for b in self.buttons if b.id == target), None)

    def cycle_picture(self) -> None:
        self.pic = (self.pic + 1) % len(self.pictures)

    def add(self) -> None:
        try:
            word = own_target(self.text, self.interval, self.pictures[self.pic])
        except ValueError as exc:
            self.message = str(exc)
            return
        self.words = [w for w in self.words if w.id != word.id] + [word]
        self.text = ""
        self.message = self.t("Added") + f": {' · '.join(word.syllables)}"
        self.on_save(self.words)

    def remove(self, word_id: str) -> None:
        self.words = [w for w in self.words if w.id != word_id]
        self.on_save(self.words)

    def done(self) -> None:
        self.closed = True

    def input(self, event: InputEvent) -> None:
        if event.kind == "tap" and event.pos is not None:
            for b in self.buttons:
                if b.hit(event.pos) and b.on_press is not None:
                    b.on_press()
                    self.dirty = True
                    return
        elif event.kind == "key_down" and event.key:
            k = event.key
            if k == "backspace":
                self.text = self.text[:-1]
            elif k in ("return", "enter"):
                self.add()
                self.dirty = True
            elif len(k) == 1 and (k.isalpha() or k.isdigit()):
                self.text += k.upper() if event.data.get("mod", 0) & pygame.KMOD_SHIFT else k
            elif k in KEY_CHARS:
                self.text += KEY_CHARS[k]

    def draw(self, surface: pygame.Surface, theme: th.Theme) -> None:
        t = self.t
        surface.fill(th.BG)
        w, _ = surface.get_size()
        draw_text(surface, theme, t("The client's own words"), (w // 2, theme.px(50)), 44, bold=True)
        draw_text(surface, theme, t("Type a word with its syllables split by - or spaces (all done, Ma-ya), then Add"),
                  (w // 2, theme.px(105)), 24, colour=th.MUTED, max_width=w - theme.px(40))
        pygame.draw.rect(surface, th.PANEL, self.field, border_radius=theme.px(16))
        pygame.draw.rect(surface, th.FOCUS, self.field, width=theme.px(3), border_radius=theme.px(16))
        draw_text(surface, theme, (self.text or "") + "|", (self.field.x + theme.px(20), self.field.centery), 34,
                  anchor="midleft", max_width=self.field.width - theme.px(30))
        for b in self.buttons:
            b.draw(surface, theme)
        if self.message:
            draw_text(surface, theme, self.message, (w // 2, surface.get_height() - theme.px(150)), 26,
                      colour=th.ACCENT, max_width=w - theme.px(40))


__all__ = ["layout", "draw", "picture", "picture_names", "WordEditor", "banner_text", "HIGH", "LOW"]
