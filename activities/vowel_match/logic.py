"""Vowel call and response, without pygame: the call → response-window machine, the shaping
ladder, judging from the voice analyzer's results, therapist overrides, calibration capture,
and a small energy gate for sounds that are not (yet) voiced.

Everything is driven by timestamps on the one clock: the mic's events carry the time of the
audio they describe (not the frame that handled them), so latency is measured from the end of
the call to the first sample of the answer. Mic results arrive a little after the audio they
describe (the analyzer needs ~30–110 ms to confirm an onset), so decisions that depend on "no
more sound is coming" wait ``settle_ms`` past the audio time before they are taken.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from prelude_play.audio.analysis import VOWELS, Calibration, cents_octave_folded
from prelude_play.errors import ConfigError

MS = 1_000_000

LADDER: tuple[str, ...] = (
    "any_vocalization",     # 1: any sound from the client (breath, squeal, hum…)
    "voiced_sound",         # 2: periodic voicing
    "vowel_approximation",  # 3: a vowel near the target in the vowel space
    "target_vowel",         # 4: the target vowel
    "target_vowel_on_pitch",  # 5: the target vowel on the call's pitch (octave folded)
)
# Neighbours on the vowel quadrilateral: a child moving towards the target lands here first.
NEIGHBOURS: dict[str, frozenset[str]] = {
    "ah": frozenset({"oh", "eh"}), "ee": frozenset({"eh"}), "oo": frozenset({"oh"}),
    "oh": frozenset({"ah", "oo"}), "eh": frozenset({"ee", "ah"}),
}
CALL_SOURCES = ("live", "model", "recorded")
Phase = Literal["idle", "recording", "calling", "call_ending", "response", "attempt", "feedback"]
NOTE_NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")



def vowel_name(v: str, t: Callable[[str], str]) -> str:
    """A vowel as the UI language spells it (French: a, i, ou, o, é), never the internal id."""
    names = {"ah": t("ah"), "ee": t("ee"), "oo": t("oo"), "oh": t("oh"), "eh": t("eh")}
    return names.get(v, v)

def midi_to_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12.0)


def note_name(note: int) -> str:
    return f"{NOTE_NAMES[note % 12]}{note // 12 - 1}"


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Validated settings (defaults.toml merged with the client's overrides)."""

    call_source: str = "model"
    target_vowel: str = "ah"
    model_pitch: int = 64  # MIDI note of the sung-vowel model (E4 ≈ 330 Hz: a child's range)
    pitch_choices: tuple[int, ...] = (57, 60, 62, 64, 67, 69)
    model_duration_ms: int = 1200
    response_window_ms: int = 5000
    ladder_level: int = 4  # the rung that counts as success for this client
    min_confidence: float = 0.45
    approx_min_posterior: float = 0.15
    pitch_tolerance_cents: float = 100.0
    min_sound_ms: int = 120
    min_voiced_ms: int = 80
    min_call_ms: int = 200
    call_end_silence_ms: int = 250
    live_call_timeout_ms: int = 10000
    echo_guard_ms: int = 200
    settle_ms: int = 250
    max_attempt_ms: int = 8000
    feedback_ms: int = 2500
    between_ms: int = 1500
    auto_next: bool = True
    calibration_tokens: int = 3
    # the therapist's success scores (at these prompts, on the target-vowel rungs) teach the
    # analyzer the client's own vowel: each becomes a calibration token, until the vowel has
    # learn_up_to tokens (a calibration's own count; none is replaced)
    learn_from_scores: bool = True
    learn_prompts: tuple[str, ...] = ("independent", "gestural", "verbal")
    learn_up_to: int = 3

    @classmethod
    def from_config(cls, c: dict[str, Any]) -> "MatchSettings":
        """Check every value the therapist can set; a bad one is a ConfigError saying what is allowed."""
        d = cls()  # the defaults (a slots dataclass has no class-level values)

        def num(key: str, lo: float, hi: float, kind: type = int) -> Any:
            v = c.get(key, getattr(d, key))
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                raise ConfigError(f"{key} = {v!r}", key=f"vowel_match.{key}", hint=f"a number from {lo} to {hi}")
            return kind(v)

        src = str(c.get("call_source", d.call_source))
        if src not in CALL_SOURCES:
            raise ConfigError(f"call_source = {src!r}", key="vowel_match.call_source",
                              hint="live, model or recorded")
        vowel = str(c.get("target_vowel", d.target_vowel))
        if vowel not in VOWELS:
            raise ConfigError(f"target_vowel = {vowel!r}", key="vowel_match.target_vowel",
                              hint=", ".join(VOWELS))
        choices = c.get("pitch_choices", d.pitch_choices)
        if not isinstance(choices, (list, tuple)) or not choices or not all(
                isinstance(p, int) and 36 <= p <= 96 for p in choices):
            raise ConfigError(f"pitch_choices = {choices!r}", key="vowel_match.pitch_choices",
                              hint="a list of MIDI notes 36–96")
        prompts = c.get("learn_prompts", d.learn_prompts)
        if not isinstance(prompts, (list, tuple)) or not all(isinstance(p, str) for p in prompts):
            raise ConfigError(f"learn_prompts = {prompts!r}", key="vowel_match.learn_prompts",
                              hint="a list of prompt levels, e.g. [\"independent\", \"gestural\"]")
        return cls(
            call_source=src, target_vowel=vowel, model_pitch=num("model_pitch", 36, 96),
            pitch_choices=tuple(int(p) for p in choices),
            model_duration_ms=num("model_duration_ms", 300, 6000),
            response_window_ms=num("response_window_ms", 1000, 30000),
            ladder_level=num("ladder_level", 1, len(LADDER)),
            min_confidence=num("min_confidence", 0.0, 1.0, float),
            approx_min_posterior=num("approx_min_posterior", 0.0, 1.0, float),
            pitch_tolerance_cents=num("pitch_tolerance_cents", 10, 600, float),
            min_sound_ms=num("min_sound_ms", 20, 2000), min_voiced_ms=num("min_voiced_ms", 20, 2000),
            min_call_ms=num("min_call_ms", 50, 5000), call_end_silence_ms=num("call_end_silence_ms", 0, 3000),
            live_call_timeout_ms=num("live_call_timeout_ms", 1000, 120000),
            echo_guard_ms=num("echo_guard_ms", 0, 2000), settle_ms=num("settle_ms", 50, 2000),
            max_attempt_ms=num("max_attempt_ms", 1000, 60000), feedback_ms=num("feedback_ms", 300, 20000),
            between_ms=num("between_ms", 0, 20000), auto_next=bool(c.get("auto_next", d.auto_next)),
            calibration_tokens=num("calibration_tokens", 1, 10),
            learn_from_scores=bool(c.get("learn_from_scores", d.learn_from_scores)),
            learn_prompts=tuple(prompts), learn_up_to=num("learn_up_to", 1, 10),
        )


