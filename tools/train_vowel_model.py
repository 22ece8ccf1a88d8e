"""Train the vowel envelope templates (``prelude_play/audio/analysis/_envelope_weights.py``).

Run: ``python -m tools.train_vowel_model [--dir CACHE]`` (needs the Debian packages listed in
``bench/voiceset.py``; renders the dev set first if it is not cached).

Trained on every token of every voice of ``bench/voiceset.py``: the 8 recorded speakers
(festival/flite voices built from recordings) and the 6 synthetic ones (weighted 0.3); the
reserved Czech, Italian and kal/ked voices are never rendered. The held-out figures in
BENCHMARKS.md come from ``bench/bench_voiceset.py``, which refits the same way with each
speaker left out. The result is ~3.5 kB of numbers, written as a Python module so it ships
with the package without package-data rules.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import voiceset
from prelude_play.audio.analysis import envelope

OUT = Path(__file__).resolve().parents[1] / "prelude_play" / "audio" / "analysis" / "_envelope_weights.py"


def write_weights(model: envelope.EnvelopeModel, note: str, path: Path = OUT) -> None:
    d = model.to_dict()
    lines = [
        '"""Vowel envelope templates, written by tools/train_vowel_model.py: do not edit.',
        "",
        note,
        '"""',
        "",
        "WEIGHTS = {",
    ]
    for k, v in d.items():
        if k == "templates":
            lines.append('    "templates": [')
            lines += [f"        {row!r}," for row in v]  # type: ignore[union-attr]
            lines.append("    ],")
        else:
            lines.append(f"    {k!r}: {v!r},")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.train_vowel_model", description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=None, help="dev-set cache directory")
    args = ap.parse_args(argv)
    d = args.dir or voiceset.default_dir()
    tokens = voiceset.build(d, quiet=False)
    obs = voiceset.observe(d, tokens)
    e, f, y, w = voiceset.training_arrays(obs)
    model = envelope.fit(e, f, y, weights=w)
    rec = sorted({o.token.speaker for o in obs if o.token.voice in voiceset.RECORDED})
    syn = sorted({o.token.speaker for o in obs if o.token.voice not in voiceset.RECORDED})
    note = (f"Fitted on {len(y)} tokens (voiceset v{voiceset.VERSION}, all conditions) of {len(rec)}\n"
            f"recorded speakers ({', '.join(rec)}) and {len(syn)} synthetic ones, each speaker\n"
            f"weighted equally (a synthetic one {voiceset.SYNTHETIC_WEIGHT}).")
    write_weights(model, note)
    print(note)
    print(f"sigma {model.sigma:.2f} dB, shift = {model.shift_intercept:.3f} + {model.shift_slope:.3f} "
          f"log(f0/150), sd {model.shift_sd:.3f}; wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
