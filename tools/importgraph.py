#!/usr/bin/env python3
"""The import graph of a package, from its source (nothing is imported), and its cycles.

    python tools/importgraph.py [ROOT [PACKAGE]]     -> prints each cycle; exit 1 if any

Every import counts: at module level or deferred inside a function (a deferred import is still a
dependency; deferring it only hides a cycle from Python), and one under ``TYPE_CHECKING`` too (a
screen typed against the concrete App depends on App). A module importing its own package (the
package's ``__init__``, e.g. ``from prelude_play.audio import synth`` inside ``audio/bank.py``) is
not counted. The same rules as the team's ``../shared/tools/importgraph.py``, kept here so that
``tests/test_layers.py`` runs on a clean clone without it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root/package``."""
    out = {}
    for f in sorted((root / package).rglob("*.py")):
        rel = f.relative_to(root).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = f
    return out


def _resolve(mods: dict[str, Path], cur: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = cur.split(".")
            parts = parts if mods[cur].name == "__init__.py" else parts[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join(parts + ([base] if base else []))
        names = [base] + [f"{base}.{a.name}" for a in node.names]
    return [m for m in names if m in mods]


def graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (anywhere in its source)."""
    mods = modules(root, package)
    out: dict[str, set[str]] = {}
    for name, f in mods.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for m in _resolve(mods, name, node):
                    if m != name and not name.startswith(m + "."):
                        deps.add(m)
        out[name] = deps
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(g):
            if v not in index:
                strong(v)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(comps)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1]
    package = args[1] if len(args) > 1 else "prelude_play"
    g = graph(root, package)
    found = cycles(g)
    for c in found:
        print("cycle:", " <-> ".join(c))
    print(f"{len(found)} import cycle(s) among {len(g)} modules of {package}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
