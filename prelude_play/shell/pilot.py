"""Drive the headless app in tests, in the spirit of Textual's ``run_test()``.

The pilot posts real pygame events (a tap is a FINGERDOWN plus SDL's synthesized
MOUSEBUTTONDOWN copy, as on a real touchscreen), sends MIDI through the hit path's sink as the
MIDI thread does (so the fast path is exercised), steps frames and moves a FakeClock.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from prelude_play.clock import FakeClock
from prelude_play.config import AppConfig
from prelude_play.devices import AudioOut, Mic, MidiIn, MidiOut
from prelude_play.events import InputEvent
from prelude_play.hits import Hits

FRAME_MS = 1000 / 60


class Pilot:
    def __init__(self, app: Any, clock: Any) -> None:
        self.app = app
        self.clock = clock

    # ---- time ------------------------------------------------------------------------------

    def step(self, frames: int = 1, *, frame_ms: float = FRAME_MS) -> None:
        """Run frames; with a FakeClock each frame moves time by ``frame_ms``."""
        for _ in range(frames):
            if isinstance(self.clock, FakeClock):
                self.clock.advance(ms=frame_ms)
            self.app.step()

    def wait(self, ms: float) -> None:
        """Let ``ms`` of session time pass, frame by frame."""
        self.step(max(1, int(round(ms / FRAME_MS))))

    # ---- pointer ---------------------------------------------------------------------------

    def _pos(self, target: str | tuple[float, float]) -> tuple[float, float]:
        if isinstance(target, tuple):
            return target
        found = self.app.find_button(target)
        if found is None:
            raise LookupError(f"no target '{target}' on screen '{self.app.screen}' (modal {self.app.modal})")
        rect = getattr(found, "rect", found)
        return rect.center

    def down(self, target: str | tuple[float, float], *, source: str = "touch", finger: int = 0) -> tuple[float, float]:
        import pygame

        x, y = self._pos(target)
        w, h = self.app.theme.size
        if source == "touch":
            pygame.event.post(pygame.event.Event(pygame.FINGERDOWN, touch_id=1, finger_id=finger,
                                                 x=x / w, y=y / h, dx=0.0, dy=0.0, pressure=1.0))
            # SDL also delivers a mouse copy of the same tap, flagged touch=True.
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(int(x), int(y)), button=1,
                                                 touch=True))
        else:
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(int(x), int(y)), button=1,
                                                 touch=False))
        return x, y

    def up(self, pos: tuple[float, float], *, source: str = "touch", finger: int = 0) -> None:
        import pygame

        x, y = pos
        w, h = self.app.theme.size
        if source == "touch":
            pygame.event.post(pygame.event.Event(pygame.FINGERUP, touch_id=1, finger_id=finger,
                                                 x=x / w, y=y / h, dx=0.0, dy=0.0, pressure=0.0))
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(int(x), int(y)), button=1, touch=True))
        else:
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(int(x), int(y)), button=1, touch=False))

    def tap(self, target: str | tuple[float, float], *, source: str = "touch", hold_ms: float = 0) -> None:
        """Touch and release; ``hold_ms`` keeps the finger down that long (in frames)."""
        pos = self.down(target, source=source)
        self.step()
        if hold_ms:
            self.wait(hold_ms)
        self.up(pos, source=source)
        self.step()

    def hold(self, target: str | tuple[float, float], ms: float) -> None:
        self.tap(target, hold_ms=ms)

    def drag(self, start: str | tuple[float, float], dy: float, *, moves: int = 6, finger: int = 0) -> None:
        """A finger down at ``start``, moved ``dy`` pixels up or down (negative: up) in ``moves``
        steps, then lifted: a scroll, never a tap."""
        import pygame

        x, y = self.down(start, finger=finger)
        self.step()
        w, h = self.app.theme.size
        for i in range(1, moves + 1):
            yy = y + dy * i / moves
            pygame.event.post(pygame.event.Event(pygame.FINGERMOTION, touch_id=1, finger_id=finger, x=x / w,
                                                 y=yy / h, dx=0.0, dy=dy / moves / h, pressure=1.0))
            self.step()
        self.up((x, y + dy), finger=finger)
        self.step()

    def visible(self, target: str) -> bool:
        """Whether ``target`` is on screen to be tapped (not scrolled away, not under the keyboard)."""
        return self.app.find_button(target) is not None

    def type_keys(self, text: str) -> None:
        """Type ``text`` on the on-screen keyboard, key by key (shift before a capital, the
        accents row for an accented letter, the ?123 page for digits and symbols)."""
        from prelude_play.ui.keyboard import ACCENTS

        for ch in text:
            if ch == " ":
                self.tap("key:space")
                continue
            key = ch.lower()
            if self.app.find_button(f"key:{key}") is None:
                if key in ACCENTS:
                    self.tap("key:accents")
                else:  # digits and symbols
                    self.tap("key:page")
                    self.tap(f"key:{key}")
                    self.tap("key:page")
                    continue
            if ch != key and self.app.find_button("key:shift").label != "⇪":
                self.tap("key:shift")
            self.tap(f"key:{key}")

    # ---- keys and MIDI ---------------------------------------------------------------------

    def press(self, key: str, *, mod: int = 0) -> None:
        import pygame

        code = pygame.key.key_code(key)
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=code, mod=mod, unicode="", scancode=0))
        pygame.event.post(pygame.event.Event(pygame.KEYUP, key=code, mod=mod, unicode="", scancode=0))
        self.step()

    def type_text(self, text: str) -> None:
        import pygame

        pygame.event.post(pygame.event.Event(pygame.TEXTINPUT, text=text))
        self.step()

    def midi(self, kind: str = "note_on", *, note: int | None = 38, velocity: int = 100, device: str = "pilot-pad",
             channel: int = 9, role: str = "client", control: int | None = None, value: Any = None,
             data: dict[str, Any] | None = None, step: bool = True) -> InputEvent:
        """Deliver one MIDI message as the MIDI thread would (fast path, then the queue); returns
        the event the hit path passed on (``data["sounded"]``: what it played)."""
        ev = InputEvent(self.clock.now_ns(), "midi", kind, device=device, note=note, velocity=velocity,
                        channel=channel, control=control, value=value, role=role, data=dict(data or {}))
        passed = self.app.hits.sink(ev)
        if step:
            self.step()
        return passed

    def unlock(self) -> None:
        """Show the scoring rail the way a therapist does: long-press the corner, type the PIN."""
        corner = self.app._corner_rect().center
        pos = self.down(corner)
        self.wait(self.app.cfg.therapist.long_press_ms + 50)
        self.up(pos)
        self.step()
        self.enter_pin()

    def enter_pin(self, pin: str | None = None) -> None:
        """Type the PIN on the pad and press OK (the configured plain PIN, else the default 1234)."""
        from prelude_play.config import DEFAULT_PIN

        for digit in pin or self.app.cfg.therapist.pin or DEFAULT_PIN:
            self.tap(f"pin:{digit}")
        self.tap("pin:ok")

    def panel(self) -> None:
        """The therapist panel ("More" on the rail), unlocking first if needed."""
        if not self.app.lock.unlocked:
            self.unlock()
        self.tap("rail:more")

    def score(self, code: str) -> None:
        """One touch on the rail (unlocking first if needed): ``+I``, ``+G``, ``±``, ``-``, ``NR``..."""
        if not self.app.lock.unlocked:
            self.unlock()
        self.tap(f"score:{code}")

    def screenshot(self, path: str | Path) -> Path:
        return self.app.screenshot(path)


@contextmanager
def run_test(
    cfg: AppConfig | None = None,
    *,
    data_dir: Path,
    size: tuple[int, int] = (1280, 800),
    clock: Any = None,
    audio: AudioOut | None = None,
    midi: MidiIn | None = None,
    midi_out: MidiOut | None = None,
    hits: Hits | None = None,
    mic_factory: Callable[[], Mic] | None = None,
    client: str | None = None,
    activity: str | None = None,
    activities_package: str = "prelude_play.activities",
) -> Iterator[Pilot]:
    """Start the whole app headless with an in-process store under ``data_dir``."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    from prelude_play.activity import discover
    from prelude_play.goals import parse_goals
    from prelude_play.config import resource_dir
    from prelude_play.shell.app import App
    from prelude_play.store.eventlog import EventLog

    clock = clock or FakeClock()
    cfg = cfg or AppConfig()
    goals, _ = parse_goals(resource_dir("config") / "goals.toml")
    registry = discover(activities_package, known_goals=goals.is_known)
    store = EventLog(Path(data_dir) / "prelude.db", clock)
    app = App(cfg, store=store, registry=registry, clock=clock, audio=audio, midi=midi,
              midi_out=midi_out, hits=hits, mic_factory=mic_factory, size=size, data_dir=Path(data_dir))
    app.start(client_id=client, activity=activity)
    app.step()
    try:
        yield Pilot(app, clock)
    finally:
        app.shutdown()
        store.close()


