"""Free play: the activity every session can fall back on.

Each on-screen pad is a touch target of its own (``tap_target``): the shell's repeat filter
drops a bounce on the same pad but never a second hand on another pad (two-handed hits, rolls);
a filtered touch is logged with its pad (``filtered_hit``). MIDI pads are filtered per note by
the instrument map's sensitivity (``prelude_play.midi.instruments.SensitivityFilter``).
"""

from __future__ import annotations

from typing import Any

from prelude_play.activity import Activity, ActivityContext
from prelude_play.events import InputEvent
from prelude_play.hits import sound_for

from .logic import FreePlayState, snap_to_scale, sound_for_midi


class FreePlay(Activity):
    name = "free_play"
    title = "Free play"
    icon = "drum"
    goals = ("self_expression", "musical", "motor")
    version = "0.1.0"
    settings: dict[str, Any] = {
        "pads": [36, 38, 42, 45, 49, 70],
        "scale": "major_pentatonic",
        "root": 60,
        "keys_sound": "keys",
        "pulse_bpm": 80,
        "pulse_sound": "drum:75",
    }

    def prepare(self, ctx: ActivityContext) -> None:
        super().prepare(ctx)
        c = self.config
        from .logic import SCALES

        if c["scale"] not in SCALES:
            ctx.notify(ctx.t("Unknown scale; playing without a scale lock"))
            c["scale"] = "off"
        self.state = FreePlayState(tuple(int(p) for p in c["pads"])[:9], c["scale"], int(c["root"]),
                                   c["keys_sound"], 0.0, c["pulse_sound"])
        self.rects: list = []
        self.size = ctx.size
        # The on-screen pads and the pulse are ready before the first frame; the rest of the kit
        # and the keyboard (~1 s of rendering) warm up behind it. A key hit before then is
        # rendered on demand (the engine counts it as a late render).
        later = [f"drum:{n}" for n in (35, 37, 39, 40, 41, 43, 44, 46, 47, 48, 50, 51, 54, 56, 57, 59)]
        later += [f"{self.state.keys_sound}:{n}" for n in range(36, 97)]
        ctx.prepare_sounds([self.state.pad_sound(i) for i in range(len(self.state.pads))] + [self.state.pulse_sound],
                           later=later)

    def layout(self, size: tuple[int, int]) -> None:
        from .view import pad_rects

        self.size = size
        self.rects = pad_rects(size, len(self.state.pads), self.theme.scale)

    def find_target(self, target: str):
        if target.startswith("pad:"):
            i = int(target[4:])
            return self.rects[i] if i < len(self.rects) else None
        return None

    def pad_at(self, pos: tuple[float, float] | None) -> int | None:
        if pos is None:
            return None
        return next((i for i, r in enumerate(self.rects) if r.collidepoint(pos)), None)

    def tap_target(self, pos: tuple[float, float]) -> str | None:
        """Each pad is its own target for the repeat filter."""
        i = self.pad_at(pos)
        return None if i is None else f"pad:{i}"

    def fast_sound_table(self) -> dict[str, Any]:
        """Which sound a MIDI hit makes: drum sounds from the map, channel 10 as drums, every
        other key snapped to the scale (fixed once prepared)."""
        table = getattr(self, "_fast_table", None)
        if table is None:
            s = self.state
            keys = {n: sound_for_midi(n, 0, scale=s.scale, root=s.root, keys_sound=s.keys_sound, mapped=None)
                    for n in range(128)}
            table = {"roles": {"*": {"mapped_prefixes": ["drum:"],
                                     "channels": {9: {n: f"drum:{n}" for n in range(128)}},
                                     "notes": keys}}}
            self._fast_table = table
        return table

    def handle(self, event: InputEvent) -> None:
        ctx = self.ctx
        assert ctx is not None
        if event.kind == "tap" and event.pos is not None:
            i = self.pad_at(event.pos)
            if i is None:
                return
            pos = [round(v) for v in event.pos]
            if event.data.get("filtered"):  # the shell logs the touch; this says which pad it hit
                ctx.log("filtered_hit", actor="client", source=event.source, device=event.device, t_ns=event.t_ns,
                        data={"pad": i, "label": self.state.pad_label(i), "reason": event.data["filtered"],
                              "since_last_ms": event.data.get("since_last_ms"), "pos": pos})
                return
            sound = self.state.pad_sound(i)
            ctx.play(sound, 0.9)  # straight to the engine, before this frame is drawn
            self.state.record(event.t_ns, ctx.t(self.state.pad_label(i)), "client", i)
            ctx.log("hit", actor="client", source=event.source, device=event.device, t_ns=event.t_ns,
                    data={"pad": i, "sound": sound, "pos": pos})
        elif event.source == "midi" and event.kind == "note_on" and not event.data.get("filtered"):
            note = event.note or 0
            sound = event.data.get("sounded") or sound_for(self.fast_sound_table(), event)
            pad = None
            if sound and sound.startswith("drum:") and int(sound[5:]) in self.state.pads:
                pad = self.state.pads.index(int(sound[5:]))
            label = event.data.get("label") or (self.state.pad_label(pad) if pad is not None else sound)
            who = "therapist" if event.role == "therapist" else "client"
            self.state.record(event.t_ns, str(label), who, pad)
            data = {"note": note, "velocity": event.velocity, "channel": event.channel, "sound": sound,
                    "sounded_by_fast_path": bool(event.data.get("sounded"))}
            if sound and sound.startswith(self.state.keys_sound + ":"):
                data["scale_note"] = snap_to_scale(note, self.state.scale, self.state.root)
            ctx.log("hit", actor=who, source="midi", device=event.device, t_ns=event.t_ns, data=data)

    def next_frame_ns(self, now_ns: int) -> int | None:
        """Every frame while a pad's flash fades; just before the pulse's next beat is scheduled;
        otherwise nothing to do until the client plays."""
        from .logic import PULSE_LOOKAHEAD_NS
        from .view import FLASH_NS

        wants: list[int] = []
        flashes = self.state.flashes
        if flashes and now_ns - flashes[-1].t_ns < FLASH_NS:
            wants.append(flashes[-1].t_ns + FLASH_NS if self.theme.low_stimulation else now_ns)
        if self.state.next_pulse_ns is not None:
            wants.append(self.state.next_pulse_ns - PULSE_LOOKAHEAD_NS)
        return min(wants) if wants else None

    def update(self, now_ns: int) -> None:
        assert self.ctx is not None
        for t in self.state.due_pulses(now_ns):
            self.ctx.play(self.state.pulse_sound, 0.5, at_ns=t)

    def therapist_actions(self) -> list[tuple[str, str, Any]]:
        t = self.ctx.t if self.ctx else (lambda s: s)
        if self.state.pulse_bpm:
            return [("pulse", t("Stop pulse"), self.toggle_pulse)]
        return [("pulse", t("Start pulse"), self.toggle_pulse)]

    def toggle_pulse(self) -> None:
        assert self.ctx is not None
        if self.state.pulse_bpm:
            self.state.stop_pulse()
            self.ctx.log("pulse_stop", actor="therapist", goals=("musical",))
        else:
            bpm = float(self.config.get("pulse_bpm", 80))
            self.state.start_pulse(self.ctx.now_ns(), bpm)
            self.ctx.log("pulse_start", actor="therapist", goals=("musical",), data={"bpm": bpm})

    def draw(self, surface) -> None:
        from .view import draw

        assert self.ctx is not None
        draw(surface, self.theme, self.state, self.rects, self.ctx.now_ns(), self.ctx.t)

    def stop(self) -> None:
        if getattr(self, "state", None) is not None:
            self.state.stop_pulse()

    def on_panic(self) -> None:
        if self.state.pulse_bpm:
            self.toggle_pulse()

    def status_text(self) -> str:
        assert self.ctx is not None
        return self.ctx.t("Played") + f": {self.state.hits}"


ACTIVITY = FreePlay
