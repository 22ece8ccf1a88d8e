"""The streaming voice analyzer: onsets, running f0/formants/vowel, offsets with a summary.

Runs on a worker thread fed from a ring buffer (never in the audio callback). Every 10 ms hop
it measures level, YIN pitch and periodicity, and LPC formants while voiced. Decisions:

- **voice activity**: level above an adaptive noise floor (follows the room when nobody is
  vocalising, frozen during voice) *and* periodic (YIN aperiodicity) with f0 in range. White or
  pink room noise fails the periodicity test; hum fails the f0 range.
- **guitar and other plucked/struck sounds** are periodic too. They start with an abrupt attack
  and then only decay, with the spectrum darkening as upper harmonics die. A candidate that
  starts percussively is held until the next frames show whether it sustains (voice, even a hard
  glottal attack) or decays with a falling centroid (string); decaying ones are ignored until
  the level rises again. The hold ends early once two of three signs already say "voice" (level
  still at its peak, spectrum not darkening, f0 moving), so a hard glottal attack is not kept
  waiting the full hold; a string never shows two of them.
- **vowel**: classified from the median of the segment's formant frames and harmonic envelopes
  so far, so the first estimate arrives with the onset (~30 ms of voice + the analysis window)
  and then firms up. Every estimate says whether it is ``abstained`` ("not sure": do not show
  the vowel to the client; vowels.VowelClassifier decides).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any, Literal

import numpy as np

from prelude_play.clock import Clock, MonotonicClock
from prelude_play.events import InputEvent

from .formants import analyse_frame, frame_envelope
from .pitch import F0_MAX, F0_MIN, PitchEstimate, cents, yin, yin_window
from .vowels import VOWELS, Calibration, SessionAdaptation, VowelClassifier, VowelResult

EventKind = Literal["onset", "update", "offset"]


@dataclass(frozen=True, slots=True)
class AnalyzerConfig:
    """Tunables for the streaming analyzer (defaults suit a therapy room with a guitar)."""

    work_rate: int = 16000  # target analysis rate; the input is decimated by an integer factor
    hop_s: float = 0.010
    formant_window_s: float = 0.040
    fmin: float = F0_MIN
    fmax: float = F0_MAX
    snr_db: float = 9.0  # level above the noise floor to count as sound
    min_level_dbfs: float = -65.0
    max_aperiodicity: float = 0.35
    onset_frames: int = 3  # consecutive voiced frames that confirm an onset
    offset_frames: int = 8  # unvoiced frames that end a segment (80 ms)
    percussive_attack_s: float = 0.003  # floor-to-peak rise this fast marks a pluck/strike
    percussive_hold_frames: int = 6  # extra frames to watch a percussive candidate
    percussive_early_frames: int = 2  # ... of which at least these before an early "voice"
    sustain_max_drop_db: float = 1.0  # a voice stays within this of its peak so far
    sustain_min_centroid_ratio: float = 0.93  # a string darkens faster than this
    voice_f0_move_cents: float = 5.0  # a voice's f0 moves at least this much (a string's barely)
    decay_db_per_s: float = -12.0  # steadier than this = sustained (voice)
    string_f0_range_cents: float = 10.0  # a string's pitch barely moves; a voice's does
    initial_floor_dbfs: float = -60.0
    floor_rise_db_per_s: float = 3.0  # while something periodic (hum, a held note) is around
    floor_rise_noise_db_per_s: float = 15.0  # while only aperiodic noise is heard
    update_every: int = 4  # emit an update every N voiced frames (and at the onset)
    formant_every: int = 4  # LPC on every Nth voiced frame once the onset is confirmed (CPU)
    # the harmonic envelope alone (a third of the LPC's cost) on every Nth voiced frame between
    # those: the segment's median envelope gets twice the frames (recorded dev set, refitted,
    # calibrated: 90.6 -> 92.5 %, confidently wrong 3.8 -> 2.7 %; every frame: no better, and
    # +2 % of a core; docs/bench/voice.md)
    envelope_every: int = 2
    # without a calibration, learn the speaker from the session (vowels.SessionAdaptation):
    # "confirmed" = only from segments handed back with VoiceAnalyzer.learn_speaker (the
    # client's answers: the mic also hears the calls, and another voice in the session makes
    # things worse, docs/bench/voice.md); "all" = every segment heard (a mic only the client
    # uses; what the dev-set figures assume); "off"
    session_adaptation: str = "confirmed"


@dataclass(frozen=True, slots=True)
class Segment:
    """One voiced segment: times in seconds from the start of the stream/file."""

    start: float
    end: float
    f0: float
    f1: float
    f2: float
    f3: float
    vowel: str
    confidence: float
    level_dbfs: float
    posteriors: dict[str, float] = field(default_factory=dict)
    abstained: bool = False  # "not sure": do not show ``vowel`` (the best guess) to the client
    envelope: tuple[float, ...] = ()  # median harmonic envelope (dB), for calibration

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["envelope"]  # 36 numbers of internal detail: not part of the JSON shape
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()} | {
            "posteriors": {k: round(v, 4) for k, v in self.posteriors.items()}
        }


@dataclass(frozen=True, slots=True)
class VoiceEvent:
    """An analyzer result. ``sample`` is what it refers to (input-rate sample index: the onset
    for "onset", the frame end for "update", the segment end for "offset"); ``decided_at`` is
    the input sample at which it was known, so latency = decided_at - sample (in samples)."""

    kind: EventKind
    t_ns: int
    sample: int
    decided_at: int
    f0: float = 0.0
    formants: tuple[float, float, float] = (0.0, 0.0, 0.0)
    vowel: str = ""
    confidence: float = 0.0
    level_dbfs: float = -120.0
    segment: Segment | None = None
    abstained: bool = False  # the analyzer is not sure of ``vowel``: show "not sure", not it

    def to_input_event(self, device: str = "mic") -> InputEvent:
        """As an InputEvent for the shell's queue (kind "onset" / "analysis" / "offset")."""
        kind = "analysis" if self.kind == "update" else self.kind
        data: dict[str, Any] = {
            "f0": self.f0,
            "f1": self.formants[0],
            "f2": self.formants[1],
            "f3": self.formants[2],
            "vowel": self.vowel,
            "confidence": self.confidence,
            "abstained": self.abstained,
            "level_dbfs": self.level_dbfs,
        }
        if self.segment is not None:
            data["segment"] = self.segment.to_dict()
            # for a calibration made from live answers (Calibration.add(..., envelope=...))
            data["envelope"] = list(self.segment.envelope)
        return InputEvent(self.t_ns, "mic", kind, device=device, value=self.vowel, data=data)


