"""Vowel match: the therapist (or the app) sings a vowel, the client answers, the app hears it.

The call is the therapist's live voice (tap Call, then sing: the app hears where the call ends),
the sung-vowel model voice at a chosen pitch, or the therapist's own recorded model (recorded
once, kept in memory for the session). Then a response window opens. The mic is analysed on the
capture's worker thread (``VoiceAnalyzer`` + an energy gate); results reach ``handle()`` through
the app queue stamped with the audio's time, so latency is measured from the call's end to the
answer's first sample, not to a frame.

Trials: each call (model, recorded or live) is a trial ("call"); the answer is the response,
judged on the client's shaping ladder. The therapist scores on the session's rail (their score
supersedes the judgement; both stay in the log); a score while the window is open ends it.
Without a microphone nothing is judged: the trial closes when the window runs out ("timeout")
and stays "not scored" unless the therapist scores it. Calibration calls are not trials.

The therapist's scores teach the analyzer (``learn_from_scores``): a success scored on rung 4 or
5 at an unprompted, gestural or verbal prompt makes the client's answer a calibration token of
the called vowel, used at once and kept in the client's profile; Undo takes it back. The answers
the app was "not sure" of are the ones the therapist scores anyway, so the client's calibration
grows without a separate step.

The analyzer knows which vowel was called (``VoiceAnalyzer.expect``): an answer names another
vowel than the called one only when the analyzer is sure of it (0.99: ``VowelClassifier.bar``);
below that the client sees "I'm not sure" and the therapist judges -- telling a child who sang
the called vowel that they sang another teaches the wrong thing. When the analyzer was not sure
of half the last six answers, the therapist is told once that calibrating (again, in this room)
would help.

The client's screen shows no control at all: Call is the rail's primary action (and the pedal's),
vowel, pitch, call source, ladder, calibration, recording and functional communication are in
the therapist panel. Each functional-communication press (sign + voice, voice only, sign only)
is a trial of its own on the ``functional_communication`` area, entered by the therapist and
judged by the ``fc_outcomes`` table.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

import numpy as np

from prelude_play.activity import Activity, ActivityContext
from prelude_play.audio.analysis import VOWELS, Calibration, Token
from prelude_play.errors import ConfigError, PreludeError
from prelude_play.events import InputEvent

from .logic import (
    CALL_SOURCES,
    LADDER,
    MS,
    Attempt,
    EnergyGate,
    MatchMachine,
    MatchSettings,
    NEIGHBOURS,
    VoiceSeg,
    midi_to_hz,
    vowel_name,
)

FC_MODES = ("sign_and_voice", "voice_only", "sign_only")
ADVICE_ANSWERS = 6  # the therapist is told calibrating helps when the analyzer was not sure of ...
ADVICE_NOT_SURE = 3  # ... this many of the last ADVICE_ANSWERS answers


class VowelMatch(Activity):
    name = "vowel_match"
    title = "Vowel match"
    icon = "voice"
    goals = ("speech_communication", "musical", "functional_communication")
    version = "0.1.0"
    description = "Call and response on a vowel: the app hears the client's answer and shows it."
    settings: dict[str, Any] = {
        "call_source": "model",
        "target_vowel": "ah",
        "model_pitch": 64,
        "pitch_choices": [57, 60, 62, 64, 67, 69],
        "model_duration_ms": 1200,
        "response_window_ms": 5000,
        "ladder_level": 4,
        "min_confidence": 0.45,
        "approx_min_posterior": 0.15,
        "pitch_tolerance_cents": 100.0,
        "min_sound_ms": 120,
        "min_voiced_ms": 80,
        "min_call_ms": 200,
        "call_end_silence_ms": 250,
        "live_call_timeout_ms": 10000,
        "echo_guard_ms": 200,
        "settle_ms": 250,
        "max_attempt_ms": 8000,
        "feedback_ms": 2500,
        "between_ms": 1500,
        "auto_next": True,
        "autostart": False,
        "calibration_tokens": 3,
        "learn_from_scores": True,
        "learn_prompts": ["independent", "gestural", "verbal"],
        "learn_up_to": 3,
        "call_key": "space",
        "reward_sound": "chimes:84",
        "low_stimulation": False,
        "fc_outcomes": {"sign_and_voice": "success", "voice_only": "partial", "sign_only": "partial"},
    }

    # -- lifecycle -----------------------------------------------------------------------------
    def prepare(self, ctx: ActivityContext) -> None:
        super().prepare(ctx)
        c = self.config
        self.ms = MatchSettings.from_config(c)
        fc = dict(c.get("fc_outcomes", {}))
        for mode in FC_MODES:
            if fc.get(mode, "partial") not in ctx.outcomes:
                raise ConfigError(f"fc_outcomes.{mode} = {fc.get(mode)!r}", key="vowel_match.fc_outcomes",
                                  hint=", ".join(ctx.outcomes))
        self.fc_outcomes = {m: str(fc.get(m, "partial")) for m in FC_MODES}
        unknown = [p for p in self.ms.learn_prompts if p not in ctx.prompt_levels]
        if unknown:  # a misspelt prompt would silently never teach
            raise ConfigError(f"learn_prompts has {', '.join(map(repr, unknown))}", key="vowel_match.learn_prompts",
                              hint="prompt levels are " + ", ".join(ctx.prompt_levels))
        self.calibration = self._load_calibration(ctx)
        self.mic = ctx.open_mic()
        if self.mic is not None and getattr(self.mic, "backend", "") == "null":
            self.mic = None  # a silent stand-in hears nothing: same as no microphone
        self.machine = MatchMachine(self.ms, mic=self.mic is not None)
        self.analyzer: Any = None  # a VoiceAnalyzer once a mic is open (imports scipy: not at start-up)
        self.gate: EnergyGate | None = None
        if self.mic is not None:
            rate = int(self.mic.rate)
            from prelude_play.audio.analysis import VoiceAnalyzer

            self.analyzer = VoiceAnalyzer(rate, ctx.clock, calibration=self.calibration)
            self.gate = EnergyGate(rate)
            self.mic.add_consumer(self._on_audio)
        else:
            ctx.notify(ctx.t("No microphone: the therapist scores each answer"))
            if self.machine.source == "live":
                self.machine.source = "model"
        self.size = ctx.size
        self.rects: dict[str, Any] = {}
        self.trace: deque[tuple[int, float, str]] = deque(maxlen=1200)  # (t_ns, f0, vowel) heard
        self.live: dict[str, Any] = {}  # the latest analysis, for the character's mouth
        self.live_ns = 0
        self.voicing = False
        self.segments: deque[tuple[int, int, float, str]] = deque(maxlen=64)  # (start, end, f0, vowel)
        self.recorded: dict[str, tuple[str, int, float]] = {}  # vowel -> (sound, duration ns, f0)
        self.recorded_clips: dict[str, tuple[Any, int]] = {}  # vowel -> (samples, rate), for a calibration
        self._recording_vowel: str | None = None
        self.scored: dict[str, str] = {}  # trial id -> the therapist's outcome (from on_scored)
        self.answers: dict[str, Attempt] = {}  # trial id -> its finished answer (what a score can teach)
        self.learnt: dict[str, Token] = self._learnt_tokens(ctx)  # trial id -> the token its score taught
        self._told_learning = False  # the therapist is told once a session that scores teach
        self._unsure_recent: deque[bool] = deque(maxlen=ADVICE_ANSWERS)  # the last answers: not sure?
        self._advised = False  # told once a visit that calibrating would help
        self._expecting: tuple[str, frozenset[str]] | None = None  # what the analyzer was told answers answer
        self.reward_ns = 0
        self.started = bool(c.get("autostart", False))
        if self.started:
            self.machine.next_call_ns = ctx.now_ns() + self.ms.between_ms * MS
        self.ctx.log("vowel_setup", actor="system", goals=("speech_communication",), data={
            "mic": self.mic is not None, "calibrated": self.calibration is not None,
            "calibration_tokens": len(self.calibration.tokens) if self.calibration else 0,
            "call_source": self.machine.source, "target_vowel": self.machine.target_vowel,
            "ladder_level": self.machine.ladder_level, "ladder": list(LADDER)})
        dur = self.ms.model_duration_ms
        first = [self.model_sound(self.machine.target_vowel, self.machine.pitch, dur)]
        reward = str(c.get("reward_sound") or "")
        rest = [self.model_sound(v, p, dur) for v in VOWELS for p in self.ms.pitch_choices]
        try:  # a bad name fails here, before the client is waiting
            ctx.prepare_sounds(first + ([reward] if reward else []), later=rest)
        except PreludeError as exc:
            raise ConfigError(str(exc), key="vowel_match.reward_sound") from exc

    def _load_calibration(self, ctx: ActivityContext) -> Calibration | None:
        """The client's latest calibration: the one kept in the profile, else the last one logged
        (sessions before calibrations were kept only logged them)."""
        raw = ctx.client.get("vowel_calibration") or ctx.recall("calibration")
        if not raw:
            return None
        try:
            cal = Calibration.from_dict(raw)
        except ConfigError as exc:
            ctx.notify(ctx.t("Vowel calibration unreadable; using the general model") + f" ({exc})")
            return None
        return cal if cal.tokens else None

    def _learnt_tokens(self, ctx: ActivityContext) -> dict[str, Token]:
        """Which of the calibration's tokens a score taught (kept beside it in the profile), so a
        score corrected after the activity was left and started again still takes its token back."""
        raw = ctx.client.get("vowel_calibration")
        pairs = raw.get("learnt") if isinstance(raw, dict) else None
        toks = self.calibration.tokens if self.calibration else []
        out: dict[str, Token] = {}
        for pair in pairs if isinstance(pairs, list) else []:
            if (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                    and isinstance(pair[1], int) and 0 <= pair[1] < len(toks)):
                out[pair[0]] = toks[pair[1]]
        return out

    def stop(self) -> None:
        mic = getattr(self, "mic", None)
        if mic is not None:
            mic.remove_consumer(self._on_audio)
        if self.ctx is not None:
            self.ctx.close_all_trials("ended")

    def layout(self, size: tuple[int, int]) -> None:
        from .view import layout

        self.size = size
        self.rects = layout(size, self.theme)

    def find_target(self, target: str):
        """Parts of the client's picture (``face``, ``pitch``, ``chip:ah``…): none of them is a control."""
        r = self.rects.get(target)
        if target == "face" and r is not None:
            import pygame

            (cx, cy), rad = r
            return pygame.Rect(cx - rad, cy - rad, 2 * rad, 2 * rad)
        return r

    # -- the mic worker (NOT the frame loop) ------------------------------------------------
    def _on_audio(self, samples, t0_ns: int) -> None:
        """Runs on the capture's worker thread: analyse, then post results to the app queue."""
        ctx, an, gate = self.ctx, self.analyzer, self.gate
        if ctx is None or an is None or gate is None:
            return
        for ev in gate.feed(samples, t0_ns):
            kind, a, b = ev
            ctx.post(InputEvent(a if kind == "on" else b, "mic", "sound_on" if kind == "on" else "sound_off",
                                device="mic", data={"start_ns": a, "end_ns": b}))
        for vev in an.feed(samples, t0_ns):
            ctx.post(vev.to_input_event())

    # -- input ------------------------------------------------------------------------------
    def handle(self, event: InputEvent) -> None:
        if event.data.get("filtered"):
            return
        m = self.machine
        if event.source == "mic":
            if event.kind == "sound_on":
                m.sound_on(event.t_ns)
            elif event.kind == "sound_off":
                m.sound_off(int(event.data["start_ns"]), int(event.data["end_ns"]))
            elif event.kind == "onset":
                m.voice_onset(event.t_ns)
                self.voicing = True
                self.live, self.live_ns = {"vowel": "", "f0": 0.0, "level_dbfs": event.data.get("level_dbfs")}, event.t_ns
            elif event.kind == "analysis":
                d = event.data
                self.live, self.live_ns = dict(d), event.t_ns
                if d.get("f0", 0) > 0:  # the plot names (and colours) only a vowel the analyzer is sure of
                    self.trace.append((event.t_ns, float(d["f0"]), "" if d.get("abstained") else str(d.get("vowel", ""))))
            elif event.kind == "offset":
                seg = VoiceSeg.from_event_data(event.t_ns, event.data)
                m.voice_offset(seg)
                if self.analyzer is not None and m.current is not None and any(g is seg for g in m.current.segments) \
                        and seg.f0 > 0 and seg.envelope:
                    # an answer in the response window is the client's (never the call): the
                    # analyzer adapts to this voice through the session (no calibration needed)
                    self.analyzer.learn_speaker(seg.f0, seg.f1, seg.f2, seg.f3, seg.envelope)
                self.segments.append((seg.start_ns, seg.end_ns, seg.f0, "" if seg.abstained else seg.vowel))
                self.voicing = False
                self.live_ns = event.t_ns
            return
        # A tap on the client's screen does nothing here: every control is the therapist's.
        if event.kind == "key_down" and event.key == self.config.get("call_key", "space"):
            self.call_action()  # the therapist's keyboard

    # -- calls ------------------------------------------------------------------------------
    @staticmethod
    def model_sound(vowel: str, pitch: int, duration_ms: int = 1200) -> str:
        return f"vowel:{vowel}:{midi_to_hz(pitch):.2f}hz:{duration_ms / 1000:g}s"

    def call_action(self) -> None:
        """The therapist's Call: play the model / the recording, or start listening for a live call."""
        ctx = self.ctx
        assert ctx is not None
        m = self.machine
        now = ctx.now_ns()
        self.started = True
        if m.phase == "recording":
            return
        vowel = m.cal.vowel if m.cal is not None else m.target_vowel
        source = m.source
        if source == "recorded" and vowel not in self.recorded:
            self.record_action()
            return
        self.trace.clear()
        self.segments.clear()
        if source == "live":
            call = m.begin_call(now, source="live")
        else:
            lead = 60 * MS  # scheduled just ahead, so the engine starts it sample-accurately
            if source == "recorded":
                sound, dur_ns, f0 = self.recorded[vowel]
            else:
                sound = self.model_sound(vowel, m.pitch, self.ms.model_duration_ms)
                dur_ns, f0 = self.ms.model_duration_ms * MS, midi_to_hz(m.pitch)
            ctx.play(sound, 0.9, at_ns=now + lead)
            call = m.begin_call(now + lead, end_ns=now + lead + dur_ns, f0=f0, sound=sound, source=source)
        self._settle_interrupted(now)
        if m.cal is None:  # a calibration call collects a token: not a trial
            call.trial_id = ctx.open_trial("call", t_ns=call.tap_ns, areas=self._areas(), data={
                "source": call.source, "vowel": call.vowel, "ladder_level": m.ladder_level,
                "model_pitch": m.pitch if call.source == "model" else None,
                "call_f0": round(call.f0, 2) if call.f0 else None})

    def _areas(self) -> tuple[str, ...]:
        """Pitch matters from the ladder's fifth rung (the vowel on the call's pitch)."""
        return ("speech_communication", "musical") if self.machine.ladder_level >= 5 else ("speech_communication",)

    def _settle_interrupted(self, now_ns: int) -> None:
        """A new call or a recording cut in: the answer that was open is finished and judged
        first, and a call that never got its window (a live call not heard) ends unjudged."""
        ctx = self.ctx
        assert ctx is not None
        for a in self.machine.take_finished():
            self._finished(a, now_ns)
        ctx.close_all_trials("ended", t_ns=now_ns)

    def record_action(self) -> None:
        """Record the therapist's model for the current vowel (the next sung segment)."""
        ctx = self.ctx
        assert ctx is not None
        if self.mic is None:
            ctx.notify(ctx.t("Recording a model needs the microphone"))
            return
        self._recording_vowel = self.machine.target_vowel
        now = ctx.now_ns()
        self.machine.begin_recording(now)
        self._settle_interrupted(now)

    def _finish_recording(self) -> None:
        ctx, m, mic = self.ctx, self.machine, self.mic
        assert ctx is not None and mic is not None
        seg, vowel = m.recording_seg, self._recording_vowel
        m.recording_seg, self._recording_vowel = None, None
        if seg is None or vowel is None:
            return
        rate = int(mic.rate)
        pad = int(0.03 * rate)
        x, first = mic.latest(int((ctx.now_ns() - seg.start_ns) / 1e9 * rate) + 2 * pad + rate // 2)
        t_first = mic.frame_to_ns(first)
        i0 = max(0, int((seg.start_ns - t_first) / 1e9 * rate) - pad)
        i1 = min(len(x), int((seg.end_ns - t_first) / 1e9 * rate) + pad)
        clip = x[i0:i1]
        name = f"vowel_match:recorded:{vowel}"
        load = getattr(ctx.audio, "load", None)
        if callable(load) and clip.size:
            out_rate = int(getattr(ctx.audio, "rate", rate))
            from prelude_play.audio.analysis import resample

            y = resample(clip, rate, out_rate) if out_rate != rate else clip
            load(name, y)
        self.recorded[vowel] = (name, int(len(clip) / rate * 1e9), seg.f0)
        self.recorded_clips[vowel] = (np.asarray(clip, dtype=np.float32).copy(), rate)
        ctx.log("model_recorded", actor="therapist", source="mic", device="mic", t_ns=seg.start_ns,
                goals=("speech_communication",),
                data={"vowel": vowel, "duration_ms": round(seg.ms, 1), "f0": round(seg.f0, 2),
                      "detected_vowel": seg.vowel or None, "confidence": round(seg.confidence, 3),
                      "playable": callable(load)})
        ctx.notify(ctx.t("Model recorded") + f": {vowel_name(vowel, ctx.t)}")

    # -- time -------------------------------------------------------------------------------
    def next_frame_ns(self, now_ns: int) -> int | None:
        """Every frame from the call to the end of the feedback (the character sings, listens,
        shows what it heard); while idle, only the next automatic call (or nothing)."""
        m = self.machine
        if m.phase != "idle" or self.voicing or self._recording_vowel is not None or m.notices or m.finished:
            return now_ns
        if self.reward_ns and now_ns - self.reward_ns < 2_000_000_000:
            return now_ns
        return m.next_call_ns if self.started else None

    def update(self, now_ns: int) -> None:
        ctx = self.ctx
        assert ctx is not None
        m = self.machine
        if m.next_call_ns is not None and now_ns >= m.next_call_ns and m.phase == "idle" and self.started:
            m.next_call_ns = None
            self.call_action()
        call = m.call
        m.update(now_ns)
        if call is not None and m.call is None and call.trial_id is not None:  # a live call never heard
            ctx.close_trial(call.trial_id, "no_call", t_ns=now_ns)
        if self._recording_vowel is not None and m.phase != "recording":
            self._finish_recording()
        for key in m.notices:
            if key == "no_call_heard":
                ctx.notify(ctx.t("No call heard: tap Call, then sing"))
            elif key == "no_model_heard":
                ctx.notify(ctx.t("No model heard: tap Record model, then sing"))
        m.notices.clear()
        for a in m.take_finished():
            self._finished(a, now_ns)
        self._expect()

    def _expect(self) -> None:
        """Tell the analyzer which vowel an answer would answer (the called one, while the
        response window is open; nothing during a call or a calibration): it names another
        vowel only when it is sure of it (``VowelClassifier.bar``) -- telling a child who sang
        the called vowel that they sang another teaches the wrong thing; a "not sure" asks the
        therapist."""
        m = self.machine
        want: tuple[str, frozenset[str]] | None = None
        if m.cal is None and m.phase in ("response", "attempt"):
            target = m.current.target_vowel if m.current is not None else m.target_vowel
            goal = m.current.goal_level if m.current is not None else m.ladder_level
            # a rung that accepts an approximation: the target's neighbours count too
            want = (target, NEIGHBOURS[target] if goal <= 3 else frozenset())
        if self.analyzer is not None and want != self._expecting:
            self._expecting = want
            self.analyzer.expect(*(want or (None,)))

    def _finished(self, a: Attempt, now_ns: int) -> None:
        ctx = self.ctx
        assert ctx is not None
        m = self.machine
        if a.calibration:
            cal = m.cal
            ok = cal is not None and cal.last_token is not None and cal.last_token[1] in a.segments
            g = cal.last_token[1] if ok and cal is not None and cal.last_token else None
            ctx.log("calibration_token", actor="client", source="mic", device="mic",
                    t_ns=a.start_ns or a.window_end_ns, goals=("speech_communication",),
                    data={"vowel": a.target_vowel, "accepted": ok, "f0": round(g.f0, 2) if g else None,
                          "f1": round(g.f1, 1) if g else None, "f2": round(g.f2, 1) if g else None,
                          "f3": round(g.f3, 1) if g else None, "detected_vowel": g.vowel if g else None})
            if cal is not None and cal.complete:
                self.finish_calibration()
            return
        trial = a.call.trial_id
        if trial is not None:
            self.answers[trial] = a
            while len(self.answers) > 64:  # a score lands on a recent call; older answers are logged
                self.answers.pop(next(iter(self.answers)))
        if trial in self.scored and a.override is None:
            a.override = self.scored[trial]  # scored during the call: the therapist's result is shown
        self._log_attempt(a)
        if a.judgement is not None:
            ctx.judge(trial, a.judgement.outcome, t_ns=now_ns, data=a.judgement.as_data() | {
                "goal_level": a.goal_level, "latency_ms": a.latency_ms, "attempt": a.trial})
        else:  # no microphone, or not sure of the vowel: the therapist's score (if any) is the outcome
            not_sure = self.mic is not None and any(g.abstained for g in a.segments)
            reason = ("scored" if trial in self.scored else "not_sure" if not_sure
                      else "timeout" if now_ns >= a.window_end_ns else "ended")
            ctx.close_trial(trial, reason, t_ns=now_ns)
            if not_sure and trial not in self.scored:
                ctx.notify(ctx.t("Not sure which vowel that was: score it on the rail"))
        self._advise_calibration(a)
        if a.outcome == "success" and not self._low() and self.config.get("reward_sound"):
            ctx.play(str(self.config["reward_sound"]), 0.5)
            self.reward_ns = now_ns

    def _advise_calibration(self, a: Attempt) -> None:
        """Tell the therapist (once a visit) when the analyzer was not sure of half the last
        answers: a calibration is what fixes that, and she would not know it from the "not sure"
        notices alone. Why half of six: without a calibration the analyzer is not sure of a third
        of recorded voices' vowels, calibrated of 5 %; a calibration from another room leaves a
        child's voice 14-16 % (docs/bench/voice.md) -- a client at half needs one, here."""
        voiced = [g for g in a.segments if g.ms >= self.ms.min_voiced_ms]
        if self.mic is None or not voiced:
            return
        self._unsure_recent.append(max(voiced, key=lambda g: g.ms).abstained)
        n = sum(self._unsure_recent)
        if self._advised or len(self._unsure_recent) < ADVICE_ANSWERS or n < ADVICE_NOT_SURE:
            return
        self._advised = True
        ctx = self.ctx
        assert ctx is not None
        text = (ctx.t("Not sure of {n} of the last {m} answers: calibrating again here may help")
                if self.calibration is not None and self.calibration.complete else
                ctx.t("Not sure of {n} of the last {m} answers: Calibrate (about a minute) helps"))
        ctx.notify(text.format(n=n, m=ADVICE_ANSWERS))

    def _log_attempt(self, a: Attempt) -> str | None:
        """The answer as the app heard it (the trial's response; "system" when nothing was heard)."""
        ctx = self.ctx
        assert ctx is not None
        a.event_id = ctx.log("vowel_attempt", actor="client" if a.start_ns is not None else "system",
                             source="mic" if self.mic else "system", device="mic" if self.mic else "",
                             t_ns=a.start_ns or a.window_end_ns, prompt=ctx.prompt, data=a.as_data(),
                             trial=a.call.trial_id)
        return a.event_id

    # -- the therapist ----------------------------------------------------------------------
    def on_scored(self, trial_id: str, outcome: str, prompt: str | None) -> None:
        """The therapist scored a call: an open response window ends now (they saw the answer),
        and the result on the client's screen becomes theirs."""
        ctx = self.ctx
        assert ctx is not None
        self.scored[trial_id] = outcome
        m = self.machine
        now = ctx.now_ns()
        cur = m.current
        if cur is not None and m.phase in ("response", "attempt"):
            if cur.call.trial_id == trial_id:
                m.score_last(outcome, now)
                for a in m.take_finished():
                    self._finished(a, now)
        elif m.last is not None and m.last.call.trial_id == trial_id and m.call is m.last.call:
            m.score_last(outcome, now)  # the feedback shows the therapist's result, for a full time
        self._learn_from_score(trial_id, outcome, prompt)

    def _learn_from_score(self, trial_id: str, outcome: str, prompt: str | None) -> None:
        """The therapist heard the target vowel (a success on rung 4 or 5, at a prompt in
        ``learn_prompts``): the answer becomes a calibration token of that vowel, so the analyzer
        learns this client's vowels from the scores the therapist gives anyway -- chiefly on the
        answers it was not sure of. An undo (or a new score that is not such a success) takes the
        token back. Why: without a calibration the analyzer is not sure of a third of recorded
        voices' vowels; on the dev set's sessions taught this way, by the 16th-20th answers "not
        sure" falls from 38.5 % to 14.2 % and the confidently wrong from 4.6 % to 1.7 %
        (bench_voiceset --taught, voice.md)."""
        ms, ctx = self.ms, self.ctx
        assert ctx is not None
        if not ms.learn_from_scores or self.analyzer is None:
            return
        teaches = outcome == "success" and (prompt or "independent") in ms.learn_prompts
        if trial_id in self.learnt:
            if not teaches:
                tok = self.learnt.pop(trial_id)
                toks = self.calibration.tokens if self.calibration else []
                if not any(t is tok for t in toks):
                    return  # a calibration made since has replaced it
                cal = Calibration([t for t in toks if t is not tok])
                self._use_calibration(cal)
                ctx.log("calibration_unlearnt", actor="therapist", source="mic", goals=("speech_communication",),
                        data=cal.to_dict() | {"vowel": tok.vowel, "trial": trial_id, "outcome": outcome,
                                              "counts": cal.counts(), "profile_key": "vowel_calibration"})
            return
        a = self.answers.get(trial_id)
        g = self._answer_segment(a) if a is not None else None
        if not teaches or a is None or g is None or a.goal_level < 4:  # rungs 1-3: no vowel named
            return
        try:
            cal = (self.calibration or Calibration()).learnt(a.target_vowel, g.f0, g.f1, g.f2, g.f3,
                                                             g.envelope or None, up_to=ms.learn_up_to)
        except ValueError:
            return  # a segment with neither formants nor an envelope says nothing of the vowel
        if cal is self.calibration:
            return  # the vowel has its tokens already
        self.learnt[trial_id] = cal.tokens[-1]
        self._use_calibration(cal)
        # the whole calibration, as a "calibration" event has it (at most learn_up_to x 5 of these
        # events a client, as learning only fills): the log alone says what the analyzer used
        ctx.log("calibration_learnt", actor="therapist", source="mic", goals=("speech_communication",),
                data=cal.to_dict() | {"vowel": a.target_vowel, "trial": trial_id, "prompt": prompt, "f0": round(g.f0, 2),
                      "f1": round(g.f1, 1), "f2": round(g.f2, 1), "f3": round(g.f3, 1),
                      "detected_vowel": g.vowel or None, "abstained": g.abstained, "counts": cal.counts(),
                      "profile_key": "vowel_calibration"})
        if not self._told_learning:
            self._told_learning = True
            ctx.notify(ctx.t("Learning from your scores"))

    def functional(self, mode: str) -> str | None:
        """Functional communication the therapist saw (signing and vocalizing together, vocalizing
        only, signing only): a trial of its own on the functional-communication area, judged by
        ``fc_outcomes``. It leaves the vowel call's trial alone."""
        ctx = self.ctx
        assert ctx is not None
        call = self.machine.call
        data = {"mode": mode, "entered_by": "therapist",
                "target_vowel": call.vowel if call is not None else self.machine.target_vowel,
                "call_trial": call.trial_id if call is not None else None}
        tid = ctx.open_trial("functional_communication", areas=("functional_communication",), data=data)
        ctx.log("functional_communication", actor="client", source="therapist", data=data, trial=tid)
        return ctx.judge(tid, self.fc_outcomes[mode], data=data | {"rule": "fc_outcomes"})

    def set_vowel(self, vowel: str) -> None:
        assert self.ctx is not None
        self.machine.target_vowel = vowel
        self.ctx.log("target_change", actor="therapist", goals=("speech_communication",), data={"target_vowel": vowel})

    def cycle_vowel(self) -> None:
        v = self.machine.target_vowel
        self.set_vowel(VOWELS[(VOWELS.index(v) + 1) % len(VOWELS)])

    def cycle_pitch(self) -> None:
        assert self.ctx is not None
        ch = self.ms.pitch_choices
        p = self.machine.pitch
        self.machine.pitch = ch[(ch.index(p) + 1) % len(ch)] if p in ch else ch[0]
        self.ctx.log("target_change", actor="therapist", goals=("musical",), data={"model_pitch": self.machine.pitch,
                                                                                  "hz": round(midi_to_hz(self.machine.pitch), 2)})

    def cycle_source(self) -> None:
        assert self.ctx is not None
        options = CALL_SOURCES if self.mic is not None else ("model",)
        s = self.machine.source
        self.machine.source = options[(options.index(s) + 1) % len(options)] if s in options else options[0]
        self.ctx.log("call_source", actor="therapist", goals=("speech_communication",),
                     data={"call_source": self.machine.source})

    def cycle_ladder(self) -> None:
        assert self.ctx is not None
        m = self.machine
        old = m.ladder_level
        m.ladder_level = old % len(LADDER) + 1
        self.ctx.log("ladder_change", actor="therapist", goals=("speech_communication",),
                     data={"from": old, "to": m.ladder_level, "rung": LADDER[m.ladder_level - 1]})

    def calibrate_action(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        if self.machine.cal is not None:
            self.finish_calibration()
            return
        if self.mic is None:
            ctx.notify(ctx.t("Calibration needs the microphone"))
            return
        self.started = True
        now = ctx.now_ns()
        self.machine.start_calibration(now)
        self._settle_interrupted(now)
        ctx.log("calibration_start", actor="therapist", goals=("speech_communication",),
                data={"tokens_per_vowel": self.ms.calibration_tokens, "vowels": list(VOWELS)})

    def discard_token(self) -> None:
        cal = self.machine.cal
        if cal is not None and cal.discard_last() and self.ctx is not None:
            self.ctx.log("calibration_discard", actor="therapist", goals=("speech_communication",))

    def finish_calibration(self) -> None:
        """Keep what was collected: logged for the client's profile and used from now on."""
        ctx = self.ctx
        assert ctx is not None
        run = self.machine.end_calibration()
        self.machine.next_call_ns = None
        if run is None or not run.calibration.tokens:
            ctx.notify(ctx.t("Calibration stopped: no tokens kept"))
            return
        self._apply_calibration(run.calibration, "guided", {"complete": run.complete, "rejected": run.rejected})

    def _apply_calibration(self, cal: Calibration, how: str, extra: dict[str, Any] | None = None) -> None:
        """Use ``cal`` from now on, keep it in the client's profile (the next session starts with it)
        and log it."""
        ctx = self.ctx
        assert ctx is not None
        self._use_calibration(cal)
        self._unsure_recent.clear()  # the advice counts the new calibration's answers afresh
        self._advised = False
        ctx.log("calibration", actor="therapist", source="mic", goals=("speech_communication",),
                data=cal.to_dict() | {"profile_key": "vowel_calibration", "how": how, "counts": cal.counts(),
                                      **(extra or {})})
        ctx.notify(ctx.t("Calibration saved for this client"))

    def _use_calibration(self, cal: Calibration) -> None:
        """The analyzer uses ``cal`` from now on and the client's profile keeps it (the next session
        starts with it); an empty one means the general model again."""
        assert self.ctx is not None
        self.calibration = cal if cal.tokens else None
        if self.analyzer is not None:
            self.analyzer.set_calibration(self.calibration)
        kept = cal.to_dict()
        learnt = [[tid, i] for tid, tok in self.learnt.items() for i, t in enumerate(cal.tokens) if t is tok]
        if learnt:  # which tokens scores taught: a score corrected in a later visit finds its token
            kept["learnt"] = learnt
        self.ctx.keep("vowel_calibration", kept)

    @staticmethod
    def _answer_segment(a: Attempt) -> VoiceSeg | None:
        """The answer's longest segment that can describe a vowel (120 ms or more, with an
        envelope or F1 and F2), or None."""
        good = [g for g in a.segments if g.ms >= 120 and (g.envelope or (g.f1 > 0 and g.f2 > 0))]
        return max(good, key=lambda x: x.ms) if good else None

    def keep_last_answer(self) -> None:
        """The client's last answer was a good one: keep it as their own token for the vowel that
        was called (one tap each, the quickest calibration: five good answers, under a minute)."""
        ctx = self.ctx
        assert ctx is not None
        a = self.machine.last
        g = self._answer_segment(a) if a is not None else None
        if a is None or g is None:
            ctx.notify(ctx.t("No answer to keep: wait for the client's answer"))
            return
        cal = Calibration(list(self.calibration.tokens) if self.calibration else [])
        try:
            cal.add(a.target_vowel, g.f0, g.f1, g.f2, g.f3, g.envelope or None)
        except ValueError as exc:
            ctx.notify(ctx.t("Could not keep that answer") + f": {exc}")
            return
        self._apply_calibration(cal, "kept_answer", {"vowel": a.target_vowel, "trial": a.call.trial_id})

    def calibrate_from_recordings(self) -> None:
        """A calibration from the recordings made with Record (the client's own best vowels, one per
        vowel): ``build_calibration`` on them, added to the calibration in use."""
        ctx = self.ctx
        assert ctx is not None
        if not self.recorded_clips:
            ctx.notify(ctx.t("Record the client's vowels first (Call: recorded, then Record)"))
            return
        from prelude_play.audio.analysis import build_calibration
        from prelude_play.errors import AnalysisError

        try:
            cal = build_calibration([(v, clip, rate) for v, (clip, rate) in self.recorded_clips.items()],
                                    base=self.calibration)
        except AnalysisError as exc:
            ctx.notify(ctx.t("Could not calibrate") + f": {exc}")
            return
        self._apply_calibration(cal, "recordings", {"vowels": sorted(self.recorded_clips)})

    def primary_action(self) -> tuple[str, Callable[[], None]]:
        """Call (or, for a recorded call with no recording yet, Record model): on the rail, the pedal."""
        t = self.ctx.t if self.ctx else (lambda s: s)
        m = self.machine
        vowel = m.cal.vowel if m.cal is not None else m.target_vowel
        label = t("Record model") if m.source == "recorded" and vowel not in self.recorded else t("Call")
        return label, self.call_action

    def therapist_actions(self) -> list[tuple[str, str, Callable[[], None]]]:
        """The settings the strip used to show on the client's screen, and functional communication."""
        from .logic import note_name

        t = self.ctx.t if self.ctx else (lambda s: s)
        m = self.machine
        source = {"live": t("Call: live"), "model": t("Call: model"), "recorded": t("Call: recorded")}[m.source]
        pitch = t("Pitch") + f": {note_name(m.pitch)}" if m.source == "model" else t("Pitch: from call")
        acts: list[tuple[str, str, Callable[[], Any]]] = [
            ("vowel", t("Vowel") + f": {vowel_name(m.target_vowel, t)}", self.cycle_vowel),
            ("pitch", pitch, self.cycle_pitch),
            ("source", source, self.cycle_source),
            ("ladder", t("Ladder") + f" {m.ladder_level}", self.cycle_ladder),
        ]
        if m.cal is not None:
            acts += [("discard", t("Discard token"), self.discard_token),
                     ("calibrate", t("Finish calibration"), self.calibrate_action)]
        else:
            acts.append(("calibrate", t("Calibrate"), self.calibrate_action))
            if self.mic is not None:
                acts.append(("keep", t("Keep answer as calibration"), self.keep_last_answer))
            if self.recorded_clips:
                acts.append(("cal_recordings", t("Calibrate from recordings"), self.calibrate_from_recordings))
        if m.source == "recorded" and self.mic is not None:
            acts.append(("record", t("Record again"), self.record_action))
        acts += [("fc_both", t("Sign + voice"), lambda: self.functional("sign_and_voice")),
                 ("fc_voice", t("Voice only"), lambda: self.functional("voice_only")),
                 ("fc_sign", t("Sign only"), lambda: self.functional("sign_only"))]
        return acts

    def status_text(self) -> str:
        t = self.ctx.t if self.ctx else (lambda s: s)
        m = self.machine
        cal = ""
        if self.calibration:  # "3/5": a calibration still learning (the vowels it has heard)
            n = sum(1 for c in self.calibration.counts().values() if c)
            cal = f" · {t('calibrated')}" + ("" if self.calibration.complete else f" {n}/{len(VOWELS)}")
        mic = "" if self.mic else f" · {t('no mic')}"
        return f"{t('Trial')} {m.trial} · {t('Ladder')} {m.ladder_level}{cal}{mic}"

    def _low(self) -> bool:
        ctx = self.ctx
        return bool(self.config.get("low_stimulation") or (ctx is not None and ctx.client.get("low_stimulation")))

    # -- drawing ----------------------------------------------------------------------------
    def draw(self, surface) -> None:
        from .view import draw

        assert self.ctx is not None
        draw(surface, self.theme, self)


ACTIVITY = VowelMatch