SEED_NAMES = ("Élodie Tremblay", "Zoé Gagnon", "Noémie Roy", "Léa Côté", "Mathis Bouchard", "Chloé Gauthier",
              "Félix Morin", "Anaïs Lavoie", "Jérémie Fortin", "Maëlle Gagné", "Olivier Ouellet", "Émile Pelletier",
              "Béatrice Bélanger", "Thomas Lévesque", "Camille Bergeron", "Noah Leblanc", "Florence Paquette",
              "William Girard", "Rosalie Simard", "Liam Boucher", "Juliette Caron", "Arthur Beaulieu",
              "Alice Cloutier", "Jacob Dubé", "Charlotte Poirier", "Samuel Fournier", "Océane Lapointe",
              "Nathan Leclerc", "Amélie Lefebvre", "Ethan Nguyen")
SEED_GOALS = (("Waits for own turn on the drum", "turn_taking", "80% of trials over 3 sessions"),
              ("Matches 3 vowel sounds in call and response", "speech_communication", "70% over 2 sessions"),
              ("Chooses between two songs by touch", "functional_communication", "80% of trials over 3 sessions"),
              ("Keeps a steady beat for 8 bars", "musical", "4 of 5 trials"),
              ("Crosses midline to reach the scarf", "gross_motor", "3 sessions in a row"),
              ("Greets the group in the hello song", "social", "80% of sessions"))


