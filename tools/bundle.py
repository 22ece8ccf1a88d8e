"""Build the self-contained Linux bundle: ``python3 tools/bundle.py`` → ``build/bundle/dist/prelude-play/``.

One folder (PyInstaller ``--onedir``), started by ``prelude-play/prelude-play``; it needs no Python
on the machine. Why PyInstaller one-folder:

- not one-file: a one-file build unpacks itself (~100 MB) into /tmp at every start (seconds on a
  tablet's eMMC, and left behind after a crash), and its spawned audio process
  (``--audio-process separate``) would unpack a second copy;
- not Briefcase: it wraps the same freezing in an installer per platform (AppImage/Flatpak via
  Docker on Linux) and wants its own project layout; a plain folder plus a .desktop entry is what
  a clinic's IT can copy, and the same tool has macOS and Windows builds (packaging/*/README.md).

It builds from the wheel, not the checkout: a private venv (``build/bundle/venv``) gets
``pip install .`` and PyInstaller, so the bundle has exactly the wheel's layout
(``prelude_play/_data``, ``prelude_play.activities``) and only the runtime dependencies: no scipy,
matplotlib (the report says where its plots would be), tests or build tools. PortAudio (a system
library sounddevice finds at run time) is copied in; libjack comes as the wheels carry it
(python-rtmidi's own copy; JACK-Client finds the machine's). Python's own libraries lose their
debug symbols (a pyenv-built libpython is 23 MB with them; PyInstaller's ``--strip`` would also
strip the wheels' patchelf-edited libraries, which then fail to load). Babel's locale data is
cut to the languages the app speaks.

Afterwards ``build/bundle/dist/prelude-play/install.sh`` puts a menu entry and icon in the user's
desktop (``~/.local/share/applications``). Data stays where the installed app keeps it
(platformdirs: ``~/.local/share/prelude-play``, logs in ``~/.local/state/prelude-play/log``).

Options: ``--skip-venv`` reuses the venv as it is (only PyInstaller runs again); ``--check``
starts the bundle from ``env -i`` headless for a second and prints its size and start-up time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bundle"
VENV = BUILD / "venv"
DIST = BUILD / "dist" / "prelude-play"
ENTRY = ROOT / "packaging" / "linux" / "prelude_play_bundle.py"
EXCLUDE = ("scipy", "matplotlib", "tkinter", "_tkinter", "pytest", "hypothesis", "IPython", "pypdf",
           "setuptools", "pip", "PyInstaller", "test", "unittest.test", "pydoc_data", "dbm", "_dbm", "_gdbm",
           "readline", "curses", "_curses", "lib2to3", "ensurepip", "idlelib", "xmlrpc",
           # image formats nobody puts on a choice card (libavif alone is 5 MB), CJK codecs,
           # and the libraries' own tests and build tools
           "PIL._avif", "PIL.AvifImagePlugin", "PIL._webp", "PIL.WebPImagePlugin", "PIL.ImageQt", "PIL.ImageTk",
           "_codecs_jp", "_codecs_kr", "_codecs_cn", "_codecs_tw", "_codecs_hk", "_codecs_iso2022",
           "numpy.f2py", "numpy.testing", "numpy.distutils", "pygame.examples", "pygame.tests", "pygame.docs",
           "babel.messages")
KEEP_LOCALES = ("root", "en", "en_US", "en_CA", "fr", "fr_CA")
# Left to the machine: part of glibc (libmvec) or of every desktop's base system (libstdc++6,
# libgcc-s1); a bundled older libstdc++ is also the usual cause of "GLIBCXX not found" when the
# machine's newer graphics drivers load beside it.
SYSTEM_LIBS = ("libmvec.so.1", "libstdc++.so.6", "libgcc_s.so.1")


def run(cmd: list[str], **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def make_venv(python: str) -> Path:
    """The build venv with the project installed from a wheel and PyInstaller beside it."""
    py = VENV / "bin" / "python"
    if not py.exists():
        run([python, "-m", "venv", str(VENV)])
        run([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(py), "-m", "pip", "install", "--quiet", "pyinstaller>=6"])
    run([str(py), "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps", str(ROOT)])
    run([str(py), "-m", "pip", "install", "--quiet", str(ROOT)])  # the runtime dependencies, once
    return py


def portaudio() -> list[str]:
    """``--add-binary`` for the system PortAudio (sounddevice's Linux wheels do not carry it)."""
    import ctypes.util

    name = ctypes.util.find_library("portaudio")
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        if name and (Path(folder) / name).exists():
            return ["--add-binary", f"{Path(folder) / name}:."]
    print("bundle: PortAudio not found (apt-get install libportaudio2): the bundle will use SDL audio")
    return []


def pyinstaller(py: Path) -> None:
    cmd = [str(py), "-m", "PyInstaller", "--noconfirm", "--onedir", "--name", "prelude-play",
           "--distpath", str(DIST.parent), "--workpath", str(BUILD / "work"), "--specpath", str(BUILD),
           "--collect-submodules", "prelude_play", "--collect-data", "prelude_play",
           "--collect-binaries", "prelude_play", "--log-level", "WARN"]
    for mod in EXCLUDE:
        cmd += ["--exclude-module", mod]
    run(cmd + portaudio() + [str(ENTRY)], cwd=BUILD)


def trim() -> None:
    """Debug symbols off Python's own libraries; Babel's locale data for the app's languages only."""
    strip = shutil.which("strip")
    if strip:
        python_libs = [*DIST.glob("_internal/libpython3*.so*"), *DIST.glob("_internal/python3*/lib-dynload/*.so")]
        for f in python_libs:
            subprocess.run([strip, "--strip-debug", str(f)], check=False)
    for name in SYSTEM_LIBS:
        (DIST / "_internal" / name).unlink(missing_ok=True)
    data = next(DIST.glob("_internal/babel/locale-data"), None)
    if data is not None:
        for f in data.glob("*.dat"):
            if f.stem not in KEEP_LOCALES:
                f.unlink()


def desktop() -> None:
    """The .desktop entry, its icon and an installer that writes the bundle's path into it."""
    linux = ROOT / "packaging" / "linux"
    shutil.copy(linux / "prelude-play.desktop", DIST / "prelude-play.desktop")
    shutil.copy(linux / "prelude-play.svg", DIST / "prelude-play.svg")
    install = DIST / "install.sh"
    install.write_text("""#!/bin/sh
# Add Prelude Play to this user's application menu (run again after moving the folder).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/scalable/apps"
mkdir -p "$apps" "$icons"
sed "s|@BUNDLE@|$here|g" "$here/prelude-play.desktop" > "$apps/prelude-play.desktop"
cp "$here/prelude-play.svg" "$icons/prelude-play.svg"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
echo "Prelude Play is in the application menu ($apps/prelude-play.desktop)"
""")
    install.chmod(0o755)


def size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def check(data_dir: Path) -> dict[str, float]:
    """Start the bundle from an empty environment (no venv, no PATH), headless, for a second."""
    exe = DIST / "prelude-play"
    env = {"PRELUDE_PLAY_LOG_DIR": str(data_dir / "logs")}
    t0 = time.perf_counter()
    out = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(exe), "--headless",
                          "--for", "0.2", "--report-ready", "--data-dir", str(data_dir), "--audio-backend", "null",
                          "--midi-api", "none"], capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"bundle check failed ({out.returncode}): {out.stderr[-2000:]}")
    ready = next(float(l.split()[1]) for l in out.stdout.splitlines() if l.startswith("READY"))
    return {"size_mb": size_mb(DIST), "ready_ms": ready, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 tools/bundle.py", description=__doc__.split("\n")[0])
    ap.add_argument("--python", default=sys.executable, help="the Python the build venv is made from")
    ap.add_argument("--skip-venv", action="store_true", help="reuse build/bundle/venv as it is")
    ap.add_argument("--check", action="store_true", help="start the bundle from env -i and report")
    args = ap.parse_args(argv)
    BUILD.mkdir(parents=True, exist_ok=True)
    py = VENV / "bin" / "python" if args.skip_venv else make_venv(args.python)
    pyinstaller(py)
    trim()
    desktop()
    print(f"bundle: {DIST} ({size_mb(DIST):.0f} MB); run {DIST / 'prelude-play'}, "
          f"add it to the menu with {DIST / 'install.sh'}")
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            r = check(Path(tmp))
        print(f"bundle check: {r['size_mb']:.0f} MB, first frame {r['ready_ms']:.0f} ms after start, "
              f"{r['wall_s']:.1f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
