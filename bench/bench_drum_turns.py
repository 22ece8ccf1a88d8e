"""Drum turn-taking on the real stack: logged inter-onset intervals against the frames sent,
and hit → sound through the fast path.

A private JACK dummy server (48 kHz, 128 frames). Two frame-exact JACK-Client probes in child
processes (tests/midi/jack_probe.py) play the therapist's pad and the client's pad; the app
runs headless on the real clock with the MIDI hub on python-rtmidi's JACK API wired to the
app's hit path (``app.hits.sink``, as prelude_play/devices/build.py does) and the audio engine on PortAudio's
JACK host API. Exchanges run in "therapist" model mode: the therapist plays 4 strokes, the
client copies them.

Reported:
* |logged IOI − sent IOI| (ms) over every interval in the logged turn events (model and copy);
* hit → sound: from the hit's logged MIDI stamp to the moment the engine's voice for it reaches
  the DAC (the engine's own frame → app-clock map), in ms and audio periods. This starts at the
  MIDI stamp, so it does not include the time from the pad to that stamp.

With the C real-time core (default when built; ``--core python`` turns it off) the JACK MIDI
callback and the mixer are C and the hub is linked to the engine as the app does
(``devices.build.link_native``): pad hits sound from the MIDI callback at stamp + output latency
+ one period. "In-graph" hit → sound subtracts the device's output latency from the DAC time:
the time from the hit entering the JACK graph to its sound leaving the app's port.

Run: python -m bench.bench_drum_turns [--exchanges N] [--write docs/bench/drums.md]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _frame(pilot) -> None:
    """One app frame at the app's own 60 fps (an unthrottled loop would starve the audio
    callback and the MIDI thread of the GIL, which the real app never does)."""
    t = time.perf_counter()
    pilot.step()
    left = 1 / 60 - (time.perf_counter() - t)
    if left > 0:
        time.sleep(left)


def _send_async(probe, events):
    out: dict = {}
    th = threading.Thread(target=lambda: out.setdefault("sent", probe.send(events, timeout=60)), daemon=True)
    th.start()
    return th, out


def run(exchanges: int, seed: int, with_audio: bool, backend: str = "jackclient", process: str = "inline",
        core: str = "auto") -> dict:
    from prelude_play.clock import MonotonicClock
    from prelude_play.midi.hub import MidiConfig, MidiHub
    from prelude_play.midi.instruments import load_instruments
    from prelude_play.midi.rtmidi_backend import RtMidiBackend
    from prelude_play.shell.pilot import run_test
    from tests.jack import start_jack
    from tests.midi.jack_probe import ProbeProcess

    server = start_jack()
    engine = None
    rt = None
    try:
        clock = MonotonicClock()
        if process == "separate":  # audio + MIDI hub + fast path in the app's real-time child process
            from prelude_play.config import AppConfig
            from prelude_play.rt.proxy import start_rt

            cfg = AppConfig()
            cfg.midi.watch_interval_s = 0.2
            cfg.audio.input_enabled = False
            rt = start_rt(cfg, audio_backend="sounddevice" if with_audio else "null", midi_api="jack",
                          status_interval_s=0.1)
            engine = rt.audio if with_audio else None
        elif with_audio:
            import sounddevice as sd

            from prelude_play.audio import SoundBank, open_engine

            sd._terminate()
            sd._initialize()
            engine = open_engine("sounddevice", clock=clock, blocksize=128, fallback=False, bank=SoundBank(48000),
                                 core=core)
        target = [lambda ev: None]
        probes = {"therapist": ProbeProcess("pp-bdt-therapist"), "pad": ProbeProcess("pp-bdt-pad")}
        if rt is not None:
            rt.set_sink(lambda ev: target[0](ev))
            hub = rt.midi
        elif backend == "jackclient":  # what --midi-api jack uses: frame-exact stamps
            from prelude_play.midi.jack_backend import JackClientBackend

            midi_backend = JackClientBackend(clock=clock, client_name="pp-bdt-app", core=core)
        else:
            midi_backend = RtMidiBackend(clock=clock, api="jack", client_name="pp-bdt-app")
        if rt is None:
            hub = MidiHub(midi_backend, clock=clock,
                          sink=lambda ev: target[0](ev), config=MidiConfig(api="jack", poll_interval_s=0.2),
                          instruments=load_instruments(ROOT / "config" / "instruments.toml"))
            hub.start()
        rng = random.Random(seed)
        ioi_err: list[float] = []
        ioi_clean: list[float] = []  # intervals with no JACK xrun reported from 20 ms before to 20 ms after
        latency: list[float] = []
        in_graph: list[float] = []
        out_lat_ns = int(engine.output_latency_s * 1e9) if engine is not None else 0
        turns_ok = 0
        try:
            want = sorted(p.port_name for p in probes.values())
            deadline = time.monotonic() + 20
            while sorted(n for n in hub.inputs if n.startswith("pp-bdt-")) != want:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"hub did not open the probes: {hub.inputs}")
                time.sleep(0.05)
            time.sleep(0.2)
            links: list[str] = []
            hits = rt.hits if rt is not None else None  # separate: the child sounds the hit; the loop routes it
            if rt is None and engine is not None:  # as the app's start-up does (cli.cmd_run)
                from prelude_play.devices.build import link_native
                from prelude_play.hits import HitPath

                link = link_native(engine, hub)
                links = list(link.facts) if link is not None else []
                hits = HitPath(engine, hub, native=link)
            with tempfile.TemporaryDirectory() as tmp, \
                    run_test(data_dir=Path(tmp), clock=clock, audio=engine,
                             midi=hub if rt is None and engine is not None else None, hits=hits) as pilot:
                target[0] = pilot.app.hits.sink
                app = pilot.app
                app.store.ensure_client("bench")
                app.store.set_client_profile("bench", {"activities": {"drum_turns": {
                    "count_in_beats": 0, "model_source": "therapist", "therapist_hits": 4, "handover_ms": 150,
                    "client_silence_ms": 4000, "feedback_ms": 300}}})
                app.select_client("bench")
                app.start_activity("drum_turns")
                act = app.activity
                if act is None:
                    raise RuntimeError(f"drum_turns did not start: {app.notices}")
                rate = probes["pad"].rate
                starts_seen = engine.voice_starts(0)[0] if engine else 0
                for _ in range(exchanges):
                    while act.state.phase != "therapist":
                        _frame(pilot)
                    iois = [rng.randrange(250, 700) for _ in range(3)]
                    onsets, t = [0], 0
                    for d in iois:
                        t += d
                        onsets.append(t)
                    th_ev = [(int(o * rate / 1000) + rng.randrange(128), bytes([0x99, 38, 100])) for o in onsets]
                    copy_at = onsets[-1] + 150 + rng.randrange(300, 600)
                    c_iois = [max(120, d + rng.randrange(-60, 60)) for d in iois]
                    c_on = [copy_at]
                    for d in c_iois:
                        c_on.append(c_on[-1] + d)
                    pad_ev = [(int(o * rate / 1000) + rng.randrange(128), bytes([0x99, 38, 90])) for o in c_on]
                    t1, out1 = _send_async(probes["therapist"], th_ev)
                    t1.join(0.05)
                    t2, out2 = _send_async(probes["pad"], pad_ev)
                    while t1.is_alive() or t2.is_alive() or act.state.phase not in ("feedback", "therapist"):
                        _frame(pilot)
                    pilot.step()
                    app.store.flush()
                    turns = [e for e in app.store.events() if e.kind == "turn"]
                    model, copy = turns[-2], turns[-1]
                    if len(model.data["model"]) != 4 or len(copy.data["hits"]) != 4:
                        continue
                    turns_ok += 1
                    xr = list(getattr(getattr(hub, "backend", None), "xrun_times", ()))  # separate: the child's, unseen
                    for logged, sent in ((model.data["model"], out1["sent"]), (copy.data["hits"], out2["sent"])):
                        for i in range(1, 4):
                            got = (logged[i]["t_ns"] - logged[i - 1]["t_ns"]) / 1e6
                            err = abs(got - (sent[i] - sent[i - 1]) * 1000 / rate)
                            ioi_err.append(err)
                            a, b = logged[i - 1]["t_ns"] - 20_000_000, logged[i]["t_ns"] + 20_000_000
                            if rt is None and not any(a <= x <= b for x in xr):
                                ioi_clean.append(err)
                    if engine is not None:
                        starts_seen, rows = engine.voice_starts(starts_seen)
                        hits = [h["t_ns"] for h in model.data["model"]] + [h["t_ns"] for h in copy.data["hits"]]
                        dacs = sorted(r[2] for r in rows)
                        for h in hits:  # the first voice heard at or after the hit's stamp
                            later = [d for d in dacs if h - 1_000_000 <= d <= h + 100_000_000]
                            if later:
                                latency.append((later[0] - h) / 1e6)
                                in_graph.append((later[0] - out_lat_ns - h) / 1e6)
                target[0] = lambda ev: None
            period_ms = 128 * 1000 / 48000
            res = {"exchanges": exchanges, "turns_ok": turns_ok, "intervals": len(ioi_err),
                   "err_p50": pct(ioi_err, 0.5), "err_p99": pct(ioi_err, 0.99), "err_max": max(ioi_err),
                   "err_mean": statistics.fmean(ioi_err), "period_ms": period_ms,
                   "within_05": sum(1 for e in ioi_err if e <= 0.5) / len(ioi_err),
                   "clean_n": len(ioi_clean),
                   "clean_p99": pct(ioi_clean, 0.99) if ioi_clean else None,
                   "clean_max": max(ioi_clean) if ioi_clean else None,
                   "xruns": len(getattr(getattr(hub, "backend", None), "xrun_times", ())),
                   "audio": (engine.describe() if rt is not None else engine.backend.describe()) if engine else None,
                   "process": process, "core": core,
                   "links": links if rt is None and engine is not None else []}
            if latency:
                res.update(lat_n=len(latency), lat_p50=pct(latency, 0.5), lat_p99=pct(latency, 0.99),
                           lat_max=max(latency), lat_sd=statistics.pstdev(latency),
                           within_2_periods=sum(1 for x in latency if x <= 2 * period_ms) / len(latency),
                           graph_p50=pct(in_graph, 0.5), graph_p99=pct(in_graph, 0.99), graph_max=max(in_graph),
                           graph_sd=statistics.pstdev(in_graph), out_lat_ms=out_lat_ns / 1e6,
                           graph_within_2=sum(1 for x in in_graph if x <= 2 * period_ms + 0.001) / len(in_graph))
            if engine is not None:
                res["engine"] = engine.stats()
            return res
        finally:
            hub.stop()
            for p in probes.values():
                p.close()
    finally:
        if rt is not None:
            rt.audio.close()
        elif engine is not None:
            engine.close()
        try:
            import sounddevice as sd

            sd._terminate()
        except (ImportError, OSError):
            pass
        server.stop()


def report(r: dict) -> str:
    lines = [
        f"Drum turns on the real stack: JACK dummy 48000 Hz / 128 frames (period {r['period_ms']:.2f} ms), "
        f"{r['exchanges']} exchanges ({r['turns_ok']} complete), {r['intervals']} logged intervals, "
        f"audio process {r.get('process', 'inline')}",
        f"  |logged IOI - sent IOI| ms: p50 {r['err_p50']:.3f}  p99 {r['err_p99']:.3f}  max {r['err_max']:.3f}  "
        f"mean {r['err_mean']:.3f}; {100 * r['within_05']:.1f}% within 0.5 ms   (target p99 <= 0.5)",
    ]
    if r.get("clean_n"):
        lines.append(f"  intervals with no JACK xrun within 20 ms ({r['clean_n']} of {r['intervals']}; "
                     f"{r['xruns']} xruns in the run): p99 {r['clean_p99']:.3f}  max {r['clean_max']:.3f} ms")
    if "lat_n" in r:
        lines.append(
            f"  hit (MIDI stamp) -> voice at DAC ms: p50 {r['lat_p50']:.3f}  p99 {r['lat_p99']:.3f}  "
            f"max {r['lat_max']:.3f}  sd {r['lat_sd']:.3f}  ({r['lat_p50'] / r['period_ms']:.2f} periods median; "
            f"{100 * r['within_2_periods']:.0f}% within 2 periods; n={r['lat_n']})")
        lines.append(
            f"  in-graph (DAC time - output latency {r['out_lat_ms']:.2f} ms) ms: p50 {r['graph_p50']:.3f}  "
            f"p99 {r['graph_p99']:.3f}  max {r['graph_max']:.3f}  sd {r['graph_sd']:.3f}  "
            f"({r['graph_p50'] / r['period_ms']:.2f} periods median; {100 * r['graph_within_2']:.0f}% within 2 periods)")
        lines.append(f"  real-time core: {r.get('core')}; {'; '.join(r.get('links') or ['not linked'])}")
        lines.append(f"  audio: {r['audio']}; engine xruns {r['engine']['xruns']}, late starts "
                     f"{r['engine']['late_starts']}, load max {r['engine']['load_max']:.2f}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exchanges", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-audio", action="store_true", help="MIDI only (no PortAudio engine)")
    ap.add_argument("--backend", choices=["jackclient", "rtmidi"], default="jackclient")
    ap.add_argument("--audio-process", choices=["inline", "separate"], default="inline",
                    help="separate: audio, MIDI hub and fast path in the app's real-time child process")
    ap.add_argument("--write", type=Path, default=None, help="also write the figures to this file")
    ap.add_argument("--core", choices=["auto", "python"], default="auto",
                    help="python: without the C real-time core")
    ap.add_argument("--no-jack-rt", action="store_true", help="jackd without real-time scheduling (-r)")
    args = ap.parse_args()
    import os

    os.environ["PRELUDE_JACK_RT"] = "0" if args.no_jack_rt else "1"
    text = report(run(args.exchanges, args.seed, not args.no_audio, args.backend, args.audio_process, args.core))
    print(text, end="")
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
