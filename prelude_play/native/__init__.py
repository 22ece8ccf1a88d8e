"""The C real-time core (``ppcore.c``), loaded with ctypes.

Why C: a Python callback in a JACK or PortAudio real-time thread has to take the GIL every
period, and the UI thread holds it for up to a switch interval; on the project VM that made the
app's own JACK clients the cause of most xruns (docs/bench/e2e.md). The core runs the mixer and
the JACK MIDI process callback without Python; Python keeps everything that is not real time.

The core is optional. Without a C compiler at install time, or with ``PRELUDE_CORE=python`` in
the environment, ``available()`` is False and the engine uses its Python mixer: same behaviour,
worse timing. ``why_unavailable()`` says why, for the therapist's device page and for tests.

Where the library is: built by pip it is the extension module ``prelude_play.native._ppcore``
(``_ppcore.cpython-*.so`` on Linux and macOS, ``_ppcore.cp*-win_amd64.pyd`` on Windows); built on
its own, e.g. cross-compiled by ``tools/cross_compile.py``, it is ``ppcore.dll`` /
``libppcore.dylib`` / ``libppcore.so`` beside this file. The first that loads with our ABI wins.

This package is the bottom layer: it imports nothing of Prelude Play's (tests/test_layers.py).
What the C side reads is defined here as plain data too (``FastTable``: the fast path's note
table, compiled by ``prelude_play.hits.compiled``).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

NONE_NS = -(2**63)  # "no time": play at the next block
OP_PLAY, OP_STOP, OP_ALL_OFF = 1, 2, 3
ABI = 4
MAX_IN, MAX_OUT = 64, 16

_lib: ctypes.CDLL | None = None
_why: str | None = None
_loaded = False
_load_lock = threading.Lock()

c_i64, c_i32, c_u32, c_f, c_d, c_p = (ctypes.c_int64, ctypes.c_int32, ctypes.c_uint32, ctypes.c_float,
                                      ctypes.c_double, ctypes.c_void_p)


class MidiEvent(ctypes.Structure):
    """``pp_midi_ev``: one JACK MIDI event, stamped, and what the fast path did with it."""

    _fields_ = [("t_ns", c_i64), ("frame", c_u32), ("slot", ctypes.c_int16), ("sound", ctypes.c_int16),
                ("size", ctypes.c_uint16), ("pad", ctypes.c_uint8 * 2),
                ("data", ctypes.c_uint8 * 48)]


_SIGS: dict[str, tuple[Any, list[Any]]] = {
    "pp_abi": (ctypes.c_int, []),
    "pp_now_ns": (c_i64, []),
    "pp_core_new": (c_p, [ctypes.c_int] * 6 + [c_f, c_f, ctypes.c_int, ctypes.c_int]),
    "pp_core_free": (None, [c_p]),
    "pp_core_add_sound": (c_i32, [c_p, c_p, c_i64, c_i64, c_i64, c_i32]),
    "pp_core_post": (ctypes.c_int, [c_p, c_i32, c_i32, c_i64, c_i64, c_f, c_f, c_i32, c_i32]),
    "pp_core_set_master": (None, [c_p, c_f]),
    "pp_core_set_exact_clock": (None, [c_p, ctypes.c_int]),
    "pp_core_set_channels": (None, [c_p, ctypes.c_int]),
    "pp_core_set_pa_latency": (None, [c_p, c_d]),
    "pp_core_frame": (c_i64, [c_p]),
    "pp_core_anchored": (ctypes.c_int, [c_p]),
    "pp_core_f2ns": (c_i64, [c_p, c_i64]),
    "pp_core_ns2f": (c_i64, [c_p, c_i64]),
    "pp_core_npf": (c_d, [c_p]),
    "pp_core_anchor": (None, [c_p, c_i64, c_i64]),
    "pp_core_reset": (None, [c_p]),
    "pp_core_queued": (c_u32, [c_p]),
    "pp_core_stats": (None, [c_p, c_p, c_p]),
    "pp_core_reset_stats": (None, [c_p]),
    "pp_core_starts": (ctypes.c_int, [c_p, c_i64, c_i64, c_p]),
    "pp_core_render": (None, [c_p, c_p, ctypes.c_int, ctypes.c_int, c_i64, ctypes.c_int, ctypes.c_int]),
    "pp_core_set_jack_clock": (None, [c_p, c_p, c_i64]),
    "pp_ftm_new": (c_p, [ctypes.c_int, c_d, ctypes.c_int, c_d, c_d]),
    "pp_ftm_free": (None, [c_p]),
    "pp_ftm_observe": (c_u32, [c_p, c_i64, c_i64, c_i64]),
    "pp_ftm_to_ns": (c_i64, [c_p, c_i64]),
    "pp_ftm_xrun": (None, [c_p]),
    "pp_ftm_counts": (None, [c_p, c_p]),
    "pp_midi_new": (c_p, [ctypes.c_int, ctypes.c_int, ctypes.c_int]),
    "pp_midi_free": (None, [c_p]),
    "pp_midi_set_jack": (None, [c_p] * 8),
    "pp_midi_set_in": (ctypes.c_int, [c_p, ctypes.c_int, c_p, ctypes.c_int]),
    "pp_midi_set_out": (ctypes.c_int, [c_p, ctypes.c_int, c_p]),
    "pp_midi_send": (ctypes.c_int, [c_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]),
    "pp_midi_out_pending": (c_u32, [c_p, ctypes.c_int]),
    "pp_midi_set_mixer": (None, [c_p, c_p, c_i64]),
    "pp_midi_set_fast_delay": (None, [c_p, c_i64]),
    "pp_midi_set_fast": (c_p, [c_p, ctypes.c_int, c_p, c_p, c_p, ctypes.c_int, c_i64]),
    "pp_midi_free_table": (None, [c_p]),
    "pp_midi_xrun": (None, [c_p]),
    "pp_midi_wait": (ctypes.c_int, [c_p, ctypes.c_int]),
    "pp_midi_wake": (None, [c_p]),
    "pp_midi_read": (ctypes.c_int, [c_p, c_p, ctypes.c_int]),
    "pp_midi_stats": (None, [c_p, c_p]),
    "pp_midi_to_ns": (c_i64, [c_p, c_i64]),
}


# Handed to PortAudio and JACK by address (fn_address), not called through _SIGS.
CALLBACKS = ("pp_pa_callback", "pp_midi_process")


def exported_names() -> tuple[str, ...]:
    """Every symbol this module looks up in the library (tools/cross_compile.py checks a build)."""
    return (*_SIGS, *CALLBACKS)


def plain_library_name(platform: str | None = None) -> str:
    """The file name of the core built as a plain shared library for ``platform`` (sys.platform)."""
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win32", "cygwin", "msys")):
        return "ppcore.dll"
    if platform == "darwin":
        return "libppcore.dylib"
    return "libppcore.so"


def library_candidates(platform: str | None = None) -> list[Path]:
    """The core's files that exist, in the order they are tried: pip's build, then a plain one."""
    found = []
    spec = importlib.util.find_spec("prelude_play.native._ppcore")
    if spec is not None and spec.origin:
        found.append(Path(spec.origin))
    plain = Path(__file__).with_name(plain_library_name(platform))
    if plain.is_file():
        found.append(plain)
    return found


def _open(path: Path) -> ctypes.CDLL:
    """Load one build and declare its functions; ValueError if it is from another ABI."""
    lib = ctypes.CDLL(str(path))
    for name, (res, args) in _SIGS.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    if lib.pp_abi() != ABI:
        raise ValueError(f"the built C core {path.name} is stale (ABI {lib.pp_abi()}, need {ABI}): reinstall")
    lib.pp_now_ns()  # Windows/macOS: reads the counter's frequency once, here, not in a real-time thread
    return lib


def _load() -> ctypes.CDLL | None:
    global _lib, _why, _loaded
    with _load_lock:
        if _loaded:
            return _lib
        _loaded = True
        choice = os.environ.get("PRELUDE_CORE", "").strip().lower()
        if choice in ("python", "0", "off", "no"):
            _why = "turned off (PRELUDE_CORE=python)"
            return None
        paths = library_candidates()
        if not paths:
            _why = ("the C core is not built (no C compiler when Prelude Play was installed?); "
                    f"reinstall with a compiler, or put a built {plain_library_name()} in "
                    f"{Path(__file__).parent}")
            return None
        problems = []
        for path in paths:
            try:
                _lib = _open(path)
                return _lib
            except ValueError as exc:
                problems.append(str(exc))
            except (OSError, AttributeError) as exc:
                problems.append(f"the C core {path.name} could not be loaded: {exc}")
        _why = "; ".join(problems)
        return None


def available() -> bool:
    """Whether the C core is built and enabled."""
    return _load() is not None


def why_unavailable() -> str | None:
    _load()
    return _why


def in_ci() -> bool:
    """CI must test the C core, so there a missing build is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def lib() -> ctypes.CDLL:
    lib_ = _load()
    if lib_ is None:
        raise RuntimeError(f"C core unavailable: {_why}")
    return lib_


