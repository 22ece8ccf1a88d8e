"""Layers that point one way: no import cycles in ``prelude_play/`` and no import from a lower
layer into a higher one — every import counted, deferred ones and ``TYPE_CHECKING`` ones too
(``tools/importgraph.py`` reads the source; nothing is imported).

The layers, bottom to top (a module may import its own layer and any below it):

 0 base      errors, clock, ids, events, l10n, os_specific (and the package's __init__)
 1 input     where every input becomes an InputEvent (SDL, MIDI, mic) and the one queue:
             the MIDI hub and the mic's analysis call it, so it sits below them
 2 config    config, i18n, goals, settings_file, pin; session.scoring (the grammar of score codes:
             pure, imports only errors; config checks ``[scoring]`` actions with it)
 3 native    the C core and its ctypes loader: imports nothing of ours at all
 4 audio, midi   the concrete devices (engine, backends, capture, analysis; hub, backends, maps)
 5 devices   what a device is (protocols, do-nothing stand-ins) and opening the real ones
             from config (build: audio engine, MIDI hub, microphone, the C core's link)
 6 hits      the one rule "this hit makes this sound" and the hit path that holds the devices
 7 rt        the separate real-time process: its host (builds devices, runs a hit path) and
             the app-side proxies
 8 ui        theme, widgets, touch filtering (the activity contract hands each activity its theme)
 9 activity, store   the activity contract and registry (and prelude_play.activities, the built-ins:
                   the top-level activities/ folder); the event log, trials, notes, export
10 session   the live session (client, plan, activity lifecycle, trials, scores)
11 shell     the app loop, screen stack, screens, therapist overlay, pilot
12 cli       the command line (and ``python -m prelude_play``); diagnostics (log file, crash
             hooks, doctor, support bundle), which looks at every layer below

Why ``hits`` sits above ``devices`` rather than below ``audio``/``midi`` (as first sketched):
its ``HitPath`` holds an ``AudioOut`` and a ``MidiIn`` and compiles for the C core from the
instrument map, while nothing below needs the rule — the C core gets it compiled as data
(``native.FastTable``), and the MIDI backend only passes that table on.

README.md's "Layout" section lists the same order.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "prelude_play"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("prelude_play", "prelude_play.errors", "prelude_play.clock", "prelude_play.ids",
              "prelude_play.events", "prelude_play.l10n", "prelude_play.os_specific")),
    ("input", ("prelude_play.input",)),
    ("config", ("prelude_play.config", "prelude_play.i18n", "prelude_play.goals", "prelude_play.settings_file",
                "prelude_play.pin",
                "prelude_play.session.scoring")),
    ("native", ("prelude_play.native",)),
    ("audio, midi", ("prelude_play.audio", "prelude_play.midi")),
    ("devices", ("prelude_play.devices",)),
    ("hits", ("prelude_play.hits",)),
    ("rt", ("prelude_play.rt",)),
    ("ui", ("prelude_play.ui",)),
    ("activity, store", ("prelude_play.activity", "prelude_play.activities", "prelude_play.store")),
    ("session", ("prelude_play.session",)),
    ("shell", ("prelude_play.shell",)),
    ("cli", ("prelude_play.cli", "prelude_play.__main__", "prelude_play.diagnostics")),
]

# Cycles tolerated for a while, by name (e.g. shell.app <-> shell.screens <-> shell.therapist was,
# until the screen stack of issue 13). An allowance must go with its cycle: the test fails while
# it names a cycle that no longer exists.
ALLOWED_CYCLES: list[list[str]] = []


def _importgraph():
    spec = importlib.util.spec_from_file_location("importgraph", ROOT / "tools" / "importgraph.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def layer_of(module: str) -> int:
    """The layer of the longest prefix that names ``module`` or one of its packages."""
    best, depth = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and p.count(".") > depth and \
                    (p != PACKAGE or module == PACKAGE):
                best, depth = i, p.count(".")
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (tests/test_layers.py) and README's layout")
    return best


def test_no_import_cycles():
    g = _importgraph().graph(ROOT, PACKAGE)
    found = _importgraph().cycles(g)
    unexpected = [c for c in found if c not in ALLOWED_CYCLES]
    assert not unexpected, "import cycles: " + "; ".join(" <-> ".join(c) for c in unexpected)
    gone = [c for c in ALLOWED_CYCLES if c not in found]
    assert not gone, f"this cycle is gone: remove its allowance from ALLOWED_CYCLES: {gone}"


def test_every_import_points_down_the_layers():
    g = _importgraph().graph(ROOT, PACKAGE)
    upward = []
    for module, deps in sorted(g.items()):
        mine = layer_of(module)
        for dep in sorted(deps):
            if layer_of(dep) > mine:
                upward.append(f"{module} ({LAYERS[mine][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})")
    assert not upward, "upward imports:\n  " + "\n  ".join(upward)


def test_the_c_core_loader_imports_nothing_of_ours():
    g = _importgraph().graph(ROOT, PACKAGE)
    assert {m: d for m, d in g.items() if m.startswith("prelude_play.native") and d} == {}


def test_the_checker_sees_deferred_and_type_checking_imports(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    from pkg import high\n")
    (pkg / "high.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.low import f\n")
    ig = _importgraph()
    g = ig.graph(tmp_path, "pkg")
    assert g["pkg.low"] == {"pkg.high"} and g["pkg.high"] == {"pkg.low"}
    assert ig.cycles(g) == [["pkg.high", "pkg.low"]]
