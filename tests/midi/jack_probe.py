"""A JACK-Client probe that sends MIDI at exact frame times (for tests and bench/bench_midi)."""

from __future__ import annotations

import time

import collections
import threading


class FrameProbe:
    """A JACK client with one MIDI output port; ``send_at(frames)`` queues messages to go out
    at absolute JACK frame times, and ``sent`` records the frames actually written."""

    def __init__(self, name: str = "pp-frame-probe") -> None:
        import jack

        self.client = jack.Client(name, no_start_server=True)
        self.port = self.client.midi_outports.register("out")
        self.rate = self.client.samplerate
        self.period = self.client.blocksize
        self.pending: collections.deque[tuple[int, bytes]] = collections.deque()
        self.sent: list[int] = []
        self.done = threading.Event()
        self.client.set_process_callback(self._process)
        self.client.activate()

    @property
    def port_name(self) -> str:
        return self.port.name

    def _process(self, frames: int) -> None:
        self.port.clear_buffer()
        start = self.client.last_frame_time
        while self.pending and self.pending[0][0] < start + frames:
            frame, data = self.pending.popleft()
            offset = max(0, frame - start)
            self.port.write_midi_event(offset, data)
            self.sent.append(start + offset)
        if not self.pending:
            self.done.set()

    def send_at(self, events: list[tuple[int, bytes]], lead_s: float = 0.1) -> int:
        """Queue (frame offset from now + lead, bytes) events; returns the base frame."""
        base = self.client.frame_time + int(lead_s * self.rate)
        self.done.clear()
        for offset, data in sorted(events):
            self.pending.append((base + offset, data))
        return base

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


class ProbeProcess:
    """The FrameProbe in a child process. python-rtmidi holds the GIL while it waits on the
    JACK server (opening, connecting, closing clients), so a Python JACK process callback in
    the same interpreter can deadlock with it; a separate process cannot."""

    def __init__(self, name: str = "pp-frame-probe") -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.midi.jack_probe", name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            self.proc.kill()
            raise RuntimeError("JACK probe process did not start")
        self.port_name, self.rate, self.period = line[1], int(line[2]), int(line[3])

    def send(self, events: list[tuple[int, bytes]], timeout: float = 30) -> list[int]:
        """Send (frame offset, bytes) events; returns the absolute frames they went out at."""
        import json

        self.proc.stdin.write(json.dumps([[o, list(d)] for o, d in events]) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except Exception:  # noqa: BLE001
                self.proc.kill()


def _main() -> None:
    import json
    import sys

    probe = FrameProbe(sys.argv[1] if len(sys.argv) > 1 else "pp-frame-probe")
    print("ready", probe.port_name, probe.rate, probe.period, flush=True)
    for line in sys.stdin:
        events = [(o, bytes(d)) for o, d in json.loads(line)]
        n0 = len(probe.sent)
        probe.send_at(events)
        probe.done.wait(60)
        print(json.dumps(probe.sent[n0:]), flush=True)
    probe.close()


if __name__ == "__main__":
    _main()


class ThreadSink:
    """A hub sink for tests: collects events from the MIDI thread and waits for one that matches."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, ev):
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def wait_for(self, pred, timeout=3.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [e for e in self.events if pred(e)]
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.cond.wait(left)
