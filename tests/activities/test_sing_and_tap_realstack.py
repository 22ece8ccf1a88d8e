"""One sing-and-tap trial end to end on the real stack: a JACK client (its own process) sings a
child's answer into PortAudio's JACK input (the app's real microphone) and plays the drum pad
over real JACK MIDI on the same frames; the app (headless, real clock) hears the syllables
through its capture, gets the taps through the MIDI hub on rtmidi's JACK API, and judges the
trial. The asynchronies it logs are checked against the frames sent."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from prelude_play.clock import MonotonicClock
from prelude_play.shell.pilot import run_test
from prelude_play.store.trials import read_trials
from tests.fakes import RecordingAudio
from tests.activities.test_drum_turns_realstack import run_until

pytestmark = pytest.mark.realstack
ROOT = Path(__file__).resolve().parents[2]
# The microphone's time map and rtmidi's JACK stamps are two clocks (and the dummy driver without
# real-time scheduling can hold a callback): a loose tolerance, as in the drum real-stack test.
# That the logged asynchrony is exact on one clock is checked in test_sing_and_tap.py.
TOL_MS = 30.0


class Probe:
    def __init__(self, name: str = "pp-st-pad") -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.activities.sing_tap_probe", name], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        hello = json.loads(self.proc.stdout.readline() or "{}")
        if not hello.get("ready"):
            self.proc.kill()
            raise RuntimeError("the JACK sing probe did not start")
        self.rate = int(hello["rate"])

    def ask(self, req: dict) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def test_one_trial_scored_end_to_end_over_jack_midi_and_a_real_audio_input(jack_server, tmp_path):
    import sounddevice as sd

    from bench.bench_sing_tap import child_vowel_fn
    from prelude_play.audio.capture import open_capture
    from prelude_play.midi.hub import MidiConfig, MidiHub
    from prelude_play.midi.instruments import load_instruments
    from prelude_play.midi.rtmidi_backend import RtMidiBackend

    from prelude_play.activities.sing_and_tap.logic import midi_to_hz
    from prelude_play.activities.sing_and_tap.voice import SungSyllable, sing

    sd._terminate()
    sd._initialize()
    clock = MonotonicClock()
    probe = Probe()
    target: list = [lambda ev: None]
    hub = MidiHub(RtMidiBackend(clock=clock, api="jack", client_name="pp-st-app"), clock=clock,
                  sink=lambda ev: target[0](ev), config=MidiConfig(api="jack", poll_interval_s=0.2),
                  instruments=load_instruments(ROOT / "config" / "instruments.toml"))
    caps: list = []

    def mic():
        cap = open_capture("sounddevice", rate=48000, blocksize=128, clock=clock)
        caps.append(cap)
        return cap

    try:
        hub.start()
        deadline = time.monotonic() + 20
        while not any(n.startswith("pp-st-pad") for n in hub.inputs) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(n.startswith("pp-st-pad") for n in hub.inputs), hub.inputs
        with run_test(data_dir=tmp_path, clock=clock, audio=RecordingAudio(), mic_factory=mic) as pilot:
            target[0] = pilot.app.hits.sink
            app = pilot.app
            app.store.ensure_client("ari")
            app.store.set_client_profile("ari", {"activities": {"sing_and_tap": {
                "stage": "alone", "auto_next": False, "response_window_ms": 4000,
                # pair the taps with the syllables despite the dummy driver's slow frames (see below)
                "tap_window_ms": 2500}}})
            app.select_client("ari")
            app.start_activity("sing_and_tap")
            act = app.activity
            assert app.activity_name == "sing_and_tap" and act.mic is not None and caps[0].backend == "sounddevice"
            assert probe.ask({"connect": True})["connected"], "PortAudio registered no JACK input port"
            act.sing_action()
            p = act.machine.current
            assert run_until(pilot, lambda: clock.now_ns() > p.model_end_ns + 200_000_000, 10.0)
            # the child: "hel-lo" on G4/E4 (a little sharp), a tap 40 ms before "hel" and 30 ms after "lo"
            rng = np.random.default_rng(3)
            syl = [SungSyllable(s, v, midi_to_hz(act.s.note(pt) + 0.3), 0.42)
                   for s, v, pt in zip(act.target.syllables, ("eh", "oh"), act.target.pitches)]
            r = sing(syl, child_vowel_fn(1.0, rng, 0.03), probe.rate, gap_s=0.15, peak=0.4)
            x = np.concatenate([np.zeros(int(0.2 * probe.rate), np.float32), r.samples])
            onsets = [0.2 + o for o in r.onsets]
            offsets = (-0.040, 0.030)
            plan = [(int((o + d) * probe.rate), [0x99, n, 100]) for o, d, n in zip(onsets, offsets, (67, 64))]
            out: dict = {}
            import threading

            th = threading.Thread(target=lambda: out.update(probe.ask({"wav": x.tolist(), "midi": plan})), daemon=True)
            th.start()
            while th.is_alive():
                pilot.step()
                time.sleep(0.004)
            assert len(out["midi"]) == 2, out
            assert run_until(pilot, lambda: act.machine.phase in ("feedback", "idle") and act.machine.current is None,
                             12.0), act.machine.phase
            app.store.flush()
            [trial] = [t for t in read_trials(app.store.events()) if t.activity == "sing_and_tap"]
            d = trial.judgement_data
            assert trial.scored_by == "activity" and trial.outcome == "success", d
            assert d["syllables_heard"] == 2 and d["count_exact"] and d["approx_correct"] == 2
            rows = d["per_syllable"]
            assert all(r["pitch_ok"] is True for r in rows), rows  # high then low, heard from the voice
            assert d["taps"] == 2 and d["taps_matched"] == 2, d  # both strokes paired with a syllable
            # How close the asynchronies are is NOT checked here: on JACK's dummy driver on a loaded
            # 2-core machine the driver's frames run up to ~50 % slower than real time (measured:
            # 7680 frames every 0.21-0.27 s instead of 0.16 s), so an audio frame and a MIDI stamp
            # of the same JACK frame land tens to hundreds of ms apart on the app clock. The
            # asynchrony on one clock is checked exactly in test_sing_and_tap.py and measured in
            # bench/bench_sing_tap.py; on a real sound card the capture's time map follows it.
            print("asynchronies (ms) measured on the dummy driver:", [r["tap"]["async_ms"] for r in rows],
                  "sent:", [o * 1000 for o in offsets])
            # the taps' own interval is the frames' (the MIDI stamps, not the frame loop)
            taps = [e for e in app.store.events() if e.kind == "tap" and e.trial_id == trial.id]
            sent_ms = (out["midi"][1] - out["midi"][0]) * 1000 / probe.rate
            assert len(taps) == 2 and abs((taps[1].t_ms - taps[0].t_ms) - sent_ms) <= 2 * TOL_MS
            app.actions.score("±")  # and the therapist's score supersedes the judgement, end to end
            [trial] = [t for t in read_trials(app.store.events()) if t.activity == "sing_and_tap"]
            assert (trial.outcome, trial.scored_by) == ("partial", "therapist")
            target[0] = lambda ev: None
    finally:
        hub.stop()
        probe.close()
