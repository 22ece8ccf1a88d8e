"""Hello and goodbye songs: the session's predictable first and last step.

One package, two activities (``hello_song`` and ``goodbye_song`` register the classes below from
their own folders; this package's name starts with "_" so the registry does not take it for an
activity). They differ only in their song (``songs/*.toml``): same shape, same code.

On the child's screen: the verse's picture card (their own picture and name on their verse), the
words, "your turn" with what to do, and the song's verses as a row of small pictures. The
app accompanies the therapist's guitar in the key and tempo they set — chords and a simple
tune on the built-in synth, scheduled ahead and placed exactly — or stays silent while they play
live (the cards then follow the therapist: "Your turn", "Next verse").

Trials: each verse's answer is one trial ("sing", "wave" or "play"), opened when the client's
turn starts and closed when the next verse starts. A vocalization (the microphone, through the
voice analyzer, in the turn only: during the call the therapist sings) or an instrument hit
(MIDI pads, a tap on the picture card) in the turn is participation, judged "success" at once;
the trial stays open to the end of the turn, so the therapist's score lands on it and supersedes
the judgement. A turn with no answer is judged "no_response" only where the app could have heard
one (a sung turn with the microphone listening, a played turn); a wave it cannot see stays "not
scored" unless the therapist scores it.

The client's display name is drawn on this device's screen only: it is never logged, never put
in the settings (which are logged), never in a trial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar

from prelude_play.activity import Activity, ActivityContext
from prelude_play.errors import ConfigError
from prelude_play.events import ROLE_PEDAL, InputEvent

from .logic import (KEY_NAMES, MUSIC_MODES, BPM_STEP, Mark, Song, SongRun,
                                              SongSettings, absence_outcome, clamp_bpm, counts, key_pc,
                                              load_song, pad_table, tonic_note, touch_note, with_name)
from .music import bar_notes, sound_names
from .player import Player

FOLDER = Path(__file__).resolve().parent
MS = 1_000_000
AREAS = {"sing": ("social", "speech_communication"), "wave": ("social", "gross_motor"),
         "play": ("social", "musical")}
MUSIC_LABELS = {"full": "Music: chords and tune", "chords": "Music: chords", "melody": "Music: tune",
                "off": "Music: off (live)"}
VOICES = ("keys", "guitar", "chimes")


class GreetingSong(Activity):
    """A greeting song (the base of hello_song and goodbye_song): see the package docstring."""

    icon = "song"
    goals = ("social", "speech_communication", "gross_motor", "musical")
    version = "0.1.0"
    trial_noun = ("verse", "verses")
    song_id: ClassVar[str] = ""
    settings: dict[str, Any] = {
        "bpm": 0,  # 0: the song's own tempo
        "key": "",  # "": the song's own key (C, D, Eb, F#, ...)
        "music": "full",  # full | chords | melody | off (the therapist plays live)
        "wait": False,  # each answer goes on until "Next verse"
        "verses": [],  # verse ids to sing ([]: all, in the song's order)
        "listen": True,  # count the client's voice in their turn (needs a microphone)
        "judge_absence": True,  # a turn with nothing the app could hear is "no_response"
        "volume": 0.6,  # of the accompaniment (low stimulation: three quarters of it)
        "melody_voice": "keys",
        "chord_voice": "guitar",
        "lookahead_ms": 120,
        "autostart": False,  # start the song as soon as the step starts (else: the Start action)
        "user_images_dir": "",  # the therapist's pictures (the client's own picture is found here)
    }

    # ---- setup -------------------------------------------------------------------------------
    def prepare(self, ctx: ActivityContext) -> None:
        super().prepare(ctx)
        c = self.config
        song_id = str(c.get("song") or self.song_id)
        try:
            self.song: Song = load_song(FOLDER / "songs" / f"{song_id}.toml")
        except ConfigError as exc:
            if exc.path is not None and not exc.path.exists():
                known = sorted(p.stem for p in (FOLDER / "songs").glob("*.toml"))
                raise ConfigError(f"no song {song_id!r}", key="song", hint=", ".join(known)) from exc
            raise
        bpm = float(c.get("bpm") or self.song.bpm)
        if clamp_bpm(bpm) != bpm:
            raise ConfigError(f"bpm = {bpm:g}", key="bpm", hint="56–132, or 0 for the song's own")
        try:
            key = key_pc(str(c["key"])) if c.get("key") else self.song.key
        except ValueError:
            raise ConfigError(f"key = {c.get('key')!r}", key="key", hint="C, D, Eb, E, F, F#, G, A, Bb ...") from None
        music = str(c.get("music", "full"))
        if music not in MUSIC_MODES:
            raise ConfigError(f"music = {music!r}", key="music", hint=", ".join(MUSIC_MODES))
        for k in ("melody_voice", "chord_voice"):
            if c.get(k) not in VOICES:
                raise ConfigError(f"{k} = {c.get(k)!r}", key=k, hint=", ".join(VOICES))
        ids = [v.id for v in self.song.verses]
        wanted = list(c.get("verses") or ids)
        unknown = [v for v in wanted if v not in ids]
        if unknown:
            raise ConfigError(f"verses {unknown} are not in the {self.song.id} song", key="verses", hint=", ".join(ids))
        self.opts = SongSettings(bpm, key, music, bool(c.get("wait", False)), [i in wanted for i in ids])
        low = self.theme.low_stimulation
        self.volume = max(0.0, min(1.0, float(c.get("volume", 0.6)))) * (0.75 if low else 1.0)
        self.player = Player(ctx.audio, ctx.play)
        self.lookahead_ns = max(int(float(c.get("lookahead_ms", 120)) * MS), self.player.lead_ns(40 * MS))
        self.run = SongRun(self.song, self.opts, lead_ns=self.player.lead_ns(40 * MS))
        self.client_name = ctx.client_name  # this screen only: never logged
        self.client_picture = str(ctx.client.get("picture") or "")
        self._pictures(ctx)
        self._sounds(ctx)
        self.table = pad_table(key)
        self._table_key = key
        self.mic = ctx.open_mic() if c.get("listen", True) else None
        if self.mic is not None and getattr(self.mic, "backend", "") == "null":
            self.mic = None  # a silent stand-in hears nothing: same as no microphone
        self.analyzer: Any = None
        if self.mic is not None:
            from prelude_play.audio.analysis import VoiceAnalyzer  # scipy: only once a song needs it

            self.analyzer = VoiceAnalyzer(int(self.mic.rate), ctx.clock)
            self.mic.add_consumer(self._on_audio)
        self.listening = self.mic is not None
        self.judge_absence = bool(c.get("judge_absence", True))
        self.trial: str | None = None
        self.trial_verse = -1
        self.trial_start = 0
        self.judged = False
        self.scored: dict[str, str] = {}
        self.joined = False
        self.touches = 0
        self.stopped = False
        self.layout_: Any = None
        self.changed = True
        ctx.log("song_setup", actor="system", data={
            "song": self.song.id, **self.opts.describe(), "mic": self.mic is not None,
            "lookahead_ms": self.lookahead_ns / MS, "lead_ms": self.run.lead_ns / MS})
        if c.get("autostart"):
            self.start_song()

    def _pictures(self, ctx: ActivityContext) -> None:
        from prelude_play.ui.pictures import Pictures  # bounded: a huge photo is refused or shrunk

        folders = []
        if self.config.get("user_images_dir"):
            folders.append(Path(str(self.config["user_images_dir"])).expanduser())
        if ctx.assets_dir is not None:
            folders.append(Path(ctx.assets_dir) / "images")
        self.pictures = Pictures(folders)
        wanted = {v.picture for v in self.song.verses if v.picture != "@client"}
        if self.client_picture:
            wanted.add(self.client_picture)
        for name in sorted(wanted):
            problem = self.pictures.load(name)
            if problem and name != self.client_picture:
                ctx.notify(ctx.t("Song picture missing") + f": {name}")

    def _key_sounds(self, key: int) -> list[str]:
        """Every sound the song makes in ``key``, and the touch chimes."""
        mv, cv = str(self.config["melody_voice"]), str(self.config["chord_voice"])
        names = sound_names(self.song, key, melody_voice=mv, chord_voice=cv)
        return names + [f"chimes:{touch_note(tonic_note(key), i)}" for i in range(6)]

    def _warm(self, key: int) -> list[str]:
        """In the background: the pads' notes in ``key`` and the song a tone either side, so a key
        change by the therapist plays from sounds already made."""
        pads = sorted(set(pad_table(key)["roles"]["*"]["notes"].values()))
        return pads + [n for k in (1, -1, 2, -2) for n in self._key_sounds((key + k) % 12)]

    def _sounds(self, ctx: ActivityContext) -> None:
        """The song in its key now (before the client waits); the rest behind it."""
        key = self.opts.key
        missing = ctx.prepare_sounds(self._key_sounds(key), later=self._warm(key), required=False)
        if missing:
            ctx.notify(ctx.t("Some song sounds are missing") + f": {', '.join(missing[:5])}")

    # ---- the mic worker (NOT the frame loop) -------------------------------------------------
    def _on_audio(self, samples: Any, t0_ns: int) -> None:
        """On the capture's worker thread: analyse, post voice onsets/offsets to the app queue."""
        ctx, an = self.ctx, self.analyzer
        if ctx is None or an is None:
            return
        for vev in an.feed(samples, t0_ns):
            if vev.kind in ("onset", "offset"):
                ctx.post(vev.to_input_event())

    # ---- the therapist -----------------------------------------------------------------------
    def start_song(self) -> None:
        assert self.ctx is not None
        self._close_trial(self.ctx.now_ns())
        self.run.start(self.ctx.now_ns())
        self.ctx.log("song_start", actor="therapist", data={"song": self.song.id, **self.opts.describe()})
        self.changed = True

    def your_turn(self) -> None:
        assert self.ctx is not None
        if self.run.your_turn(self.ctx.now_ns()):
            self.ctx.log("song_your_turn", actor="therapist", data={"verse": self._verse_id(self.run.verse)})

    def next_verse(self) -> None:
        assert self.ctx is not None
        if self.run.state == "ready":
            self.start_song()
        elif self.run.next_verse(self.ctx.now_ns()):
            self.ctx.log("song_next", actor="therapist", data={"from": self._verse_id(self.run.verse)})

    def _change(self, what: str, value: Any) -> None:
        assert self.ctx is not None
        self.ctx.log("song_change", actor="therapist", data={"what": what, "value": value,
                                                             **self.opts.describe()})
        self.changed = True

    def tempo(self, delta: int) -> None:
        self.opts.bpm = clamp_bpm(self.opts.bpm + delta)
        self._change("bpm", self.opts.bpm)

    def transpose(self, delta: int) -> None:
        assert self.ctx is not None
        self.opts.key = (self.opts.key + delta) % 12
        self.ctx.prepare_sounds([], later=self._key_sounds(self.opts.key) + self._warm(self.opts.key),
                                required=False)
        self._change("key", KEY_NAMES[self.opts.key])

    def cycle_music(self) -> None:
        assert self.ctx is not None
        mode = MUSIC_MODES[(MUSIC_MODES.index(self.opts.music) + 1) % len(MUSIC_MODES)]
        self.run.set_music(mode, self.ctx.now_ns())
        if mode == "off":
            self.player.silence()
        self._change("music", mode)

    def toggle_wait(self) -> None:
        assert self.ctx is not None
        self.run.set_wait(not self.opts.wait, self.ctx.now_ns())
        self._change("wait", self.opts.wait)

    def toggle_listen(self) -> None:
        self.listening = self.mic is not None and not self.listening
        self._change("listen", self.listening)

    def toggle_verse(self, i: int) -> None:
        self.opts.enabled[i] = not self.opts.enabled[i]
        self._change("verse", {"verse": self.song.verses[i].id, "on": self.opts.enabled[i]})

    def on_panic(self) -> None:
        """"Silence all": the accompaniment off (the song goes on, waiting for the therapist)."""
        if getattr(self, "run", None) is not None and self.opts.music != "off":
            assert self.ctx is not None
            self.run.set_music("off", self.ctx.now_ns())
            self.player.silence()
            self._change("music", "off")

    def on_scored(self, trial_id: str, outcome: str, prompt: str | None) -> None:
        """The therapist's score stands for the turn: no automatic "no response" at its end."""
        self.scored[trial_id] = outcome
        self.changed = True

    def primary_action(self) -> tuple[str, Callable[[], None]] | None:
        """Start; then the next natural step: "Your turn" in a call, "Next verse" in a turn."""
        t = self.ctx.t if self.ctx else (lambda s: s)
        run = getattr(self, "run", None)
        if run is None or run.state == "ready":
            return t("Start song"), self.start_song
        if run.state == "done" or run.section == "ending":
            return t("Sing again"), self.start_song
        if run.section == "call":
            return t("Your turn"), self.your_turn
        return t("Next verse"), self.next_verse

    def therapist_actions(self) -> list[tuple[str, str, Callable[[], None]]]:
        """Tempo, key, accompaniment, waiting, listening and the verse list (the overlay's buttons)."""
        t = self.ctx.t if self.ctx else (lambda s: s)
        if getattr(self, "run", None) is None:
            return []
        s = self.opts
        acts: list[tuple[str, str, Callable[[], None]]] = [
            ("next", t("Next verse"), self.next_verse),
            ("slower", t("Slower"), lambda: self.tempo(-BPM_STEP)),
            ("faster", t("Faster"), lambda: self.tempo(BPM_STEP)),
            ("key_down", t("Key down"), lambda: self.transpose(-1)),
            ("key_up", t("Key up"), lambda: self.transpose(1)),
            ("music", t(MUSIC_LABELS[s.music]), self.cycle_music),
            ("wait", t("Wait for me: on") if s.wait else t("Wait for me: off"), self.toggle_wait),
        ]
        if self.mic is not None:
            acts.append(("listen", t("Listening: on") if self.listening else t("Listening: off"), self.toggle_listen))
        for i, v in enumerate(self.song.verses):
            label = (t("{verse}: on") if s.enabled[i] else t("{verse}: off")).format(verse=t(v.label))
            acts.append((f"verse:{v.id}", label, lambda i=i: self.toggle_verse(i)))
        return acts

    def status_text(self) -> str:
        t = self.ctx.t if self.ctx else (lambda s: s)
        if getattr(self, "run", None) is None:
            return ""
        s = self.opts
        order = self.run.order()
        v = self.run.shown.verse
        where = t("Ready") if self.run.state == "ready" else t("Finished") if self.run.phase == "done" else ""
        if not where and v >= 0:
            pos = order.index(v) + 1 if v in order else 0
            where = t("Verse {n} of {total}: {label}").format(n=pos, total=len(order),
                                                               label=t(self.song.verses[v].label))
        parts = [where, t(KEY_NAMES[s.key]), f"{s.bpm:.0f} BPM", t(MUSIC_LABELS[s.music])]
        if self.mic is None:
            parts.append(t("no mic"))
        return " · ".join(p for p in parts if p)

    # ---- time --------------------------------------------------------------------------------
    def next_frame_ns(self, now_ns: int) -> int | None:
        """Only when the song needs it: just before the next bar is decided or the next note is
        handed to the engine, and when the screen changes (a new verse, the client's turn). The
        screen never moves between those."""
        if self.stopped or getattr(self, "run", None) is None:
            return None
        if self.changed:
            return now_ns
        wants = [x for x in (self.run.next_mark_ns,) if x is not None]
        if self.run.next_bar_ns is not None:
            wants.append(self.run.next_bar_ns - self.lookahead_ns)
        if self.player.next_ns is not None:
            wants.append(self.player.next_ns - self.lookahead_ns + MS)
        return max(now_ns, min(wants)) if wants else None

    def update(self, now_ns: int) -> None:
        if self.stopped or self.ctx is None:
            return
        horizon = now_ns + self.lookahead_ns
        for pb in self.run.decide(horizon):
            self.player.add(bar_notes(pb, melody_voice=str(self.config["melody_voice"]),
                                      chord_voice=str(self.config["chord_voice"]), volume=self.volume))
        self.player.send(horizon, now_ns)
        for mark in self.run.due(now_ns):
            self._reach(mark)
        if self._table_key != self.opts.key:
            self._table_key = self.opts.key
            self.table = pad_table(self.opts.key)

    def _verse_id(self, i: int) -> str:
        return self.song.verses[i].id if 0 <= i < len(self.song.verses) else ""

    def _reach(self, mark: Mark) -> None:
        """The song reached ``mark``: the screen follows; the turn's trial opens or closes."""
        ctx = self.ctx
        assert ctx is not None
        self.changed = True
        if mark.kind in ("verse", "ending", "done"):
            self._close_trial(mark.t_ns)
            self.joined, self.touches = False, 0
        if mark.kind == "verse":
            ctx.log("song_verse", actor="system", t_ns=mark.t_ns,
                    data={"verse": self._verse_id(mark.verse), "bpm": round(self.opts.bpm, 1),
                          "key": KEY_NAMES[self.opts.key], "music": self.opts.music})
        elif mark.kind == "answer":
            verse = self.song.verses[mark.verse]
            if verse.opportunity:
                self.trial = ctx.open_trial(verse.opportunity, t_ns=mark.t_ns, areas=AREAS[verse.opportunity],
                                            data={"song": self.song.id, "verse": verse.id,
                                                  "listening": self.listening})
                self.trial_verse, self.trial_start, self.judged = mark.verse, mark.t_ns, False
        elif mark.kind == "done":
            ctx.log("song_end", actor="system", t_ns=mark.t_ns, data={"song": self.song.id})

    def _close_trial(self, t_ns: int) -> None:
        ctx, tid = self.ctx, self.trial
        if ctx is None or tid is None:
            return
        if not self.judged and tid not in self.scored:
            verse = self.song.verses[self.trial_verse]
            outcome = absence_outcome(verse.opportunity, listening=self.listening,
                                      judge_absence=self.judge_absence)
            if outcome is not None:
                ctx.judge(tid, outcome, t_ns=t_ns, close=False, data={"verse": verse.id, "by": None})
        ctx.close_trial(tid, "ended", t_ns=t_ns)
        self.trial = None

    # ---- the client --------------------------------------------------------------------------
    def handle(self, event: InputEvent) -> None:
        ctx = self.ctx
        if ctx is None or self.stopped or event.data.get("filtered"):
            return
        if event.source == "mic":
            if event.kind == "onset":
                self._respond("voice", event)
        elif event.kind == "tap" and event.pos is not None:
            if self.layout_ is not None and self.layout_.card.collidepoint(event.pos):
                note = touch_note(tonic_note(self.opts.key), self.touches)
                self.touches += 1
                ctx.play(f"chimes:{note}", 0.6 * (0.75 if self.theme.low_stimulation else 1.0))  # before the frame
                self._respond("touch", event, {"sound": f"chimes:{note}"})
        elif event.source == "midi" and event.kind == "note_on" and (event.velocity or 0) > 0 \
                and event.role not in ("therapist", ROLE_PEDAL):
            self._respond("hit", event, {"note": event.note, "velocity": event.velocity,
                                         "sound": event.data.get("sounded")})

    def _respond(self, by: str, event: InputEvent, extra: dict[str, Any] | None = None) -> None:
        """A response: participation if it falls in the client's turn, else only a logged hit."""
        ctx = self.ctx
        assert ctx is not None
        in_turn = self.trial is not None and event.t_ns >= self.trial_start
        data = {"by": by, **(extra or {})}
        if not counts(by, in_turn, self.listening):
            if by != "voice":  # a voice out of the turn is the therapist's, not the client's
                ctx.log("hit", actor="client", source=event.source, device=event.device, t_ns=event.t_ns,
                        data={**data, "phase": self.run.phase})
            return
        verse = self.song.verses[self.trial_verse]
        ctx.log("participation", actor="client", source=event.source, device=event.device, t_ns=event.t_ns,
                trial=self.trial, data={**data, "verse": verse.id})
        if not self.judged:
            self.judged = True
            ctx.judge(self.trial, "success", t_ns=event.t_ns, close=False,
                      data={"verse": verse.id, "by": by, "latency_ms": round((event.t_ns - self.trial_start) / MS, 1)})
        if not self.joined:
            self.joined = True
            self.changed = True

    def fast_sound_table(self) -> dict[str, Any] | None:
        """Pads during the song: drums stay drums, other keys play the song's pentatonic (a new
        table when the key changes)."""
        return getattr(self, "table", None)

    # ---- the end -----------------------------------------------------------------------------
    def stop(self) -> None:
        if self.stopped or self.ctx is None or not hasattr(self, "run"):
            return
        self.stopped = True
        now = self.ctx.now_ns()
        self._close_trial(now)
        self.run.stop(now)
        self.player.silence()
        if self.mic is not None:
            self.mic.remove_consumer(self._on_audio)

    @classmethod
    def trial_phrases(cls, trials: list[Any], t: Callable[[str], str]) -> list[str]:
        """"took part in 3 of 4 verses; with their voice in 2": from the turns' responses."""
        mine = [x for x in trials if x.activity == cls.name and x.opportunity in AREAS]
        if not mine:
            return []
        joined = [x for x in mine if any(r.get("kind") == "participation" for r in x.responses)]
        voice = [x for x in joined if any(r.get("by") == "voice" for r in x.responses)]
        out = [t("took part in {n} of {total} verses").format(n=len(joined), total=len(mine))]
        if voice:
            out.append(t("with their voice in {n}").format(n=len(voice)))
        return out

    # ---- the screen --------------------------------------------------------------------------
    def layout(self, size: tuple[int, int]) -> None:
        from .view import make_layout

        self.size = size
        self.layout_ = make_layout(size, self.theme)
        self.changed = True

    def find_target(self, target: str) -> Any:
        lay = self.layout_
        if lay is None:
            return None
        if target in ("card", "words", "prompt", "strip"):
            return getattr(lay, target)
        return None

    def screen(self) -> Any:
        """What the child sees now, from the song's state (pure data for the view)."""
        from .view import Screen

        assert self.ctx is not None
        t = self.ctx.t
        run, song = self.run, self.song
        phase = run.phase
        order = run.order()
        v = run.shown.verse if phase in ("verse", "answer", "wait") else -1
        pos = order.index(v) if v in order else (len(order) if phase in ("ending", "done") else -1)
        strip = [(song.verses[i].picture, "done" if k < pos else "now" if k == pos else "next")
                 for k, i in enumerate(order)]
        name = self.client_name or t("friend")
        if v < 0:
            picture, lines, prompt = "@client", [t(song.title)], ""
        else:
            verse = song.verses[v]
            picture, prompt = verse.picture, t(verse.prompt) if verse.prompt else ""
            lines = [with_name(t(line), name) for line in verse.lyrics]
        return Screen(t(song.title), phase, picture, name if picture == "@client" else "", lines, prompt,
                      self.joined, strip, name, self.client_picture, self.theme.low_stimulation)

    def draw(self, surface: Any) -> None:
        from .view import draw

        assert self.ctx is not None
        if self.layout_ is None:
            self.layout(surface.get_size())
        draw(surface, self.theme, self.layout_, self.pictures, self.screen(), self.ctx.t)
        self.changed = False


class HelloSong(GreetingSong):
    name = "hello_song"
    title = "Hello song"
    description = "A hello song with the client's name and picture: sing, wave and play along; the app accompanies or stays silent."
    song_id = "hello"


class GoodbyeSong(GreetingSong):
    name = "goodbye_song"
    title = "Goodbye song"
    description = "A goodbye song with the client's name and picture, the same shape as the hello song, ending the session."
    song_id = "goodbye"
