"""The naive peer the e2e benchmark compares against: pygame + mido + pygame.mixer.

This is how a pygame app usually plays a drum pad: a 60 fps frame loop polls mido for pending
messages and plays a ``pygame.mixer.Sound`` for each note-on. Nothing here is tuned beyond
matching the JACK server's rate (so ALSA's ``plug`` does not resample); the mixer buffer is
pygame's default (512 frames). It is run by ``bench/bench_e2e.py`` as a subprocess:

    python -m bench.naive_peer --port PROBE:out --sound snare.wav [--fps 60] [--buffer 512]

pygame's bundled SDL has no JACK driver, so the benchmark runs it with SDL_AUDIODRIVER=alsa
and a temporary HOME whose ``.asoundrc`` routes ALSA's default PCM into JACK.
It prints ``READY`` once the mixer and the MIDI port are open, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", required=True, help="JACK MIDI output port to read (e.g. probe:out)")
    ap.add_argument("--sound", required=True, help="WAV file played for every note-on")
    ap.add_argument("--fps", type=int, default=60)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--buffer", type=int, default=512, help="pygame.mixer buffer (pygame's default)")
    args = ap.parse_args(argv)

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import mido
    import pygame

    pygame.mixer.pre_init(frequency=args.rate, size=-16, channels=2, buffer=args.buffer)
    pygame.init()
    pygame.mixer.set_num_channels(32)
    screen = pygame.display.set_mode((640, 400))
    sound = pygame.mixer.Sound(args.sound)
    backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
    port = backend.open_input(args.port)  # (a client_name would make mido open a virtual port)

    running = True

    def stop(signum: int, frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("READY", pygame.mixer.get_init(), flush=True)
    clock = pygame.time.Clock()
    hits = 0
    while running:
        for _ in pygame.event.get():
            pass
        for msg in port.iter_pending():
            if msg.type == "note_on" and msg.velocity > 0:
                sound.set_volume(msg.velocity / 127.0)
                sound.play()
                hits += 1
        screen.fill((20, 20, 30))
        pygame.draw.circle(screen, (200, 120, 40), (320, 200), 40 + hits % 20)
        pygame.display.flip()
        clock.tick(args.fps)
    port.close()
    pygame.quit()
    print(f"hits {hits}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
