"""A JACK client that sings into the app's microphone and plays its drum pad on the same frames
(for the sing-and-tap real-stack test): one audio output (the voice) and one MIDI output (the
pad), both written from one process callback, so a tap's offset from a syllable is exact in
frames. Runs in its own process (a Python JACK callback in the app's interpreter can deadlock
with python-rtmidi, which holds the GIL while it waits on the JACK server).

Protocol on stdin/stdout, one JSON line each:
  -> {"connect": true}                      connect the voice to every other client's audio input
  <- {"connected": [port names]}
  -> {"wav": [samples...], "midi": [[frame offset, [bytes]]...]}
  <- {"base": frame of sample 0, "midi": [frames the notes went out at]}
"""

from __future__ import annotations

import json
import sys
import threading

import numpy as np


class SingProbe:
    def __init__(self, name: str) -> None:
        import jack

        self.client = jack.Client(name, no_start_server=True)
        self.audio = self.client.outports.register("voice")
        self.midi = self.client.midi_outports.register("out")
        self.rate = self.client.samplerate
        self.wav = np.zeros(0, np.float32)
        self.base: int | None = None
        self.events: list[tuple[int, bytes]] = []
        self.sent: list[int] = []
        self.done = threading.Event()
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        out = self.audio.get_array()
        out[:] = 0.0
        self.midi.clear_buffer()
        base = self.base
        if base is None:
            return
        start = self.client.last_frame_time
        i0 = start - base
        if i0 + frames > 0 and i0 < len(self.wav):
            a, b = max(0, i0), min(len(self.wav), i0 + frames)
            out[a - i0: b - i0] = self.wav[a:b]
        while self.events and self.events[0][0] < start + frames:
            frame, data = self.events.pop(0)
            off = max(0, frame - start)
            self.midi.write_midi_event(off, data)
            self.sent.append(start + off)
        if i0 >= len(self.wav) and not self.events:
            self.base = None
            self.done.set()

    def play(self, wav: np.ndarray, midi: list[tuple[int, bytes]], lead_s: float = 0.1) -> dict:
        self.done.clear()
        self.sent = []
        base = self.client.frame_time + int(lead_s * self.rate)
        self.wav = np.asarray(wav, np.float32)
        self.events = sorted((base + o, d) for o, d in midi)
        self.base = base
        self.done.wait(60)
        return {"base": base, "midi": list(self.sent)}

    def connect(self) -> list[str]:
        me = self.client.name + ":"
        got = []
        for p in self.client.get_ports(is_audio=True, is_input=True):
            if not p.name.startswith(("system:", me)):
                self.client.connect(self.audio, p)
                got.append(p.name)
        return got


def main() -> None:
    probe = SingProbe(sys.argv[1] if len(sys.argv) > 1 else "pp-st-pad")
    print(json.dumps({"ready": True, "midi": probe.midi.name, "rate": probe.rate}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("connect"):
            print(json.dumps({"connected": probe.connect()}), flush=True)
        else:
            print(json.dumps(probe.play(np.asarray(req["wav"], np.float32),
                                        [(int(o), bytes(d)) for o, d in req["midi"]])), flush=True)
    probe.client.deactivate()
    probe.client.close()


if __name__ == "__main__":
    main()
