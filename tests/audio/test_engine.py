"""AudioEngine on the offline backend: exact frames, gains, stealing, limiter, clean stops."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from prelude_play.audio import SoundBank, UnknownSoundError, open_engine
from prelude_play.audio.engine import db_to_gain, silence_check_max_step
from prelude_play.clock import FakeClock

RATE = 48000


def engine(**kw):
    kw.setdefault("master_volume", 1.0)
    kw.setdefault("limit_dbfs", 0.0)
    return open_engine("offline", clock=FakeClock(), rate=RATE, blocksize=128, **kw)


def first_nonzero(x: np.ndarray) -> int:
    nz = np.nonzero(np.abs(x) > 0)[0]
    return int(nz[0]) if nz.size else -1


def test_scheduled_trigger_starts_on_the_exact_frame():
    e = engine()
    e.load("dc", np.full(500, 0.25, np.float32))
    for f in (0, 37, 128, 1000, 1777):
        e.trigger("dc", at_ns=e.frame_to_ns(e.frames_rendered + f))
        out = e.backend.render(4000)
        assert first_nonzero(out[:, 0]) == f
        assert out[f, 0] == pytest.approx(0.25)
        assert out[f + 499, 0] == pytest.approx(0.25) and out[f + 500, 0] == 0.0


def test_fast_path_trigger_starts_at_next_block_and_logs_start():
    e = engine()
    e.load("dc", np.full(64, 0.5, np.float32))
    e.backend.render(300)  # 3 blocks: 128,128,44 -> next block starts at 300
    e.trigger("dc")
    out = e.backend.render(256)
    assert first_nonzero(out[:, 0]) == 0
    n, starts = e.voice_starts()
    assert n == 1 and starts[0][1] == 300 and starts[0][2] == e.frame_to_ns(300)


def test_late_scheduled_start_plays_at_once_and_is_counted():
    e = engine()
    e.load("dc", np.full(64, 0.5, np.float32))
    e.backend.render(1000)
    e.trigger("dc", at_ns=e.frame_to_ns(10))
    out = e.backend.render(256)
    assert first_nonzero(out[:, 0]) == 0 and e.stats()["late_starts"] == 1


def test_velocity_gain_and_pan_scale_linearly():
    e = engine()
    e.load("dc", np.full(100, 0.4, np.float32))
    e.trigger("dc", 0.5, at_ns=e.frame_to_ns(0))
    e.trigger("dc", 1.0, gain=0.25, pan=-1.0, at_ns=e.frame_to_ns(200))
    e.trigger("dc", 1.0, pan=0.5, at_ns=e.frame_to_ns(400))
    out = e.backend.render(600)
    assert out[10] == pytest.approx([0.2, 0.2])
    assert out[210] == pytest.approx([0.1, 0.0])
    assert out[410] == pytest.approx([0.2, 0.4])


def test_master_volume_scales_and_ramps_without_jump():
    e = engine(master_volume=0.5)
    e.load("dc", np.full(48000, 0.5, np.float32))
    e.trigger("dc")
    out = e.backend.render(256)
    assert out[200, 0] == pytest.approx(0.25)
    e.master_volume = 1.0
    out = e.backend.render(256)
    assert out[-1, 0] == pytest.approx(0.5)
    assert silence_check_max_step(out[:, 0]) < 0.01  # ramped over a block, no step


def test_full_pool_steals_oldest_with_a_fade_not_a_cut():
    e = engine(voices=4, tails=2)
    e.load("dc", np.full(48000, 0.1, np.float32))
    for i in range(4):
        e.trigger("dc", at_ns=e.frame_to_ns(i * 10))
    e.backend.render(1000)
    e.trigger("dc", at_ns=e.frame_to_ns(1000))
    out = e.backend.render(2000)[:, 0]
    st = e.stats()
    assert st["stolen_voices"] == 1 and st["active_voices"] == 4
    # newcomer's onset on top of the stolen voice, which then fades over 3 ms (144 frames)
    assert out[0] == pytest.approx(0.5)
    assert out[144] == pytest.approx(0.4) and out[-1] == pytest.approx(0.4)
    assert silence_check_max_step(out[1:]) <= 0.1 / 144 * 1.01


def test_limiter_never_exceeds_the_ceiling():
    e = engine(limit_dbfs=-6.0, voices=32)
    e.load("loud", np.sin(np.linspace(0, 300, 9600)).astype(np.float32) * 0.9)
    for i in range(20):
        e.trigger("loud", at_ns=e.frame_to_ns(i * 7))
    out = e.backend.render(9600)
    ceiling = db_to_gain(-6.0)
    assert np.max(np.abs(out)) <= ceiling + 1e-6
    assert np.max(np.abs(out)) > 0.9 * ceiling  # really was driven into the limiter


def test_quiet_signals_pass_the_limiter_untouched():
    e = engine(limit_dbfs=-6.0)
    x = (np.sin(np.arange(4800) * 0.05) * 0.3).astype(np.float32)
    e.load("q", x)
    e.trigger("q", at_ns=e.frame_to_ns(0))
    out = e.backend.render(4800)[:, 0]
    np.testing.assert_allclose(out, x, atol=1e-6)


def test_scheduled_stop_is_exact_and_click_free():
    e = engine()
    sr = RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)).astype(np.float32)
    e.load("tone", tone)
    h = e.play("tone", at_ns=e.frame_to_ns(0))
    stop_frame = 10_000
    e.stop(h, at_ns=e.frame_to_ns(stop_frame), ramp_ms=5)
    out = e.backend.render(20_000)[:, 0]
    assert np.all(out[stop_frame:] == 0.0)
    assert np.abs(out[stop_frame - 300 : stop_frame - 240]).max() > 0.3  # full level before ramp
    max_tone_step = 0.5 * 2 * np.pi * 440 / sr
    assert silence_check_max_step(out) <= max_tone_step * 1.01


def test_all_off_cancels_scheduled_voices_after_the_stop():
    e = engine()
    e.load("dc", np.full(48000, 0.2, np.float32))
    e.trigger("dc", at_ns=e.frame_to_ns(100))
    e.trigger("dc", at_ns=e.frame_to_ns(5000))  # after the stop: never heard
    e.all_off(at_ns=e.frame_to_ns(3000), ramp_ms=10)
    out = e.backend.render(8000)[:, 0]
    assert out[1000] == pytest.approx(0.2)
    assert np.all(out[3000:] == 0.0)
    assert silence_check_max_step(out[200:]) <= 0.2 / 480 * 1.01  # 10 ms linear fade


def test_note_on_loops_until_note_off_then_releases():
    bank = SoundBank()
    e = engine(bank=bank)
    e.prepare(["vowel:ah:57"])
    h = e.note_on("vowel:ah", 57, 0.8)
    assert h > 0
    out = e.backend.render(RATE * 4)[:, 0]  # sound itself is ~1.6 s: loop keeps it going
    assert np.sqrt(np.mean(out[-4800:] ** 2)) > 0.05
    e.note_off("vowel:ah", 57)
    out = e.backend.render(RATE)[:, 0]
    assert np.all(out[int(0.13 * RATE) :] == 0.0)
    assert e.stats()["active_voices"] == 0


def test_tempo_change_rescheduling_keeps_onsets_on_their_frames():
    e = engine()
    e.load("tick", np.full(50, 0.3, np.float32))
    beats = [0, 12000, 24000, 33000, 42000]  # 120 BPM then faster
    for f in beats:
        e.trigger("tick", at_ns=e.frame_to_ns(f))
    out = e.backend.render(48000)[:, 0]
    on = np.nonzero(np.diff((out > 0).astype(int)) == 1)[0] + 1
    assert [0, *on.tolist()] == beats


def test_unknown_sound_fails_early_and_bank_renders_late_names():
    e = engine()
    with pytest.raises(UnknownSoundError):
        e.trigger("drum:38")
    with pytest.raises(UnknownSoundError, match="nope:1"):
        open_engine("offline", clock=FakeClock(), bank=SoundBank()).prepare(["drum:38", "nope:1"])
    e2 = engine(bank=SoundBank())
    e2.trigger("drum:38", 100 / 127)
    assert e2.stats()["late_renders"] == 1
    assert np.abs(e2.backend.render(1024)).max() > 0.1


def test_command_flood_is_bounded_and_counted():
    e = engine(max_queue=100)
    e.load("dc", np.full(10, 0.1, np.float32))
    for _ in range(150):
        e.trigger("dc")
    assert e.stats()["dropped_commands"] == 50
    e.backend.render(128)
    assert e.stats()["queued_commands"] == 0


def test_triggers_from_many_threads_all_arrive():
    e = engine(voices=64)
    e.load("dc", np.full(20000, 0.001, np.float32))

    def hammer():
        for _ in range(15):
            e.trigger("dc", at_ns=e.frame_to_ns(256))

    ts = [threading.Thread(target=hammer) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out = e.backend.render(512)[:, 0]
    assert out[300] == pytest.approx(0.06, rel=1e-4)


def test_device_loss_is_reported_and_reopen_works():
    e = engine()
    e.load("dc", np.full(10, 0.1, np.float32))
    lost = []
    e.on_device_lost = lost.append
    e.backend.simulate_loss()
    assert e.poll() and lost
    e.reopen()
    assert e.poll() is None and e.backend.name == "offline"
    e.trigger("dc")
    assert e.backend.render(128)[0, 0] == pytest.approx(0.1)


def test_time_map_round_trips():
    e = engine()
    for f in (0, 1, 47, 48000, 10**7):
        assert e.ns_to_frame(e.frame_to_ns(f)) == f
    assert e.frame_to_ns(48000) - e.frame_to_ns(0) == 1_000_000_000
    assert e.first_output_frame_ns == e.frame_to_ns(0)
