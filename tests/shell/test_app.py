"""The headless shell driven by the pilot: taps, the therapist lock, scoring, fast path, errors."""

from __future__ import annotations

import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.screens import publish

from prelude_play.config import AppConfig
from prelude_play.devices import NullAudio
from prelude_play.shell.pilot import run_test
from tests.fakes import RecordingAudio, RecordingMidiOut

ART = Path(__file__).resolve().parents[1] / "_artifacts"


def events(pilot, kind=None):
    return [e for e in pilot.app.store.events() if kind is None or e.kind == kind]


@pytest.fixture
def audio():
    return RecordingAudio()


def test_home_pick_client_start_activity_tap_sounds_and_logs(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        app = pilot.app
        assert app.screen == "home"
        pilot.tap("new_client")
        pilot.enter_pin()  # a new record is the therapist's: behind the PIN, then straight into its editor
        assert app.client_id is not None and app.screen == "client_edit"
        pilot.tap("key:done")  # the name is focused, with the keyboard up
        pilot.tap("back")
        assert app.screen == "home"
        pilot.tap("activity:free_play")
        assert app.screen == "host" and app.activity_name == "free_play"
        pilot.tap("pad:1")
        assert audio.names()[-1] == "drum:38"
        hit = events(pilot, "hit")[-1]
        assert hit.actor == "client" and hit.source == "touch" and hit.data["pad"] == 1
        assert set(hit.goals) >= {"self_expression", "musical", "motor"}
        start = events(pilot, "activity_start")[0]
        assert start.activity == "free_play" and hit.activity == "free_play"
        prov = app.store.sessions()[0]["provenance"]
        assert prov["app_version"] and "free_play" in prov["activities"] and "config" in prov


def test_one_physical_tap_counts_once(tmp_path, audio):
    cfg = AppConfig()
    cfg.touch.ignore_repeat_ms = 0
    with run_test(cfg, data_dir=tmp_path, audio=audio, client="ari", activity="free_play") as pilot:
        pilot.tap("pad:0")  # FINGERDOWN + SDL's synthesized MOUSEBUTTONDOWN(touch=True)
        assert audio.names() == ["drum:36"]
        assert len(events(pilot, "hit")) == 1
        pilot.tap("pad:0", source="mouse")  # a real mouse click counts
        assert len(events(pilot, "hit")) == 2


def test_repeats_are_logged_as_filtered_not_played(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio, client="ari", activity="free_play") as pilot:
        pilot.tap("pad:2")
        pilot.tap("pad:2")  # ~33 ms later: inside the 250 ms repeat window
        assert audio.names() == ["drum:42"]
        f = events(pilot, "filtered_touch")
        assert len(f) == 1 and f[0].data["reason"] == "repeat"


def test_client_cannot_leave_the_activity(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio, client="ari", activity="free_play") as pilot:
        app = pilot.app
        corner = app._corner_rect().center
        for pos in [corner, (5, 5), (640, 20), (1275, 795)]:
            pilot.tap(pos)
        for key in ["escape", "q", "tab", "return"]:
            pilot.press(key)
        pilot.hold(corner, 800)  # too short for the long-press
        assert app.screen == "host" and app.modal is None
        pilot.hold(corner, 1600)
        assert app.modal == "pin"
        pilot.enter_pin("9999")
        assert app.modal == "pin" and app.pin.wrong
        pilot.tap("pin:cancel")
        assert app.modal is None and app.screen == "host"
        assert app.find_button("score:+I") is None  # no scoring control until the PIN
        pilot.unlock()
        assert app.modal is None and app.lock.unlocked and app.find_button("score:+I") is not None


def test_pin_pad_times_out_back_to_the_activity(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        pilot.hold(pilot.app._corner_rect().center, 1600)
        assert pilot.app.modal == "pin"
        pilot.wait(16_000)
        assert pilot.app.modal is None and pilot.app.screen == "host"


def test_rail_scoring_one_touch_each_with_undo(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        pilot.unlock()
        pilot.score("+V")
        pilot.score("±")  # the armed prompt level (independent) for a partial
        pilot.tap("rail:undo")
        scores = events(pilot, "score")
        assert [(s.outcome, s.prompt, s.actor) for s in scores] == \
            [("success", "verbal", "therapist"), ("partial", "independent", "therapist")]
        assert len({s.trial_id for s in scores}) == 2  # free play: each score makes its own trial
        corr = events(pilot, "correction")
        assert len(corr) == 1 and corr[0].corrects == scores[1].id and corr[0].trial_id == scores[1].trial_id
        assert corr[0].data["undone_outcome"] == "partial"
        assert [(t.outcome, t.prompt) for t in pilot.app.live.trials()] == [("success", "verbal")]


def test_panel_prompt_level_applies_to_the_next_score_only(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        pilot.panel()
        pilot.tap("prompt:model")
        pilot.tap("close")
        pilot.score("-")
        pilot.score("-")
        assert [(s.outcome, s.prompt) for s in events(pilot, "score")] == \
            [("not_yet", "model"), ("not_yet", "independent")]


def test_hands_free_scoring_by_key_and_pedal(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio, client="ari", activity="free_play") as pilot:
        pilot.press("f5")  # next prompt level: gestural
        pilot.press("f2")  # ± partial
        pilot.midi("control_change", note=None, control=64, value=127, role="pedal", device="footswitch")
        pilot.midi("control_change", note=None, control=64, value=0, role="pedal", device="footswitch")
        pilot.wait(400)  # a single tap is known once the double-tap window has passed
        pilot.press("f8")  # undo the pedal's score
        pilot.press("page down")  # a page-turner pedal: +I
        scores = events(pilot, "score")
        assert [(s.outcome, s.prompt, s.source) for s in scores] == \
            [("partial", "gestural", "key"), ("success", "independent", "midi"), ("success", "independent", "key")]
        assert events(pilot, "correction")[0].corrects == scores[1].id
        assert audio.calls == []  # the pedal never makes a sound


def test_one_pedal_tap_double_tap_and_hold(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        def press(ms: float) -> None:
            pilot.midi("note_on", note=64, velocity=100, role="pedal", device="pedal")
            pilot.wait(ms)
            pilot.midi("note_off", note=64, velocity=0, role="pedal", device="pedal")

        press(80)
        pilot.wait(500)            # tap: +I
        press(60); pilot.wait(100); press(60)  # double tap: -
        pilot.wait(500)
        press(900)                 # hold: undo (the not yet)
        pilot.wait(500)
        live = [(t.outcome, t.prompt) for t in pilot.app.live.trials()]
        assert live == [("success", "independent")]
        assert [e.outcome for e in events(pilot, "score")] == ["success", "not_yet"]
        assert len(events(pilot, "correction")) == 1


def test_midi_hit_sounds_on_the_midi_thread_before_any_frame(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio, client="ari", activity="free_play") as pilot:
        frames = pilot.app.frame_count
        t = threading.Thread(target=lambda: pilot.midi(note=38, velocity=64, step=False), name="rtmidi-cb")
        t.start(); t.join()
        assert pilot.app.frame_count == frames  # no frame has run yet...
        assert audio.calls == [{"name": "drum:38", "velocity": 64 / 127, "at_ns": None, "thread": "rtmidi-cb"}]
        sent_t = pilot.app.queue.peek().t_ns
        pilot.step()  # ...the activity and the log learn of it at the next frame
        hit = events(pilot, "hit")[-1]
        assert hit.data["sounded_by_fast_path"] and hit.source == "midi" and hit.data["velocity"] == 64
        assert hit.t_ms == round((sent_t - pilot.app.session.t0_ns) / 1e6, 2)


def test_filtered_midi_hits_are_logged_and_silent(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio, client="ari", activity="free_play") as pilot:
        pilot.midi(note=38, velocity=5, data={"filtered": "below_threshold"})
        assert audio.calls == []
        f = events(pilot, "filtered_hit")
        assert len(f) == 1 and f[0].data == {"reason": "below_threshold", "note": 38, "velocity": 5}


def test_panic_silences_audio_and_midi(tmp_path, audio):
    out = RecordingMidiOut()
    with run_test(data_dir=tmp_path, audio=audio, midi_out=out, client="ari", activity="free_play") as pilot:
        pilot.panel()
        pilot.tap("panic")
        assert audio.silenced == 1 and out.panics == 1
        assert events(pilot, "panic")[0].actor == "therapist"


def test_note_is_logged_from_the_overlay(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        pilot.panel()
        pilot.tap("note")
        pilot.type_text("signed 'more' and vocalized")
        pilot.tap("note")
        assert events(pilot, "note")[0].data["note"] == "signed 'more' and vocalized"


def test_crashing_activity_returns_home_and_keeps_the_session(tmp_path, monkeypatch):
    pkg = tmp_path / "crashacts"
    (pkg / "boom").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "boom" / "__init__.py").write_text(textwrap.dedent("""
        from prelude_play.activity import Activity
        class Boom(Activity):
            name = "boom"; title = "Boom"; goals = ("musical",)
            def handle(self, event):
                if event.kind == "tap":
                    raise ZeroDivisionError("oops")
    """))
    (pkg / "broken.py").write_text("syntax error here(\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with run_test(data_dir=tmp_path, client="ari", activity="boom", activities_package="crashacts") as pilot:
        app = pilot.app
        assert any("broken" in n for n in app.notices)
        pilot.tap((600, 400))
        assert app.screen == "home" and app.session is not None
        err = events(pilot, "activity_error")[0]
        assert "ZeroDivisionError" in err.data["error"]
        assert any("Boom" in n and "oops" in n for n in app.notices)  # the activity by its title
    for m in [m for m in sys.modules if m.startswith("crashacts")]:
        del sys.modules[m]


def test_pause_resume_and_end_session(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        app = pilot.app
        pilot.panel()
        pilot.tap("home")
        assert app.screen == "home" and app.session is not None and not app.lock.unlocked
        pilot.tap("resume")
        assert app.activity_name == "free_play"
        pilot.panel()
        pilot.tap("home")
        pilot.tap("end_session")  # asks for the PIN: the client may be at the paused screen
        assert app.modal == "pin" and app.session is not None
        pilot.enter_pin()
        assert app.session is None
        assert app.store.sessions()[0]["ended"] is not None


def test_paused_home_shows_only_the_session_client(tmp_path):
    with run_test(data_dir=tmp_path) as pilot:
        app = pilot.app
        for cid, name in (("a", "Ada Real"), ("b", "Ben Real")):
            app.store.ensure_client(cid, display_name=name)
        app.home.layout()
        pilot.tap("client:a")
        pilot.tap("activity:free_play")
        pilot.panel()
        pilot.tap("home")
        ids = [b.id for b in app.home.buttons + app.home.picker.rows]
        assert "client:a" in ids and "client:b" not in ids and "new_client" not in ids
        assert app.home.picker.search is None  # nothing to search: no other name can come up


def test_language_switch_persists_to_user_settings(tmp_path):
    with run_test(data_dir=tmp_path, client="ari", activity="free_play") as pilot:
        pilot.panel()
        pilot.tap("language")
        assert pilot.app.find_button("close").label == "Retour au client"
    assert 'language = "fr_CA"' in (tmp_path / "config" / "app.toml").read_text()


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_screenshots_home_host_overlay(tmp_path, size):
    w, h = size
    with run_test(data_dir=tmp_path, size=size) as pilot:
        for _ in range(2):
            pilot.tap("new_client"); pilot.enter_pin(); pilot.tap("key:done"); pilot.tap("back")
        pilot.tap("client:client-1")
        shots = [pilot.screenshot(ART / f"home_{w}x{h}.png")]
        pilot.tap("activity:free_play")
        pilot.tap("pad:1")
        shots.append(pilot.screenshot(ART / f"host_{w}x{h}.png"))
        pilot.unlock()
        pilot.score("+G")
        shots.append(pilot.screenshot(ART / f"rail_{w}x{h}.png"))
        for button in pilot.app.rail.buttons:  # ≥ 15 mm a score button on a 10-inch tablet
            if button.id.startswith("score:"):
                assert button.rect.width >= 84 * pilot.app.theme.scale - 1
                assert button.rect.height >= 84 * pilot.app.theme.scale - 1
            assert pilot.app.surface.get_rect().contains(button.rect)
        pilot.tap("rail:more")
        pilot.tap("prompt:verbal")
        shots.append(pilot.screenshot(ART / f"overlay_{w}x{h}.png"))
        for button in pilot.app.overlay.buttons:
            assert button.rect.width >= 96 * pilot.app.theme.scale - 1
            assert button.rect.height >= 64 * pilot.app.theme.scale
            assert pilot.app.surface.get_rect().contains(button.rect)
    import pygame

    for shot in shots:
        img = pygame.image.load(str(shot))
        assert img.get_size() == size
        # not blank: many distinct colours drawn
        colours = {img.get_at((x, y))[:3] for x in range(0, w, 37) for y in range(0, h, 41)}
        assert len(colours) > 4
    if size == (1280, 800):
        for shot in shots:
            publish(shot)


def test_pad_hits_while_the_therapist_panel_is_open_are_still_logged(tmp_path, audio):
    with run_test(data_dir=tmp_path, audio=audio, client="ari", activity="free_play") as pilot:
        pilot.panel()
        assert pilot.app.modal == "overlay"
        pilot.midi(note=38)
        pilot.tap("close")
        pilot.score("+I")
        hits = events(pilot, "hit")
        assert len(hits) == 1 and hits[0].data["note"] == 38 and audio.names() == ["drum:38"]
        assert len(events(pilot, "score")) == 1


class _EngineClock(NullAudio):
    """Stands in for the engine's time map: the next block reaches the DAC at a fixed grid."""

    def __init__(self, clock, period_ns=2_666_667, dac_offset_ns=5_333_333):
        self.clock, self.period, self.offset = clock, period_ns, dac_offset_ns
        self.calls = []

    def next_block_dac_ns(self):
        now = self.clock.now_ns()
        next_block = (now // self.period + 1) * self.period
        return next_block + self.offset

    def trigger(self, name, velocity=1.0, *, pan=0.0, at_ns=None, gain=1.0):
        self.calls.append((self.clock.now_ns(), at_ns))


def test_steady_latency_gives_every_hit_the_same_delay_after_learning():
    from prelude_play.clock import FakeClock
    from prelude_play.hits import SteadyLatency

    clock = FakeClock(start_ns=0)
    eng = _EngineClock(clock)
    steady = SteadyLatency(eng)
    delays = []
    for i in range(40):
        clock.advance(int(eng.period * (3.37 + (i * 0.618) % 1)))  # hits anywhere in a period
        t = clock.now_ns()
        at = steady.at(t)
        if at is not None:
            assert at >= eng.next_block_dac_ns() or i > 30  # never earlier than possible (mostly)
            delays.append(at - t)
    assert len(delays) == 40 - SteadyLatency.LEARN + 1
    late = delays[-20:]
    assert max(late) - min(late) == 0  # constant: no grid jitter
    # at most one period plus the DAC offset plus the margin
    assert late[0] <= eng.period + eng.offset + SteadyLatency.MARGIN_NS
    assert steady.delay_ms == round(late[0] / 1e6, 3)


def test_asap_mode_schedules_nothing(tmp_path):
    from prelude_play.hits import SteadyLatency

    assert SteadyLatency(NullAudio(), enabled=True).at(123) is None  # no output time: as soon as possible
    assert SteadyLatency(_EngineClock(None), enabled=False).at(123) is None


def test_provenance_names_the_realtime_core(tmp_path):
    with run_test(data_dir=tmp_path, audio=RecordingAudio(), client="c1", activity="free_play") as pilot:
        core = pilot.app.provenance()["realtime_core"]
    # a stand-in engine without a C mixer is "python"; no MIDI hub at all is "none", not "python"
    assert core == {"audio": "python", "midi": "none", "links": []}
