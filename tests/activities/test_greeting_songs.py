"""Hello and goodbye songs through the whole headless app: the song runs from the rail, the
client's voice (a sung vowel fed through the offline capture, in step with the fake clock), pad
hits and taps on the card are participation in the verse's turn and judged; the therapist's
score supersedes; live mode follows the therapist; the "Hello to goodbye" plan runs end to end;
the client's display name is on the screen and never in the log; screenshots in both languages,
normal and low stimulation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.fakes import RecordingAudio
from tests.screens import publish

from prelude_play.audio.analysis import resample, synth
from prelude_play.clock import FakeClock
from prelude_play.config import AppConfig
from prelude_play.shell.pilot import run_test
from prelude_play.store.clients import ClientBook
from prelude_play.store.trials import goal_figures, read_trials
from tests.activities.offline_mic import RATE, Mic

ART = Path(__file__).resolve().parents[1] / "_artifacts"
NAME = "Zoé"  # a display name: shown on the child's screen, never logged
CHILD_OH = (600, 1100, 3050)  # a child's "oh" (Peterson & Barney 1952 means, Hz)


def sung(f0: float = 330.0, dur: float = 0.7, seed: int = 5) -> np.ndarray:
    """A sung vowel made at 16 kHz and played into the 48 kHz mic."""
    x = synth.vowel(CHILD_OH, f0, 16000, dur, rng=np.random.default_rng(seed))
    return resample(x, 16000, RATE).astype(np.float32)


def wait_until(pilot, ok, mic: Mic | None = None, limit_s: float = 120.0) -> None:
    """Let session time pass (silence into the mic, if any) until ``ok()``."""
    for _ in range(int(limit_s * 10)):
        if ok():
            return
        if mic is not None and mic.cap is not None:
            mic.feed(pilot, np.zeros(RATE // 10, np.float32))
        else:
            pilot.wait(100)
    raise AssertionError(f"never happened; the song is at {pilot.app.activity.run.shown}")


def turn(act, verse_id: str):
    """True once the client's turn in ``verse_id`` is on screen."""
    run = act.run
    return lambda: run.phase == "answer" and run.song.verses[run.shown.verse].id == verse_id


def start(pilot, name="hello_song", *, profile=None, **settings):
    app = pilot.app
    cid = ClientBook(app.store).create(NAME, client_id="zoe", code="C-ZOE")
    app.store.set_client_profile(cid, {**(profile or {}), "activities": {name: settings}})
    app.select_client(cid)
    app.start_activity(name)
    assert app.activity_name == name, app.notices
    pilot.step()
    return app.activity


def events(pilot, kind=None):
    pilot.app.store.flush()
    return [e for e in pilot.app.store.events() if kind is None or e.kind == kind]


def song_trials(pilot, name="hello_song"):
    return [t for t in read_trials(events(pilot)) if t.activity == name]


def assert_name_never_logged(pilot):
    for e in events(pilot):
        assert NAME not in json.dumps(e.data, ensure_ascii=False), e.kind


@pytest.fixture
def clock():
    return FakeClock()


