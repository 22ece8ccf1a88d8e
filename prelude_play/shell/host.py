"""The client's screen: the top bar, the running activity, the therapist corner and the rail.

A touch on the activity's area goes through the client's touch accommodations (``TouchFilter``)
into the activity, in the activity's own coordinates, *as SDL delivers it*: a tap's sound is
started from the event handler, before any frame is drawn. The rail (only after the PIN) and the
corner hold (only while locked) are the therapist's; nothing else here is.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pygame

from prelude_play.clock import Clock
from prelude_play.events import InputEvent, LogEvent
from prelude_play.config import resource_dir
from prelude_play.shell.stack import Screen
from prelude_play.shell.strip import ScheduleStrip, StripModel, strip_model
from prelude_play.ui import theme as th
from prelude_play.ui.touch import TouchFilter
from prelude_play.ui.widgets import Muter, draw_ring, draw_text

if TYPE_CHECKING:
    from prelude_play.shell.port import ShellPort
    from prelude_play.shell.rail import Rail, TherapistLock

SECOND_NS = 1_000_000_000


class HostScreen(Screen):
    name = "host"

    def __init__(self, app: "ShellPort", *, clock: Clock, touch: TouchFilter, rail: "Rail",
                 lock: "TherapistLock") -> None:
        super().__init__(app)
        self.clock = clock
        self.touch = touch
        touch.target_of = self.tap_target  # repeats are filtered per pad / card, never across them
        self.rail = rail
        self.lock = lock
        self.surface: pygame.Surface | None = None
        self.activity_surface: pygame.Surface | None = None
        self.corner_down: InputEvent | None = None
        self.strip = ScheduleStrip(resource_dir("assets"))
        self._mute = Muter()  # low stimulation's palette, its scratch surfaces kept between frames

    # ---- geometry ---------------------------------------------------------------------------

    def host_rect(self) -> pygame.Rect:
        """The client's screen: below the top bar, beside the rail while it is shown."""
        w, h = self.app.theme.size
        bar = self.app.theme.bar_height
        if not self.lock.unlocked:
            return pygame.Rect(0, bar, w, h - bar)
        rw = self.rail.width()
        return pygame.Rect(rw if self.rail.side == "left" else 0, bar, w - rw, h - bar)

    def rail_rect(self) -> pygame.Rect:
        w, h = self.app.theme.size
        rw = self.rail.width()
        return pygame.Rect(0 if self.rail.side == "left" else w - rw, self.app.theme.bar_height, rw,
                           h - self.app.theme.bar_height)

    def corner_rect(self) -> pygame.Rect:
        theme = self.app.theme
        s = theme.px(110)
        return pygame.Rect(0 if self.app.cfg.therapist.corner == "top_left" else theme.size[0] - s, 0, s, s)

    def layout(self) -> None:
        """The activity's area (window, rail) and the rail's buttons."""
        live, act = self.app.live, self.app.activity
        if self.surface is not None and act is not None:
            r = self.host_rect()
            self.activity_surface = self.surface.subsurface(r)
            ctx = live.ctx
            if ctx is not None:  # the activity's theme and size follow its area
                ctx.size = r.size
                ctx.theme.size = (r.width, r.height + self.app.theme.bar_height)
                ctx.theme.lang = self.app.language
            live.call("layout", lambda: act.layout(r.size))
        if self.lock.unlocked:
            self.rail.layout(self.rail_rect())
        self.dirty = True

    def accommodate(self, profile: dict[str, Any], midi: Any) -> str | None:
        """The client's touch accommodations, volume cap and pad sensitivity, applied at once; a
        problem with them comes back as text for the therapist."""
        cfg = self.app.cfg.touch
        acc = profile.get("touch", {})
        self.touch.configure(acc.get("ignore_repeat_ms", cfg.ignore_repeat_ms),
                             acc.get("hold_to_select_ms", cfg.hold_to_select_ms))
        # the client's volume cap (some clients are sound-sensitive): never above the app's level
        cap = profile.get("audio", {}).get("volume_cap_pct")
        level = self.app.cfg.audio.master_volume
        if isinstance(cap, (int, float)) and not isinstance(cap, bool):
            level = min(level, max(0.0, min(1.0, float(cap) / 100)))
        self.app.audio.master_volume = level
        sens = profile.get("sensitivity")
        if sens:
            from prelude_play.errors import PreludeError
            from prelude_play.midi.instruments import Sensitivity

            try:
                midi.set_sensitivity(Sensitivity(int(sens.get("min_velocity", 1)), float(sens.get("tremor_ms", 0.0))))
            except PreludeError as exc:
                return str(exc)
        return None

    # ---- input ------------------------------------------------------------------------------

    def pointer(self, ev: InputEvent) -> None:
        assert ev.pos is not None
        if ev.kind == "wheel":
            return
        if self.lock.unlocked and ev.kind in ("down", "up", "move") and self.rail.pointer(ev.kind, ev.pos, ev.pointer_id):
            self.lock.touch(ev.t_ns)
            self.dirty = True
            return
        if ev.kind == "down" and not self.lock.unlocked and self.corner_rect().collidepoint(ev.pos):
            self.corner_down = ev
            return
        if self.corner_down is not None and ev.pointer_id == self.corner_down.pointer_id:
            if ev.kind == "up" or (ev.kind == "move" and not self.corner_rect().collidepoint(ev.pos)):
                self.corner_down = None
            return
        r = self.host_rect()
        if ev.kind == "down" and not r.collidepoint(ev.pos):
            return
        local = replace(ev, pos=(ev.pos[0] - r.x, ev.pos[1] - r.y))
        self.to_activity(local)
        act = self.app.activity
        if act is not None and act.therapist_mode:
            # an activity's own therapist screen (e.g. a board editor): no client accommodations
            if ev.kind == "down":
                self.to_activity(replace(local, kind="tap"))
            return
        if ev.kind == "hover":
            return
        if ev.kind == "down":
            taps = self.touch.down(local)
        elif ev.kind == "up":
            taps = self.touch.up(local)
        else:
            self.touch.move(local)
            taps = []
        for tap in taps:
            self.route_tap(tap)

    def tap_target(self, pos: tuple[float, float]) -> str | None:
        """Which of the activity's targets (a pad, a card) is at ``pos``, in its own coordinates."""
        act = self.app.activity
        if act is None:
            return None
        return self.app.live.call("tap_target", lambda: act.tap_target(pos))

    def route_tap(self, tap: InputEvent) -> None:
        reason = tap.data.get("filtered")
        if reason and self.app.session is not None:
            self.app.log(LogEvent("filtered_touch", actor="client", source=tap.source, device=tap.device,
                                  t_ns=tap.t_ns, data={"reason": reason, "pos": list(tap.pos or ()),
                                                        **{k: v for k, v in tap.data.items() if k != "filtered"}}))
        self.to_activity(tap)

    def to_activity(self, ev: InputEvent) -> None:
        act = self.app.activity
        if act is not None:
            self.app.live.call("handle", lambda: act.handle(ev))
            self.dirty = True

    def key(self, name: str) -> bool:
        return False  # keys reach the activity through the router (after the scoring keys)

    # ---- time -------------------------------------------------------------------------------

    def update(self, now_ns: int) -> None:
        for tap in self.touch.update(now_ns):
            self.route_tap(tap)
        d = self.corner_down
        if d is not None and now_ns - d.t_ns >= self.app.cfg.therapist.long_press_ms * 1_000_000:
            self.corner_down = None
            self.app.nav.ask_pin()

    def next_frame_ns(self, now_ns: int) -> int | None:
        """Every frame while a finger holds the corner or a card (their rings grow); each second
        while the rail shows (its clock and "2 s ago"); else only the activity's own needs."""
        wants: list[int] = []
        if self.corner_down is not None or self.touch.hold_progress(now_ns):
            wants.append(now_ns)
        if self.lock.unlocked:
            wants.append((now_ns // SECOND_NS + 1) * SECOND_NS)
            if self.lock.idle_ns > 0:
                wants.append(self.lock.last_ns + self.lock.idle_ns)
        act = self.app.activity
        if act is not None:
            nxt = self.app.live.call("next_frame_ns", lambda: act.next_frame_ns(now_ns))
            if nxt is not None:
                wants.append(int(nxt))
        return min(wants) if wants else None

    # ---- drawing ----------------------------------------------------------------------------

    def draw(self, surf: pygame.Surface) -> None:
        app, theme = self.app, self.app.theme
        surf.fill(th.BG)
        bar = pygame.Rect(0, 0, theme.size[0], theme.bar_height)
        pygame.draw.rect(surf, th.PANEL, bar)
        model = self.strip_model()
        corner = self.corner_rect()
        area = pygame.Rect(corner.right if corner.x == 0 else 0, 0, theme.size[0] - corner.width, bar.height)
        if model is not None:
            self.strip.draw(surf, theme, model, area, self.t)
        else:
            draw_text(surf, theme, app.activity_title(), (area.x + theme.px(24), bar.centery), 34, bold=True,
                      anchor="midleft", max_width=area.width - theme.px(48))
        now = self.clock.now_ns()
        if not self.lock.unlocked:
            c = self.corner_rect()
            # the corner's dot: the therapist's only hint of waiting notices (nothing to read; none in low stimulation)
            waiting = app.notices.unseen and not self.low_stimulation()
            pygame.draw.circle(surf, th.PARTIAL if waiting else th.PANEL_HI, (c.centerx, bar.centery), theme.px(14))
            if self.corner_down is not None:
                p = (now - self.corner_down.t_ns) / (app.cfg.therapist.long_press_ms * 1e6)
                draw_ring(surf, (c.centerx, bar.centery), theme.px(26), p, th.ACCENT, theme.px(5))
        act, target = app.activity, self.activity_surface
        if act is not None and target is not None:
            app.live.call("draw", lambda: act.draw(target))
            if app.activity is None:
                return
            r = self.host_rect()
            for pos, prog in self.touch.hold_progress(now):
                draw_ring(surf, (int(pos[0] + r.x), int(pos[1] + r.y)), theme.px(60), prog, th.ACCENT,
                          theme.px(8))
        if self.low_stimulation():  # a muted palette on everything the child sees, whatever the activity draws
            bar, host = pygame.Rect(0, 0, theme.size[0], theme.bar_height), self.host_rect()
            if host.x == 0 and host.width == bar.width and host.top <= bar.bottom:
                self._mute(surf, bar.union(host))  # the client's whole screen: one pass
            else:
                self._mute(surf, bar)
                self._mute(surf, host)
        if self.lock.unlocked:  # the rail shows the session as it is now (tally, trials, the primary action)
            self.rail.layout(self.rail_rect())
            self.rail.draw(surf, now)

    def low_stimulation(self) -> bool:
        """The client's low stimulation (their profile, the activity, the app's setting)."""
        ctx = self.app.live.ctx
        return bool(ctx.theme.low_stimulation if ctx is not None else self.app.theme.low_stimulation)

    def strip_model(self) -> StripModel | None:
        """The child's schedule now (None without a running plan)."""
        live = self.app.live
        sch = live.schedule
        if sch is None or sch.current is None:
            return None
        return strip_model(sch, self.app.registry, self.t, live.turns_left())

    def find(self, button_id: str) -> Any:
        if self.lock.unlocked:
            b = self.rail.find(button_id)
            if b is not None:
                return b
        act = self.app.activity
        if act is not None:
            rect = act.find_target(button_id)
            if rect is not None:
                r = self.host_rect()
                return rect.move(r.x, r.y)
        return None