# ----------------------------------------------------------------------------- observations

@dataclass(frozen=True, slots=True)
class VoiceSeg:
    """One voiced segment from the analyzer (an "offset" event), times on the app clock."""

    start_ns: int
    end_ns: int
    f0: float
    f1: float
    f2: float
    f3: float
    vowel: str
    confidence: float
    level_dbfs: float
    posteriors: dict[str, float] = field(default_factory=dict)
    abstained: bool = False  # the analyzer is not sure which vowel this is: never shown, never judged on
    envelope: tuple[float, ...] = ()  # the segment's spectral envelope (what a calibration learns from)

    @property
    def ms(self) -> float:
        return (self.end_ns - self.start_ns) / MS

    @classmethod
    def from_event_data(cls, t_end_ns: int, d: dict[str, Any]) -> "VoiceSeg":
        """From a mic "offset" InputEvent: its t_ns is the segment's end, data["segment"] its summary."""
        seg = d.get("segment") or {}
        dur = float(seg.get("end", 0.0)) - float(seg.get("start", 0.0))
        return cls(t_end_ns - int(round(dur * 1e9)), t_end_ns, float(d.get("f0", 0.0)), float(d.get("f1", 0.0)),
                   float(d.get("f2", 0.0)), float(d.get("f3", 0.0)), str(d.get("vowel", "")),
                   float(d.get("confidence", 0.0)), float(d.get("level_dbfs", -120.0)),
                   dict(seg.get("posteriors", {})), bool(d.get("abstained", seg.get("abstained", False))),
                   tuple(float(v) for v in (d.get("envelope") or ())))


