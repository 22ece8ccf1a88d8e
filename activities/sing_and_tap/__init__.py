"""Sing and tap: Auditory-Motor Mapping Training for children who do not yet speak.

The app (or the therapist, live) sings a word on two pitches while the child's two drums light,
one per syllable; the child listens, then sings and taps along, then finishes what a fading
model leaves out, then sings and taps alone, then sings without the drums (``logic.STAGES``).
The step up or down between stages follows the therapist's rule (N successes in a row up, M
misses down, or manual); the stage is in every trial's data.

Each model is a trial ("model"). What the child did in its window is logged once
(``sing_tap_answer``: every tap with its MIDI stamp, every syllable heard with its onset, pitch
and vowel, every asynchrony) and judged as the published measure, syllables approximately
correct (``logic.judge``); the therapist's score supersedes the judgement, ends an open window,
and is what the step rule counts. The microphone's window is read once, on the capture's worker
thread, by ``prelude_play.audio.analysis.syllables``; its result comes back through the app's
queue. Without a microphone, stages that judge the voice leave the trial to the therapist.

The client's screen has the picture, the word and the two drums (instruments the child may
play); Sing, the stage, the rule, the word, the model source and the word editor are the
therapist's (the rail and its panel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from prelude_play.activity import Activity, ActivityContext
from prelude_play.errors import ConfigError
from prelude_play.events import InputEvent

from .logic import (
    MS,
    STAGES,
    Heard,
    Presentation,
    SingMachine,
    SingSettings,
    StageLadder,
    Tap,
    Target,
    judge,
    load_targets,
    make_target,
    midi_to_hz,
    own_target,
    plan,
    summarize,
)

HERE = Path(__file__).resolve().parent
OWN_WORDS_KEY = "sing_and_tap_words"
STAGE_TITLES = {"listen": "Listen", "unison": "Together", "fading": "Finish it", "alone": "Your turn",
                "no_drums": "Just sing"}


class SingAndTap(Activity):
    name = "sing_and_tap"
    title = "Sing and tap"
    icon = "voice"
    goals = ("speech_communication", "musical", "motor")
    version = "0.1.0"
    description = "Sing a word on two pitches and tap a drum for each syllable (AMMT)."
    trial_noun = ("word", "words")
    settings: dict[str, Any] = {
        "stage": "listen", "stage_rule": "auto", "up_after": 3, "down_after": 2, "listen_trials": 2,
        "model_source": "app", "low_note": 64, "interval": 3, "syllable_ms": 550, "gap_ms": 150,
        "response_window_ms": 3500, "per_syllable_ms": 600, "tail_ms": 700, "echo_guard_ms": 120,
        "tap_window_ms": 400, "fading_gain": 0.6, "feedback_ms": 2200, "between_ms": 1500,
        "auto_next": True, "autostart": False, "settle_ms": 150, "analysis_timeout_ms": 3000,
        "target_set": 2, "target": "",
        "targets_file": "", "high_notes": [67], "low_notes": [64], "split_note": 48,
        "high_sound": "", "low_sound": "", "light_midi": True, "light_channel": 0, "lead_ms": 80,
        "reward_sound": "chimes:84", "low_stimulation": False,
    }

    # -- lifecycle -----------------------------------------------------------------------------
    def prepare(self, ctx: ActivityContext) -> None:
        super().prepare(ctx)
        c = self.config
        self.s = s = SingSettings.from_config(c)
        name = str(c.get("targets_file") or "") or ctx.t("targets.en.toml")  # the language's own file
        path = Path(name) if Path(name).is_absolute() else HERE / name
        if not path.is_file():
            path = HERE / "targets.en.toml"
        self.targets_path = path
        self.shipped: list[Target] = load_targets(path, s.interval)
        self.own: list[Target] = self._own_words(ctx)
        size = int(c.get("target_set", 2))
        self.sets = sorted({t.size for t in self.shipped}) + ["own"]
        if size not in self.sets:
            raise ConfigError(f"target_set = {size!r}", key="sing_and_tap.target_set",
                              hint=", ".join(str(x) for x in self.sets if x != "own"))
        self.set_key: Any = size
        wanted = str(c.get("target") or "")
        self.target = next((t for t in self.targets() if t.id == wanted), self.targets()[0])
        for key in ("high_notes", "low_notes"):
            if not isinstance(c.get(key), list) or not all(isinstance(n, int) and 0 <= n <= 127 for n in c[key]):
                raise ConfigError(f"{key} = {c.get(key)!r}", key=f"sing_and_tap.{key}", hint="a list of MIDI notes")
        self.high_notes = frozenset(int(n) for n in c["high_notes"])
        self.low_notes = frozenset(int(n) for n in c["low_notes"])
        self.split_note = int(c.get("split_note", 48))
        self.drum_sounds = {"high": str(c.get("high_sound") or f"keys:{s.low_note + s.interval}"),
                            "low": str(c.get("low_sound") or f"keys:{s.low_note}")}
        self.ladder = StageLadder(s.stage, s.stage_rule, s.up_after, s.down_after, s.listen_trials)
        self.mic = ctx.open_mic()
        if self.mic is not None and getattr(self.mic, "backend", "") == "null":
            self.mic = None
        self.machine = SingMachine(s, mic=self.mic is not None)
        self.analyzer: Any = None
        self._request: tuple[int, int, int] | None = None  # (trial n, start, end) for the mic worker
        if self.mic is not None:
            from prelude_play.audio.analysis.syllables import SyllableAnalyzer

            self.analyzer = SyllableAnalyzer()
            self.mic.add_consumer(self._on_audio)
        else:
            ctx.notify(ctx.t("No microphone: the therapist scores the singing"))
        self.size = ctx.size
        self.rects: dict[str, Any] = {}
        self.editor: Any = None
        self.trials: dict[str, Presentation] = {}
        self.outcomes: dict[str, str] = {}
        self.lit: dict[str, int] = {}  # drum -> until (ns), lit by the child's own taps
        self.sent_lights: set[tuple[int, int]] = set()
        self.reward_ns = 0
        self.started = bool(c.get("autostart", False))
        self.rate = int(getattr(ctx.audio, "rate", 48000) or 48000)
        self._models: dict[tuple[Any, ...], tuple[str, tuple[float, ...], float]] = {}
        try:
            ctx.prepare_sounds(sorted(set(self.drum_sounds.values()) | ({str(c["reward_sound"])}
                                                                      if c.get("reward_sound") else set())))
        except Exception as exc:
            raise ConfigError(str(exc), key="sing_and_tap.high_sound") from exc
        self.model_for(self.target, self.ladder.stage)  # the first word is ready before the client waits
        ctx.log("sing_tap_setup", actor="system", goals=("speech_communication",), data={
            "mic": self.mic is not None, "stage": self.ladder.stage, "rule": s.stage_rule,
            "up_after": s.up_after, "down_after": s.down_after, "targets_file": path.name,
            "targets": len(self.shipped), "own_words": len(self.own), "target": self.target.id,
            "low_note": s.low_note, "interval": s.interval, "model_source": s.model_source})
        if self.started:
            self.machine.next_ns = ctx.now_ns() + s.between_ms * MS

    def _own_words(self, ctx: ActivityContext) -> list[Target]:
        out = []
        for i, d in enumerate(ctx.client.get(OWN_WORDS_KEY) or []):
            try:
                out.append(make_target(dict(d), self.s.interval, own=True))
            except (ValueError, TypeError, AttributeError) as exc:
                ctx.notify(ctx.t("A saved word could not be read") + f" ({i}: {exc})")
        return out

    def targets(self) -> list[Target]:
        if self.set_key == "own":
            return self.own or self.shipped
        return [t for t in self.shipped if t.size == self.set_key] or self.shipped

    def stop(self) -> None:
        mic = getattr(self, "mic", None)
        if mic is not None:
            mic.remove_consumer(self._on_audio)
        self._lights_off()
        if self.ctx is not None:
            self.ctx.close_all_trials("ended")

    def layout(self, size: tuple[int, int]) -> None:
        from .view import layout

        self.size = size
        self.rects = layout(size, self.theme)
        if self.editor is not None:
            self.editor.layout(size, self.theme)

    def find_target(self, target: str):
        if self.editor is not None:
            return self.editor.find(target)
        return self.rects.get(target)

    @property
    def therapist_mode(self) -> bool:
        return self.editor is not None

    # -- the model voice -------------------------------------------------------------------
    def model_for(self, target: Target, stage: str) -> tuple[str, tuple[float, ...], float]:
        """The sung model for ``target`` at ``stage`` (fading: the first syllable only), rendered
        once and loaded into the engine: (sound name, syllable onsets s, length s)."""
        s = self.s
        fading = stage == "fading"
        key = (target.id, target.syllables, target.vowels, target.pitches, fading, s.low_note, s.syllable_ms, s.gap_ms)
        got = self._models.get(key)
        if got is not None:
            return got
        from .voice import SungSyllable, model_vowel, sing

        syl = [SungSyllable(txt, v or "ah", midi_to_hz(s.note(p)), s.syllable_ms / 1000)
               for txt, v, p in zip(target.syllables, target.vowels, target.pitches)]
        gains = [s.fading_gain if i == 0 else 0.0 for i in range(target.size)] if fading else None
        lang = "fr" if self.targets_path.name.startswith("targets.fr") else "en"
        r = sing(syl, model_vowel, self.rate, gap_s=s.gap_ms / 1000, language=lang, gains=gains)
        name = f"sing_and_tap:{target.id}:{'fading' if fading else 'full'}:{s.low_note}:{s.syllable_ms}"
        load = getattr(self.ctx.audio if self.ctx else None, "load", None)
        if callable(load):
            load(name, r.samples)
        got = (name, r.onsets, r.seconds)
        self._models[key] = got
        return got

    # -- the mic worker (NOT the frame loop) ------------------------------------------------
    def _on_audio(self, samples: np.ndarray, t0_ns: int) -> None:
        """Capture's worker thread: once the audio has passed the window's end, read the window
        and post its syllables to the app queue."""
        req, mic, ctx, an = self._request, self.mic, self.ctx, self.analyzer
        if req is None or mic is None or ctx is None or an is None:
            return
        n, start_ns, end_ns = req
        rate = int(mic.rate)
        t_end = t0_ns + int(len(samples) * 1e9 / rate)
        if t_end < end_ns:
            return
        self._request = None
        w = mic.frames_captured
        first = mic.timemap.ns_to_frame(start_ns)
        last = mic.timemap.ns_to_frame(end_ns)
        x, f0 = mic.latest(max(0, w - first))
        x = x[: max(0, last - f0)]
        heard: list[dict[str, Any]] = []
        if x.size > rate // 20:
            for syl in an.analyse(x, rate):  # through the time map: its rate follows the device's clock
                heard.append(syl.to_dict() | {"onset_ns": mic.frame_to_ns(f0 + int(round(syl.onset * rate))),
                                              "end_ns": mic.frame_to_ns(f0 + int(round(syl.end * rate)))})
        ctx.post(InputEvent(end_ns, "mic", "syllables", device="mic",
                            data={"n": n, "window": [start_ns, end_ns], "syllables": heard}))

    # -- input ------------------------------------------------------------------------------
    def fast_sound_table(self) -> dict[str, Any]:
        """Each pad sounds its tuned drum: listed high/low notes, else above/below the split."""
        table = getattr(self, "_fast_table", None)
        if table is None:
            notes = {n: self.drum_sounds[self.drum_of(n)] for n in range(128)}
            role = {"mapped_prefixes": [], "notes": notes, "default": self.drum_sounds["low"]}
            table = {"roles": {"therapist": role, "*": role}}
            self._fast_table = table
        return table

    def drum_of(self, note: int | None) -> str:
        if note in self.high_notes:
            return "high"
        if note in self.low_notes:
            return "low"
        return "high" if (note or 0) >= self.split_note else "low"

    def handle(self, event: InputEvent) -> None:
        ctx = self.ctx
        assert ctx is not None
        if self.editor is not None:
            self.editor.input(event)
            if self.editor.closed:
                self.editor = None
            elif self.editor.dirty:
                self.editor.dirty = False
                self.editor.layout(self.size, self.theme)
            return
        if event.source == "mic" and event.kind == "syllables":
            self._voice(event)
            return
        if event.data.get("filtered"):
            return
        if event.kind == "tap" and event.pos is not None:
            for drum in ("low", "high"):
                r = self.rects.get(f"drum:{drum}")
                if r is not None and r.collidepoint(event.pos):
                    ctx.play(self.drum_sounds[drum], 0.85)  # straight to the engine, before the frame
                    self._tap(Tap(event.t_ns, drum, "touch", None, 100, event.device))
                    return
        elif event.source == "midi" and event.kind == "note_on":
            self._tap(Tap(event.t_ns, self.drum_of(event.note), "midi", event.note, int(event.velocity or 0),
                          event.device))
        elif event.kind == "key_down" and event.key == "space":
            self.sing_action()  # the therapist's keyboard

    def _tap(self, tap: Tap) -> None:
        ctx = self.ctx
        assert ctx is not None
        self.lit[tap.drum] = tap.t_ns + 250 * MS
        p = self.machine.current
        counted = self.machine.tap(tap)
        ctx.log("tap", actor="client", source=tap.source, device=tap.device, t_ns=tap.t_ns,
                goals=("musical", "motor"), prompt=ctx.prompt if counted else None,
                data=tap.as_dict() | {"in_trial": counted, "stage": p.stage if p else self.ladder.stage},
                trial=p.trial_id if (counted and p is not None) else None)

    def _voice(self, event: InputEvent) -> None:
        p = self.machine.current
        if p is None or int(event.data.get("n", -1)) != p.n:
            return  # a window that was already closed
        heard = [Heard.from_dict(d) for d in event.data.get("syllables", [])]
        self.machine.voice(heard, {"window": event.data.get("window"), "syllables": event.data.get("syllables")})
        self._settle(self.ctx.now_ns() if self.ctx else 0)

    # -- the model and its trial ------------------------------------------------------------
    def sing_action(self) -> None:
        """The therapist's Sing: the model (app or live), the pads lit on its beats, the trial."""
        ctx = self.ctx
        assert ctx is not None
        if self.editor is not None:
            return
        now = ctx.now_ns()
        self.started = True
        self._settle(now, interrupt=True)
        stage = self.ladder.stage
        target = self.target
        name, onsets, seconds = self.model_for(target, stage)
        start = now + self.config.get("lead_ms", 80) * MS
        source = self.s.model_source
        p = plan(self.machine.trial + 1, target, stage, source, self.s, start, onsets, seconds)
        if source == "app":
            ctx.play(name, 0.9, at_ns=start)
            p.sound = name
        self.sent_lights.clear()
        self.machine.begin(p, now)
        if self.machine.needs_voice(p):
            self._request = (p.n, p.voice_start_ns or p.window_start_ns, p.window_end_ns)
        areas = ("speech_communication", "musical", "motor") if stage != "no_drums" else ("speech_communication",)
        p.trial_id = ctx.open_trial("model", t_ns=start, areas=areas, data={
            "stage": stage, "target": target.id, "word": target.word, "syllables": list(target.syllables),
            "vowels": list(target.vowels), "notes": [self.s.note(x) for x in target.pitches],
            "drums": list(p.drums), "source": source, "rule": self.ladder.rule, "own_word": target.own,
            "beats_ns": list(p.beats_ns), "sung": list(p.sung)})
        self.trials[p.trial_id] = p
        self.ladder.presented(p.trial_id)

    def _settle(self, now_ns: int, interrupt: bool = False) -> None:
        if interrupt:
            self.machine.abandon(now_ns)
            self._request = None
        for p in self.machine.take_finished():
            self._finished(p, now_ns)

    def _finished(self, p: Presentation, now_ns: int) -> None:
        ctx = self.ctx
        assert ctx is not None
        self._request = None if self._request and self._request[0] == p.n else self._request
        heard = p.heard if self.mic is not None else None
        if self.mic is not None and heard is None and p.voice_start_ns is not None and p.done_reason != "no_audio":
            heard = []  # the window was cut short before the worker read it: nothing heard in time
        if p.done_reason == "no_audio":
            ctx.notify(ctx.t("The microphone stopped: score the singing on the rail"))
        j = judge(p.target, p.stage, self.s, heard, p.taps, p.beats_ns, p.voice_from)
        p.judgement = j
        if p.trial_id in self.outcomes and p.scored is None:
            p.scored = self.outcomes[p.trial_id]
        data = p.as_data() | ({"figures": j.figures, "per_syllable": j.syllables} if j else {})
        anything = bool(p.taps or p.heard)
        ctx.log("sing_tap_answer", actor="client" if anything else "system", source="mic" if self.mic else "system",
                device="mic" if self.mic else "", t_ns=p.window_start_ns, prompt=ctx.prompt, data=data,
                trial=p.trial_id)
        if j is not None:
            ctx.judge(p.trial_id, j.outcome, t_ns=now_ns, data=j.as_data())
            if p.trial_id not in self.outcomes:
                self._record(p.trial_id, j.outcome)
            if j.outcome == "success" and not self._low() and self.config.get("reward_sound"):
                ctx.play(str(self.config["reward_sound"]), 0.45)
                self.reward_ns = now_ns
        else:
            reason = ("scored" if p.trial_id in self.outcomes else p.done_reason if p.done_reason != "response"
                      else "no_mic" if self.mic is None else "ended")
            ctx.close_trial(p.trial_id, reason, t_ns=now_ns)
            if p.stage == "listen" and p.trial_id not in self.outcomes:
                self._record(p.trial_id, None, presented_only=True)

    def _record(self, trial_id: str | None, outcome: str | None, presented_only: bool = False) -> None:
        """Tell the step rule a trial's effective outcome; log and announce a stage change."""
        ctx = self.ctx
        if trial_id is None or ctx is None:
            return
        old = self.ladder.stage
        step = self.ladder.evaluate() if presented_only else self.ladder.record(trial_id, outcome)
        if step:
            self._stage_changed(old, "rule", trial_id)

    def _stage_changed(self, old: str, by: str, trial_id: str | None = None) -> None:
        ctx = self.ctx
        assert ctx is not None
        new = self.ladder.stage
        ctx.log("stage_change", actor="therapist" if by == "therapist" else "system",
                goals=("speech_communication",), data={"from": old, "to": new, "by": by, "after_trial": trial_id,
                                                       "rule": self.ladder.rule})
        ctx.notify(ctx.t("Stage") + f": {ctx.t(STAGE_TITLES[new])}")
        self.model_for(self.target, new)

    # -- time -------------------------------------------------------------------------------
    def next_frame_ns(self, now_ns: int) -> int | None:
        m = self.machine
        if m.phase != "idle" or any(until > now_ns for until in self.lit.values()):
            return now_ns
        if self.reward_ns and now_ns - self.reward_ns < 2_000_000_000:
            return now_ns
        return m.next_ns if self.started else None

    def update(self, now_ns: int) -> None:
        ctx = self.ctx
        assert ctx is not None
        m = self.machine
        if m.next_ns is not None and now_ns >= m.next_ns and m.phase == "idle" and self.started \
                and self.editor is None:
            m.next_ns = None
            self.sing_action()
        m.update(now_ns)
        self._send_lights(now_ns)
        self._settle(now_ns)

    def lit_drums(self, now_ns: int) -> set[str]:
        """The drums lit now: the model's beat (not while the child is alone), or the child's tap."""
        out = {d for d, until in self.lit.items() if until > now_ns}
        p = self.machine.current
        if p is not None and p.stage != "no_drums":
            out |= {d for on, off, d in p.lights if on <= now_ns < off}
        return out

    def _send_lights(self, now_ns: int) -> None:
        """MIDI key/pad lights for the model's beats (note-on velocity lights a pad's LED)."""
        out = self.ctx.midi_out if self.ctx else None
        p = self.machine.current
        if out is None or p is None or not self.config.get("light_midi", True) or p.stage == "no_drums":
            return
        ch = int(self.config.get("light_channel", 0))
        for i, (on, off, drum) in enumerate(p.lights):
            note = min(self.high_notes) if drum == "high" and self.high_notes else \
                min(self.low_notes) if self.low_notes else 0
            if on <= now_ns and (i, 1) not in self.sent_lights:
                self.sent_lights.add((i, 1))
                try:
                    out.note_on(note, 127, ch)
                except Exception:
                    pass
            if off <= now_ns and (i, 0) not in self.sent_lights:
                self.sent_lights.add((i, 0))
                try:
                    out.note_off(note, ch)
                except Exception:
                    pass

    def _lights_off(self) -> None:
        out = self.ctx.midi_out if self.ctx else None
        if out is None:
            return
        ch = int(self.config.get("light_channel", 0))
        for note in set(self.high_notes) | set(self.low_notes):
            try:
                out.note_off(note, ch)
            except Exception:
                pass

    # -- the therapist ----------------------------------------------------------------------
    def on_scored(self, trial_id: str, outcome: str, prompt: str | None) -> None:
        """The therapist's score: it ends the open window, replaces the judgement in the result
        shown and in the step rule."""
        ctx = self.ctx
        assert ctx is not None
        self.outcomes[trial_id] = outcome
        p = self.trials.get(trial_id)
        if p is not None:
            p.scored = outcome
        m = self.machine
        if m.current is not None and m.current.trial_id == trial_id:
            m.end_window(ctx.now_ns())
            if self._request is not None and m.current is not None:
                self._request = (self._request[0], self._request[1], m.current.window_end_ns)
            self._settle(ctx.now_ns())
        elif m.phase == "feedback" and m.last is not None and m.last.trial_id == trial_id:
            m.phase_ns = ctx.now_ns()
        self._record(trial_id, outcome)

    def primary_action(self) -> tuple[str, Callable[[], None]]:
        t = self.ctx.t if self.ctx else (lambda s: s)
        return (t("Sing") if self.s.model_source == "app" else t("Sing (live)")), self.sing_action

    def set_stage(self, stage: str) -> None:
        ctx = self.ctx
        assert ctx is not None
        old = self.ladder.stage
        if stage == old:
            return
        self.ladder.set(stage)
        self._stage_changed(old, "therapist")

    def cycle_stage(self) -> None:
        self.set_stage(STAGES[(STAGES.index(self.ladder.stage) + 1) % len(STAGES)])

    def toggle_rule(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        self.ladder.rule = "manual" if self.ladder.rule == "auto" else "auto"
        ctx.log("stage_rule", actor="therapist", goals=("speech_communication",),
                data={"rule": self.ladder.rule, "up_after": self.ladder.up_after, "down_after": self.ladder.down_after})

    def set_target(self, target: Target) -> None:
        ctx = self.ctx
        assert ctx is not None
        self.target = target
        self.model_for(target, self.ladder.stage)
        ctx.log("target_change", actor="therapist", goals=("speech_communication",),
                data={"target": target.id, "word": target.word, "syllables": list(target.syllables)})

    def next_target(self) -> None:
        ts = self.targets()
        i = next((k for k, t in enumerate(ts) if t.id == self.target.id), -1)
        self.set_target(ts[(i + 1) % len(ts)])

    def cycle_set(self) -> None:
        i = self.sets.index(self.set_key) if self.set_key in self.sets else -1
        self.set_key = self.sets[(i + 1) % len(self.sets)]
        self.set_target(self.targets()[0])

    def toggle_source(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        from dataclasses import replace

        self.s = replace(self.s, model_source="live" if self.s.model_source == "app" else "app")
        self.machine.s = self.s
        ctx.log("model_source", actor="therapist", goals=("speech_communication",),
                data={"model_source": self.s.model_source})

    def toggle_editor(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        if self.editor is not None:
            self.editor = None
            return
        from .view import WordEditor

        self._settle(ctx.now_ns(), interrupt=True)
        self.editor = WordEditor(self.own, ctx.t, self._save_words, self.s.interval)
        self.editor.layout(self.size, self.theme)

    def _save_words(self, words: list[Target]) -> None:
        ctx = self.ctx
        assert ctx is not None
        self.own = list(words)
        ctx.keep(OWN_WORDS_KEY, [w.as_dict() for w in self.own])
        ctx.log("words_saved", actor="therapist", goals=("speech_communication",),
                data={"words": [w.as_dict() for w in self.own], "profile_key": OWN_WORDS_KEY})
        if self.set_key == "own" and self.own and self.target not in self.own:
            self.set_target(self.own[0])

    def add_word(self, text: str, picture: str = "") -> Target:
        """Add one of the client's own words (as the editor does)."""
        t = own_target(text, self.s.interval, picture)
        self._save_words([w for w in self.own if w.id != t.id] + [t])
        return t

    def therapist_actions(self) -> list[tuple[str, str, Callable[[], None]]]:
        t = self.ctx.t if self.ctx else (lambda s: s)
        set_label = t("Own words") if self.set_key == "own" else t("{n} syllables").format(n=self.set_key)
        return [
            ("stage", t("Stage") + f": {t(STAGE_TITLES[self.ladder.stage])}", self.cycle_stage),
            ("rule", (t("Rule: {up} up, {down} down").format(up=self.ladder.up_after, down=self.ladder.down_after)
                      if self.ladder.rule == "auto" else t("Rule: manual")), self.toggle_rule),
            ("word", t("Word") + f": {self.target.word}", self.next_target),
            ("set", set_label, self.cycle_set),
            ("source", t("Model: app") if self.s.model_source == "app" else t("Model: live"), self.toggle_source),
            ("edit", t("Close editor") if self.editor is not None else t("Edit words"), self.toggle_editor),
        ]

    def status_text(self) -> str:
        t = self.ctx.t if self.ctx else (lambda s: s)
        mic = "" if self.mic else f" · {t('no mic')}"
        return f"{t('Stage')}: {t(STAGE_TITLES[self.ladder.stage])} · {self.target.word} · {self.machine.trial}{mic}"

    def _low(self) -> bool:
        ctx = self.ctx
        return bool(self.config.get("low_stimulation") or (ctx is not None and ctx.client.get("low_stimulation")))

    # -- the note and the report ------------------------------------------------------------
    @classmethod
    def trial_phrases(cls, trials: list[Any], t: Callable[[str], str]) -> list[str]:
        """Per word and stage: syllables approximately correct, vowels correct, tap-voice timing."""
        out = []
        for (word, stage), r in summarize(trials).items():
            bits = []
            if r["judged"]:
                bits.append(t("{k} of {n} syllables approximately correct").format(k=r["approx"], n=r["judged"]))
            if r["vowels"]:
                bits.append(t("{k} of {n} vowels correct").format(k=r["vowels_ok"], n=r["vowels"]))
            if r["async"]:
                bits.append(t("taps {ms} ms from the syllables").format(ms=round(sum(r["async"]) / len(r["async"]))))
            if bits:
                out.append(f"“{word}” ({t(STAGE_TITLES.get(stage, stage))}): " + ", ".join(bits))
        return out

    @classmethod
    def report_tables(cls, trials: list[Any], t: Callable[[str], str]) -> list[tuple[str, list[str], list[list[str]]]]:
        """The progress report's table: per word and stage over the period (see store/report.py)."""
        rows = []
        for (word, stage), r in sorted(summarize(trials).items(), key=lambda kv: (kv[0][0], STAGES.index(kv[0][1])
                                                                                  if kv[0][1] in STAGES else 9)):
            approx = f"{r['approx']}/{r['judged']} ({round(100 * r['approx'] / r['judged'])}%)" if r["judged"] else "–"
            vowels = f"{r['vowels_ok']}/{r['vowels']}" if r["vowels"] else "–"
            asy = f"{sum(r['async']) / len(r['async']):.0f}" if r["async"] else "–"
            rows.append([word, t(STAGE_TITLES.get(stage, stage)), str(r["trials"]), str(r["success"]), approx,
                         vowels, asy])
        if not rows:
            return []
        heads = [t("Word"), t("Stage"), t("Trials"), t("Successful"), t("Syllables approximately correct"),
                 t("Vowels correct"), t("Tap–voice asynchrony (ms)")]
        return [(t("Sing and tap: words and stages"), heads, rows)]

    # -- drawing ----------------------------------------------------------------------------
    def draw(self, surface) -> None:
        from .view import draw

        assert self.ctx is not None
        if self.editor is not None:
            self.editor.draw(surface, self.theme)
            return
        draw(surface, self.theme, self)


ACTIVITY = SingAndTap
