"""Build the real-time core (prelude_play/native/ppcore.c) as a Windows DLL with mingw-w64, and check it.

Why: nobody here runs Windows, but the core must keep compiling there (pp_platform.h has its own
Windows branch: QueryPerformanceCounter, Win32 semaphores, dllexport). This compiles it with
``-Wall -Werror`` and then checks, with ``objdump -p``, that

  - the DLL exports every symbol ``prelude_play/native/__init__.py`` looks up (read from its source:
    the ``_SIGS`` table and ``CALLBACKS``), and
  - it imports only DLLs every Windows has (no libgcc/libwinpthread to ship beside it).

It needs only the Python standard library and the cross compiler
(``apt-get install gcc-mingw-w64-x86-64``). CI runs it (.ci/run) and so does the test suite
(tests/native/test_cross_compile.py). On Windows itself, with MSYS2's mingw-w64 gcc, the same script
builds the DLL where the app finds it:

    python tools/cross_compile.py [--out build/cross/win_amd64]
    python tools/cross_compile.py --cc gcc --objdump objdump --out prelude_play/native   # on Windows
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "prelude_play" / "native" / "ppcore.c"
NATIVE = ROOT / "prelude_play" / "native" / "__init__.py"
CC = "x86_64-w64-mingw32-gcc"
OBJDUMP = "x86_64-w64-mingw32-objdump"
FLAGS = ["-O2", "-std=gnu11", "-Wall", "-Werror", "-shared"]
APT_HINT = "apt-get install gcc-mingw-w64-x86-64"
# DLLs on every supported Windows: the kernel and a C runtime (msvcrt with Debian's mingw-w64,
# the UCRT with MSYS2's ucrt64 toolchain, whose api-ms-win-crt-* forwarders come with Windows 10).
SYSTEM_DLLS = re.compile(r"^(kernel32|msvcrt|ucrtbase|api-ms-win-crt-[a-z0-9-]+)\.dll$", re.IGNORECASE)


def expected_exports(native_py: Path = NATIVE) -> list[str]:
    """The names prelude_play.native looks up, read from its source so that this needs no numpy."""
    tree = ast.parse(native_py.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in tree.body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if not isinstance(target, ast.Name) or value is None:
            continue
        if target.id == "_SIGS" and isinstance(value, ast.Dict):
            names += [k.value for k in value.keys if isinstance(k, ast.Constant)]
        elif target.id == "CALLBACKS" and isinstance(value, ast.Tuple):
            names += [e.value for e in value.elts if isinstance(e, ast.Constant)]
    if not names:
        raise RuntimeError(f"{native_py}: found neither _SIGS nor CALLBACKS")
    return names


def pe_table(objdump: str, dll: Path) -> tuple[set[str], set[str]]:
    """(exported names, imported DLL names) of a PE file, from ``objdump -p``."""
    text = subprocess.run([objdump, "-p", str(dll)], check=True, capture_output=True, text=True).stdout
    exports: set[str] = set()
    in_names = False
    for line in text.splitlines():
        if "[Ordinal/Name Pointer] Table" in line:
            in_names = True
            continue
        if in_names:
            m = re.match(r"\s*\[\s*\d+\]\s+(\S+)", line)
            if m:
                exports.add(m.group(1))
            elif line.strip():
                in_names = False
    imports = set(re.findall(r"DLL Name:\s*(\S+)", text))
    return exports, imports


def build(out_dir: Path, cc: str = CC, *, source: Path = SOURCE) -> tuple[Path, list[str]]:
    """Compile; returns the DLL and the command line that made it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dll = out_dir / "ppcore.dll"
    cmd = [cc, *FLAGS, "-o", str(dll), str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return dll, cmd


def check(dll: Path, objdump: str = OBJDUMP, *, native_py: Path = NATIVE) -> list[str]:
    """Problems with a built DLL (empty when it is what prelude_play.native needs)."""
    exports, imports = pe_table(objdump, dll)
    problems = [f"missing export {n}" for n in expected_exports(native_py) if n not in exports]
    problems += [f"imports {d}, which Windows does not have" for d in sorted(imports)
                 if not SYSTEM_DLLS.match(d)]
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "cross" / "win_amd64")
    ap.add_argument("--cc", default=CC)
    ap.add_argument("--objdump", default=OBJDUMP)
    args = ap.parse_args(argv)
    for tool in (args.cc, args.objdump):
        if shutil.which(tool) is None:
            print(f"cross_compile: {tool} not found ({APT_HINT})", file=sys.stderr)
            return 2
    try:
        dll, cmd = build(args.out, args.cc)
    except RuntimeError as exc:
        print(f"cross_compile: {exc}", file=sys.stderr)
        return 1
    problems = check(dll, args.objdump)
    exports, imports = pe_table(args.objdump, dll)
    print(f"cross_compile: {' '.join(cmd)}")
    print(f"cross_compile: {dll} ({dll.stat().st_size} bytes), {len(exports)} exports, "
          f"imports {', '.join(sorted(imports))}")
    for p in problems:
        print(f"cross_compile: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"cross_compile: OK, all {len(expected_exports())} symbols prelude_play.native looks up are exported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
