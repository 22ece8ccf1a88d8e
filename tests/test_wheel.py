"""The wheel a user installs (issue 17): the activities inside ``prelude_play`` (no top-level
``activities`` package in site-packages), config and assets as package data, and only runtime
dependencies unconditionally (no scipy; matplotlib an extra; JACK-Client only on Linux)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "bdist_wheel" in r.stderr:  # no 'wheel' package in this venv: isolated build
        r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                           capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = out.glob("prelude_play-*.whl")
    return whl


def test_activities_ship_inside_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"prelude_play", next(t for t in tops if t.endswith(".dist-info"))}, tops
    assert "prelude_play/activities/__init__.py" in names
    assert "prelude_play/activities/choice_board/__init__.py" in names
    assert any(n.startswith("prelude_play/activities/") and n.endswith("/locale/fr_CA.po") for n in names)
    assert "prelude_play/_data/config/goals.toml" in names and "prelude_play/_data/assets/fonts/DejaVuSans.ttf" in names
    init = zipfile.ZipFile(wheel).read("prelude_play/activities/__init__.py").decode()
    assert "__path__" not in init  # the real package, not the checkout's stand-in


def test_runtime_dependencies_are_chosen(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(meta_name).decode())
    requires = meta.get_all("Requires-Dist")
    plain = [r for r in requires if "extra ==" not in r]
    names = {r.split(";")[0].split(">")[0].split("=")[0].strip().lower() for r in plain}
    assert {"soundfile", "soxr", "numpy", "pygame-ce"} <= names
    assert "scipy" not in names and "matplotlib" not in names
    (jack,) = [r for r in plain if r.lower().startswith("jack-client")]
    assert 'sys_platform == "linux"' in jack
    assert any(r.startswith("matplotlib") and 'extra == "reports"' in r for r in requires)