@dataclass(frozen=True, slots=True)
class Judgement:
    """What the app heard and which rung of the ladder it reached (0 = nothing heard)."""

    level_reached: int
    outcome: str
    detected_vowel: str | None
    confidence: float | None
    f0: float | None
    cents_off: float | None
    f1: float | None
    f2: float | None
    f3: float | None
    level_dbfs: float | None
    voiced_ms: float

    @property
    def rung(self) -> str | None:
        return LADDER[self.level_reached - 1] if self.level_reached else None

    def as_data(self) -> dict[str, Any]:
        d = asdict(self)
        d["rung"] = self.rung
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}


def outcome_for(level_reached: int, goal_level: int) -> str:
    """Success at or above the client's rung; one below is partial; some sound is not yet."""
    if level_reached >= goal_level:
        return "success"
    if level_reached == 0:
        return "no_response"
    return "partial" if level_reached == goal_level - 1 else "not_yet"


def judge(target_vowel: str, target_f0: float | None, goal_level: int, sound_ms: float,
          segments: list[VoiceSeg], s: MatchSettings) -> Judgement | None:
    """Climb the ladder rung by rung; each rung needs the ones below it.

    None: no automatic judgement — the answer's vowel decides (a goal at rung 3 or above) and the
    analyzer said it is not sure which vowel it was; the therapist judges instead. Wrong feedback
    teaches the wrong thing; an honest "not sure" does not."""
    voiced = [g for g in segments if g.ms >= s.min_voiced_ms]
    voiced_ms = sum(g.ms for g in voiced)
    level = 1 if (sound_ms >= s.min_sound_ms or voiced) else 0
    best = max(voiced, key=lambda g: g.ms) if voiced else None
    if best is None:
        return Judgement(level, outcome_for(level, goal_level), None, None, None, None, None, None, None,
                         None, 0.0)
    level = 2
    cents_off = cents_octave_folded(best.f0, target_f0) if (target_f0 and best.f0 > 0) else None
    if best.abstained and goal_level >= 3:
        return None  # the vowel decides, and the analyzer is not sure which it was: the therapist judges
    has_vowel = bool(best.vowel) and best.f1 > 0 and best.f2 > 0 and not best.abstained
    if has_vowel and (best.vowel == target_vowel or best.vowel in NEIGHBOURS[target_vowel]
                      or best.posteriors.get(target_vowel, 0.0) >= s.approx_min_posterior):
        level = 3
        if best.vowel == target_vowel and best.confidence >= s.min_confidence:
            level = 4
            if cents_off is not None and abs(cents_off) <= s.pitch_tolerance_cents:
                level = 5
    return Judgement(level, outcome_for(level, goal_level), best.vowel or None, best.confidence, best.f0,
                     cents_off, best.f1 or None, best.f2 or None, best.f3 or None, best.level_dbfs, voiced_ms)


# ----------------------------------------------------------------------------- trial records

@dataclass
class Call:
    source: str  # live | model | recorded
    vowel: str
    tap_ns: int  # the therapist's tap / the scheduled start of the model
    end_ns: int | None = None
    f0: float | None = None  # what was sung (measured for live calls, set for models)
    detected_vowel: str | None = None
    sound: str | None = None
    trial_id: str | None = None  # the call's trial in the session log (set by the activity)


