"""Ship the top-level config/ and assets/ folders inside the package as prelude_play/_data/.

In a checkout they stay where they are (prelude_play.config.resource_dir looks there first);
an installed wheel finds them under prelude_play/_data/. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_packages, setup

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

setup(packages=packages, package_dir=package_dir, package_data=package_data)