def seed_clients(store: Any, n: int = 30, goals: int = 6, with_goals: int = 0) -> list[str]:
    """``n`` made-up clients (ids ``seed-01``…, codes ``C-101``…, accented names) for tests and
    screenshots; client number ``with_goals`` (0-based) gets ``goals`` goals of its own.

    E.g. a screenshot script: ``with run_test(data_dir=d) as pilot: seed_clients(pilot.app.store);
    pilot.app.home.layout()`` — home then lists 30 clients, and ``records_scene`` opens the rest."""
    from prelude_play.store.clients import ClientBook

    book = ClientBook(store)
    ids = []
    for i in range(n):
        name = SEED_NAMES[i % len(SEED_NAMES)] + (f" {i // len(SEED_NAMES) + 1}" if i >= len(SEED_NAMES) else "")
        cid = book.create(name, client_id=f"seed-{i + 1:02d}", code=f"C-{101 + i}")
        ids.append(cid)
        if i == with_goals:
            for k in range(goals):
                text, area, target = SEED_GOALS[k % len(SEED_GOALS)]
                book.add_goal(cid, text + (f" ({k // len(SEED_GOALS) + 1})" if k >= len(SEED_GOALS) else ""), area,
                              target)
    return ids


def records_scene(pilot: Pilot, scene: str, *, client: int = 16) -> None:
    """Bring the app to one records scene for a screenshot, with ``seed_clients`` done first:
    "home" (30 clients, client number ``client`` selected and scrolled into view), "clients",
    "editor" (the goals tab, 6 goals), "keyboard" (editing a goal's text with the on-screen
    keyboard open), "areas" (the list of goal areas), "unsaved" (the "Save changes?" question)."""
    app = pilot.app
    ids = [c["id"] for c in app.store.clients()]
    if scene in ("home", "clients"):
        app.select_client(sorted(ids)[client])
        if scene == "clients":
            pilot.tap("tool:clients")
            pilot.enter_pin()
        return
    goals_client = next(c["id"] for c in app.store.clients() if c["profile"].get("goals"))
    app.select_client(goals_client)
    pilot.tap("tool:clients")
    pilot.enter_pin()
    pilot.tap(f"clients:{goals_client}") if pilot.visible(f"clients:{goals_client}") else \
        app.therapist.edit_client(goals_client)
    pilot.step()
    pilot.tap("tab:goals")
    gid = app.store.client_profile(goals_client)["goals"][1]["id"]
    if scene == "keyboard":
        pilot.tap(f"goal:{gid}")
    elif scene == "areas":
        pilot.tap(f"goal_area:{gid}")
    elif scene == "unsaved":
        pilot.tap(f"goal_remove:{gid}")
        pilot.tap("back")
    pilot.step()