@dataclass
class Attempt:
    """One call and the answer to it; ``judgement`` None = nothing judged automatically."""

    trial: int
    call: Call
    target_vowel: str
    target_f0: float | None
    goal_level: int
    window_start_ns: int
    window_end_ns: int
    start_ns: int | None = None
    end_ns: int | None = None
    sound_ms: float = 0.0
    segments: list[VoiceSeg] = field(default_factory=list)
    judgement: Judgement | None = None
    calibration: bool = False
    event_id: str | None = None
    override: str | None = None  # the therapist's score of this answer (shown as the result)

    @property
    def latency_ms(self) -> float | None:
        if self.start_ns is None or self.call.end_ns is None:
            return None
        return round((self.start_ns - self.call.end_ns) / MS, 2)

    @property
    def duration_ms(self) -> float | None:
        if self.start_ns is None or self.end_ns is None:
            return None
        return round((self.end_ns - self.start_ns) / MS, 2)

    @property
    def outcome(self) -> str | None:
        return self.override or (self.judgement.outcome if self.judgement else None)

    def as_data(self) -> dict[str, Any]:
        j = self.judgement
        c = self.call
        return {
            "trial": self.trial,
            "target_vowel": self.target_vowel,
            "target_f0": round(self.target_f0, 2) if self.target_f0 else None,
            "call": {"source": c.source, "vowel": c.vowel, "start_ns": c.tap_ns, "end_ns": c.end_ns,
                     "f0": round(c.f0, 2) if c.f0 else None, "detected_vowel": c.detected_vowel,
                     "sound": c.sound},
            "window_ms": round((self.window_end_ns - self.window_start_ns) / MS, 2),
            "start_ns": self.start_ns, "end_ns": self.end_ns,
            "latency_ms": self.latency_ms, "duration_ms": self.duration_ms,
            "goal_level": self.goal_level, "goal_rung": LADDER[self.goal_level - 1],
            "judged_by": "auto" if j is not None else "therapist",
            "detected_vowel": j.detected_vowel if j else None,
            "confidence": round(j.confidence, 3) if j and j.confidence is not None else None,
            "f0": round(j.f0, 2) if j and j.f0 else None,
            "cents_off": round(j.cents_off, 1) if j and j.cents_off is not None else None,
            "f1": round(j.f1, 1) if j and j.f1 else None,
            "f2": round(j.f2, 1) if j and j.f2 else None,
            "f3": round(j.f3, 1) if j and j.f3 else None,
            "level_dbfs": round(j.level_dbfs, 1) if j and j.level_dbfs is not None else None,
            "voiced_ms": round(j.voiced_ms, 1) if j else None,
            "ladder_level": j.level_reached if j else None,
            "ladder_rung": j.rung if j else None,
            "segments": [{"start_ns": g.start_ns, "end_ns": g.end_ns, "f0": round(g.f0, 2),
                          "f1": round(g.f1, 1), "f2": round(g.f2, 1), "vowel": g.vowel,
                          "confidence": round(g.confidence, 3), "abstained": g.abstained} for g in self.segments],
            "overridden": self.override is not None,
            "not_sure": any(g.abstained for g in self.segments),
        }


# ----------------------------------------------------------------------------- the machine

