"""Scarf moves: music that tells the body what to do.

The client moves a scarf to cues carried by the music itself — tempo (fast/slow), register
(high/low), dynamics (big/small), silence (freeze), a glissando and cymbal (throw) — with a big
animated cue card in sync. Cues come from a preset, at random within a set (a random time per
cue keeps the freeze a surprise), or live from the therapist (panel buttons, keys, a foot
switch sending keys, or their MIDI keyboard). The client may confirm a cue by a tap or a pad hit.

Trials: each cue shown is a trial ("cue", on the cue's goals), closed when the next cue replaces
it or the activity stops ("ended"); a confirmation is a response in it. Whether the client
followed the music is the therapist's call, one touch on the rail or one pedal press: the
activity never judges a cue, and a cue nobody scored is "not scored", never followed. The rail's
primary action is Freeze / Go: the cue that has to land on the instant, pressed by foot while
both hands hold a scarf.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from prelude_play.activity import Activity, ActivityContext
from prelude_play.errors import ConfigError, PreludeError
from prelude_play.events import InputEvent

from .logic import (CueRunner, CueSpec, MidiCueMap, PresetSequence,
                                          RandomSequence, Record, load_preset, parse_cues)
from .music import MusicGenerator, MusicState
from .player import Player

FOLDER = Path(__file__).resolve().parent
MAX_LOOKAHEAD_MS = 200.0
OUTCOME_WORDS = {"success": "Followed", "partial": "Partly", "not_yet": "Not yet",
                 "no_response": "No response", "not_scored": "Not scored"}


class ScarfMoves(Activity):
    name = "scarf_moves"
    title = "Scarf moves"
    icon = "scarf"
    goals = ("gross_motor", "attention_executive", "self_awareness", "self_expression")
    version = "0.1.0"
    description = "Move a scarf to musical cues: high/low, fast/slow, big/small, freeze, throw, hide/peek."
    trial_noun = ("cue", "cues")
    settings: dict[str, Any] = {"mode": "live", "bpm": 96, "cues": {}}  # defaults.toml fills the rest

    # ---- setup -----------------------------------------------------------------------------
    def prepare(self, ctx: ActivityContext) -> None:
        super().prepare(ctx)
        c = self.config
        self.cues: dict[str, CueSpec] = parse_cues(c.get("cues") or {})
        if not self.cues:
            raise ConfigError("scarf_moves has no [cues.*] defined", key="cues")
        mode = str(c.get("mode", "live"))
        if mode not in ("preset", "random", "live"):
            raise ConfigError(f"unknown mode {mode!r}", key="mode", hint="preset, random or live")
        self.mode = mode
        seed = int(c.get("seed", 0)) or random.SystemRandom().randrange(1, 2**31)
        self.seed = seed
        self.rng = random.Random(seed)
        self.sequence: PresetSequence | RandomSequence | None = None
        if mode == "preset":
            preset = c.get("preset", "warm_up")
            if not isinstance(preset, str) or not re.fullmatch(r"[\w\-]{1,64}", preset):
                raise ConfigError(f"preset {preset!r} is not a preset name", key="preset",
                                  hint="a file name in activities/scarf_moves/presets/, without .toml")
            self.sequence = load_preset(FOLDER / "presets" / f"{preset}.toml", self.cues)
        elif mode == "random":
            names = [n for n in c.get("random_cues", list(self.cues)) if n in self.cues]
            bad = [n for n in c.get("random_cues", []) if n not in self.cues]
            if bad or len(names) < 2:
                raise ConfigError(f"random_cues must name at least two known cues; unknown: {bad}",
                                  key="random_cues", hint=f"one of {sorted(self.cues)}")
            lo, hi = float(c.get("min_s", 5)), float(c.get("max_s", 10))
            if not 0 < lo <= hi:
                raise ConfigError(f"min_s/max_s {lo}/{hi}", key="min_s", hint="0 < min_s <= max_s")
            ranges = {n: (self.cues[n].min_s or lo, self.cues[n].max_s or hi) for n in names}
            self.sequence = RandomSequence(names, ranges)
        self.auto = self.sequence is not None
        self.live_order = [n for n in c.get("random_cues", list(self.cues)) if n in self.cues] or list(self.cues)
        self.soft = 0.7 if ctx.client.get("low_stimulation") else 1.0  # softer for those clients
        self.base = MusicState(bpm=float(c.get("bpm", 96)), dynamics=float(c.get("dynamics", 0.6)))
        out = str(c.get("output", "synth"))
        if out not in ("synth", "midi", "both"):
            raise ConfigError(f"unknown output {out!r}", key="output", hint="synth, midi or both")
        if out != "synth" and ctx.midi_out is None:
            ctx.notify(ctx.t("No MIDI keyboard to play on: using the built-in sounds"))
            out = "synth"
        self.player = Player(audio=ctx.audio, play=ctx.play, midi_out=ctx.midi_out,
                             use_synth=out in ("synth", "both"), use_midi=out in ("midi", "both"),
                             ramp_ms=float(c.get("stop_ramp_ms", 8)))
        lead = self.player.lead_ns(int(float(c.get("lead_ms", 40)) * 1e6))
        self.lookahead_ns = int(min(float(c.get("lookahead_ms", 120)), MAX_LOOKAHEAD_MS) * 1e6)
        self.lookahead_ns = max(self.lookahead_ns, lead)
        self.gen = MusicGenerator(self.base, key_root=int(c.get("key_root", 60)), lead_ns=lead)
        self.runner = CueRunner(self.cues)
        self.keys: dict[str, str] = {str(k): str(v) for k, v in (c.get("keys") or {}).items()}
        m = dict(c.get("midi") or {})
        notes = {int(k): str(v) for k, v in (m.pop("notes", {}) or {}).items()}
        self.midi_map = MidiCueMap(notes=notes, **{k: v for k, v in m.items()
                                                   if k in ("low_below", "high_from", "chord_notes",
                                                            "chord_ms", "chord", "low", "high")})
        self.planned_end: int | None = None
        self.last_playing = "wave" if "wave" in self.cues else next(iter(self.cues))
        self.confirm_flash: int | None = None
        self.size = ctx.size
        self.card_rect: Any = None
        self.stopped = False
        if self.player.use_synth:
            names = self.gen.sound_names([s.music(self.base) for s in self.cues.values()])
            missing = ctx.prepare_sounds(names, required=False)
            if missing:  # an engine without a sound bank: play what it has
                ctx.notify(ctx.t("Some scarf music sounds are missing") + f": {', '.join(missing[:5])}")
        ctx.log("scarf_setup", actor="system", data={
            "mode": mode, "seed": seed, "preset": c.get("preset") if mode == "preset" else None,
            "output": out, "lookahead_ms": self.lookahead_ns / 1e6, "lead_ms": lead / 1e6,
            "base": self.base.describe(), "cues": sorted(self.cues)})

    # ---- cues ------------------------------------------------------------------------------
    def cue(self, name: str, *, source: str = "live", planned_s: float | None = None,
            now_ns: int | None = None) -> int:
        """Ask for a cue; returns when it is heard and shown (the music decides, on the beat)."""
        assert self.ctx is not None
        if name not in self.cues:
            raise KeyError(name)
        now = self.ctx.now_ns() if now_ns is None else now_ns
        spec = self.cues[name]
        state = spec.music(self.base)
        state = replace(state, dynamics=state.dynamics * self.soft)
        onset = self.gen.change(state, now, immediate_stop=(source == "live"))
        if not state.playing:
            self.player.stop_at(onset)
        else:
            self.last_playing = name
        self.runner.request(name, now, onset, source, planned_s, state.describe())
        self.planned_end = None if planned_s is None else onset + int(planned_s * 1e9)
        return onset

    def live(self, name: str, now_ns: int | None = None) -> None:
        """A therapist's live cue: takes over from the sequence until they resume it."""
        if name == "next":
            self._advance(now_ns if now_ns is not None else self.ctx.now_ns(), force=True)  # type: ignore[union-attr]
            return
        if name == "freeze_go":  # one key / switch: freeze, and go again
            name = self.last_playing if self.gen.frozen else "freeze"
        if name not in self.cues or (self.gen.frozen and not self.cues[name].playing):
            return  # already frozen: a second freeze is not a new cue
        self.auto = False
        self.cue(name, source="live", now_ns=now_ns)

    def _advance(self, now: int, force: bool = False) -> None:
        if self.sequence is None:
            if force:  # live mode: step through the cue list (the freeze has its own button)
                names = [n for n in self.live_order if n != "freeze"] or list(self.cues)
                cur = self.runner.pending or self.runner.current
                i = names.index(cur.cue) + 1 if cur is not None and cur.cue in names else 0
                self.cue(names[i % len(names)], source="live", now_ns=now)
            return
        if force:
            self.auto = True
        nxt = self.sequence.next(self.rng)
        if nxt is None:
            self.auto = False
            self.planned_end = None
            return
        self.cue(nxt[0], source="preset" if isinstance(self.sequence, PresetSequence) else "random",
                 planned_s=nxt[1], now_ns=now)

    def on_panic(self) -> None:
        """"Silence all": freeze the music (a logged live cue) so it does not start again by itself."""
        if getattr(self, "gen", None) is not None and not self.gen.frozen:
            self.live("freeze")
        self.auto = False

    def toggle_auto(self) -> None:
        assert self.ctx is not None
        if self.sequence is None:
            return
        self.auto = not self.auto
        if self.auto:
            self._advance(self.ctx.now_ns())
        self.ctx.log("sequence_" + ("resume" if self.auto else "pause"), actor="therapist")

    # ---- lifecycle -------------------------------------------------------------------------
    def _emit(self, records: list[Record]) -> None:
        """A cue shown opens its trial, its end closes it, a confirmation is a response in it."""
        ctx = self.ctx
        assert ctx is not None
        for r in records:
            if r.kind == "cue":
                r.shown.trial_id = ctx.open_trial("cue", t_ns=r.t_ns, areas=r.goals, data=r.data)
            elif r.kind == "cue_end":
                ctx.close_trial(r.shown.trial_id, "ended", t_ns=r.t_ns, data=r.data)
            else:
                ctx.log(r.kind, actor=r.actor, source=r.source, device=r.device, t_ns=r.t_ns, goals=r.goals,
                        data=r.data, trial=r.shown.trial_id)

    def on_scored(self, trial_id: str, outcome: str, prompt: str | None) -> None:
        """Keep the status line right: "Cue 3: Freeze · Followed"."""
        self.runner.scored(trial_id, outcome, prompt)

    def next_frame_ns(self, now_ns: int) -> int | None:
        """Every frame while the music plays (it is scheduled a little ahead, beat by beat); when
        frozen, only what is pending (a cue on the next beat, a chord being decided, the planned
        end of a sequence step)."""
        if self.stopped:
            return None
        if not self.gen.frozen or self.runner.pending is not None or self.midi_map._held:
            return now_ns
        return self.planned_end

    def update(self, now_ns: int) -> None:
        if self.stopped or self.ctx is None:
            return
        for name, t in self.midi_map.due(now_ns):
            self.live(name, now_ns=max(now_ns, t))
        if not self.gen.started:
            if self.auto:
                self._advance(now_ns)
            else:
                first = "wave" if "wave" in self.cues else next(iter(self.cues))
                self.cue(first, source="live", now_ns=now_ns)
        elif self.auto and self.runner.pending is None and self.planned_end is not None \
                and now_ns >= self.planned_end:
            self._advance(now_ns)
        self.player.send(self.gen.due(now_ns + self.lookahead_ns))
        self.player.update(now_ns)
        self._emit(self.runner.tick(now_ns))

    def handle(self, event: InputEvent) -> None:
        ctx = self.ctx
        if ctx is None or event.data.get("filtered"):
            return
        if event.kind == "tap" and event.pos is not None:
            if self.card_rect is not None and self.card_rect.collidepoint(event.pos):
                self._confirm(event)
        elif event.kind == "key_down" and event.key in self.keys:
            self.live(self.keys[event.key], now_ns=event.t_ns)
        elif event.source == "midi" and event.kind == "note_on" and (event.velocity or 0) > 0:
            if event.role == "therapist":
                self.midi_map.note_on(event.note or 0, event.t_ns)
            else:
                self._confirm(event)

    def _confirm(self, event: InputEvent) -> None:
        rec = self.runner.confirm(event.t_ns, event.source, event.device)
        if rec is not None:
            self._emit([rec])
            if rec.data.get("first"):
                self.confirm_flash = event.t_ns

    FAST_SOUND_TABLE: ClassVar[dict[str, Any]] = {"roles": {"therapist": {"default": None}}}

    def fast_sound_table(self) -> dict[str, Any]:
        """Which sound a MIDI hit makes: the map's, except the therapist's keyboard, which cues
        the music and stays silent itself."""
        return self.FAST_SOUND_TABLE

    def primary_action(self) -> tuple[str, Any]:
        """Freeze / Go: the cue that must land on the instant (a pedal press, hands on the scarf)."""
        t = self.ctx.t if self.ctx else (lambda s: s)
        frozen = getattr(self, "gen", None) is not None and self.gen.frozen
        return (t("Go") if frozen else t("Freeze")), lambda: self.live("freeze_go")

    def therapist_actions(self) -> list[tuple[str, str, Any]]:
        """Few, big buttons: the overlay row is shared with the shell's own."""
        t = self.ctx.t if self.ctx else (lambda s: s)
        acts: list[tuple[str, str, Any]] = []
        if getattr(self, "sequence", None) is not None:
            acts.append(("auto", t("Pause sequence") if self.auto else t("Resume sequence"), self.toggle_auto))
        frozen = getattr(self, "gen", None) is not None and self.gen.frozen
        acts.append(("freeze_go", t("Go") if frozen else t("Freeze"), lambda: self.live("freeze_go")))
        acts.append(("next", t("Next cue"), lambda: self.live("next")))
        return acts

    def status_text(self) -> str:
        t = self.ctx.t if self.ctx else (lambda s: s)
        cur = self.runner.current
        if cur is None:
            return ""
        word = t(self.cues[cur.cue].word)
        scored = t(OUTCOME_WORDS.get(cur.outcome, cur.outcome))
        mode = t("sequence") if self.auto else t("live")
        return f"{t('Cue')} {cur.index}: {word} · {scored} · {mode}"

    def stop(self) -> None:
        if self.stopped or self.ctx is None or not hasattr(self, "runner"):
            return
        self.stopped = True
        self._emit(self.runner.end(self.ctx.now_ns()))
        self.player.silence()

    # ---- screen ----------------------------------------------------------------------------
    def layout(self, size: tuple[int, int]) -> None:
        from .view import card_rect

        self.size = size
        self.card_rect = card_rect(size, self.theme)

    def find_target(self, target: str):
        if target == "card":
            return self.card_rect
        return None

    def draw(self, surface) -> None:
        from .view import draw

        assert self.ctx is not None
        if self.card_rect is None:
            self.layout(surface.get_size())
        now = self.ctx.now_ns()
        cur = self.runner.current
        spec = self.cues[cur.cue] if cur is not None else None
        draw(surface, self.theme, spec, cur, self.gen, now, self.card_rect, self.ctx.t, self.confirm_flash)


ACTIVITY = ScarfMoves
