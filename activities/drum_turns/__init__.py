"""Drum turn-taking: my turn, your turn, together — measured to the millisecond.

The therapist's model comes from the therapist's own pad (instrument-map role "therapist"),
the therapist's drum on screen, or a pattern the app plays through the engine at exact
``at_ns`` times. The client answers on any (or a mapped) MIDI pad, the on-screen drum or a
key. Every hit and every turn is logged with the time it was played (the MIDI callback's
``t_ns``, never the frame's), judged against the model and the beat, and the level adapts.

Trials: one exchange is one trial. It opens when the model starts ("model"; "together" in
together mode) and is judged when the client's copy ends (copy quality; whether the client
waited and the timing go in the judgement's data). Every stroke of the exchange (the model's,
the copy's, the ones played too early) is logged in it, with no outcome of its own. A turn
stopped by pause or by leaving ends the trial unjudged ("ended").
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from prelude_play.activity import Activity, ActivityContext
from prelude_play.errors import ConfigError
from prelude_play.events import InputEvent

from .logic import (
    AdaptiveLevel,
    TurnMachine,
    Hit,
    HitInfo,
    TurnRecord,
    TurnSettings,
    load_library,
)

HERE = Path(__file__).resolve().parent
RESERVED_KEYS = frozenset({"escape", "tab", "left ctrl", "right ctrl", "left shift", "right shift",
                           "left alt", "right alt"} | {f"f{i}" for i in range(1, 13)})
HIT_GOALS = {"copy": ("turn_taking", "musical"), "together": ("turn_taking", "social", "musical"),
             "waiting_failure": ("attention_executive", "turn_taking"), "model": ("turn_taking", "musical"),
             "support": ("turn_taking", "musical"), "between": ("musical",)}


class DrumTurns(Activity):
    name = "drum_turns"
    title = "Drum turns"
    icon = "drum"
    goals = ("turn_taking", "social", "attention_executive", "musical", "motor")
    version = "0.1.0"
    description = "My turn, your turn, together: copy a rhythm on the drum, measured to the millisecond."
    trial_noun = ("turn", "turns")
    settings: dict[str, Any] = {
        "mode": "echo",  # echo (therapist, then client) | together (both, with the pulse)
        "model_source": "pattern",  # pattern (the app plays it) | therapist (pad or screen)
        "bpm": 80,
        "pulse": False,
        "beats_per_bar": 4,
        "count_in_beats": 4,
        "therapist_beats": 4,
        "therapist_silence_ms": 1000,
        "therapist_hits": 0,
        "client_silence_ms": 1500,
        "response_timeout_ms": 6000,
        "handover_ms": 300,
        "end_on_count": True,
        "feedback_ms": 1800,
        "auto_next": True,
        "autostart": True,
        "together_beats": 8,
        "grid_subdivision": 2,
        "level": 1,
        "level_locked": False,
        "up_after": 3,
        "down_after": 2,
        "client_notes": [],  # MIDI notes that count for the client; empty: any client pad
        "client_keys": [],  # key names that count as a stroke; empty: any key but the reserved
        "client_sound": "drum:45",
        "therapist_sound": "drum:38",
        "pattern_sound": "drum:38",
        "pulse_sound": "drum:42",
        "pulse_velocity": 0.45,
        "count_sound": "drum:37",
        "live_cues": False,
        "low_stimulation": False,
        "motor_goal": "motor",  # or fine_motor / gross_motor for the drum in use
        "patterns_file": "patterns.toml",
    }

    # -- lifecycle -----------------------------------------------------------------------------
    def prepare(self, ctx: ActivityContext) -> None:
        super().prepare(ctx)
        c = self.config
        settings = TurnSettings.from_config(c)
        path = Path(str(c["patterns_file"]))
        library = load_library(path if path.is_absolute() else HERE / path)
        level = int(c.get("level", 1))
        if level not in library.levels:
            raise ConfigError(f"level = {level}", key="drum_turns.level",
                              hint=f"levels are {library.lowest}–{library.highest}")
        motor = str(c.get("motor_goal", "motor"))
        if motor not in ("motor", "fine_motor", "gross_motor"):
            raise ConfigError(f"motor_goal = {motor!r}", key="drum_turns.motor_goal",
                              hint="use motor, fine_motor or gross_motor")
        self.motor_goal = motor
        self.state = TurnMachine(settings, library, AdaptiveLevel(
            level, library.lowest, library.highest, int(c.get("up_after", 3)), int(c.get("down_after", 2)),
            locked=bool(c.get("level_locked", False))))
        # the sounds of fast_sound_table: immutable values only
        self._client_notes: frozenset[int] = frozenset(int(n) for n in c.get("client_notes", []))
        self._client_sound: str = str(c["client_sound"])
        self._therapist_sound: str = str(c["therapist_sound"])
        self._client_keys = frozenset(str(k) for k in c.get("client_keys", []))
        self.started = False
        self.paused = not bool(c.get("autostart", True))
        self.size = ctx.size
        self.rects: dict[str, Any] = {}
        self.last_turn_event: str | None = None
        self.last_client_turn: TurnRecord | None = None
        self.trials: dict[int, str] = {}  # exchange -> its trial
        self._queue: list[tuple[int, int, Any]] = []  # (exchange, 0 begun | 1 turn, item) to log in order
        # the activity's own sounds must exist: an unknown one fails now, not mid-turn; whatever
        # a GM pad may send is rendered best effort
        ctx.prepare_sounds(sorted({self._client_sound, self._therapist_sound, settings.pattern_sound,
                                   settings.pulse_sound, settings.count_sound}))
        ctx.prepare_sounds([f"drum:{n}" for n in range(35, 82)], required=False)

    def layout(self, size: tuple[int, int]) -> None:
        from .view import layout

        self.size = size
        self.rects = layout(size, self.theme)

    def find_target(self, target: str):
        if target in ("drum:client", "drum:therapist"):
            return self.rects[target].rect
        return None

    def stop(self) -> None:
        st = getattr(self, "state", None)
        if st is not None and self.ctx is not None and st.phase != "idle":
            st.stop(self.ctx.now_ns())
            self._log_turns()
        if self.ctx is not None:
            self.ctx.close_all_trials("ended")

    # -- input ------------------------------------------------------------------------------
    def fast_sound_table(self) -> dict[str, Any]:
        """Which sound a MIDI hit makes: the map's sound, else the client's or the therapist's
        drum (fixed once prepared)."""
        table = getattr(self, "_fast_table", None)
        if table is None:
            table = {"roles": {"therapist": {"mapped_prefixes": [""], "default": self._therapist_sound},
                               "*": {"mapped_prefixes": [""], "default": self._client_sound}}}
            self._fast_table = table
        return table

    def handle(self, event: InputEvent) -> None:
        ctx = self.ctx
        assert ctx is not None
        if event.data.get("filtered"):
            return  # the shell logs filtered touches and hits
        if event.kind == "tap" and event.pos is not None:
            for who in ("client", "therapist"):
                drum = self.rects.get(f"drum:{who}")
                if drum is not None and drum.contains(event.pos):
                    sound = self._client_sound if who == "client" else self._therapist_sound
                    ctx.play(sound, 0.8)  # straight to the engine, before this frame is drawn
                    self._stroke(Hit(event.t_ns, 100, who, event.source, event.device), sound=sound)
                    return
        elif event.kind == "key_down" and event.key:
            key = event.key
            if (key in self._client_keys) if self._client_keys else (key not in RESERVED_KEYS):
                ctx.play(self._client_sound, 0.8)
                self._stroke(Hit(event.t_ns, 100, "client", "key", event.device), sound=self._client_sound,
                             key=key)
        elif event.source == "midi" and event.kind == "note_on":
            actor = "therapist" if event.role == "therapist" else "client"
            note = event.note
            sound = event.data.get("sounded")
            if actor == "client" and self._client_notes and note not in self._client_notes:
                ctx.log("hit", actor="client", source="midi", device=event.device, t_ns=event.t_ns,
                        goals=("musical",), data={"note": note, "velocity": event.velocity, "counted": False,
                                                  "sound": sound, "turn": self.state.turn})
                return  # not a stroke of the exchange: no trial
            self._stroke(Hit(event.t_ns, int(event.velocity or 0), actor, "midi", event.device, note),
                         sound=sound, channel=event.channel)

    def _stroke(self, h: Hit, *, sound: str | None, **extra: Any) -> HitInfo:
        """Classify one stroke by its own time, log it, and log any turn it finished."""
        ctx = self.ctx
        assert ctx is not None
        if not self.started and not self.paused:
            self._start(h.t_ns)
        info = self.state.hit(h)
        exchange = self.state.exchange
        # what the stroke ended (a copy by count, a copy taken back by the therapist) or began is
        # logged in order: earlier exchanges first, the stroke, then the copy it completed
        self._log_turns(hold_copy_of=exchange if h.actor == "client" else None)
        goals = HIT_GOALS[info.role]
        if h.actor == "client" and info.role in ("copy", "together", "waiting_failure"):
            goals = goals + (self.motor_goal,)
        data = {"turn": info.turn, "exchange": exchange, "phase": info.phase, "role": info.role,
                "velocity": h.velocity, "note": h.note, "sound": sound, "level": self.state.level.level,
                **extra}
        if h.actor == "client":
            data["waited"] = info.role != "waiting_failure"
            data["waiting_failure"] = info.role == "waiting_failure"
        in_exchange = info.role != "between" and info.phase not in ("count_in", "idle", "feedback")
        ctx.log("hit", actor=h.actor, source=h.source, device=h.device, t_ns=h.t_ns, goals=goals,
                prompt=ctx.prompt if h.actor == "client" else None, data=data,
                trial=self.trials.get(exchange) if in_exchange else None)
        self._log_turns()
        return info

    # -- time -------------------------------------------------------------------------------
    def _start(self, now_ns: int) -> None:
        self.started = True
        self.state.start(now_ns)
        assert self.ctx is not None
        s = self.state.settings
        self.ctx.log("exchange_start", actor="therapist", goals=("turn_taking",),
                     data={"mode": s.mode, "model_source": s.model_source, "bpm": s.bpm,
                           "pulse": self.state.pulse_on, "count_in_beats": s.count_in_beats,
                           "level": self.state.level.level, "level_locked": self.state.level.locked})

    def next_frame_ns(self, now_ns: int) -> int | None:
        """Every frame while an exchange runs (its sounds are scheduled ahead, its beat drawn);
        nothing while paused or waiting for the therapist's "Next turn"."""
        st = self.state
        if st.pulse_on or (not self.started and not self.paused):  # running, or about to start
            return now_ns
        if self.paused or st.phase == "idle" or (st.phase == "feedback" and st.phase_end_ns is None):
            return None
        return now_ns

    def update(self, now_ns: int) -> None:
        ctx = self.ctx
        assert ctx is not None
        if not self.started and not self.paused:
            self._start(now_ns)
        self.state.update(now_ns)
        for snd in self.state.due_sounds(now_ns):
            ctx.play(snd.sound, snd.velocity, at_ns=snd.t_ns)
        self._log_turns()

    def _log_turns(self, hold_copy_of: int | None = None) -> None:
        """Open the trials of exchanges begun, log finished turns and judge the copies, in
        exchange order. ``hold_copy_of``: leave that exchange's copy for the next call (the
        stroke that completed it is logged first)."""
        ctx = self.ctx
        assert ctx is not None
        self._queue.extend((ex, 0, item) for ex, *item in self.state.take_opened())
        self._queue.extend((rec.exchange, 1, rec) for rec in self.state.take_finished())
        self._queue.sort(key=lambda q: (q[0], q[1]))  # stable: turns of one exchange keep their order
        held = []
        for ex, _, item in self._queue:
            if isinstance(item, TurnRecord):
                if ex == hold_copy_of and item.whose != "therapist":
                    held.append((ex, 1, item))
                else:
                    self._log_turn(item)
            elif ex not in self.trials:  # (an exchange offered again keeps its trial)
                start_ns, kind = item
                self.trials[ex] = ctx.open_trial(kind, t_ns=start_ns, areas=self._trial_areas(),
                                                 data={"exchange": ex, "mode": self.state.settings.mode,
                                                       "model_source": self.state.settings.model_source,
                                                       "level": self.state.level.level})
        self._queue = held

    def _trial_areas(self) -> tuple[str, ...]:
        return ("turn_taking", "social", "attention_executive", "musical", self.motor_goal)

    def _log_turn(self, rec: TurnRecord) -> None:
        ctx = self.ctx
        assert ctx is not None
        trial = self.trials.get(rec.exchange)
        data = rec.as_data()
        if rec.whose == "therapist":
            ctx.log("turn", actor="therapist", source="pattern" if rec.source == "pattern" else "midi",
                    t_ns=rec.start_ns, goals=("turn_taking", "musical"), data=data, trial=trial)
            if rec.end_reason == "stopped":
                ctx.close_trial(trial, "ended", t_ns=rec.end_ns)
            return
        j = rec.judgement
        eid = ctx.log("turn", actor="client" if rec.hits else "system", t_ns=rec.start_ns,
                      goals=self._trial_areas(), prompt=ctx.prompt, data=data, trial=trial)
        self.last_client_turn = rec
        self.last_turn_event = eid
        if rec.end_reason == "stopped" or j is None:  # paused or left mid-turn: not the client's doing
            ctx.close_trial(trial, "ended", t_ns=rec.end_ns)
        else:
            ctx.judge(trial, j.outcome, t_ns=rec.end_ns, data={
                "waited": rec.waited, "waiting_failures": len(rec.waiting_failures), "turn": rec.turn,
                "whose": rec.whose, "end_reason": rec.end_reason, "level": rec.level, "score": j.score,
                "cue": j.cue, "hits": j.hits, "expected_hits": j.expected_hits, "count_ok": j.count_ok,
                "response_latency_ms": j.response_latency_ms, "mean_abs_ioi_error_pct": j.mean_abs_ioi_error_pct,
                "tempo_ratio": j.tempo_ratio, "on_time": j.on_time, "early": j.early, "late": j.late,
                "missed": j.missed, "mean_offset_ms": j.mean_offset_ms})
        if rec.level_change:
            text = ctx.t("Level up: {level}") if rec.level_change > 0 else ctx.t("Level down: {level}")
            ctx.notify(text.format(level=self.state.level.level))
            ctx.log("level_change", actor="system", goals=("musical",),
                    data={"from": rec.level, "to": self.state.level.level, "after_turn": rec.turn})

    # -- the therapist ----------------------------------------------------------------------
    def primary_action(self) -> tuple[str, Callable[[], None]]:
        """The turn: hand over ("Your turn"), end the client's turn, or start the next one."""
        t = self.ctx.t if self.ctx else (lambda s: s)
        label = {"therapist": t("Your turn"), "client": t("End turn"),
                 "together": t("End turn")}.get(self.state.phase, t("Next turn"))
        return label, self.turn_action

    @classmethod
    def trial_phrases(cls, trials: list[Any], t: Callable[[str], str]) -> list[str]:
        """"waited in 3 of 4 turns": echo turns where the client let the model finish first."""
        known: list[bool] = []
        for x in trials:
            if x.activity != cls.name or x.opportunity != "model":
                continue
            waited = x.judgement_data.get("waited")
            if waited is None:
                if not x.responses:
                    continue  # nothing played and nothing judged: nothing to say
                waited = not any(r.get("waiting_failure") for r in x.responses)
            known.append(bool(waited))
        if not known:
            return []
        if len(known) == 1:
            return [t("waited for the turn") if known[0] else t("did not wait for the turn")]
        return [t("waited in {n} of {total} turns").format(n=sum(known), total=len(known))]

    def therapist_actions(self) -> list[tuple[str, str, Callable[[], None]]]:
        t = self.ctx.t if self.ctx else (lambda s: s)
        st = self.state
        return [
            ("pulse", t("Stop pulse") if st.pulse_on else t("Start pulse"), self.toggle_pulse),
            ("lock", t("Unlock level") if st.level.locked else t("Lock level"), self.toggle_lock),
            ("source", t("Model: therapist") if st.settings.model_source == "therapist" else t("Model: pattern"),
             self.toggle_source),
            ("pause", t("Start") if self.paused or not self.started else t("Pause"), self.toggle_pause),
        ]

    def turn_action(self) -> None:
        """The therapist's tap: hand over, end the client's turn, or start the next one."""
        assert self.ctx is not None
        now = self.ctx.now_ns()
        if not self.started:
            self.paused = False
            self._start(now)
            return
        self.state.advance(now)
        self.state.end_turn(now)
        self._log_turns()

    def toggle_pulse(self) -> None:
        assert self.ctx is not None
        st = self.state
        if st.pulse_on:
            st.stop_pulse()
            self.ctx.log("pulse_stop", actor="therapist", goals=("musical",))
        else:
            st.start_pulse(self.ctx.now_ns() + 100_000_000)
            self.ctx.log("pulse_start", actor="therapist", goals=("musical",), data={"bpm": st.settings.bpm})

    def toggle_lock(self) -> None:
        assert self.ctx is not None
        lv = self.state.level
        lv.locked = not lv.locked
        self.ctx.log("level_lock" if lv.locked else "level_unlock", actor="therapist", goals=("musical",),
                     data={"level": lv.level})

    def toggle_source(self) -> None:
        """Switch where models come from; applies from the next model on."""
        assert self.ctx is not None
        st = self.state
        new = "therapist" if st.settings.model_source == "pattern" else "pattern"
        st.settings = replace(st.settings, model_source=new)
        self.ctx.log("model_source", actor="therapist", goals=("turn_taking",), data={"model_source": new})

    def toggle_pause(self) -> None:
        assert self.ctx is not None
        now = self.ctx.now_ns()
        if self.paused or not self.started:
            self.paused = False
            self.started = False
            self._start(now)
        else:
            self.paused = True
            self.state.stop(now)
            self._log_turns()
            self.ctx.log("exchange_pause", actor="therapist", goals=("turn_taking",))

    def status_text(self) -> str:
        st = self.state
        t = self.ctx.t if self.ctx else (lambda s: s)
        lock = f" ({t('locked')})" if st.level.locked else ""
        pulse = f" · {st.settings.bpm:.0f} BPM" if st.pulse_on else ""
        return f"{t('Turn')} {st.turn} · {t('Level')} {st.level.level}{lock}{pulse}"

    # -- drawing ----------------------------------------------------------------------------
    def draw(self, surface) -> None:
        from .view import draw

        assert self.ctx is not None
        draw(surface, self.theme, self.rects, self.state, self.ctx.now_ns(), self.ctx.t,
             live_cues=bool(self.config.get("live_cues")), paused=self.paused)


ACTIVITY = DrumTurns
