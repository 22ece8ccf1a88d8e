"""The C mixer against the Python mixer it was ported from: the same random session of plays,
scheduled starts, stops, panics, loops, steals and volume changes must give the same samples."""

from __future__ import annotations

import numpy as np
import pytest
from tests.core import require_core

from prelude_play.audio import open_engine
from prelude_play.clock import FakeClock

RATE = 48000


def run_session(core: str, seed: int) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    e = open_engine("offline", clock=FakeClock(), rate=RATE, blocksize=128, core=core, voices=6,
                    tails=2, master_volume=0.9, limit_dbfs=-3.0)
    sounds = []
    for i in range(5):
        n = int(rng.integers(200, 6000))
        data = (rng.standard_normal(n) * 0.3).astype(np.float32)
        name = f"s{i}"
        loop = (n // 4, n // 2) if i % 2 else None
        e.load(name, data, loop=loop, release_ms=2.0 + i)
        sounds.append(name)
    handles: list[int] = []
    chunks = []
    for block in range(300):
        for _ in range(int(rng.integers(0, 4))):
            r = rng.random()
            now = e.frames_rendered
            at = None if rng.random() < 0.3 else e.frame_to_ns(now + int(rng.integers(-50, 900)))
            if r < 0.55:
                name = sounds[int(rng.integers(0, len(sounds)))]
                h = e.play(name, float(rng.random()), pan=float(rng.uniform(-1, 1)), at_ns=at,
                           loop=bool(rng.random() < 0.5))
                handles.append(h)
            elif r < 0.8 and handles:
                e.stop(handles[int(rng.integers(0, len(handles)))], at_ns=at,
                       ramp_ms=float(rng.uniform(0.5, 8)))
            elif r < 0.85:
                e.all_off(at_ns=at)
            elif r < 0.95:
                e.master_volume = float(rng.uniform(0.2, 1.0))
            else:
                e.trigger(sounds[0], 1.0, gain=4.0)  # loud: into the limiter
        chunks.append(e.backend.render(int(rng.choice([64, 128, 200]))))
    return np.concatenate(chunks), e.stats()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_c_mixer_matches_python_mixer(seed):
    require_core()
    out_c, st_c = run_session("native", seed)
    out_py, st_py = run_session("python", seed)
    assert st_c["core"] == "c" and st_py["core"] == "python"
    assert np.abs(out_py).max() > 0.1  # the session really made sound
    np.testing.assert_allclose(out_c, out_py, atol=2e-6, rtol=0)
    for key in ("late_starts", "stolen_voices", "dropped_voices", "dropped_commands", "frames"):
        assert st_c[key] == st_py[key], key