class MatchMachine:
    """Phases: idle → calling (→ call_ending for a live call) → response → attempt → feedback.

    ``recording`` captures the therapist's model once. With ``mic`` False nothing is judged:
    the window simply runs out and the attempt waits for the therapist's score.
    """

    def __init__(self, settings: MatchSettings, *, mic: bool = True) -> None:
        self.s = settings
        self.mic = mic
        self.phase: Phase = "idle"
        self.phase_ns = 0
        self.trial = 0
        self.target_vowel = settings.target_vowel
        self.ladder_level = settings.ladder_level
        self.pitch = settings.model_pitch
        self.source = settings.call_source
        self.call: Call | None = None
        self.current: Attempt | None = None
        self.last: Attempt | None = None
        self.finished: list[Attempt] = []
        self.next_call_ns: int | None = None
        self.notices: list[str] = []  # keys for the activity to translate and show
        self._voice_open_ns: int | None = None
        self._sound_open_ns: int | None = None
        self._last_audio_ns = 0
        self._call_segs: list[VoiceSeg] = []
        self.live_seen_ns: int | None = None  # last voice onset heard (for the view)
        self.recording_seg: VoiceSeg | None = None
        self.cal: CalibrationRun | None = None

    # -- settings the therapist changes in the session --------------------------------------
    def target_f0(self) -> float | None:
        if self.call is not None and self.call.source == "live":
            return self.call.f0
        if self.call is not None and self.call.f0:
            return self.call.f0
        return midi_to_hz(self.pitch)

    def _enter(self, phase: Phase, now_ns: int) -> None:
        self.phase, self.phase_ns = phase, now_ns

    # -- calls ------------------------------------------------------------------------------
    def begin_call(self, now_ns: int, *, end_ns: int | None = None, f0: float | None = None,
                   sound: str | None = None, source: str | None = None) -> Call:
        """Start a call. Models give their end time (known); a live call ends when heard to end."""
        self._abandon(now_ns)
        src = source or self.source
        vowel = self.cal.vowel if self.cal is not None else self.target_vowel
        self.call = Call(src, vowel, now_ns, end_ns, f0, sound=sound)
        self.next_call_ns = None
        self._enter("calling", now_ns)
        return self.call

    def begin_recording(self, now_ns: int) -> None:
        self._abandon(now_ns)
        self.recording_seg = None
        self._enter("recording", now_ns)

    def _abandon(self, now_ns: int) -> None:
        """A new call or recording while an answer is open: finish what is there first."""
        if self.phase in ("response", "attempt") and self.current is not None:
            self._finish(now_ns)
        if self.phase == "feedback" or self.phase == "response":
            self._enter("idle", now_ns)

    def _open_window(self, call_end_ns: int, now_ns: int) -> None:
        assert self.call is not None
        self.call.end_ns = call_end_ns
        self.trial += 1
        cal = self.cal is not None
        self.current = Attempt(
            self.trial, self.call, self.call.vowel, self.target_f0(), self.ladder_level,
            call_end_ns, call_end_ns + self.s.response_window_ms * MS, calibration=cal)
        self._voice_open_ns = self._sound_open_ns = None
        self._enter("response", now_ns)

    # -- mic observations (times are the audio's, on the app clock) ----------------------------
    def _accepts(self, t_ns: int) -> bool:
        a = self.current
        if a is None or self.phase not in ("response", "attempt"):
            return False
        guard = self.s.echo_guard_ms * MS if a.call.source != "live" else 0
        return a.window_start_ns + guard <= t_ns <= a.window_end_ns or self.phase == "attempt"

    def _start_attempt(self, t_ns: int) -> None:
        assert self.current is not None
        if self.phase == "response":
            self.current.start_ns = t_ns
            self._enter("attempt", t_ns)
        elif self.current.start_ns is not None:
            self.current.start_ns = min(self.current.start_ns, t_ns)

    def sound_on(self, t_ns: int) -> None:
        self._last_audio_ns = max(self._last_audio_ns, t_ns)
        if self._accepts(t_ns):
            self._sound_open_ns = t_ns
            self._start_attempt(t_ns)

    def sound_off(self, start_ns: int, end_ns: int) -> None:
        self._last_audio_ns = max(self._last_audio_ns, end_ns)
        if self.phase != "attempt" or self.current is None or self._sound_open_ns is None:
            return
        a = self.current
        self._sound_open_ns = None
        a.sound_ms += (end_ns - max(start_ns, a.start_ns or start_ns)) / MS
        a.end_ns = max(a.end_ns or end_ns, end_ns)

    def voice_onset(self, t_ns: int) -> None:
        self._last_audio_ns = max(self._last_audio_ns, t_ns)
        self.live_seen_ns = t_ns
        if self.phase in ("recording", "calling", "call_ending"):
            return
        if self._accepts(t_ns):
            self._voice_open_ns = t_ns
            self._start_attempt(t_ns)

    def voice_offset(self, seg: VoiceSeg) -> None:
        self._last_audio_ns = max(self._last_audio_ns, seg.end_ns)
        if self.phase == "recording":
            if seg.ms >= self.s.min_call_ms and seg.start_ns >= self.phase_ns - 200 * MS:
                self.recording_seg = seg
                self._enter("idle", seg.end_ns)
            return
        if self.phase in ("calling", "call_ending") and self.call is not None and self.call.source == "live":
            self._live_call_segment(seg)
            return
        if self.phase == "attempt" and self.current is not None and self._voice_open_ns is not None:
            self._voice_open_ns = None
            self.current.segments.append(seg)
            self.current.end_ns = max(self.current.end_ns or seg.end_ns, seg.end_ns)

    def _live_call_segment(self, seg: VoiceSeg) -> None:
        call = self.call
        assert call is not None
        if seg.start_ns < call.tap_ns - 200 * MS:
            return  # began before the tap: not the call
        if self.phase == "calling" and seg.ms < self.s.min_call_ms:
            return  # a cough or a click before the call proper
        segs = self._call_segs if self.phase == "call_ending" else []
        segs.append(seg)
        self._call_segs = segs
        voiced = [g for g in segs if g.f0 > 0]
        if voiced:
            w = np.array([g.ms for g in voiced])
            f0s = np.array([g.f0 for g in voiced])
            call.f0 = float(np.exp(np.sum(w * np.log(f0s)) / np.sum(w)))
            call.detected_vowel = max(voiced, key=lambda g: g.ms).vowel or None
        call.end_ns = seg.end_ns
        self._enter("call_ending", seg.end_ns)

    # -- time -------------------------------------------------------------------------------
    def update(self, now_ns: int) -> None:
        s = self.s
        if self.phase == "recording" and now_ns - self.phase_ns > s.live_call_timeout_ms * MS:
            self.notices.append("no_model_heard")
            self._enter("idle", now_ns)
        elif self.phase == "calling" and self.call is not None:
            if self.call.source != "live" and self.call.end_ns is not None and now_ns >= self.call.end_ns:
                self._open_window(self.call.end_ns, now_ns)
            elif self.call.source == "live" and now_ns - self.call.tap_ns > s.live_call_timeout_ms * MS:
                self.notices.append("no_call_heard")
                self.call = None
                self._enter("idle", now_ns)
        elif self.phase == "call_ending" and self.call is not None and self.call.end_ns is not None:
            if now_ns >= self.call.end_ns + (s.call_end_silence_ms + s.settle_ms) * MS:
                self._open_window(self.call.end_ns, now_ns)
        elif self.phase == "response" and self.current is not None:
            slack = s.settle_ms * MS if self.mic else 0
            if now_ns >= self.current.window_end_ns + slack:
                self._finish(now_ns)
        elif self.phase == "attempt" and self.current is not None:
            a = self.current
            closed = self._voice_open_ns is None and self._sound_open_ns is None
            last = max(a.end_ns or 0, self._last_audio_ns)
            if (closed and now_ns >= last + s.settle_ms * MS) or now_ns - (a.start_ns or now_ns) > s.max_attempt_ms * MS:
                if a.end_ns is None:
                    a.end_ns = now_ns
                if not a.segments and a.sound_ms < s.min_sound_ms and now_ns <= a.window_end_ns:
                    # a click or a bump, not a vocalization: keep listening
                    a.start_ns, a.end_ns, a.sound_ms = None, None, 0.0
                    self._enter("response", now_ns)
                else:
                    self._finish(now_ns)
        elif self.phase == "feedback" and self.last is not None:
            waiting = self.last.judgement is None and self.last.override is None and not self.last.calibration
            if not waiting and now_ns - self.phase_ns >= s.feedback_ms * MS:
                self._enter("idle", now_ns)
                if s.auto_next and (self.source != "live" or self.cal is not None) and self.next_call_ns is None:
                    self.next_call_ns = now_ns + s.between_ms * MS

    def _finish(self, now_ns: int) -> None:
        a = self.current
        assert a is not None
        if self.mic:
            a.judgement = judge(a.target_vowel, a.target_f0, a.goal_level, a.sound_ms, a.segments, self.s)
            if a.judgement is not None and a.judgement.level_reached == 0:
                a.start_ns = a.end_ns = None  # a bump or a click: no answer, no latency
        if a.calibration and self.cal is not None:
            self.cal.take(a, self.s)
        self.current = None
        self.last = a
        self.finished.append(a)
        self._enter("feedback", now_ns)

    def take_finished(self) -> list[Attempt]:
        out, self.finished = self.finished, []
        return out

    # -- the therapist ----------------------------------------------------------------------
    def score_last(self, outcome: str, now_ns: int) -> Attempt | None:
        """The therapist scored the answer: an open window ends now (the therapist saw the
        answer before it ran out) and the result shown is the therapist's."""
        if self.current is not None and self.phase in ("response", "attempt"):
            self._finish(now_ns)  # the therapist saw the answer before the window ran out
        a = self.last
        if a is None or a.calibration:
            return None
        a.override = outcome
        if self.phase == "feedback":
            self.phase_ns = now_ns  # show the corrected result for a full feedback time
        return a

    # -- calibration ------------------------------------------------------------------------
    def start_calibration(self, now_ns: int, vowels: tuple[str, ...] = VOWELS) -> "CalibrationRun":
        self._abandon(now_ns)
        self.cal = CalibrationRun(vowels, self.s.calibration_tokens)
        self._enter("idle", now_ns)
        self.next_call_ns = now_ns
        return self.cal

    def end_calibration(self) -> "CalibrationRun | None":
        cal, self.cal = self.cal, None
        self.next_call_ns = None
        return cal