@dataclass(slots=True)
class _Frame:
    end: int  # work-rate sample index of the frame end
    level: float
    pitch: PitchEstimate
    voiced: bool
    centroid: float
    formants: tuple[float, float, float] = (0.0, 0.0, 0.0)
    hop_energy: float = 0.0
    envelope: np.ndarray | None = None  # harmonic envelope (envelope.harmonic_envelope)


def lowpass_fir(n: int, cutoff: float) -> np.ndarray:
    """A linear-phase windowed-sinc low-pass (Hamming window, unity gain at DC), ``cutoff`` as a
    fraction of Nyquist: the same taps as ``scipy.signal.firwin(n, cutoff)``, without importing
    scipy at run time."""
    m = np.arange(n) - (n - 1) / 2.0
    h = cutoff * np.sinc(cutoff * m) * np.hamming(n)
    return h / h.sum()


class _Decimator:
    """Stateful anti-aliased integer decimation: a windowed-sinc FIR then keep every k-th
    sample (one convolution per block)."""

    def __init__(self, factor: int, taps_per_phase: int = 16) -> None:
        self.factor = factor
        if factor > 1:
            n = taps_per_phase * factor
            self._h = lowpass_fir(n, 0.9 / factor)[::-1].copy()
            self._hist = np.zeros(n - 1)
            self._phase = 0  # index in the next block of the next kept sample

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.factor == 1:
            return x
        ext = np.concatenate([self._hist, x])
        n = len(self._h)
        starts = np.arange(self._phase, len(x), self.factor)
        self._phase = (self._phase - len(x)) % self.factor
        self._hist = ext[len(ext) - (n - 1) :]
        if starts.size == 0:
            return np.zeros(0)
        return np.convolve(ext, self._h[::-1], "valid")[starts]


