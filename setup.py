"""Ship the top-level config/ and assets/ folders inside the package as prelude_play/_data/, and
the top-level activities/ folder as the package prelude_play.activities.

In a checkout they stay where they are (prelude_play.config.resource_dir looks there first;
prelude_play/activities/__init__.py points the package at activities/); an installed wheel finds
them under prelude_play/. No top-level ``activities`` package is installed: that name is anyone's.
Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

packages = find_packages(include=["prelude_play", "prelude_play.*"], exclude=["prelude_play.activities*"])
packages += ["prelude_play.activities"] + [f"prelude_play.{p}" for p in find_packages(include=["activities.*"])]
package_dir = {"prelude_play.activities": "activities"}  # the dev-tree stand-in is replaced by the real folder
DATA = ["*.toml", "*.po", "*.png", "*.svg", "*.wav", "*.txt", "*.md", "LICENSES", "*LICENSES*"]
package_data = {"": DATA + [f"**/{pattern}" for pattern in DATA]}
for top in ("config", "assets"):
    for folder in [Path(top), *sorted(p for p in Path(top).rglob("*") if p.is_dir())]:
        name = "prelude_play._data." + ".".join(folder.parts)
        packages.append(name)
        package_dir[name] = str(folder)
        package_data[name] = ["*"]

# The real-time core (prelude_play/native/ppcore.c): the mixer and the JACK MIDI callback in C. It is
# optional: without a C compiler the install still succeeds and the app runs its Python mixer
# (prelude_play.native.available() says which). It links only the C runtime: JACK's functions
# are handed over at run time by JACK-Client, PortAudio calls it through sounddevice. Its only
# OS-specific code is prelude_play/native/pp_platform.h (the clock and a semaphore per OS).
GNU_FLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wno-unused-function"]
PPCORE_BUILD = {
    # compiler_type: (compile flags, libraries)
    "unix": (GNU_FLAGS + ["-fvisibility=hidden"], ["m"]),  # gcc/clang on Linux and macOS
    "mingw32": (GNU_FLAGS, []),  # mingw-w64 gcc on Windows (the build CI checks, by cross-compiling)
    # MSVC (Visual Studio 2022 17.5 or later, for C11 atomics). Untested: no Windows machine here.
    "msvc": (["/O2", "/std:c11", "/experimental:c11atomics"], []),
}


class BuildPpcore(build_ext):
    """Per-compiler flags (MSVC would reject the GNU ones), and no ``PyInit_`` export: ppcore is a
    plain C library that ctypes loads, not a Python module, and on Windows setuptools would ask
    the linker to export ``PyInit__ppcore``, which does not exist. Its exports are marked in the
    source (PP_EXPORT)."""

    def build_extensions(self) -> None:
        flags, libraries = PPCORE_BUILD.get(self.compiler.compiler_type, PPCORE_BUILD["unix"])
        for ext in self.extensions:
            ext.extra_compile_args = list(flags)
            ext.libraries = list(libraries)
        super().build_extensions()

    def get_export_symbols(self, ext: Extension) -> list[str]:
        return list(ext.export_symbols or [])


ppcore = Extension(
    "prelude_play.native._ppcore",
    sources=["prelude_play/native/ppcore.c"],
    depends=["prelude_play/native/pp_platform.h"],
    optional=True,
)

setup(packages=packages, package_dir=package_dir, package_data=package_data, ext_modules=[ppcore],
      cmdclass={"build_ext": BuildPpcore})
