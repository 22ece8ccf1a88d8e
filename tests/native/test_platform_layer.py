"""The C core's platform layer (pp_platform.h) and how prelude_play.native finds the library on each OS.

What a Linux machine can check: the Linux branch runs (the clock is perf_counter_ns, in
test_native_fast_path.py; the semaphore wakes and times out, here); the Windows branch compiles
(test_cross_compile.py); the tick -> ns arithmetic the Windows and macOS branches use is CPython's
exact floor; and the macOS branch compiles against minimal stand-ins of Apple's two headers
(written from Apple's documentation: they catch typos and type errors, not API misuse).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.core import require_core

RT = Path(__file__).resolve().parents[2] / "prelude_play" / "native"


def _gcc() -> str:
    from prelude_play import native

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        if native.in_ci():
            pytest.fail("CI must have a C compiler (it builds the C core)")
        pytest.skip("no C compiler: apt-get install gcc")
    return cc


@pytest.mark.parametrize("platform, name", [("linux", "libppcore.so"), ("win32", "ppcore.dll"),
                                            ("darwin", "libppcore.dylib"), ("freebsd14", "libppcore.so")])
def test_plain_library_name_per_os(platform, name):
    from prelude_play import native

    assert native.plain_library_name(platform) == name


def test_candidates_are_pips_build_then_a_plain_library(tmp_path, monkeypatch):
    from prelude_play import native

    monkeypatch.setattr(native, "__file__", str(tmp_path / "__init__.py"))
    monkeypatch.setattr(native.importlib.util, "find_spec", lambda name: None)
    assert native.library_candidates("win32") == []
    (tmp_path / "ppcore.dll").write_bytes(b"")
    assert native.library_candidates("win32") == [tmp_path / "ppcore.dll"]
    assert native.library_candidates("linux") == []  # a Windows DLL is not tried on Linux


def test_a_plain_library_loads_like_pips_build(tmp_path):
    """Built without setuptools (as tools/cross_compile.py does for Windows), the core loads and
    reads the same clock."""
    from prelude_play import native

    so = tmp_path / native.plain_library_name()
    subprocess.run([_gcc(), "-O2", "-std=gnu11", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall",
                    "-Werror", "-o", str(so), str(RT / "ppcore.c"), "-lm"], check=True)
    lib = native._open(so)
    assert lib.pp_abi() == native.ABI
    a = time.perf_counter_ns()
    t = lib.pp_now_ns()
    assert a <= t <= time.perf_counter_ns()


def test_the_semaphore_wakes_and_times_out():
    """pp_midi_wait/pp_midi_wake: the platform semaphore the JACK MIDI reader sleeps on."""
    require_core()
    from prelude_play import native

    lib = native.lib()
    m = lib.pp_midi_new(48000, 64, 64)
    try:
        t0 = time.perf_counter()
        assert lib.pp_midi_wait(m, 30) == 0
        assert time.perf_counter() - t0 >= 0.025
        lib.pp_midi_wake(m)
        lib.pp_midi_wake(m)
        assert lib.pp_midi_wait(m, 1000) == 1 and lib.pp_midi_wait(m, 1000) == 1  # it counts
        assert lib.pp_midi_wait(m, 0) == 0
    finally:
        lib.pp_midi_free(m)


HARNESS = r"""
#include <stdio.h>
#include "pp_platform.h"
int main(void) {
    long long t, n, d;
    while (scanf("%lld %lld %lld", &t, &n, &d) == 3) {
        int64_t g = pp_gcd(n, d);
        printf("%lld\n", (long long)pp_scale(t, n / g, d / g));
    }
    return 0;
}
"""


def test_tick_to_ns_is_cpythons_exact_floor(tmp_path):
    """Windows: ticks x 1e9 / QueryPerformanceFrequency; macOS: ticks x numer / denom. CPython
    computes floor(ticks x numer / denom) exactly (Python/pytime.c, _PyTimeFraction_Mul), so must we,
    for every counter frequency seen in the wild and counters a year past boot."""
    src = tmp_path / "harness.c"
    src.write_text(HARNESS)
    exe = tmp_path / "harness"
    subprocess.run([_gcc(), "-std=gnu11", "-Wall", "-Werror", f"-I{RT}", "-o", str(exe), str(src)], check=True)
    year = 365 * 24 * 3600
    cases = []
    for freq in (10_000_000, 3_579_545, 24_000_000, 19_200_000, 2_742_188, 1_000_000_000):
        for t in (0, 1, freq - 1, freq, 12_345_678_901, year * freq + 987_654_321):
            cases.append((t, 1_000_000_000, freq))
    for numer, denom in ((1, 1), (125, 3), (1_000_000_000, 33_333_335)):
        for t in (0, 7, 123_456_789_012, year * 24_000_000 + 5):
            cases.append((t, numer, denom))
    out = subprocess.run([str(exe)], input="".join(f"{t} {n} {d}\n" for t, n, d in cases),
                         capture_output=True, text=True, check=True).stdout.split()
    assert [int(x) for x in out] == [t * n // d for t, n, d in cases]


APPLE_STUBS = {
    "mach/mach_time.h": """
