"""Render the real-instrument samples in assets/sounds/ from the FluidR3_GM SoundFont.

Source: FluidR3_GM.sf2 (Frank Wen, MIT licence), Debian package ``fluid-soundfont-gm``;
rendered with the ``fluidsynth`` command line (``apt-get install fluidsynth fluid-soundfont-gm``).
Each sample is one note written as a tiny MIDI file (mido), rendered at 48 kHz, mixed to mono,
trimmed of leading silence, cut to a short length with a 20 ms fade, peak-normalised to −3 dBFS
and written as 16-bit mono WAV. Re-running gives the same files; credits are in assets/LICENSES.

    python tools/render_samples.py [--sf2 PATH] [--out assets/sounds]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import mido
import numpy as np

RATE = 48000
SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
NOTE_NAMES = ["C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B"]

# (file stem, GM program or None for drums (channel 10), MIDI note, seconds kept)
SAMPLES: list[tuple[str, int | None, int, float]] = [
    *[(f"guitar_{NOTE_NAMES[n % 12]}{n // 12 - 1}", 24, n, 1.6) for n in (48, 52, 55, 60, 64, 67)],
    *[(f"piano_{NOTE_NAMES[n % 12]}{n // 12 - 1}", 0, n, 1.6) for n in (48, 60, 64, 67)],
    *[(f"glock_{NOTE_NAMES[n % 12]}{n // 12 - 1}", 9, n, 1.2) for n in (72, 76, 79)],
    ("chimes_C5", 14, 72, 2.0),
    ("drum_kick", None, 36, 0.5),
    ("drum_snare", None, 38, 0.45),
    ("drum_hihat_closed", None, 42, 0.25),
    ("drum_hihat_open", None, 46, 0.8),
    ("drum_tom_low", None, 45, 0.6),
    ("drum_crash", None, 49, 1.5),
    ("drum_ride", None, 51, 1.0),
    ("drum_tambourine", None, 54, 0.5),
    ("drum_cowbell", None, 56, 0.4),
    ("drum_shaker", None, 70, 0.3),
]


def midi_file(path: Path, program: int | None, note: int, hold_s: float) -> None:
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=500000))  # 1 beat = 0.5 s = 480 ticks
    ch = 9 if program is None else 0
    if program is not None:
        tr.append(mido.Message("program_change", program=program, channel=ch))
    tr.append(mido.Message("note_on", note=note, velocity=100, channel=ch, time=0))
    tr.append(mido.Message("note_off", note=note, velocity=0, channel=ch, time=int(hold_s * 960)))
    tr.append(mido.MetaMessage("end_of_track", time=960))
    mid.save(path)


def render(sf2: Path, stem: str, program: int | None, note: int, keep_s: float, tmp: Path) -> np.ndarray:
    mf, wf = tmp / f"{stem}.mid", tmp / f"{stem}.wav"
    midi_file(mf, program, note, keep_s * 0.8)
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", "0.8", "-r", str(RATE), "-F", str(wf), "-T", "wav",
         "-O", "s16", "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0", str(sf2), str(mf)],
        check=True, stdout=subprocess.DEVNULL,
    )
    with wave.open(str(wf)) as w:
        ch = w.getnchannels()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
    x = x.reshape(-1, ch).mean(axis=1)
    on = np.nonzero(np.abs(x) > 1e-3)[0]
    if on.size == 0:
        raise RuntimeError(f"{stem}: fluidsynth rendered silence")
    x = x[max(0, on[0] - 24) :][: int(keep_s * RATE)]
    fade = int(0.02 * RATE)
    x[-fade:] *= np.linspace(1, 0, fade)
    return x * (10 ** (-3 / 20) / np.max(np.abs(x)))


def write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.round(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--sf2", type=Path, default=SF2)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "sounds")
    a = ap.parse_args(argv)
    if shutil.which("fluidsynth") is None or not a.sf2.is_file():
        print("needs fluidsynth and the SoundFont: apt-get install fluidsynth fluid-soundfont-gm", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    total = 0
    with tempfile.TemporaryDirectory() as td:
        for stem, prog, note, keep in SAMPLES:
            x = render(a.sf2, stem, prog, note, keep, Path(td))
            write_wav(a.out / f"{stem}.wav", x)
            total += (a.out / f"{stem}.wav").stat().st_size
            print(f"{stem}.wav  {x.size / RATE:.2f} s")
    print(f"{len(SAMPLES)} files, {total / 1e6:.2f} MB in {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
