"""The one schedule a child reads: "now → then" with pictures, and "2 more turns" before a change.

A visual schedule works when it is simple, stable and readable from arm's length (first/then
boards in AAC practice): the current step's picture and name, the next step's, and a warning a
couple of turns before the step ends. One strip, in the top bar, drawn by the shell for every
activity; activities draw none of their own. The plan's full list is the therapist's (the
Schedule screen), not the child's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pygame

from prelude_play.ui import theme as th
from prelude_play.ui.pictures import Pictures
from prelude_play.ui.widgets import draw_text

if TYPE_CHECKING:
    from prelude_play.activity import Registry
    from prelude_play.store.plans import LiveSchedule, PlanStep

# An activity's icon → a picture in assets/images (a step's settings.picture, or the activity's own
# ``picture``, come first).
ICON_PICTURES = {"drum": "drum.png", "scarf": "scarves.png", "voice": "singing.png", "choice": "what_next.png",
                 "song": "hello_song.png", "music": "music.png"}
DONE_PICTURE = "all_done.png"
WARN_AT = 2  # turns left from which the child is told the step is ending


@dataclass
class StripStep:
    title: str
    picture: str


@dataclass
class StripModel:
    """What the strip shows; built from the live schedule, so a test reads it without drawing."""

    now: StripStep
    then: StripStep | None
    turns_left: int | None

    def warning(self, t: Callable[[str], str]) -> str | None:
        """"2 more turns", "1 more turn", "All done" (None until the step is near its end)."""
        n = self.turns_left
        if n is None or n > WARN_AT:
            return None
        if n == 0:
            return t("All done")
        return t("1 more turn") if n == 1 else t("{n} more turns").format(n=n)


def step_picture(step: "PlanStep", registry: "Registry") -> str:
    """A step's picture: its own setting, else its activity's picture or icon ("" for none)."""
    own = step.settings.get("picture")
    if isinstance(own, str) and own:
        return own
    entry = registry.entries.get(step.activity)
    if entry is None:
        return ""
    return str(getattr(entry.cls, "picture", "") or ICON_PICTURES.get(entry.cls.icon, ""))


def strip_model(sch: "LiveSchedule", registry: "Registry", t: Callable[[str], str],
                turns_left: int | None) -> StripModel | None:
    """Now and then for a running plan (None when no step runs)."""
    from prelude_play.store.plans import PENDING

    cur = sch.current
    if cur is None:
        return None
    nxt = next((s.step for s in sch.steps[sch.index + 1:] if s.state == PENDING and registry.entries.get(s.step.activity)),
               None)
    then = StripStep(t(nxt.label()), step_picture(nxt, registry)) if nxt is not None else \
        StripStep(t("All done"), DONE_PICTURE)
    return StripModel(StripStep(t(cur.label()), step_picture(cur, registry)), then, turns_left)


class ScheduleStrip:
    """Draws a ``StripModel`` in the top bar."""

    def __init__(self, assets_dir: Path) -> None:
        self.pictures = Pictures([assets_dir / "images"])

    def _picture(self, surf: pygame.Surface, theme: th.Theme, name: str, box: pygame.Rect, title: str) -> None:
        if name:
            self.pictures.load(name)
        img = self.pictures.get(name, box.height) if name else None
        if img is not None:
            surf.blit(img, img.get_rect(center=box.center))
        else:  # no picture: the title's first letter in a disc, so the slot never looks empty
            pygame.draw.circle(surf, th.PANEL, box.center, box.height // 2)
            draw_text(surf, theme, title[:1].upper(), box.center, 30, bold=True, colour=th.TEXT)

    def draw(self, surf: pygame.Surface, theme: th.Theme, model: StripModel, area: pygame.Rect,
             t: Callable[[str], str]) -> None:
        """``area``: the top bar less the therapist corner."""
        pad, gap = theme.px(8), theme.px(12)
        h = area.height - 2 * pad
        warning = model.warning(t)
        warn_w = theme.px(260) if warning else 0
        room = area.width - warn_w - theme.px(70)
        now_w = min(int(room * 0.55), theme.px(480))
        now = pygame.Rect(area.x + pad, area.y + pad, now_w, h)
        pygame.draw.rect(surf, th.ACCENT, now, border_radius=theme.px(14))
        pic = pygame.Rect(now.x + pad, now.y + theme.px(4), h - theme.px(8), h - theme.px(8))
        self._picture(surf, theme, model.now.picture, pic, model.now.title)
        draw_text(surf, theme, model.now.title, (pic.right + gap, now.centery), 34, bold=True, colour=th.BG,
                  anchor="midleft", max_width=now.right - pic.right - gap - pad)
        x = now.right + gap
        if model.then is not None:
            draw_text(surf, theme, "→", (x + theme.px(22), now.centery), 40, bold=True, colour=th.MUTED)
            x += theme.px(50)
            then = pygame.Rect(x, now.y, area.x + area.width - warn_w - x - gap, h)
            tpic = pygame.Rect(then.x, then.y + theme.px(8), h - theme.px(16), h - theme.px(16))
            self._picture(surf, theme, model.then.picture, tpic, model.then.title)
            draw_text(surf, theme, model.then.title, (tpic.right + gap, then.centery), 28, colour=th.TEXT,
                      anchor="midleft", max_width=then.right - tpic.right - gap)
        if warning:
            pill = pygame.Rect(area.right - warn_w, now.y, warn_w - pad, h)
            done = model.turns_left == 0
            pygame.draw.rect(surf, th.GOOD if done else th.PARTIAL, pill, border_radius=h // 2)
            dots = max(0, model.turns_left or 0)
            text_right = pill.right - pad - (dots * theme.px(22) if dots else 0)
            draw_text(surf, theme, warning, ((pill.x + text_right) // 2, pill.centery), 28, bold=True,
                      colour=th.BG, max_width=text_right - pill.x - 2 * pad)
            for i in range(dots):  # one dot a turn: counted down without reading
                c = (pill.right - pad - theme.px(11) - i * theme.px(22), pill.centery)
                pygame.draw.circle(surf, th.BG, c, theme.px(8))
