"""``./dev test`` and ``.ci/run`` share one list of system packages (.ci/system-packages.txt) and one
installer (.ci/system-packages): as root it installs what is missing, otherwise it prints the exact
command. Run here with stand-ins for dpkg, id, sudo and apt-get on PATH (nothing is installed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fake_bin(tmp_path: Path, uid: int, missing: str) -> dict[str, str]:
    b = tmp_path / "bin"
    b.mkdir()
    scripts = {
        "dpkg": f'[ "$2" = "{missing}" ] && exit 1; exit 0',
        "id": f"echo {uid}",
        "sudo": "exit 1",
        "apt-get": f'echo "$@" >> {tmp_path / "apt.log"}',
    }
    for name, body in scripts.items():
        (b / name).write_text(f"#!/bin/sh\n{body}\n")
        (b / name).chmod(0o755)
    return dict(os.environ, PATH=f"{b}:/usr/bin:/bin")


def packages() -> list[str]:
    lines = (ROOT / ".ci" / "system-packages.txt").read_text().splitlines()
    return [w for line in lines for w in line.split("#")[0].split()]


def test_one_list_used_by_ci_and_dev():
    assert {"jackd2", "libportaudio2", "xvfb", "espeak-ng", "festival-hi"} <= set(packages())
    assert ".ci/system-packages --require" in (ROOT / ".ci" / "run").read_text()
    assert ".ci/system-packages" in (ROOT / "dev").read_text()
    assert "PKGS=" not in (ROOT / ".ci" / "run").read_text()  # no second list


def test_not_root_prints_the_exact_command(tmp_path):
    env = fake_bin(tmp_path, 1000, "xvfb")
    r = subprocess.run([str(ROOT / ".ci" / "system-packages")], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0
    assert "sudo apt-get update && sudo apt-get install -y --no-install-recommends xvfb" in r.stdout
    assert not (tmp_path / "apt.log").exists()
    r = subprocess.run([str(ROOT / ".ci" / "system-packages"), "--require"], capture_output=True, text=True,
                       env=env, cwd=ROOT)
    assert r.returncode == 1  # CI: a missing package it cannot install fails the run


def test_root_installs_what_is_missing(tmp_path):
    env = fake_bin(tmp_path, 0, "espeak-ng")
    r = subprocess.run([str(ROOT / ".ci" / "system-packages")], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls == ["update -qq", "install -y -qq --no-install-recommends espeak-ng"]
