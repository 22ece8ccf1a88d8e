"""Start and stop a private JACK dummy server for real-stack tests and benchmarks.

JACK's dummy driver gives real PortAudio devices and real MIDI ports on a machine with no
sound card. Each run gets a unique server name so parallel runs never share a server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass


@dataclass
class JackServer:
    name: str
    rate: int
    period: int
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def jackd_path() -> str | None:
    return shutil.which("jackd") or (os.path.exists("/usr/bin/jackd") and "/usr/bin/jackd") or None


def jackd_args(path: str, name: str, rate: int, period: int) -> list[str]:
    """The jackd command line. ``PRELUDE_JACK_RT=1`` runs it with real-time scheduling (-R), as a
    real JACK set-up does; without it the dummy driver's threads compete with everything else."""
    rt = ["-R", "-P", "70"] if os.environ.get("PRELUDE_JACK_RT") == "1" else ["-r"]
    return [path, *rt, "-n", name, "-t", "2000", "-d", "dummy", "-r", str(rate), "-p", str(period)]


def start_jack(rate: int = 48000, period: int = 128, name: str | None = None) -> JackServer:
    """Start ``jackd -d dummy`` and wait until clients can connect; sets JACK_DEFAULT_SERVER."""
    path = jackd_path()
    if path is None:
        raise FileNotFoundError("jackd not installed (Debian package jackd2)")
    name = name or f"pp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    proc = subprocess.Popen(
        jackd_args(path, name, rate, period),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    server = JackServer(name, rate, period, proc)
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    deadline = time.monotonic() + 10
    import jack  # JACK-Client, test dependency

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jackd exited with {proc.returncode}")
        try:
            c = jack.Client("pp-probe-ready", servername=name, no_start_server=True)
            c.close()
            return server
        except jack.JackError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("jackd did not become ready within 10 s")
