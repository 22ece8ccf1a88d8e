"""Offline analysis of a WAV file, and the ``prelude-play analyze`` command.

Uses the same streaming analyzer as the live activity (fed in blocks), so a recording analysed
after the session gives the numbers the client saw during it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from prelude_play.clock import FakeClock
from prelude_play.errors import AnalysisError, ConfigError

from .stream import AnalyzerConfig, Segment, VoiceAnalyzer
from .vowels import VOWELS, Calibration
from .wavio import read_wav, resample

WORK_RATE = 16000
MIN_SEGMENT_S = 0.06


def analyze_signal(
    x: np.ndarray,
    rate: int,
    *,
    config: AnalyzerConfig | None = None,
    calibration: Calibration | None = None,
    block: int = 1024,
    called: str | None = None,
) -> list[Segment]:
    """Voiced segments of a mono signal (times in s from its start); ``called``: judged as the
    answer to a call of that vowel, as vowel_match hears it (``VoiceAnalyzer.expect``)."""
    if rate != WORK_RATE:
        x = resample(x, rate, WORK_RATE)
        rate = WORK_RATE
    an = VoiceAnalyzer(rate, FakeClock(0), config=config, calibration=calibration)
    an.expect(called)
    segs: list[Segment] = []
    tail = np.zeros(int(0.2 * rate), dtype=np.float32)  # lets a segment at the very end close
    data = np.concatenate([np.asarray(x, dtype=np.float32), tail])
    for i in range(0, len(data), block):
        for ev in an.feed(data[i : i + block]):
            if ev.segment is not None:
                segs.append(ev.segment)
    segs.extend(ev.segment for ev in an.flush() if ev.segment is not None)
    return [s for s in segs if s.duration >= MIN_SEGMENT_S]


def analyze_file(
    path: str | Path, *, calibration: Calibration | None = None, config: AnalyzerConfig | None = None,
    called: str | None = None,
) -> list[Segment]:
    """Per voiced segment: start, end (s), f0, F1-F3 (Hz), vowel, confidence, abstained (the
    analyzer is not sure: do not show ``vowel`` to a client), level (dBFS RMS).

    Raises AnalysisError (naming the file and what is supported) for unreadable input.
    """
    x, rate = read_wav(path)
    return analyze_signal(x, rate, config=config, calibration=calibration, called=called)


def format_table(segments: Sequence[Segment]) -> str:
    """A plain table for humans."""
    head = f"{'start s':>8} {'end s':>8} {'f0 Hz':>7} {'F1':>6} {'F2':>6} {'F3':>6}  {'vowel':<9} {'conf':>5} {'level dBFS':>10}"
    rows = [head, "-" * len(head)]
    for s in segments:
        # an abstained segment shows its best guess in brackets: the analyzer is not sure of it
        vowel = f"({s.vowel})?" if s.abstained and s.vowel else (s.vowel or "?")
        rows.append(
            f"{s.start:8.3f} {s.end:8.3f} {s.f0:7.1f} {s.f1:6.0f} {s.f2:6.0f} {s.f3:6.0f}  "
            f"{vowel:<9} {s.confidence:5.2f} {s.level_dbfs:10.1f}"
        )
    if not segments:
        rows.append("(no voiced segments found)")
    return "\n".join(rows)


def load_calibration(path: Path) -> Calibration:
    """A client's vowel calibration from a JSON file: the calibration itself (``{"version": 2,
    "tokens": [...]}``, as the activity keeps it) or a client profile holding one under
    ``vowel_calibration``. A bad file is a ConfigError naming it, the line and what to do."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the calibration ({exc.__class__.__name__}: {exc})", path=path,
                          hint="give a UTF-8 JSON file, e.g. the client profile's vowel_calibration") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc.msg}", path=path, line=exc.lineno,
                          hint="fix the file or export the calibration again") from exc
    if isinstance(data, dict) and "vowel_calibration" in data:
        data = data["vowel_calibration"]
    try:
        cal = Calibration.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(exc.detail, path=path, key=exc.key, hint=exc.hint) from exc
    if not cal.tokens:
        raise ConfigError("the calibration has no tokens", path=path,
                          hint="calibrate the client in Vowel match first (Calibrate, or score answers)")
    return cal


def run_analyze(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """``prelude-play analyze FILE.wav [--json] [--calibration CAL.json] [--called VOWEL]``: 0 on success, 2 on
    unreadable input or usage."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = argparse.ArgumentParser(
        prog="prelude-play analyze",
        description="Find voiced segments in a WAV file and report f0, formants, vowel and level.",
    )
    parser.add_argument("file", type=Path, help="a WAV file (PCM 8/16/24/32-bit or float)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--calibration", type=Path, default=None, metavar="CAL.json",
                        help="judge the vowels with a client's calibration: the data of their latest "
                             "calibration / calibration_learnt event in a JSON Lines export, or the "
                             "client profile (or its vowel_calibration)")
    parser.add_argument("--called", choices=VOWELS, default=None, metavar="VOWEL",
                        help="judge each segment as the answer to a call of VOWEL (" + ", ".join(VOWELS)
                             + "), as vowel match does: another vowel is named only when the "
                             "analyzer is sure of it")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage message
        return int(exc.code or 0) and 2
    try:
        cal = load_calibration(args.calibration) if args.calibration is not None else None
        segments = analyze_file(args.file, calibration=cal, called=args.called)
    except (AnalysisError, ConfigError) as exc:
        print(f"prelude-play analyze: {exc}", file=err)
        return 2
    if args.json:
        json.dump(
            {"file": str(args.file), "segments": [s.to_dict() for s in segments]}
            | ({"calibration": {"file": str(args.calibration), "counts": cal.counts()}} if cal else {})
            | ({"called": args.called} if args.called else {}),
            out, ensure_ascii=False, indent=2,
        )
        out.write("\n")
    else:
        out.write(f"{args.file}: {len(segments)} voiced segment(s)\n")
        out.write(format_table(segments) + "\n")
    return 0
