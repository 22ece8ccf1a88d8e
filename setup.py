"""Ship the top-level config/ and assets/ folders inside the package as prelude_play/_data/.

In a checkout they stay where they are (prelude_play.config.resource_dir looks there first);
an installed wheel finds them under prelude_play/_data/. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import Extension, find_packages, setup

packages = find_packages(include=["prelude_play", "prelude_play.*", "activities", "activities.*"])
package_dir = {}
DATA = ["*.toml", "*.po", "*.png", "*.svg", "*.wav", "*.txt", "*.md", "LICENSES", "*LICENSES*"]
package_data = {"": DATA + [f"**/{pattern}" for pattern in DATA]}
for top in ("config", "assets"):
    for folder in [Path(top), *sorted(p for p in Path(top).rglob("*") if p.is_dir())]:
        name = "prelude_play._data." + ".".join(folder.parts)
        packages.append(name)
        package_dir[name] = str(folder)
        package_data[name] = ["*"]

# The real-time core (prelude_play/rt/ppcore.c): the mixer and the JACK MIDI callback in C. It is
# optional: without a C compiler the install still succeeds and the app runs its Python mixer
# (prelude_play.rt.native.available() says which). It links only libc/libm: JACK's functions are
# handed over at run time by JACK-Client, PortAudio calls it through sounddevice.
ppcore = Extension(
    "prelude_play.rt._ppcore",
    sources=["prelude_play/rt/ppcore.c"],
    extra_compile_args=["-O2", "-std=gnu11", "-fvisibility=hidden", "-Wall", "-Wno-unused-function"],
    libraries=["m"],
    optional=True,
)

setup(packages=packages, package_dir=package_dir, package_data=package_data, ext_modules=[ppcore])