#include <stdint.h>
typedef struct mach_timebase_info { uint32_t numer; uint32_t denom; } mach_timebase_info_data_t;
typedef mach_timebase_info_data_t *mach_timebase_info_t;
int mach_timebase_info(mach_timebase_info_t info);
uint64_t mach_absolute_time(void);
""",
    "dispatch/dispatch.h": """
#include <stdint.h>
typedef struct dispatch_semaphore_s *dispatch_semaphore_t;
typedef uint64_t dispatch_time_t;
#define DISPATCH_TIME_NOW (0ull)
dispatch_semaphore_t dispatch_semaphore_create(intptr_t value);
intptr_t dispatch_semaphore_wait(dispatch_semaphore_t dsema, dispatch_time_t timeout);
intptr_t dispatch_semaphore_signal(dispatch_semaphore_t dsema);
dispatch_time_t dispatch_time(dispatch_time_t when, int64_t delta);
void dispatch_release(void *object);
""",
}


def test_the_macos_branch_compiles_against_apples_declarations(tmp_path):
    for name, text in APPLE_STUBS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    proc = subprocess.run([_gcc(), "-fsyntax-only", "-std=gnu11", "-Wall", "-Werror", "-D__APPLE__",
                           f"-I{tmp_path}", str(RT / "ppcore.c")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_ppcore_c_itself_calls_no_os_api():
    """Everything OS-specific sits in pp_platform.h."""
    src = (RT / "ppcore.c").read_text()
    for call in (r"clock_gettime", r"sem_init", r"sem_post", r"sem_timedwait", r"QueryPerformance\w+",
                 r"mach_absolute_time", r"dispatch_semaphore_\w+", r"CreateSemaphore\w*", r"pthread_\w+"):
        assert not re.search(rf"(?<!\w){call}\(", src), call


def test_setup_gives_each_compiler_its_own_flags(monkeypatch):
    """setup.py: GNU flags for gcc/clang (Linux, macOS) and mingw-w64; MSVC gets its own (it
    would reject the GNU ones), and no compiler is asked to export a PyInit_ function (ppcore is
    not a Python module: on Windows the link would fail)."""
    import runpy

    import setuptools

    root = RT.parents[1]
    monkeypatch.chdir(root)
    monkeypatch.setattr(setuptools, "setup", lambda **kw: None)
    setup_py = runpy.run_path(str(root / "setup.py"))
    table = setup_py["PPCORE_BUILD"]
    assert "-fvisibility=hidden" in table["unix"][0] and table["unix"][1] == ["m"]
    assert "-Wall" in table["mingw32"][0]
    assert all(f.startswith("/") for f in table["msvc"][0]) and table["msvc"][1] == []

    ext = setup_py["ppcore"]
    cmd = setup_py["BuildPpcore"].__new__(setup_py["BuildPpcore"])
    assert cmd.get_export_symbols(ext) == []
    monkeypatch.setattr(setup_py["build_ext"], "build_extensions", lambda self: None)
    for compiler_type, (flags, libraries) in table.items():
        cmd.compiler = SimpleNamespace(compiler_type=compiler_type)
        cmd.extensions = [ext]
        cmd.build_extensions()
        assert (ext.extra_compile_args, ext.libraries) == (flags, libraries)
    assert "prelude_play/native/pp_platform.h" in ext.depends  # a header change rebuilds the core
