"""The audio engine: a callback mixer with a fixed pool of voices.

Why it looks like this
----------------------
A pad hit must sound within one or two audio periods, so the MIDI thread calls ``trigger()``
directly (the fast path) and the audio callback mixes. The callback therefore must never wait
for anything the UI holds, never allocate audio-sized buffers, never log and never do unbounded
work:

* **Commands travel through a ``collections.deque``.** ``deque.append`` and ``deque.popleft``
  are atomic in CPython (documented as thread-safe, implemented without a Python-level lock), so
  any number of producer threads (MIDI, UI, scheduler) can post while the audio thread drains,
  and none of them can block the callback. The queue is bounded by a length check on the producer
  side (overflow is counted, never blocks); the callback drains at most ``MAX_COMMANDS_PER_BLOCK``
  per period so a flood costs bounded time.
* **Every buffer is preallocated** at construction: the mix bus, scratch rows and ramps. The
  callback works with numpy ufuncs writing ``out=`` into those buffers. (Small Python objects —
  ints, floats, slice views — still come and go; that is CPython, and costs nanoseconds.)
* **Voice state lives in plain Python lists** indexed by slot (faster than numpy scalars).
  A full pool steals the oldest sounding voice; the stolen sound is not cut but moved to one of a
  few "tail" slots where it fades out in ``steal_ramp_ms`` so stealing never clicks.
* **Sounds are prepared, not rendered, at trigger time.** ``load()`` / ``prepare()`` put float32
  buffers in a table; a command names a table index. With a SoundBank attached, an unknown name
  is rendered in the *calling* thread (never the audio thread) and counted as a late render.

Time
----
``at_ns`` is on the app clock and means "the first sample is heard (reaches the DAC) at
``at_ns``". The backend reports, per callback, the app time at which the block's first frame
reaches the DAC (PortAudio: callback entry on the app clock + ``outputBufferDacTime -
currentTime``); a delay-locked loop (``TimeMap``) turns those jittery readings into a smooth
frame ↔ ns map that also follows sound-card drift. A scheduled start lands on the exact frame
``ns_to_frame(at_ns)``; one already past starts at the next block (counted as ``late_starts``).
``at_ns=None`` starts at the first frame of the next callback (the fast path).

The mixer in C
--------------
With the C core built (``prelude_play.native``, ``core="auto"``/``"native"``) the same mixer
runs in C (``ppcore.c``, ported sample for sample; the tests run both): commands go into a
lock-free ring instead of the deque, and a backend that can (PortAudio) calls the C mixer
directly from its real-time thread, so no Python runs there at all. The Python mixer below is
the fallback (``core="python"`` or no compiler) and the reference the C one is tested against.

Stops are exact: ``stop``/``note_off``/``all_off`` with ``at_ns`` fade linearly over the ramp so
that output from the stop frame on is exactly silent (the fade ends *at* the stop). A stop that
arrives too late for a full ramp fades from the next block instead of shortening the ramp, so
nothing clicks. Voices scheduled to start at or after a stop are cancelled.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from prelude_play.audio.backends.base import IdleBackend, NativeStartBackend
from prelude_play.audio.timemap import TimeMap
from prelude_play.clock import Clock, MonotonicClock
from prelude_play.errors import PreludeError, UnknownSoundError

if TYPE_CHECKING:
    from prelude_play.audio.backends.base import AudioBackend
    from prelude_play.audio.bank import SoundBank

MAX_COMMANDS_PER_BLOCK = 256

#: Which mixer an engine built with ``core=None`` uses: "auto" = C when built, else Python.
#: The shell passes ``[audio] core`` explicitly; tests switch this to run both mixers.
DEFAULT_CORE = "auto"

_PLAY = 1
_STOP = 2
_ALL_OFF = 3


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


class AudioEngine:
    """Callback mixer. All public methods are thread-safe and never block the audio thread.

    ``voices`` sounding voices plus ``tails`` fade-out slots for stolen voices. Output is
    ``master_volume`` × mix, then a soft limiter whose ceiling ``limit_dbfs`` the output can never
    exceed (hearing protection; the volume control cannot go past it either).
    """

    def __init__(
        self,
        backend: "AudioBackend",
        *,
        clock: Clock | None = None,
        bank: "SoundBank | None" = None,
        voices: int = 32,
        tails: int = 8,
        limit_dbfs: float = -3.0,
        master_volume: float = 0.8,
        max_block: int = 4096,
        stop_ramp_ms: float = 5.0,
        steal_ramp_ms: float = 3.0,
        max_queue: int = 4096,
        autostart: bool = True,
        notice: str | None = None,
        reopen: Callable[[], "AudioBackend"] | None = None,
        core: str | None = None,
    ) -> None:
        self._native: Any = None  # the C mixer, set below when the core is available
        if voices < 1 or tails < 1:
            raise ValueError("need at least one voice and one tail slot")
        if not -60.0 <= limit_dbfs <= 0.0:
            raise ValueError(f"limit_dbfs must be within -60..0 dBFS, not {limit_dbfs}")
        self.backend = backend
        self.clock: Clock = clock or MonotonicClock()
        self.bank = bank
        self.notice = notice
        self._reopen_fn = reopen
        self._rate = int(backend.rate)
        self._nvoices = voices
        self._pool = voices + tails
        self._max_block = int(max_block)
        self._stop_ramp = max(1, int(round(stop_ramp_ms * self._rate / 1000)))
        self._steal_ramp = max(1, int(round(steal_ramp_ms * self._rate / 1000)))
        self._limit = db_to_gain(limit_dbfs)
        self.limit_dbfs = float(limit_dbfs)
        self._knee = 0.7 * self._limit
        self._master = min(max(float(master_volume), 0.0), 1.0)
        self._master_now = self._master

        # sound table: index -> data; name -> index (written by prepare-time callers only)
        self._sounds: list[np.ndarray] = []
        self._loops: list[tuple[int, int] | None] = []
        self._release: list[int] = []
        self._index: dict[str, int] = {}
        self._load_lock = threading.Lock()  # among loaders only; the callback never takes it

        # commands
        self._q: collections.deque[tuple[Any, ...]] = collections.deque()
        self._max_queue = max_queue
        self._handles = itertools.count(1)
        self._held: dict[tuple[str, int], list[int]] = {}

        # voice slots
        P = self._pool
        self._v_on = [False] * P
        self._v_sound = [0] * P
        self._v_handle = [0] * P
        self._v_start = [0] * P
        self._v_pos = [0] * P
        self._v_gl = [0.0] * P
        self._v_gr = [0.0] * P
        self._v_loop = [False] * P
        self._v_fs = [-1] * P  # fade start frame, -1 = none
        self._v_fl = [1] * P  # fade length
        self._v_order = [0] * P
        self._order = 0

        # preallocated buffers
        B = self._max_block
        self._mix = np.zeros((2, B), dtype=np.float32)
        self._scr = np.zeros(B, dtype=np.float32)
        self._tmp = np.zeros(B, dtype=np.float32)
        self._tmp2 = np.zeros(B, dtype=np.float32)
        self._ramp_idx = np.arange(B, dtype=np.float32)

        # voice-start log for latency measurement: (handle, frame, dac_ns) ring, preallocated
        self._starts = np.zeros((1024, 3), dtype=np.int64)
        self._starts_n = 0

        # time + stats
        self.timemap = TimeMap(self._rate)
        self._frame = 0
        self._callbacks = 0
        self._xruns = 0
        self._load_max = 0.0
        self._load_sum = 0.0
        self._late_starts = 0
        self._dropped_cmds = 0
        self._stolen = 0
        self._dropped_voices = 0
        self._late_renders = 0
        self._errors = 0
        self.last_error: BaseException | None = None
        self._last_cb_ns = 0
        self._stream_start_ns: int | None = None
        self.device_lost: str | None = None
        self.on_device_lost: Callable[[str], None] | None = None
        self._running = False
        self.core_notice: str | None = None
        core = core or DEFAULT_CORE
        if core not in ("auto", "native", "python"):
            raise ValueError(f"core must be auto, native or python, not {core!r}")
        if core != "python":
            from prelude_play import native

            if native.available():
                self._native = native.NativeMixer(
                    rate=self._rate, voices=voices, tails=tails, max_block=self._max_block,
                    stop_ramp=self._stop_ramp, steal_ramp=self._steal_ramp, limit=self._limit,
                    master=self._master, max_queue=max_queue)
                self.timemap = native.NativeTimeMap(self._native)  # type: ignore[assignment]
            elif core == "native":
                self.core_notice = f"C audio core unavailable: {native.why_unavailable()}"
        if autostart:
            self.start()

    # ------------------------------------------------------------------ properties
    @property
    def rate(self) -> int:
        return self._rate

    @property
    def period_frames(self) -> int:
        return int(self.backend.period_frames)

    @property
    def output_latency_s(self) -> float:
        return float(self.backend.output_latency_s)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def native(self) -> Any:
        """The C mixer (``prelude_play.native.NativeMixer``) or None (Python mixer)."""
        return self._native

    @property
    def core(self) -> str:
        """Which mixer runs: "c" (``prelude_play.native``) or "python"."""
        return "c" if self._native is not None else "python"

    @property
    def on_jack(self) -> bool:
        """Whether the output stream runs on a JACK server (see ``devices.build.link_native``)."""
        return bool(self.backend.on_jack)

    def describe(self) -> dict[str, Any]:
        """What the session's provenance records of this output."""
        latency = self.output_latency_s
        return {"engine": type(self).__name__, "backend": self.backend_name, "device": self.backend.describe(),
                "rate": self.rate, "period_frames": self.period_frames, "core": self.core,
                "output_latency_ms": round(latency * 1000, 2) if latency else None}

    @property
    def _frame(self) -> int:
        return int(self._native.frame()) if self._native is not None else self._py_frame

    @_frame.setter
    def _frame(self, value: int) -> None:
        self._py_frame = value

    @property
    def frames_rendered(self) -> int:
        return self._frame

    @property
    def master_volume(self) -> float:
        return self._master

    @master_volume.setter
    def master_volume(self, value: float) -> None:
        """0..1, applied before the limiter; ramps over one block so changes never click."""
        self._master = min(max(float(value), 0.0), 1.0)
        if self._native is not None:
            self._native.set_master(self._master)

    def set_master_volume(self, value: float) -> None:
        self.master_volume = value

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._running:
            return
        self.device_lost = None
        self._last_cb_ns = self.clock.now_ns()
        nat = self._native
        if nat is not None:
            nat.set_exact_clock(int(bool(self.backend.exact_clock)))
            nat.set_channels(int(self.backend.channels))
        if isinstance(self.backend, IdleBackend):
            self.backend.is_idle = self.idle
        if nat is not None and isinstance(self.backend, NativeStartBackend):
            self.backend.start_native(nat, self._lost)  # the backend's real-time thread calls C directly
        else:
            self.backend.start(self._render, self._lost)
        if self.backend.exact_clock:  # virtual time is known before the first block
            self.timemap.anchor(self._frame, self.backend.time_of(self._frame))  # type: ignore[attr-defined]
        self._running = True

    def __del__(self) -> None:
        """The C mixer frees itself when nothing refers to it (a MIDI backend may still hold
        it for its fast path); the stream that calls it must be closed before that."""
        nat = getattr(self, "_native", None)
        if nat is None:
            return
        try:
            if self._running:
                self.close()
        except Exception:
            nat.keep_forever()  # a callback may still run on it: never free it

    def close(self) -> None:
        """Stop and release the device. Safe to call twice."""
        if not self._running:
            return
        self._running = False
        try:
            self.backend.stop()
        finally:
            self.backend.close()

    def __enter__(self) -> "AudioEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lost(self, reason: str) -> None:
        """Called by the backend (from its own thread, never the render path) on device loss."""
        self.device_lost = reason
        cb = self.on_device_lost
        if cb is not None:
            try:
                cb(reason)
            except Exception as exc:  # a shell callback must not kill the backend thread
                self.last_error = exc

    def poll(self, stall_s: float = 1.0) -> str | None:
        """For the shell's frame loop: a problem to show (device lost, stream stalled) or None."""
        if self.device_lost:
            return self.device_lost
        last = self._last_cb_ns
        if self._native is not None:
            last = max(last, int(self._native.stats()[0][9]))
        if self._running and self.clock.now_ns() - last > stall_s * 1e9:
            return f"audio stream stalled: no callback for over {stall_s:g} s"
        return None

    def reopen(self, backend: "AudioBackend | None" = None) -> None:
        """Close the device and open ``backend`` (or the engine's reopen recipe: same backend,
        then the fallback chain). Sounds stay loaded; voices are silenced; the clock map restarts.
        """
        try:
            self.close()
        except Exception as exc:  # the old device may be gone; closing it may fail
            self.last_error = exc
        if backend is None:
            if self._reopen_fn is None:
                raise PreludeError("this engine has no reopen recipe; pass a backend")
            backend = self._reopen_fn()
        if int(backend.rate) != self._rate:
            raise PreludeError(
                f"reopened backend runs at {backend.rate} Hz but sounds are at {self._rate} Hz"
            )
        self.backend = backend
        self.notice = getattr(backend, "notice", None) or self.notice
        for v in range(self._pool):
            self._v_on[v] = False
        self._q.clear()
        self._held.clear()
        if self._native is not None:
            self._native.reset()  # no callback runs now: the device is closed
        else:
            self.timemap = TimeMap(self._rate)
        self._frame = 0
        self._stream_start_ns = None
        self.start()

    # ------------------------------------------------------------------ sounds
    def load(
        self,
        name: str,
        samples: np.ndarray,
        *,
        loop: tuple[int, int] | None = None,
        release_ms: float | None = None,
    ) -> None:
        """Register a sound (prepare time): float32 mono at the engine rate.

        ``loop`` (start, end) frames makes ``note_on`` voices sustain by looping that region;
        ``release_ms`` is the fade used by ``note_off`` for this sound.
        """
        data = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).reshape(-1))
        if data.size == 0:
            raise ValueError(f"sound {name!r} is empty")
        if not np.all(np.isfinite(data)):
            raise ValueError(f"sound {name!r} contains NaN or infinity")
        if loop is not None:
            ls, le = int(loop[0]), int(loop[1])
            if not 0 <= ls < le <= data.size:
                raise ValueError(f"sound {name!r}: loop {loop} outside 0..{data.size}")
            loop = (ls, le)
        rel = self._stop_ramp if release_ms is None else max(1, int(release_ms * self._rate / 1000))
        data.setflags(write=False)
        with self._load_lock:
            # Append, then publish the index: the callback only ever sees indices that exist,
            # and replacing a name leaves sounding voices on their old buffer.
            if self._native is not None:
                nidx = self._native.add_sound(data, loop, rel)
                assert nidx == len(self._sounds), "C and Python sound tables out of step"
            self._loops.append(loop)
            self._release.append(rel)
            self._sounds.append(data)
            self._index[name] = len(self._sounds) - 1

    def prepare(self, names: Iterable[str]) -> None:
        """Render (via the bank) and load every sound an activity needs, before the timed part.

        Raises UnknownSoundError naming every bad name at once, so an activity fails early.
        """
        names = list(names)
        bad = []
        for n in names:
            if n in self._index:
                continue
            if self.bank is None:
                bad.append(n)
                continue
            try:
                self._load_from_bank(n)
            except UnknownSoundError:
                bad.append(n)
        if bad:
            raise UnknownSoundError(f"unknown sounds: {', '.join(bad)}")

    def loaded(self, name: str) -> bool:
        return name in self._index

    def index_of(self, name: str) -> int | None:
        """The sound table index of ``name`` (rendered and loaded now if needed), None if
        unknown: the C MIDI fast path's tables name sounds by index."""
        try:
            self.prepare([name])
        except UnknownSoundError:
            return None
        return self._index.get(name)

    def _load_from_bank(self, name: str) -> int:
        assert self.bank is not None
        snd = self.bank.get(name)
        self.load(name, snd.data, loop=snd.loop, release_ms=snd.release_ms)
        return self._index[name]

    def _sound_index(self, name: str) -> int:
        idx = self._index.get(name)
        if idx is not None:
            return idx
        if self.bank is None:
            raise UnknownSoundError(f"sound {name!r} is not loaded (call prepare() first)")
        self._late_renders += 1
        return self._load_from_bank(name)

    # ------------------------------------------------------------------ commands (any thread)
    def idle(self) -> bool:
        """No voice sounds (or waits to start) and no command waits: nothing to render."""
        nat = self._native
        if nat is not None:
            iv, _ = nat.stats()
            return iv[8] == 0 and int(nat.queued()) == 0
        return not any(self._v_on) and not self._q

    def _post(self, cmd: tuple[Any, ...]) -> bool:
        be = self.backend
        if isinstance(be, IdleBackend):  # a backend asleep while idle: the due blocks first, then wake it
            be.catch_up()
            try:
                return self._post_cmd(cmd)
            finally:
                be.wake()
        return self._post_cmd(cmd)

    def _post_cmd(self, cmd: tuple[Any, ...]) -> bool:
        nat = self._native
        if nat is not None:
            op = cmd[0]
            if op == _PLAY:
                _, h, idx, at_ns, gl, gr, loop = cmd
                return nat.post(_PLAY, idx, h, at_ns, gl, gr, loop, 0)
            if op == _STOP:
                return nat.post(_STOP, 0, cmd[1], cmd[2], 0.0, 0.0, False, cmd[3])
            return nat.post(_ALL_OFF, 0, 0, cmd[1], 0.0, 0.0, False, cmd[2])
        if len(self._q) >= self._max_queue:
            self._dropped_cmds += 1
            return False
        self._q.append(cmd)
        return True

    def play(
        self,
        name: str,
        velocity: float = 1.0,
        *,
        pan: float = 0.0,
        at_ns: int | None = None,
        gain: float = 1.0,
        loop: bool = False,
    ) -> int:
        """Like ``trigger`` but returns a voice handle for ``stop()``."""
        idx = self._sound_index(name)
        amp = max(0.0, min(float(velocity), 1.0)) * max(0.0, float(gain))
        p = max(-1.0, min(float(pan), 1.0))
        gl = amp * (1.0 - p if p > 0 else 1.0)
        gr = amp * (1.0 + p if p < 0 else 1.0)
        h = next(self._handles)
        self._post((_PLAY, h, idx, at_ns, gl, gr, loop and self._loops[idx] is not None))
        return h

    def trigger(
        self,
        name: str,
        velocity: float = 1.0,
        *,
        pan: float = 0.0,
        at_ns: int | None = None,
        gain: float = 1.0,
    ) -> None:
        """Play a one-shot sound: the fast path from the MIDI thread.

        Amplitude is ``velocity × gain`` (velocity clamped to 0..1, linear); pan −1..1 is a
        balance law (centre = unity on both channels). ``at_ns`` None: next callback.
        """
        self.play(name, velocity, pan=pan, at_ns=at_ns, gain=gain)

    def note_on(
        self,
        instrument: str,
        note: int,
        velocity: float = 1.0,
        *,
        at_ns: int | None = None,
        pan: float = 0.0,
        gain: float = 1.0,
    ) -> int:
        """Start a sustained voice ``"{instrument}:{note}"`` (e.g. ``"keys", 64`` or
        ``"vowel:ah", 60``); it loops its sustain region (if any) until ``note_off``."""
        key = (instrument, int(note))
        h = self.play(f"{instrument}:{int(note)}", velocity, pan=pan, at_ns=at_ns, gain=gain, loop=True)
        self._held.setdefault(key, []).append(h)
        return h

    def note_off(self, instrument: str, note: int, *, at_ns: int | None = None) -> None:
        """Release every voice started by ``note_on(instrument, note)``, with the sound's release."""
        handles = self._held.pop((instrument, int(note)), None)
        if not handles:
            return
        idx = self._index.get(f"{instrument}:{int(note)}")
        ramp = self._release[idx] if idx is not None else self._stop_ramp
        for h in handles:
            self._post((_STOP, h, at_ns, ramp))

    def stop(self, handle: int, *, at_ns: int | None = None, ramp_ms: float | None = None) -> None:
        """Stop one voice; with ``at_ns`` the output is exactly silent from that time on."""
        ramp = self._stop_ramp if ramp_ms is None else max(1, int(ramp_ms * self._rate / 1000))
        self._post((_STOP, handle, at_ns, ramp))

    def all_off(self, *, at_ns: int | None = None, ramp_ms: float | None = None) -> None:
        """Silence everything (panic, freeze cue, device change): fades out and cancels voices
        scheduled at or after the stop; silent exactly from ``at_ns`` when given."""
        ramp = self._stop_ramp if ramp_ms is None else max(1, int(ramp_ms * self._rate / 1000))
        self._held.clear()
        self._post((_ALL_OFF, at_ns, ramp))

    # ------------------------------------------------------------------ time mapping
    def frame_to_ns(self, frame: int) -> int:
        """App-clock ns at which stream frame ``frame`` reaches the DAC."""
        return self.timemap.frame_to_ns(frame)

    def ns_to_frame(self, t_ns: int) -> int:
        return self.timemap.ns_to_frame(t_ns)

    def next_block_dac_ns(self) -> int | None:
        """When the first frame of the next block to be rendered reaches the DAC: the earliest a
        sound triggered now can be heard. Read from any thread (two atomic reads)."""
        if not self.timemap.anchored:
            return None
        return self.timemap.frame_to_ns(self._frame)

    @property
    def first_output_frame_ns(self) -> int | None:
        """App-clock ns at which frame 0 of the stream reached (or reaches) the DAC."""
        if not self.timemap.anchored:
            return None
        return self.timemap.frame_to_ns(0)

    def voice_starts(self, since: int = 0) -> tuple[int, list[tuple[int, int, int]]]:
        """Voices started since log index ``since``: ``(next_index, [(handle, frame, dac_ns)])``.

        For latency measurement: ``dac_ns`` is when the voice's first sample is heard.
        Keeps the last 1024 starts.
        """
        if self._native is not None:
            n = int(self._native.stats()[0][10])
            return n, self._native.starts(max(since, n - 1024), n)
        n = self._starts_n
        cap = self._starts.shape[0]
        lo = max(since, n - cap)
        rows = [tuple(int(x) for x in self._starts[i % cap]) for i in range(lo, n)]
        return n, rows  # type: ignore[return-value]

    # ------------------------------------------------------------------ stats
    def stats(self) -> dict[str, float | int]:
        """Counters for the therapist overlay, selftest and benchmarks.

        load_* = callback duration / period duration (1.0 = the whole period).
        """
        if self._native is not None:
            iv, dv = self._native.stats()
            return {
                "callbacks": iv[0], "frames": iv[1], "xruns": iv[2], "load_max": dv[1],
                "load_mean": dv[0], "late_starts": iv[3], "late_renders": self._late_renders,
                "dropped_commands": iv[4], "stolen_voices": iv[5], "dropped_voices": iv[6],
                "errors": iv[7], "active_voices": iv[8], "queued_commands": int(self._native.queued()),
                "core": "c",
            }
        cb = self._callbacks
        return {
            "callbacks": cb,
            "frames": self._frame,
            "xruns": self._xruns,
            "load_max": self._load_max,
            "load_mean": (self._load_sum / cb) if cb else 0.0,
            "late_starts": self._late_starts,
            "late_renders": self._late_renders,
            "dropped_commands": self._dropped_cmds,
            "stolen_voices": self._stolen,
            "dropped_voices": self._dropped_voices,
            "errors": self._errors,
            "active_voices": sum(1 for v in self._v_on if v),
            "queued_commands": len(self._q),
            "core": "python",
        }

    def reset_stats(self) -> None:
        if self._native is not None:
            self._native.reset_stats()
            self._late_renders = 0
            return
        self._callbacks = 0
        self._xruns = 0
        self._load_max = 0.0
        self._load_sum = 0.0
        self._late_starts = self._dropped_cmds = self._stolen = 0
        self._dropped_voices = self._late_renders = self._errors = 0

    # ------------------------------------------------------------------ the callback
    def _render(self, out: np.ndarray, frames: int, dac_ns: int | None, xrun: bool) -> None:
        """Fill ``out`` (frames × channels float32). Called on the audio thread only."""
        nat = self._native
        if nat is not None:
            if dac_ns is None and not nat.anchored():
                nat.anchor(self._frame, self.clock.now_ns())
            if out.dtype == np.float32 and out.flags.c_contiguous and out.ndim == 2:
                nat.render(out, frames, dac_ns, 0 if dac_ns is None else 1, xrun)
            else:  # every backend hands over (frames, channels) float32 rows; never copy here
                out.fill(0.0)
                self.last_error = TypeError(f"audio buffer not C-contiguous float32 2-D: {out.dtype} {out.shape}")
            self._last_cb_ns = self.clock.now_ns()
            return
        t0 = time.perf_counter_ns()
        done = 0
        try:
            if xrun:
                self._xruns += 1
            if dac_ns is not None:
                if self.backend.exact_clock:
                    if not self.timemap.anchored:
                        self.timemap.anchor(self._frame, dac_ns)
                else:
                    self.timemap.update(self._frame, dac_ns)
            elif not self.timemap.anchored:
                self.timemap.anchor(self._frame, self.clock.now_ns())
            while done < frames:
                n = min(frames - done, self._max_block)
                self._render_block(out[done : done + n], n)
                done += n
        except Exception as exc:  # never let an exception stop the stream
            out.fill(0.0)
            self._errors += 1
            self.last_error = exc
            self._frame += frames - done
        t1 = time.perf_counter_ns()
        self._last_cb_ns = self.clock.now_ns()
        self._callbacks += 1
        load = (t1 - t0) * self._rate / (frames * 1e9) if frames else 0.0
        self._load_sum += load
        if load > self._load_max:
            self._load_max = load

    def _render_block(self, out: np.ndarray, n: int) -> None:
        F0 = self._frame
        self._drain(F0)
        L = self._mix[0, :n]
        R = self._mix[1, :n]
        L.fill(0.0)
        R.fill(0.0)
        on = self._v_on
        for v in range(self._pool):
            if on[v]:
                self._render_voice(v, F0, n, L, R)
        self._master_limit(L, R, n)
        ch = out.shape[1]
        if ch == 1:
            np.add(L, R, out=self._tmp[:n])
            np.multiply(self._tmp[:n], 0.5, out=out[:, 0])
        else:
            out[:, 0] = L
            out[:, 1] = R
            if ch > 2:
                out[:, 2:] = 0.0
        self._frame = F0 + n

    def _drain(self, F0: int) -> None:
        q = self._q
        for _ in range(MAX_COMMANDS_PER_BLOCK):
            try:
                cmd = q.popleft()
            except IndexError:
                return
            op = cmd[0]
            if op == _PLAY:
                self._cmd_play(F0, cmd)
            elif op == _STOP:
                self._cmd_stop(F0, cmd[1], cmd[2], cmd[3])
            elif op == _ALL_OFF:
                self._cmd_all_off(F0, cmd[1], cmd[2])

    def _frame_for(self, F0: int, at_ns: int | None) -> int:
        if at_ns is None:
            return F0
        f = self.timemap.ns_to_frame(at_ns)
        if f < F0:
            self._late_starts += 1
            return F0
        return f

    def _cmd_play(self, F0: int, cmd: tuple[Any, ...]) -> None:
        _, h, idx, at_ns, gl, gr, loop = cmd
        start = self._frame_for(F0, at_ns)
        slot = self._free_slot(0, self._nvoices)
        if slot < 0:
            slot = self._steal(F0)
            if slot < 0:
                self._dropped_voices += 1
                return
        self._order += 1
        self._v_sound[slot] = idx
        self._v_handle[slot] = h
        self._v_start[slot] = start
        self._v_pos[slot] = 0
        self._v_gl[slot] = gl
        self._v_gr[slot] = gr
        self._v_loop[slot] = loop
        self._v_fs[slot] = -1
        self._v_fl[slot] = 1
        self._v_order[slot] = self._order
        self._v_on[slot] = True
        i = self._starts_n % self._starts.shape[0]
        self._starts[i, 0] = h
        self._starts[i, 1] = start
        self._starts[i, 2] = self.timemap.frame_to_ns(start) if self.timemap.anchored else 0
        self._starts_n += 1

    def _free_slot(self, lo: int, hi: int) -> int:
        on = self._v_on
        for v in range(lo, hi):
            if not on[v]:
                return v
        return -1

    def _steal(self, F0: int) -> int:
        """Free the oldest started voice by moving it to a tail slot that fades it out."""
        best = -1
        best_order = 0
        for v in range(self._nvoices):
            if self._v_start[v] <= F0 and (best < 0 or self._v_order[v] < best_order):
                best, best_order = v, self._v_order[v]
        if best < 0:
            return -1  # every voice is scheduled in the future: drop the newcomer
        self._stolen += 1
        t = self._free_slot(self._nvoices, self._pool)
        if t >= 0:
            for arr in (
                self._v_sound, self._v_handle, self._v_start, self._v_pos, self._v_gl,
                self._v_gr, self._v_loop, self._v_fs, self._v_fl, self._v_order,
            ):
                arr[t] = arr[best]
            self._fade(t, F0, self._steal_ramp)
            self._v_on[t] = True
        self._v_on[best] = False
        return best

    def _fade(self, v: int, fade_start: int, length: int) -> None:
        """Begin a linear fade at ``fade_start``, unless an earlier-ending fade is set."""
        fs = self._v_fs[v]
        if fs >= 0 and fs + self._v_fl[v] <= fade_start + length:
            return
        self._v_fs[v] = fade_start
        self._v_fl[v] = length

    def _stop_voice(self, v: int, F0: int, at_ns: int | None, ramp: int) -> None:
        if at_ns is None:
            stop = F0 + ramp
        else:
            stop = self.timemap.ns_to_frame(at_ns)
        if stop <= self._v_start[v] and self._v_start[v] >= F0:
            self._v_on[v] = False  # not started yet: cancel
            return
        fs = max(stop - ramp, F0, self._v_start[v])
        self._fade(v, fs, ramp)

    def _cmd_stop(self, F0: int, h: int, at_ns: int | None, ramp: int) -> None:
        for v in range(self._pool):
            if self._v_on[v] and self._v_handle[v] == h:
                self._stop_voice(v, F0, at_ns, ramp)

    def _cmd_all_off(self, F0: int, at_ns: int | None, ramp: int) -> None:
        for v in range(self._pool):
            if self._v_on[v]:
                self._stop_voice(v, F0, at_ns, ramp)

    def _render_voice(self, v: int, F0: int, n: int, L: np.ndarray, R: np.ndarray) -> None:
        start = self._v_start[v]
        end = F0 + n
        if start >= end:
            return  # scheduled later
        a = start - F0 if start > F0 else 0
        seg_f = F0 + a  # absolute frame of the first sample we write
        fs = self._v_fs[v]
        fl = self._v_fl[v]
        if fs >= 0:
            fe = fs + fl
            if fe <= seg_f:
                self._v_on[v] = False
                return
            if fe < end:
                end = fe
        m = end - seg_f
        data = self._sounds[self._v_sound[v]]
        pos = self._v_pos[v]
        scr = self._scr
        loop = self._loops[self._v_sound[v]] if self._v_loop[v] else None
        if loop is None:
            avail = data.shape[0] - pos
            if avail <= 0:
                self._v_on[v] = False
                return
            if m > avail:
                m = avail
            scr[:m] = data[pos : pos + m]
            pos += m
            if pos >= data.shape[0]:
                self._v_on[v] = False
        else:
            ls, le = loop
            got = 0
            while got < m:
                if pos >= le:
                    pos = ls + (pos - le)
                k = min(m - got, le - pos)
                scr[got : got + k] = data[pos : pos + k]
                got += k
                pos += k
        self._v_pos[v] = pos
        seg = scr[:m]
        if fs >= 0 and fs < seg_f + m:
            # gain(f) = clip(1 - (f - fs)/fl, 0, 1) for the absolute frames f of this segment
            r = self._tmp[:m]
            np.add(self._ramp_idx[:m], float(seg_f - fs), out=r)
            np.multiply(r, -1.0 / fl, out=r)
            np.add(r, 1.0, out=r)
            np.clip(r, 0.0, 1.0, out=r)
            np.multiply(seg, r, out=seg)
            if seg_f + m >= fs + fl:
                self._v_on[v] = False
        t = self._tmp2[:m]
        np.multiply(seg, self._v_gl[v], out=t)
        Ls = L[a : a + m]
        np.add(Ls, t, out=Ls)
        np.multiply(seg, self._v_gr[v], out=t)
        Rs = R[a : a + m]
        np.add(Rs, t, out=Rs)

    def _master_limit(self, L: np.ndarray, R: np.ndarray, n: int) -> None:
        """Master gain (ramped over the block) then a soft-knee limiter to ``±limit``.

        Below the knee (0.7 × limit) the signal is untouched; above it the excess is squashed
        by tanh into the remaining headroom, so |y| < limit for any input, including NaN-free
        overloads from many loud voices.
        """
        g1 = self._master
        g0 = self._master_now
        ramp = self._tmp[:n]
        if g0 != g1:
            np.multiply(self._ramp_idx[:n], (g1 - g0) / n, out=ramp)
            np.add(ramp, g0, out=ramp)
            self._master_now = g1
        else:
            ramp.fill(g1)
        k = self._knee
        head = self._limit - k
        a = self._tmp2[:n]
        s = self._scr[:n]
        for x in (L, R):
            np.multiply(x, ramp, out=x)
            np.abs(x, out=a)
            if float(a.max()) <= k:
                continue
            # excess over the knee -> head * tanh(excess / head); y = x - sign(x) * (excess - that)
            np.subtract(a, k, out=a)
            np.maximum(a, 0.0, out=a)
            np.divide(a, head, out=s)
            np.tanh(s, out=s)
            np.multiply(s, head, out=s)
            np.subtract(a, s, out=a)  # reduction >= 0
            np.sign(x, out=s)
            np.multiply(a, s, out=a)
            np.subtract(x, a, out=x)
            np.clip(x, -self._limit, self._limit, out=x)


def silence_check_max_step(x: np.ndarray) -> float:
    """Largest sample-to-sample jump (the click measure used by tests and the scarf activity)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return float(np.max(np.abs(np.diff(x, axis=0)))) if x.shape[0] > 1 else 0.0
    return float(np.max(np.abs(np.diff(x)))) if x.size > 1 else 0.0


__all__ = ["AudioEngine", "UnknownSoundError", "db_to_gain", "silence_check_max_step"]