@dataclass
class CalibrationRun:
    """Collect a few of the client's own tokens per vowel, each an answer to a call on that vowel."""

    vowels: tuple[str, ...]
    per_vowel: int
    calibration: Calibration = field(default_factory=Calibration)
    rejected: int = 0
    last_token: tuple[str, VoiceSeg] | None = None

    @property
    def vowel(self) -> str:
        counts = self.calibration.counts()
        for v in self.vowels:
            if counts[v] < self.per_vowel:
                return v
        return self.vowels[-1]

    @property
    def complete(self) -> bool:
        counts = self.calibration.counts()
        return all(counts[v] >= self.per_vowel for v in self.vowels)

    def take(self, a: Attempt, s: MatchSettings) -> bool:
        """Keep the answer's longest voiced segment with formants as a token for the called vowel."""
        good = [g for g in a.segments if g.ms >= max(s.min_voiced_ms, 120) and ((g.f1 > 0 and g.f2 > 0) or g.envelope)]
        if not good:
            self.rejected += 1
            return False
        g = max(good, key=lambda x: x.ms)
        try:  # with its envelope: a calibration without one loses most of its benefit
            self.calibration.add(a.target_vowel, g.f0, g.f1, g.f2, g.f3, g.envelope or None)
        except ValueError:
            self.calibration.add(a.target_vowel, g.f0, g.f1, g.f2, g.f3)
        self.last_token = (a.target_vowel, g)
        return True

    def discard_last(self) -> bool:
        """The therapist heard a bad token (the therapist's own voice, a cough): drop it."""
        if self.last_token is None or not self.calibration.tokens:
            return False
        self.calibration.tokens.pop()
        self.last_token = None
        return True