def fn_address(name: str) -> int:
    """Address of an exported C function (for PortAudio / JACK to call)."""
    return ctypes.cast(getattr(lib(), name), ctypes.c_void_p).value or 0


class NativeMixer:
    """The engine's mixer in C. Owns the ``pp_core`` and keeps every sound buffer alive."""

    def __init__(self, *, rate: int, voices: int, tails: int, max_block: int, stop_ramp: int,
                 steal_ramp: int, limit: float, master: float, max_queue: int,
                 max_sounds: int = 8192) -> None:
        self._lib = lib()
        self.ptr = self._lib.pp_core_new(rate, voices, tails, max_block, stop_ramp, steal_ramp,
                                         float(limit), float(master), max_queue, max_sounds)
        if not self.ptr:
            raise MemoryError("could not allocate the C mixer")
        self._buffers: list[np.ndarray] = []
        self._post_lock = threading.Lock()  # producers are serialised; the consumer never locks
        self._iv = (c_i64 * 11)()
        self._dv = (c_d * 2)()

    def add_sound(self, data: np.ndarray, loop: tuple[int, int] | None, release: int) -> int:
        assert data.dtype == np.float32 and data.flags.c_contiguous
        ls, le = loop if loop is not None else (0, 0)
        self._buffers.append(data)
        idx = self._lib.pp_core_add_sound(self.ptr, data.ctypes.data, data.size, ls, le, release)
        if idx < 0:
            self._buffers.pop()
            raise MemoryError("the C mixer's sound table is full")
        return int(idx)

    def post(self, op: int, sound: int = 0, handle: int = 0, at_ns: int | None = None, gl: float = 0.0,
             gr: float = 0.0, loop: bool = False, ramp: int = 0) -> bool:
        with self._post_lock:
            return bool(self._lib.pp_core_post(self.ptr, op, sound, handle,
                                               NONE_NS if at_ns is None else int(at_ns),
                                               gl, gr, int(loop), ramp))

    def render(self, out: np.ndarray, frames: int, dac_ns: int | None, mode: int, xrun: bool) -> None:
        """Mix into ``out`` (frames × channels float32, C-contiguous) from a Python callback."""
        self._lib.pp_core_render(self.ptr, out.ctypes.data, frames, out.shape[1],
                                 0 if dac_ns is None else int(dac_ns), mode, int(xrun))

    def stats(self) -> tuple[list[int], list[float]]:
        self._lib.pp_core_stats(self.ptr, self._iv, self._dv)
        return list(self._iv), list(self._dv)

    def starts(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        if hi <= lo:
            return []
        buf = (c_i64 * (3 * (hi - lo)))()
        n = self._lib.pp_core_starts(self.ptr, lo, hi, buf)
        return [(buf[3 * i], buf[3 * i + 1], buf[3 * i + 2]) for i in range(n)]

    def __getattr__(self, name: str) -> Any:
        """``mixer.frame()`` → ``pp_core_frame(ptr)`` and so on for the one-argument getters."""
        if name.startswith("_"):
            raise AttributeError(name)
        fn = getattr(self._lib, f"pp_core_{name}")
        return lambda *args: fn(self.ptr, *args) if self.ptr else 0

    def keep_forever(self) -> None:
        """Never free this mixer (a real-time callback may still be using it)."""
        _KEPT.append(self)

    def __del__(self) -> None:
        """Freed only when neither an engine nor a MIDI backend refers to it any more."""
        ptr, self.ptr = getattr(self, "ptr", None), None
        if ptr:
            self._lib.pp_core_free(ptr)


_KEPT: list[NativeMixer] = []


class FastTable:
    """One MIDI input port's fast-path table for the C callback (``pp_midi_set_fast``): per
    (channel, note) the engine's sound index (-1 = silent), whether the client's sensitivity
    applies, and a gain; plus the client's minimum velocity and tremor window. Compiled from the
    instrument map and the activity's sound table by ``prelude_play.hits.compiled``."""

    __slots__ = ("sounds", "client", "gain", "min_velocity", "tremor_ns", "names")

    def __init__(self, names: dict[int, str], min_velocity: int = 1, tremor_ns: int = 0) -> None:
        self.sounds = np.full(16 * 128, -1, dtype=np.int16)
        self.client = np.zeros(16 * 128, dtype=np.uint8)
        self.gain = np.ones(16 * 128, dtype=np.float32)
        self.min_velocity = int(min_velocity)
        self.tremor_ns = int(tremor_ns)
        self.names = names  # sound index -> name, for the events' ``fast`` field

    def set(self, channel: int, note: int, sound: int, *, client: bool, gain: float = 1.0) -> None:
        i = channel * 128 + note
        self.sounds[i] = sound
        self.client[i] = 1 if client else 0
        self.gain[i] = gain


class NativeTimeMap:
    """``audio.timemap.TimeMap``'s reading side over the C mixer's map (the callback updates it)."""

    def __init__(self, mixer: NativeMixer) -> None:
        self._m = mixer

    @property
    def anchored(self) -> bool:
        return bool(self._m.anchored())

    @property
    def ns_per_frame(self) -> float:
        return float(self._m.npf())

    def anchor(self, frame: int, t_ns: float) -> None:
        self._m.anchor(int(frame), int(t_ns))

    def frame_to_ns(self, frame: int) -> int:
        if not self.anchored:
            raise RuntimeError("time map not anchored yet (stream not started)")
        return int(self._m.f2ns(int(frame)))

    def ns_to_frame(self, t_ns: int) -> int:
        if not self.anchored:
            raise RuntimeError("time map not anchored yet (stream not started)")
        return int(self._m.ns2f(int(t_ns)))


class NativeFrameTimeMap:
    """The C port of ``midi.jack_backend.FrameTimeMap`` (same API), for its unit tests."""

    def __init__(self, rate: int, *, drift_ppm: float = 200.0, window: int = 64,
                 reanchor_ms: float = 1.0, max_gap_s: float = 5.0) -> None:
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        self._lib = lib()
        self.rate = rate
        self.ptr = self._lib.pp_ftm_new(rate, drift_ppm, window, reanchor_ms, max_gap_s)
        self._seen = False

    def __del__(self) -> None:
        ptr, self.ptr = getattr(self, "ptr", None), None
        if ptr:
            self._lib.pp_ftm_free(ptr)

    @property
    def ready(self) -> bool:
        return self._seen

    def xrun(self) -> None:
        self._lib.pp_ftm_xrun(self.ptr)

    def observe(self, frame: int, now_ns: int, frames: int | None = None) -> int:
        self._seen = True
        return int(self._lib.pp_ftm_observe(self.ptr, frame, now_ns, -1 if frames is None else frames))

    def to_ns(self, frame: int) -> int:
        if not self._seen:
            raise RuntimeError("FrameTimeMap.to_ns() before any observe()")
        return int(self._lib.pp_ftm_to_ns(self.ptr, frame))

    def _counts(self) -> list[int]:
        buf = (c_i64 * 3)()
        self._lib.pp_ftm_counts(self.ptr, buf)
        return list(buf)

    @property
    def reanchors(self) -> int:
        return self._counts()[0]

    @property
    def irregular(self) -> int:
        return self._counts()[1]

    @property
    def _offset(self) -> int:
        return self._counts()[2]


__all__ = ["available", "why_unavailable", "lib", "fn_address", "NativeMixer", "NativeTimeMap",
           "NativeFrameTimeMap", "FastTable", "MidiEvent", "NONE_NS", "OP_PLAY", "OP_STOP", "OP_ALL_OFF", "CALLBACKS",
           "exported_names", "plain_library_name", "library_candidates"]