class VoiceAnalyzer:
    """Feed float32 blocks with :meth:`feed`; get :class:`VoiceEvent` lists back.

    ``rate`` is the input rate. ``clock`` stamps events when the caller gives no capture time.
    ``calibration`` (the client's vowel targets) can be swapped at any time with
    :meth:`set_calibration`. Without one, the analyzer adapts to the speaker of this session
    (``vowels.SessionAdaptation``): by default to the segments the caller confirms as the
    client's with :meth:`learn_speaker`, or to every segment (``AnalyzerConfig.session_adaptation``).
    One analyzer per client and session.
    """

    def __init__(
        self,
        rate: int,
        clock: Clock | None = None,
        *,
        config: AnalyzerConfig | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        if rate < 8000:
            raise ValueError(f"input rate {rate} Hz is below the 8 kHz minimum")
        self.rate = int(rate)
        self.config = cfg = config or AnalyzerConfig()
        self.clock = clock or MonotonicClock()
        self.factor = max(1, int(round(rate / cfg.work_rate)))
        self.work_rate = rate / self.factor
        self._wr = int(round(self.work_rate))
        self._decimate = _Decimator(self.factor)
        self.hop = max(1, int(round(cfg.hop_s * self.work_rate)))
        _, self._yin_len = yin_window(self._wr, cfg.fmin)
        self._form_len = max(self._yin_len, int(cfg.formant_window_s * self.work_rate))
        self._buf_len = max(self._yin_len, self._form_len) + self.hop
        self._buf = np.zeros(self._buf_len, dtype=np.float64)
        self._filled = 0  # work samples written in total
        self._pending = 0  # work samples not yet analysed
        self._input_samples = 0
        self._anchor_ns: int | None = None
        self._sub = max(1, self.hop // 4)  # ~2.5 ms envelope for attack detection
        self._env: deque[float] = deque(maxlen=16)
        # the general model: its guesses are what the session adaptation learns from
        self._general = VowelClassifier()
        self._session = SessionAdaptation()
        if cfg.session_adaptation not in ("confirmed", "all", "off"):
            raise ValueError(f"session_adaptation {cfg.session_adaptation!r}: confirmed, all or off")
        # segments confirmed from another thread (the activity's), taken in by the worker
        self._confirmed: deque[tuple[float, tuple[float, float, float], np.ndarray]] = deque()
        self._calibration = calibration
        self._classifier = self._general
        # the vowel called while an answer is awaited, and the vowels that count too (``expect``)
        self._expect: tuple[str | None, frozenset[str]] = (None, frozenset())
        self.set_calibration(calibration)
        self._floor: float | None = None
        self._state: Literal["silent", "candidate", "voiced", "rejected"] = "silent"
        self._cand: list[_Frame] = []
        self._seg: list[_Frame] = []
        self._percussive = False
        self._unvoiced_run = 0
        self._f0_hist: deque[float] = deque(maxlen=5)
        self._reject_level = -120.0

    # ----- public API -----

    def expect(self, vowel: str | None, near: Iterable[str] = ()) -> None:
        """What the voice heard next answers: a call of ``vowel`` (None: nothing called, e.g. a
        calibration token or the call itself). The results then name another vowel only from
        ``Pooling.contradict_below`` (``VowelClassifier.classify(..., expected=)``); ``near``:
        vowels that count too (a client whose rung accepts an approximation), named at the usual
        bar like the called one. Safe from the activity's thread: the worker reads both, as one
        tuple, when it next classifies."""
        called = vowel if vowel in VOWELS else None
        self._expect = (called, frozenset(near) if called else frozenset())

    def set_calibration(self, calibration: Calibration | None) -> None:
        self._calibration = calibration if calibration is not None and calibration.tokens else None
        if self._calibration is not None:
            self._classifier = VowelClassifier(self._calibration, self._general.reference)
        else:
            self._classifier = self._session_classifier()

    @property
    def session_tokens(self) -> int:
        """Segments the session adaptation has learnt from (it applies from
        ``vowels.SESSION_MIN_TOKENS`` on, and only without a calibration)."""
        return len(self._session)

    def _session_classifier(self) -> VowelClassifier:
        model = self._session.model() if self.config.session_adaptation != "off" else None
        if model is None:
            return self._general
        return VowelClassifier(reference=self._general.reference, envelope_model=model)

    def learn_speaker(
        self, f0: float, f1: float, f2: float, f3: float, envelope: np.ndarray | list[float] | tuple[float, ...],
    ) -> None:
        """Confirm that a segment (an offset event's f0, F1-F3 and ``data["envelope"]``) was the
        client's, e.g. an answer in the response window, so the session adaptation learns from
        it. Safe from any thread: queued, taken in by the worker at its next block."""
        if self.config.session_adaptation == "off" or envelope is None or len(envelope) == 0:
            return
        self._confirmed.append((float(f0), (float(f1), float(f2), float(f3)), np.asarray(envelope, dtype=np.float64)))

    def feed(self, block: np.ndarray, t_ns: int | None = None) -> list[VoiceEvent]:
        """Analyse a block (mono float32; multi-channel is averaged). ``t_ns``: capture time of
        the block's first sample on the shared clock, if known."""
        while self._confirmed:
            f0, fm, env = self._confirmed.popleft()
            self._learn(f0, fm, None, env)
        x = np.asarray(block, dtype=np.float64)
        if x.ndim > 1:
            x = x.mean(axis=1)
        if t_ns is not None:
            self._anchor_ns = t_ns - int(self._input_samples * 1e9 / self.rate)
        elif self._anchor_ns is None:
            self._anchor_ns = self.clock.now_ns() - int(
                (self._input_samples + len(x)) * 1e9 / self.rate
            )
        self._input_samples += len(x)
        y = self._decimate(x)
        events: list[VoiceEvent] = []
        pos = 0
        while pos < len(y):
            take = min(len(y) - pos, self.hop - self._pending)
            self._push(y[pos : pos + take])
            pos += take
            self._pending += take
            if self._pending == self.hop:
                self._pending = 0
                events.extend(self._analyse_hop())
        return events

    def flush(self) -> list[VoiceEvent]:
        """End of stream: close an open segment."""
        if self._state == "voiced":
            return [self._close(self._seg[-1].end)]
        return []

    # ----- internals -----

    def _push(self, y: np.ndarray) -> None:
        n = len(y)
        self._buf[:-n] = self._buf[n:]
        self._buf[-n:] = y
        self._filled += n

    def _in_samples(self, work_index: int) -> int:
        return int(round(work_index * self.factor))

    def _t_ns(self, in_sample: int) -> int:
        assert self._anchor_ns is not None
        return self._anchor_ns + int(in_sample * 1e9 / self.rate)

    def _analyse_hop(self) -> list[VoiceEvent]:
        cfg = self.config
        end = self._filled
        hop = self._buf[-self.hop :]
        nsub = self.hop // self._sub
        sub = np.mean(hop[: nsub * self._sub].reshape(nsub, self._sub) ** 2, axis=1)
        self._env.extend((10 * np.log10(sub + 1e-12)).tolist())
        win = self._buf[-2 * self.hop :]
        hop_energy = float(np.dot(hop, hop))
        level = 10 * np.log10(float(np.dot(win, win)) / len(win) + 1e-12)
        if self._floor is None:
            self._floor = min(level, cfg.initial_floor_dbfs)
        loud = level > self._floor + cfg.snr_db and level > cfg.min_level_dbfs
        pitch = PitchEstimate(0.0, 1.0)
        centroid = 0.0
        voiced = False
        if loud and self._filled >= self._yin_len:
            pitch = yin(self._buf[-self._yin_len :], self._wr, cfg.fmin, cfg.fmax)
            pitch = self._octave_fix(pitch)
            voiced = pitch.f0 > 0 and pitch.aperiodicity < cfg.max_aperiodicity
            if voiced and self._state in ("silent", "candidate"):
                centroid = self._centroid(win)
        frame = _Frame(end, level, pitch, voiced, centroid, hop_energy=hop_energy)
        if not voiced and self._state in ("silent", "rejected"):
            # the floor follows the room only while nobody is vocalising
            rate = cfg.floor_rise_db_per_s if frame.voiced else cfg.floor_rise_noise_db_per_s
            self._floor = level if level < self._floor else min(level, self._floor + rate * cfg.hop_s)
        return self._step(frame)

    def _octave_fix(self, p: PitchEstimate) -> PitchEstimate:
        if p.f0 <= 0 or not self._f0_hist:
            return p
        hist = sorted(self._f0_hist)
        ref = hist[len(hist) // 2]
        if abs(cents(p.f0, ref)) < 300:
            return p
        for f, ap in p.alternatives:
            if abs(cents(f, ref)) < 100 and ap < p.aperiodicity + 0.15:
                return PitchEstimate(f, ap, p.alternatives)
        return p

    def _centroid(self, x: np.ndarray) -> float:
        mag = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        f = np.arange(len(mag)) * self.work_rate / (2 * (len(mag) - 1))
        return float(np.sum(f * mag) / (np.sum(mag) + 1e-12))

    def _attack_time(self) -> float:
        """Seconds from leaving the noise floor to within 3 dB of the peak, in the recent
        envelope (~2.5 ms resolution): a pick or hammer takes one envelope step, a voice more."""
        env = np.asarray(self._env)
        floor = (self._floor if self._floor is not None else -120.0) + self.config.snr_db
        above = np.flatnonzero(env > floor)
        if env.size == 0 or above.size == 0:
            return 1.0
        near_peak = np.flatnonzero(env >= env.max() - 3.0)
        return float(near_peak[0] - above[0]) * self._sub / self.work_rate

    def _with_formants(self, f: _Frame) -> _Frame:
        seg = self._buf[-self._form_len :]
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                fm, env = analyse_frame(seg, self._wr, f.pitch.f0)
        except (ValueError, np.linalg.LinAlgError):
            # a degenerate frame (non-finite envelope) must not stop the worker: no formants
            return f
        f.formants = fm.as_tuple()
        if env is not None and np.all(np.isfinite(env)):
            f.envelope = env
        return f

    def _with_envelope(self, f: _Frame) -> _Frame:
        """The envelope alone (``frame_envelope``), for frames between the LPC ones: more
        frames make the segment's median envelope steadier (``AnalyzerConfig.envelope_every``)."""
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                env = frame_envelope(self._buf[-self._form_len :], self._wr, f.pitch.f0)
        except (ValueError, np.linalg.LinAlgError):
            return f
        if env is not None and np.all(np.isfinite(env)):
            f.envelope = env
        return f

    def _step(self, frame: _Frame) -> list[VoiceEvent]:
        cfg = self.config
        ev: list[VoiceEvent] = []
        if self._state == "rejected":
            # a decaying plucked note: wait until it has gone or something rises above it
            if not frame.voiced or frame.level > self._reject_level + 6.0:
                self._state = "silent"
                self._f0_hist.clear()
            else:
                self._reject_level = min(self._reject_level, frame.level)
                return ev
        if self._state == "silent":
            if frame.voiced:
                self._state = "candidate"
                self._percussive = self._attack_time() <= cfg.percussive_attack_s
                self._cand = [self._with_formants(frame)]
                self._f0_hist.append(frame.pitch.f0)
            return ev
        if self._state == "candidate":
            if not frame.voiced:
                self._state = "silent"
                self._cand = []
                self._f0_hist.clear()
                return ev
            self._cand.append(self._with_formants(frame))
            self._f0_hist.append(frame.pitch.f0)
            need = cfg.onset_frames + (cfg.percussive_hold_frames if self._percussive else 0)
            early = cfg.onset_frames + cfg.percussive_early_frames
            if len(self._cand) < need and not (
                self._percussive and len(self._cand) >= early and self._sustains(self._cand)
            ):
                return ev
            if self._percussive and len(self._cand) >= need and self._decays(self._cand):
                self._state = "rejected"
                self._reject_level = frame.level
                self._cand = []
                return ev
            self._state = "voiced"
            self._seg = self._cand
            self._cand = []
            self._unvoiced_run = 0
            first = self._seg[0]
            onset_work = max(0, first.end - self.hop - self._yin_len // 2)
            onset = self._in_samples(onset_work)
            now = self._in_samples(frame.end)
            ev.append(VoiceEvent("onset", self._t_ns(onset), onset, now, level_dbfs=first.level))
            ev.append(self._update(frame))
            return ev
        # voiced
        if frame.voiced:
            self._unvoiced_run = 0
            if len(self._seg) % cfg.formant_every == 0:
                frame = self._with_formants(frame)
            elif len(self._seg) % cfg.envelope_every == 0:
                frame = self._with_envelope(frame)
            self._seg.append(frame)
            self._f0_hist.append(frame.pitch.f0)
            # counted from the same frame as the LPC above, so updates carry fresh formants
            # (counting from the appended length never coincided with an LPC frame: no updates)
            if (len(self._seg) - 1) % cfg.update_every == 0 and frame.formants[0] > 0:
                ev.append(self._update(frame))
            return ev
        self._unvoiced_run += 1
        if self._unvoiced_run >= cfg.offset_frames:
            ev.append(self._close(frame.end))
        return ev

    def _f0_spread_cents(self, frames: list[_Frame]) -> float:
        """Range of f0 over ``frames`` in cents, ignoring single-frame estimator slips (off by a
        fifth or more), which would otherwise make a steady string look like a moving voice."""
        f0 = np.array([f.pitch.f0 for f in frames if f.pitch.f0 > 0])
        if f0.size < 2:
            return 0.0
        dev = 1200 * np.log2(f0 / np.median(f0))
        dev = dev[np.abs(dev) < 300]
        return float(dev.max() - dev.min()) if dev.size else 0.0

    def _sustains(self, frames: list[_Frame]) -> bool:
        """Early "voice" verdict for a percussive candidate: at least two voice-like signs."""
        cfg = self.config
        lv = np.array([f.level for f in frames])
        peak = int(np.argmax(lv))
        flat = lv[-1] >= lv[peak] - cfg.sustain_max_drop_db
        c0 = frames[peak].centroid
        bright = c0 > 0 and frames[-1].centroid >= cfg.sustain_min_centroid_ratio * c0
        moving = self._f0_spread_cents(frames[1:]) >= cfg.voice_f0_move_cents
        return int(flat) + int(bright) + int(moving) >= 2

    def _decays(self, frames: list[_Frame]) -> bool:
        lv = np.array([f.level for f in frames])
        peak = int(np.argmax(lv))
        tail = lv[peak:]
        if len(tail) < 3:
            return False
        slope = np.polyfit(np.arange(len(tail)) * self.config.hop_s, tail, 1)[0]
        cen = np.array([f.centroid for f in frames[peak:]])
        darker = cen[-1] < cen[0]
        steady = self._f0_spread_cents(frames[1:]) < self.config.string_f0_range_cents
        return bool(slope < self.config.decay_db_per_s and darker and steady)

    def _summary(
        self, frames: list[_Frame]
    ) -> tuple[float, tuple[float, float, float], VowelResult, np.ndarray | None]:
        # plain-Python medians: these lists hold a handful of values and run every update, where
        # numpy's per-call overhead dominated
        use = frames[1:-1] if len(frames) > 6 else frames
        f0 = float(median([f.pitch.f0 for f in use]))
        envs = [f.envelope for f in use if f.envelope is not None]
        env = (envs[0] if len(envs) == 1 else np.median(np.array(envs), axis=0)) if envs else None
        good = [f.formants for f in use if f.formants[0] > 0 and f.formants[1] > 0]
        if not good and env is None:
            return f0, (0.0, 0.0, 0.0), VowelResult("", 0.0, {}), None
        f3s = [g[2] for g in good if g[2] > 0]
        med = (
            float(median([g[0] for g in good])) if good else 0.0,
            float(median([g[1] for g in good])) if good else 0.0,
            float(median(f3s)) if f3s else 0.0,
        )
        expected, near = self._expect
        return f0, med, self._classifier.classify(f0, *med, envelope=env, expected=expected, near=near), env

    def _update(self, frame: _Frame) -> VoiceEvent:
        recent = self._seg[-12:]
        f0, fm, res, _ = self._summary(recent)
        at = self._in_samples(frame.end)
        return VoiceEvent(
            "update", self._t_ns(at), at, at, f0, fm, res.vowel, res.confidence, frame.level,
            abstained=res.abstained,
        )

    def _learn(
        self, f0: float, fm: tuple[float, float, float], res: VowelResult | None, env: np.ndarray | None
    ) -> None:
        """Add a segment to the session adaptation (the general model's posteriors for it)."""
        if self.config.session_adaptation == "off" or env is None or f0 <= 0:
            return
        if res is not None and self._classifier is self._general:
            general = res
        else:
            general = self._general.classify(f0, *fm, envelope=env)
        self._session.add(general, env, f0)
        if self._calibration is None:
            self._classifier = self._session_classifier()

    def _close(self, end_work: int) -> VoiceEvent:
        frames = self._seg
        f0, fm, res, env = self._summary(frames)
        start_work = max(0, frames[0].end - self.hop - self._yin_len // 2)
        last = frames[-1].end - self._yin_len // 2
        energy = sum(f.hop_energy for f in frames)
        level = 10 * np.log10(energy / (len(frames) * self.hop) + 1e-12)
        seg = Segment(
            start=self._in_samples(start_work) / self.rate,
            end=self._in_samples(max(last, start_work + self.hop)) / self.rate,
            f0=f0, f1=fm[0], f2=fm[1], f3=fm[2], vowel=res.vowel,
            confidence=res.confidence, level_dbfs=float(level), posteriors=res.posteriors,
            abstained=res.abstained,
            envelope=tuple(round(float(v), 2) for v in env) if env is not None else (),
        )
        if self.config.session_adaptation == "all":
            self._learn(f0, fm, res, env)
        self._state = "silent"
        self._seg = []
        self._f0_hist.clear()
        end_in = self._in_samples(last)
        return VoiceEvent(
            "offset", self._t_ns(end_in), end_in, self._in_samples(end_work), f0, fm,
            res.vowel, res.confidence, float(level), seg, res.abstained,
        )