# ----------------------------------------------------------------------------- energy gate

@dataclass
class EnergyGate:
    """Any sound above the room: onset/offset of energy in 10 ms frames, adaptive floor.

    The voice analyzer only reports periodic (voiced) sound; the ladder's first rung also counts
    breathy, noisy or squeaky vocalizations, which only this gate hears. Runs on the mic worker.
    """

    rate: int
    snr_db: float = 12.0
    off_db: float = 6.0
    min_level_dbfs: float = -60.0
    hangover_ms: float = 120.0
    floor_dbfs: float = -60.0
    floor_rise_db_per_s: float = 2.0
    _hop: int = 0
    _buf: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _done: int = 0  # input samples consumed into frames
    _on_ns: int | None = None
    _quiet: int = 0
    _last_loud_ns: int = 0

    def __post_init__(self) -> None:
        self._hop = max(1, self.rate // 100)

    def feed(self, x: np.ndarray, t0_ns: int) -> list[tuple[str, int, int]]:
        """Events ("on", t, t) and ("off", start, end) for a block starting at ``t0_ns``."""
        hop = self._hop
        buf = np.concatenate([self._buf, np.asarray(x, dtype=np.float32).reshape(-1)])
        base_ns = t0_ns - int(len(self._buf) * 1e9 / self.rate)
        n = len(buf) // hop
        out: list[tuple[str, int, int]] = []
        if n:
            frames = buf[: n * hop].reshape(n, hop).astype(np.float64)
            levels = 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)
            hang = max(1, int(self.hangover_ms / 10))
            for i, lv in enumerate(levels):
                t = base_ns + int(i * hop * 1e9 / self.rate)
                if self._on_ns is None:
                    if lv > self.floor_dbfs + self.snr_db and lv > self.min_level_dbfs:
                        self._on_ns, self._quiet, self._last_loud_ns = t, 0, t + int(hop * 1e9 / self.rate)
                        out.append(("on", t, t))
                    else:
                        rise = self.floor_rise_db_per_s * 0.01
                        self.floor_dbfs = lv if lv < self.floor_dbfs else min(lv, self.floor_dbfs + rise)
                else:
                    if lv > self.floor_dbfs + self.off_db:
                        self._quiet = 0
                        self._last_loud_ns = t + int(hop * 1e9 / self.rate)
                    else:
                        self._quiet += 1
                        if self._quiet >= hang:
                            out.append(("off", self._on_ns, self._last_loud_ns))
                            self._on_ns = None
        self._buf = buf[n * hop:].copy()
        return out


def fold_to(f0: float, ref: float) -> float:
    """``f0`` moved by octaves to lie within half an octave of ``ref`` (for the pitch line)."""
    if f0 <= 0 or ref <= 0:
        return f0
    k = round(math.log2(ref / f0))
    return f0 * 2.0 ** k


__all__ = [
    "LADDER", "NEIGHBOURS", "CALL_SOURCES", "MatchSettings", "VoiceSeg", "Judgement", "judge", "outcome_for",
    "Call", "Attempt", "MatchMachine", "CalibrationRun", "EnergyGate", "midi_to_hz", "note_name", "fold_to",
]