def test_voice_hits_and_taps_in_the_turn_are_participation_and_the_therapists_score_supersedes(tmp_path, clock):
    mic = Mic(clock)
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, clock=clock, audio=audio, mic_factory=mic.factory) as pilot:
        act = start(pilot, bpm=132)
        assert act.mic is not None and act.listening
        pilot.unlock()
        assert pilot.app.find_button("rail:primary").label == "Start song"
        pilot.tap("rail:primary")
        wait_until(pilot, lambda: act.run.phase == "verse", mic)
        assert pilot.app.find_button("rail:primary").label == "Your turn"
        mic.feed(pilot, sung())  # the therapist sings the call: not the client's voice
        assert act.trial is None and not events(pilot, "participation")
        wait_until(pilot, turn(act, "hello"), mic)
        assert pilot.app.find_button("rail:primary").label == "Next verse"
        mic.feed(pilot, np.zeros(RATE // 5, np.float32))
        mic.feed(pilot, sung())  # Zoé sings hello
        mic.feed(pilot, np.zeros(RATE // 5, np.float32))
        assert act.joined
        pilot.score("±")  # the therapist: partly — lands on the open turn, supersedes the judgement
        wait_until(pilot, turn(act, "how_are_you"), mic)  # ... and Zoé stays silent in this turn
        wait_until(pilot, turn(act, "wave"), mic)  # a wave the app cannot see
        wait_until(pilot, lambda: act.run.phase == "verse" and act.run.shown.verse == 3, mic)
        pilot.midi(note=38)  # a pad hit in the call: played, logged, not the turn's answer
        wait_until(pilot, turn(act, "play"), mic)
        passed = pilot.midi(note=61, channel=0)  # a key: the song's pentatonic (D major: D)
        assert passed.data["sounded"] == "keys:62"
        pilot.tap("card")  # and a tap on the picture (a chime): participation too
        wait_until(pilot, lambda: act.run.phase == "done", mic)
        assert pilot.app.find_button("rail:primary").label == "Sing again"
        trials = song_trials(pilot)
        hits = events(pilot, "hit")
        assert_name_never_logged(pilot)
    assert [t.opportunity for t in trials] == ["sing", "sing", "wave", "play"]
    hello, how, wave, play = trials
    assert [(t.outcome, t.scored_by) for t in trials] == [
        ("partial", "therapist"), ("no_response", "activity"), ("not_scored", ""), ("success", "activity")]
    assert hello.judgement == ("success", "independent") and hello.judgement_data["by"] == "voice"
    assert 0 < hello.judgement_data["latency_ms"] < 1500
    assert [r["by"] for r in hello.responses] == ["voice"]  # one voice: the one in the call was not counted
    assert play.judgement_data["by"] == "hit" and [r["by"] for r in play.responses] == ["hit", "touch"]
    assert all(t.close_reason == "ended" for t in trials)
    assert hits and hits[0].data["phase"] == "verse" and hits[0].trial_id is None
    assert set(hello.goals) == {"social", "speech_communication"} and set(play.goals) == {"social", "musical"}
    figures = goal_figures(trials)
    assert figures["social"].trials == 3  # the wave nobody scored is not in the percentage
    assert "took part in 2 of 4 verses" in type(act).trial_phrases(trials, lambda s: s)


def test_live_mode_follows_the_therapist_and_plays_nothing(tmp_path):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, audio=audio) as pilot:  # no microphone
        act = start(pilot, "goodbye_song", music="off")
        assert act.mic is None
        pilot.unlock()
        pilot.tap("rail:primary")  # Start song: no intro, the therapist sings the first call
        pilot.wait(200)
        assert act.run.phase == "verse" and act.run.state == "held"
        pilot.wait(20_000)
        assert act.run.phase == "verse"  # the call waits for the therapist, however long
        assert pilot.app.find_button("rail:primary").label == "Your turn"
        pilot.tap("rail:primary")
        pilot.wait(200)
        assert act.run.phase == "answer" and act.trial is not None
        wait_until(pilot, lambda: act.run.phase == "verse")  # the turn lasts its bars at the tempo
        assert act.run.state == "held" and act.run.shown.verse == 1
        pilot.tap("rail:primary")  # your turn: wave goodbye
        wait_until(pilot, lambda: act.run.phase == "verse" and act.run.shown.verse == 2)
        pilot.tap("rail:primary")  # your turn: play — no hit
        wait_until(pilot, lambda: act.run.phase == "verse" and act.run.shown.verse == 3)
        assert pilot.app.find_button("rail:primary").label == "Your turn"
        pilot.panel()
        pilot.tap("act:next")  # "All done": no turn in it; next goes to the end
        pilot.tap("close")
        pilot.wait(200)
        assert act.run.phase == "done"
        trials = song_trials(pilot, "goodbye_song")
        assert_name_never_logged(pilot)
    assert [n for n in audio.names() if not n.startswith("chimes:")] == []  # silence: the therapist plays
    # no mic: a silent sung turn is not scored; a wave never; a played turn with no hit is no response
    assert [(t.opportunity, t.outcome) for t in trials] == [("sing", "not_scored"), ("wave", "not_scored"),
                                                            ("play", "no_response")]


def test_the_therapists_settings_land_on_the_next_bar_and_are_logged(tmp_path):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        act = start(pilot, "hello_song", key="C")
        assert act.fast_sound_table()["roles"]["*"]["notes"][61] == "keys:60"
        now = pilot.clock.now_ns()
        assert act.next_frame_ns(now) is None  # drawn, waiting for Start: the loop may sleep
        pilot.unlock()
        pilot.tap("rail:primary")
        pilot.wait(1000)
        now = pilot.clock.now_ns()
        assert now <= act.next_frame_ns(now) <= now + 60e9 / act.opts.bpm  # the next note, not every frame
        pilot.tap("rail:more")
        for bid in ("act:faster", "act:faster", "act:key_up", "act:key_up", "act:verse:how_are_you",
                    "act:wait"):
            pilot.tap(bid)
        assert pilot.app.find_button("act:verse:how_are_you").label == "How are you: off"
        assert pilot.app.find_button("act:wait").label == "Wait for me: on"
        assert pilot.app.find_button("act:music").label == "Music: chords and tune"
        pilot.tap("close")
        status = act.status_text()
        assert "D major" in status and "96 BPM" in status and "Music: chords and tune" in status
        wait_until(pilot, lambda: act.run.phase == "verse")
        assert act.fast_sound_table()["roles"]["*"]["notes"][61] == "keys:62"  # a new table for the new key
        assert pilot.midi(note=61, channel=0).data["sounded"] == "keys:62"
        wait_until(pilot, turn(act, "hello"))
        pilot.wait(15_000)
        assert act.run.phase == "wait"  # waits for the therapist after the turn
        pilot.tap("rail:primary")  # Next verse: how are you is off, so: wave
        wait_until(pilot, lambda: act.run.phase == "verse")
        assert act.run.song.verses[act.run.shown.verse].id == "wave"
        changes = [e.data for e in events(pilot, "song_change")]
        verses = [e.data for e in events(pilot, "song_verse")]
    assert [c["what"] for c in changes] == ["bpm", "bpm", "key", "key", "verse", "wait"]
    assert changes[-1]["bpm"] == 96 and changes[-1]["key"] == "D major" and changes[-1]["verses_on"] == [0, 2, 3]
    assert [v["verse"] for v in verses] == ["hello", "wave"] and verses[0]["bpm"] == 96


def test_hello_to_goodbye_plan_runs_start_to_end(tmp_path):
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path, audio=audio) as pilot:
        app = pilot.app
        cid = ClientBook(app.store).create(NAME, client_id="zoe", code="C-ZOE")
        app.store.set_client_profile(cid, {"activities": {"hello_song": {"bpm": 132}, "goodbye_song": {"bpm": 132}}})
        app.select_client(cid)
        plan = app.therapist.plans.get("shipped:hello_to_goodbye", cid)
        app.therapist.start_plan(plan)
        assert not [n for n in app.notices if "not installed" in n]
        ran = []

        def step(name):
            assert app.activity_name == name, (name, app.notices)
            ran.append(name)
            assert app.therapist.schedule.marks()[len(ran) - 1] == "current"
            assert "skipped" not in app.therapist.schedule.marks()

        def sing_through():
            act = app.activity
            if not app.lock.unlocked:
                pilot.unlock()
            pilot.tap("rail:primary")  # Start song
            wait_until(pilot, turn(act, "play"))
            pilot.midi(note=38)  # the client plays along
            wait_until(pilot, lambda: act.run.phase == "done")

        def next_step():
            pilot.panel()
            pilot.tap("plan_next")

        step("hello_song")
        sing_through()
        next_step()
        step("choice_board")
        pilot.tap("card:1")
        pilot.wait(500)
        next_step()
        step("vowel_match")
        pilot.score("+I")
        next_step()
        step("drum_turns")
        pilot.score("+I")
        next_step()
        step("scarf_moves")
        pilot.wait(1000)
        pilot.score("+I")
        next_step()
        step("goodbye_song")
        sing_through()
        assert app.find_button("rail:primary").label == "Sing again"
        pilot.panel()
        assert app.find_button("plan_next").label == "Finish plan"
        pilot.tap("plan_next")
        assert app.screen == "home" and app.activity is None
        (end,) = events(pilot, "plan_end")
        trials = read_trials(events(pilot))
        assert not events(pilot, "plan_skip")
        assert_name_never_logged(pilot)
    assert ran == ["hello_song", "choice_board", "vowel_match", "drum_turns", "scarf_moves", "goodbye_song"]
    assert [s["state"] for s in end.data["steps"]] == ["done"] * 6
    for name, n in (("hello_song", 4), ("goodbye_song", 3)):
        mine = [t for t in trials if t.activity == name]
        assert len(mine) == n and mine[-1].opportunity == "play"
        assert (mine[-1].outcome, mine[-1].scored_by) == ("success", "activity")  # the pad hit, judged
    assert {t.activity for t in trials} >= {"hello_song", "choice_board", "vowel_match", "drum_turns",
                                            "scarf_moves", "goodbye_song"}


# ---- screenshots ------------------------------------------------------------------------------

SHOTS = [(song, lang, low) for song in ("hello_song", "goodbye_song") for lang in ("en", "fr_CA")
         for low in (False, True)]


@pytest.mark.parametrize("song,lang,low", SHOTS)
def test_screenshots(tmp_path, song, lang, low):
    cfg = AppConfig()
    cfg.ui.language = lang
    with run_test(cfg, data_dir=tmp_path, audio=RecordingAudio(), size=(1280, 800)) as pilot:
        act = start(pilot, song, profile={"low_stimulation": low}, bpm=132)
        assert act.theme.low_stimulation == low
        act.start_song()
        first = act.song.verses[0].id
        wait_until(pilot, turn(act, first))
        pilot.tap("card")  # Zoé joins in: the card shows it (a coloured frame; a quiet one in low stimulation)
        status = act.status_text()  # the therapist's side, in the therapist's language
        assert ("Couplet 1 sur 4 : " in status and "ré majeur" in status) if lang == "fr_CA" else \
            ("Verse 1 of 4: " in status and "D major" in status)
        tag = f"{song}_{lang}_{'low' if low else 'normal'}_1280x800.png"
        ART.mkdir(exist_ok=True)
        shot = pilot.screenshot(ART / tag)
        publish(shot)
        wait_until(pilot, turn(act, "play"))
        shot = pilot.screenshot(ART / f"{song}_play_{lang}_{'low' if low else 'normal'}_1280x800.png")
        words = act.screen()
    assert words.prompt == ("Joue du tambour!" if lang == "fr_CA" else "Play the drum!")
    assert f"{NAME}!" in words.lines  # "Play the drum, / Zoé!" — "Joue au revoir, / Zoé!"


def test_the_clients_own_picture_from_their_profile(tmp_path):
    import shutil

    from prelude_play.config import resource_dir

    (tmp_path / "images").mkdir()
    shutil.copy(resource_dir("assets") / "images" / "happy.png", tmp_path / "images" / "zoe_photo.png")
    with run_test(data_dir=tmp_path, audio=RecordingAudio()) as pilot:
        act = start(pilot, profile={"picture": "zoe_photo.png"})
        assert act.pictures.raw["zoe_photo.png"] is not None  # found in the therapist's image folder
        act.start_song()
        wait_until(pilot, turn(act, "hello"))
        assert act.screen().picture == "@client" and act.screen().client_picture == "zoe_photo.png"
        pilot.screenshot(ART / "hello_song_own_picture_1280x800.png")
        setup = events(pilot, "song_setup")[0].data
    assert "zoe_photo" not in json.dumps(setup)


def test_a_huge_photo_as_the_clients_picture_is_refused_without_decoding_it(tmp_path):
    """The client's picture is the therapist's own file: the song loads it through the bounded
    loader (a 20000x20000 PNG header is refused from its size, never decoded into gigabytes)."""
    import struct
    import zlib

    images = tmp_path / "images"
    images.mkdir()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    huge = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    (images / "huge.png").write_bytes(huge)
    with run_test(data_dir=tmp_path) as pilot:
        act = start(pilot, profile={"picture": "huge.png"})
        assert act.pictures.raw["huge.png"] is None  # drawn as the client's initial instead
        (images / "huge2.png").write_bytes(huge)
        assert "too big" in (act.pictures.load("huge2.png") or "")  # refused from its header
        pilot.step()
