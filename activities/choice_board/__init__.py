"""Choice boards: the client chooses by tapping, dwelling, switch scanning or playing a pad,
and each choice sounds at once and is logged as a goal-tagged data point.

Boards come from ``config/boards/*.toml`` plus the therapist's own folder (settings
``user_boards_dir``); the client's ``access`` profile decides how they choose (see logic.py).

Trials: the board on screen is the opportunity (``board_shown``, on the board's goals). A
client's choice is the response, judged a success at the armed prompt level; a scan that runs
out is judged ``no_response``; switching boards, opening the editor or stopping closes the open
trial unjudged ("ended"). The next trial opens when the board is ready for the next choice: once
the choice just made can no longer take the therapist's score (``ctx.score_window_s``), or at
the client's next choice if that comes first. A therapist's model ("Model next", or a card
played on the therapist's keyboard) is not a response: it is logged in the open trial, and the
client's following choice is judged at the "model" prompt level (or the armed level if that is
more intrusive).

AAC basics: a chosen card is confirmed calmly (it grows and stays outlined, the others dim; in low
stimulation nothing moves) and its label is spoken — the therapist's recording made in the editor
(a WAV beside the board file), else the label synthesized offline in the session's language at
prepare time (speech.py: espeak-ng), else the card's chime. Boards are picked by title from a list
(therapist panel, and the editor). A card may name an activity ("What next?"): choosing it makes
that activity the running plan's next step (``ActivityContext.choose_next``). Cards keep their
cells across sessions and edits (motor planning); a hidden card leaves a gap. Each card is a touch
target of its own for the shell's repeat filter (``tap_target``).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prelude_play.activity import Activity, ActivityContext
from prelude_play.config import resource_dir
from prelude_play.events import InputEvent

from .boards import (Board, Card, Step, known_goal_keys, load_boards, save_board)
from .logic import Access, BoardState, Choice

if TYPE_CHECKING:  # pygame is only needed to draw; ``check-config`` imports boards.py without it
    import pygame

    from .editor import BoardEditor, BoardList
    from .speech import Voices

PLACEHOLDER_SOUND = "chimes:79"
VOWELS = {"a": "ah", "e": "eh", "i": "ee", "o": "oh", "u": "oo", "y": "ee"}
EXTRA_SOUNDS = ["drum:36", "drum:38", "drum:42", "drum:70", "keys:60", "keys:64", "keys:67", "guitar:52",
                "guitar:64", "chimes:72", "chimes:76", "chimes:79", "vowel:ah:60", "vowel:oo:64",
                "vowel:ee:67", "vowel:oh:62"]


def fallback_board() -> Board:
    """Shown when no board file could be loaded, so the client still has a yes/no choice."""
    return Board("fallback_yes_no", "Yes or no?", 1, 2,
                 (Card("Yes", "yes.png", (Step("chimes:72"),)), Card("No", "no.png", (Step("chimes:67"),))))


def sung_echo(card: Card, start_ms: int) -> tuple[Step, ...]:
    """Sing the card back: its label's first vowel on a falling minor third (sol–mi), softly."""
    v = next((VOWELS[ch] for ch in card.label.lower() if ch in VOWELS), "ah")
    return (Step(f"vowel:{v}:67:0.45s", start_ms, 0.6), Step(f"vowel:{v}:64:0.6s", start_ms + 450, 0.6))


HOVER_POINTER = 10_000  # the pointer id dwell uses for a hovering (unpressed) mouse
SPEECH_GAP_MS = 350  # the label is spoken this long after the card's last sound starts
CHIME_NS = 600_000_000  # how long a chime stands in for a spoken label


def voice_file_name(board: Board, index: int) -> str:
    """A readable WAV name for a card's recording, beside the board file (``what_next.drum.wav``);
    the card's own file again when it has one, never another card's."""
    card = board.cards[index]
    if card.voice and not Path(card.voice).is_absolute():
        return card.voice
    plain = unicodedata.normalize("NFKD", card.label).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-") or f"card{index + 1}"
    others = {c.voice for i, c in enumerate(board.cards) if i != index}
    name, n = f"{board.id}.{slug}.wav", 2
    while name in others:
        name, n = f"{board.id}.{slug}-{n}.wav", n + 1
    return name

class ChoiceBoard(Activity):
    name = "choice_board"
    title = "Choice board"
    icon = "choice"
    goals = ("functional_communication", "self_expression")
    version = "0.1.0"
    description = "Choose by tap, dwell, switch scanning or playing; every choice sounds and is logged."
    trial_noun = ("choice", "choices")
    settings: dict[str, Any] = {
        "board": "instruments",     # board shown first
        "boards": [],               # ids offered by "Next board" (empty = every board)
        "echo": False,              # sing the choice back after its sound
        "echo_gap_ms": 400,
        "low_stimulation": False,   # also taken from the client profile
        "velocity": 0.9,
        "cue_velocity": 0.25,       # scanning's auditory cue per card: soft
        "user_boards_dir": "",      # where the editor saves boards (the shell's <data dir>/boards)
        "user_images_dir": "",      # the therapist's own pictures (PNG/JPG/SVG)
        "speak": True,              # say each card's label when chosen (recording, else synthesized, else chime)
        "tts": "espeak-ng",         # the offline speech synthesizer (a program name or path; "" = none)
    }

    # ---- prepare ---------------------------------------------------------------------------

    def prepare(self, ctx: ActivityContext) -> None:
        super().prepare(ctx)
        c = self.config
        self.size = ctx.size
        self.low_stim = ctx.theme.low_stimulation
        self.access = Access.from_profile(ctx.client.get("access", {}), lambda s: ctx.notify(s))
        self.user_dir = Path(str(c["user_boards_dir"])).expanduser() if c.get("user_boards_dir") else None
        assets = Path(ctx.assets_dir) if ctx.assets_dir else resource_dir("assets")
        self.sounds_dir = assets / "sounds"
        known = known_goal_keys(resource_dir("config") / "goals.toml")
        boards, problems = load_boards([resource_dir("config") / "boards", self.user_dir] if self.user_dir
                                       else [resource_dir("config") / "boards"], known)
        for p in problems:
            ctx.notify(str(p))
        if not boards:
            ctx.notify(ctx.t("No board could be loaded; showing a yes/no board"))
            boards = {"fallback_yes_no": fallback_board()}
        self.boards = boards
        wanted = [b for b in c.get("boards") or [] if b in boards]
        self.order = wanted or list(boards)
        first = c.get("board")
        if first not in boards:
            if first:
                ctx.notify(ctx.t("Board not found") + f": {first}")
            first = self.order[0]
        image_dirs = []
        if c.get("user_images_dir"):
            image_dirs.append(Path(str(c["user_images_dir"])).expanduser())
        if self.user_dir is not None:
            image_dirs.append(self.user_dir / "images")
        image_dirs.append(assets / "images")
        self.image_dirs = image_dirs
        from .view import Pictures

        self.pictures = Pictures(image_dirs)
        self.sound_sub: dict[str, str] = {}
        for b in boards.values():
            self._load_assets(b)
        self.rate = int(getattr(ctx.audio, "rate", 48_000) or 48_000)
        self.recorded: dict[tuple[str, str], tuple[str, int]] = {}  # (board, file) -> (sound, duration ns)
        self.voices: Voices | None = None
        self.language = ctx.language
        self._recording: tuple[Any, str, int, int, int] | None = None  # mic, board, card, first frame, t0
        if self.config.get("speak", True):
            self._prepare_voices(ctx, first)
        self.editor: BoardEditor | None = None
        self.picker: BoardList | None = None
        self._hover_chosen: int | None = None
        self.last_choice_id: str | None = None
        self.last_choice: Choice | None = None
        self.trial: str | None = None  # the open trial: the board waiting for a choice
        self._next_trial_ns: int | None = None  # when the board is ready for the next choice
        self._modelled = False  # the therapist modelled a choice in the open trial
        self.layout_ = None
        self._show(first, ctx.now_ns())

    def _load_assets(self, board: Board) -> None:
        """Pictures and sounds for ``board``; anything missing gets a placeholder and a notice."""
        ctx = self.ctx
        assert ctx is not None
        for card in board.cards:
            if card.picture and card.picture not in self.pictures.raw:
                err = self.pictures.load(card.picture)
                if err:
                    ctx.notify(ctx.t("Missing picture, showing a placeholder") + f": {card.picture} ({board.id})")
        names = {s.sound for card in board.cards for s in card.sound + card.echo}
        names |= {s.sound for card in board.cards for s in sung_echo(card, 0)} if self.config.get("echo") else set()
        for name in sorted(names - set(self.sound_sub)):
            ok = not (name.startswith("sample:") and not (self.sounds_dir / f"{name[7:]}.wav").is_file())
            if ok:  # an unknown or unreadable sound: a placeholder, never a crash
                ok = not ctx.prepare_sounds([name], required=False)
            if not ok:
                ctx.notify(ctx.t("Missing sound, playing a placeholder") + f": {name} ({board.id})")
                self.sound_sub[name] = PLACEHOLDER_SOUND
                ctx.prepare_sounds([PLACEHOLDER_SOUND], required=False)

    def _sound(self, name: str) -> str:
        return self.sound_sub.get(name, name)

    # ---- spoken labels ---------------------------------------------------------------------

    def _prepare_voices(self, ctx: ActivityContext, first: str) -> None:
        """Recordings loaded, the first board's labels synthesized now, the others' behind it; the
        chimes ready for when nothing can speak. Nothing here ever runs on a tap."""
        import shutil

        from .speech import Synthesizer, Voices, chime_for

        ctx.prepare_sounds([chime_for(i) for i in range(9)], required=False)
        load = getattr(ctx.audio, "load", None)
        if not callable(load):
            return
        for b in self.boards.values():
            self._load_recordings(b)
        tts = str(self.config.get("tts") or "")
        exe = (shutil.which(tts) or "") if tts else ""
        if tts and not exe:
            ctx.notify(ctx.t("No speech synthesizer; cards chime instead of speaking") + f" ({tts})")
        self.voices = Voices(Synthesizer(exe), lambda name, x: load(name, x), self.rate)
        self._synthesize(first)

    def _synthesize(self, first: str) -> None:
        """Labels in the session's language: ``first`` board now, the others on a worker thread."""
        if self.voices is None or not self.voices.synth.available:
            return
        self.voices.ensure(self.language, self._texts(self.boards[first]))
        self.voices.background(self.language, [self._texts(b) for i, b in self.boards.items() if i != first])

    def _texts(self, board: Board) -> list[str]:
        assert self.ctx is not None
        return [self.ctx.t(c.label) for c in board.cards if not c.hidden]

    def _voice_path(self, board: Board, voice: str) -> Path | None:
        p = Path(voice).expanduser()
        if p.is_absolute():
            return p
        folder = board.path.parent if board.path is not None else self.user_dir
        return folder / voice if folder is not None else None

    def _load_recordings(self, board: Board) -> None:
        """The board's recorded labels into the engine (a missing file: the label is synthesized)."""
        from .speech import read_clip

        ctx = self.ctx
        assert ctx is not None
        for c in board.cards:
            if not c.voice or (board.id, c.voice) in self.recorded:
                continue
            path = self._voice_path(board, c.voice)
            try:
                if path is None:
                    raise OSError("no boards folder")
                x = read_clip(path, self.rate)
                ctx.audio.load(self._voice_sound(board.id, c.voice), x)  # type: ignore[union-attr]
            except Exception as exc:  # a missing or damaged file never stops the board
                ctx.notify(ctx.t("Recorded label unreadable; speaking the label instead") + f": {c.voice} ({exc})")
                continue
            self.recorded[(board.id, c.voice)] = (self._voice_sound(board.id, c.voice), int(x.size / self.rate * 1e9))

    @staticmethod
    def _voice_sound(board_id: str, voice: str) -> str:
        return f"choice_board:voice:{board_id}:{voice}"

    def speech_for(self, board: Board, index: int) -> tuple[str, int, str]:
        """(sound, duration ns, "recording" | "synthesized" | "chime") for a card's label: only what
        is already loaded, so a tap never waits for a render."""
        from .speech import chime_for

        card = board.cards[index]
        rec = self.recorded.get((board.id, card.voice)) if card.voice else None
        if rec is not None:
            return rec[0], rec[1], "recording"
        if self.voices is not None and self.ctx is not None:
            said = self.voices.sound(self.language, self.ctx.t(card.label))
            if said is not None:
                return said[0], said[1], "synthesized"
        return chime_for(index), CHIME_NS, "chime"

    # ---- trials ----------------------------------------------------------------------------

    def _open_trial(self, t_ns: int) -> str:
        """The board is offered for a choice: a trial on the board's goals (once)."""
        ctx = self.ctx
        assert ctx is not None
        if self.trial is None:
            self.trial = ctx.open_trial("board_shown", t_ns=t_ns, areas=self.board.goals,
                                        data={"board": self.board.id, "access": self.access.method})
            self._modelled = False
        self._next_trial_ns = None
        return self.trial

    def _end_trial(self, reason: str = "withdrawn") -> None:
        """The board goes away (another board, the editor, stop) before a choice: no judgement.

        "withdrawn": the therapist took the board away; unless the client did something in it or
        it was scored, it was never an opportunity and is not counted as "not scored" either."""
        if self.ctx is not None and self.trial is not None:
            self.ctx.close_trial(self.trial, reason)
        self.trial, self._modelled, self._next_trial_ns = None, False, None

    def _judge(self, outcome: str, t_ns: int, data: dict[str, Any]) -> None:
        """Judge the open trial and wait for the board to be ready for the next choice."""
        ctx = self.ctx
        assert ctx is not None and self.trial is not None
        ctx.judge(self.trial, outcome, prompt=self._prompt(), t_ns=t_ns, data=data)
        self.trial, self._modelled = None, False
        self._next_trial_ns = t_ns + int(ctx.score_window_s * 1e9)

    def _prompt(self) -> str:
        """The armed prompt level; after the therapist's model, at least "model"."""
        ctx = self.ctx
        assert ctx is not None
        level = ctx.prompt
        levels = list(ctx.prompt_levels)
        if self._modelled and "model" in levels and (level not in levels or levels.index(level) < levels.index("model")):
            return "model"
        return level

    def _show(self, board_id: str, now_ns: int) -> None:
        """Put a board on screen: bindings, state, layout; latency counts from now."""
        self._end_trial("withdrawn")
        self.board = self.boards[board_id]
        b = self.board
        acc = self.access
        notes: dict[int, int] = {}
        keys: dict[str, int] = {}
        for i, card in enumerate(b.cards):
            if card.hidden:  # not on the board now: no pad, key or scan reaches it
                continue
            note = card.note if card.note is not None else (acc.play_notes[i] if i < len(acc.play_notes) else None)
            if note is not None:
                notes.setdefault(note, i)
            key = card.key or (acc.play_keys[i] if i < len(acc.play_keys) else None)
            if key:
                keys.setdefault(key, i)
        self.note_cards = notes
        self.key_cards = keys
        # Read by fast_sound_table: built whole, then swapped in by one assignment.
        self._note_sounds = {n: self._sound(b.cards[i].first_sound or "") or None for n, i in notes.items()}
        self.switch_notes = frozenset(acc.select_notes) | frozenset(acc.move_notes)
        self.state = BoardState(len(b.cards), b.rows, b.cols, acc, now_ns,
                                cells=tuple(None if c.hidden else c.cell for c in b.cards))
        if getattr(self, "voices", None) is not None and self.ctx is not None:
            self.voices.ensure(self.language, self._texts(b))  # type: ignore[union-attr]  # already done, mostly
        self.state.present(now_ns)
        self._pointers: dict[int, tuple[str, str]] = {}
        if self.ctx is not None:
            self.ctx.log("board_shown", actor="system", goals=b.goals,
                         data={"board": b.id, "title": b.title, "cards": [c.label for c in b.cards],
                               "size": f"{b.rows}x{b.cols}", "access": acc.method})
            if self.access.scanning:
                self._cue(self.state.highlighted())
            if self.editor is None:
                self._open_trial(now_ns)
        if self.layout_ is not None:
            self.layout(self.size)

    # ---- geometry --------------------------------------------------------------------------

    def layout(self, size: tuple[int, int]) -> None:
        from .view import make_layout

        self.size = size
        self.layout_ = make_layout(size, self.board, self.theme)
        if self.editor is not None:
            self.editor.layout(size, self.theme)
        if self.picker is not None:
            self.picker.layout(size, self.theme)
        if self.ctx is not None and self.ctx.language != self.language:  # the therapist switched language
            self.language = self.ctx.language
            self._synthesize(self.board.id)

    def card_at(self, pos: tuple[float, float] | None) -> int | None:
        if pos is None or self.layout_ is None:
            return None
        for i, r in enumerate(self.layout_.cards):
            if r.collidepoint(pos) and not self.board.cards[i].hidden:
                return i
        return None

    def tap_target(self, pos: tuple[float, float]) -> str | None:
        """Each card is a target of its own for the shell's repeat filter."""
        if self.therapist_mode:
            return None
        i = self.card_at(pos)
        return None if i is None else f"card:{i}"

    def find_target(self, target: str) -> "pygame.Rect | None":
        if self.picker is not None:
            return self.picker.find(target)
        if self.editor is not None:
            return self.editor.find(target)
        if target.startswith("card:") and self.layout_ is not None:
            i = int(target[5:])
            return self.layout_.cards[i] if i < len(self.layout_.cards) else None
        return None

    # ---- input -----------------------------------------------------------------------------

    def fast_sound_table(self) -> dict[str, Any]:
        """Which sound a MIDI hit makes: a pad bound to a card sounds that card's first sound
        (the therapist's always, the client's when the access method is "play"); switches stay
        quiet. Rebuilt (a new object) when the board, its pads or the access method change."""
        sounds, switches = getattr(self, "_note_sounds", None), getattr(self, "switch_notes", None)
        if sounds is None or switches is None:  # no board yet: nothing sounds
            return {"roles": {"therapist": {"default": None}, "*": {"default": None}}}
        key = (sounds, switches, self.access.method)
        cached = getattr(self, "_fast_cache", None)
        if cached is not None and cached[0][0] is sounds and cached[0][1] is switches and cached[0][2] == key[2]:
            return cached[1]
        notes: dict[int, str | None] = dict(self._note_sounds)
        for n in self.switch_notes:
            notes[n] = None
        bound = {"notes": notes, "default": None}
        table = {"roles": {"therapist": bound,
                           "*": bound if self.access.method == "play" else {"default": None}}}
        self._fast_cache = (key, table)
        return table

    def handle(self, event: InputEvent) -> None:
        ctx = self.ctx
        assert ctx is not None
        if self.picker is not None:
            if event.kind == "tap" and event.pos is not None and event.data.get("filtered") in (None, "repeat"):
                self.picker.tap(event.pos)
            return
        if self.editor is not None:
            self._editor_input(event)
            return
        kind, method = event.kind, self.access.method
        if kind == "tap":
            card = self.card_at(event.pos)
            if event.data.get("filtered"):
                if card is not None:  # the shell logs the touch; this says which card it hit
                    self._log_card("filtered_choice", card, event, {"reason": event.data["filtered"]})
                return
            if card is None:
                return
            if self.state.model_next or method in ("tap", "play"):
                self._choose(card, event, method="tap" if method != "play" else "tap")
        elif kind in ("down", "move", "up", "hover") and method == "dwell" and not self.state.model_next:
            self._dwell(event)
        elif kind == "key_down" and event.key:
            self._key(event)
        elif event.source == "midi" and kind == "note_on" and not event.data.get("filtered"):
            self._midi(event)

    @property
    def therapist_mode(self) -> bool:
        """While the editor or the board list is open the therapist is at the screen: no client
        touch filtering."""
        return self.editor is not None or self.picker is not None

    def _dwell(self, event: InputEvent) -> None:
        pid = event.pointer_id
        card = self.card_at(event.pos)
        if event.kind == "hover":  # head pointer / eye gaze: dwell without pressing
            if card is not None and card == self._hover_chosen:
                return  # just chosen by hovering: leave the card before it can count again
            self._hover_chosen = None
            if HOVER_POINTER in self.state.dwells:
                self.state.dwell_move(HOVER_POINTER, card, event.t_ns, event.pos)
            else:
                self._pointers[HOVER_POINTER] = (event.source, event.device)
                self.state.dwell_down(HOVER_POINTER, card, event.t_ns, event.pos)
            return
        if event.kind == "down":
            self._pointers[pid] = (event.source, event.device)
            self.state.dwell_down(pid, card, event.t_ns, event.pos)
        elif event.kind == "move":
            self.state.dwell_move(pid, card, event.t_ns, event.pos)
        else:
            accident = self.state.dwell_up(pid, event.t_ns)
            if accident is not None:
                self._log_card("accidental_touch", accident[0], event,
                               {"reason": "dwell_incomplete", "held_ms": accident[1],
                                "dwell_ms": self.access.dwell_ms})

    def _key(self, event: InputEvent) -> None:
        key = (event.key or "").lower()
        acc = self.access
        if acc.scanning:
            if key in acc.move_keys:
                self._switch("move", event)
            elif key in acc.select_keys:
                self._switch("select", event)
        elif acc.method == "play" and key in self.key_cards:
            self._choose(self.key_cards[key], event, method="play")

    def _midi(self, event: InputEvent) -> None:
        note = event.note
        acc = self.access
        if note is None:
            return
        if event.role == "therapist":
            if note in self.note_cards:
                self._choose(self.note_cards[note], event, method="play", actor="therapist")
            return
        if acc.scanning:
            if note in acc.move_notes:
                self._switch("move", event)
            elif note in acc.select_notes:
                self._switch("select", event)
        elif acc.method == "play" and note in self.note_cards:
            self._choose(self.note_cards[note], event, method="play")

    def _switch(self, which: str, event: InputEvent) -> None:
        ctx = self.ctx
        assert ctx is not None
        res = self.state.switch_move(event.t_ns) if which == "move" else self.state.switch_select(event.t_ns)
        if res == "bounce":
            ctx.log("filtered_switch", source=event.source, device=event.device, t_ns=event.t_ns,
                    goals=self.board.goals, trial=self.trial,
                    data={"board": self.board.id, "switch": which, "reason": "debounce",
                          "debounce_ms": self.access.debounce_ms, "key": event.key, "note": event.note})
        elif isinstance(res, int):
            self._choose(res, event, method=self.access.method)
        elif isinstance(res, list):
            self._cue(res)

    # ---- choosing --------------------------------------------------------------------------

    def _choose(self, index: int, event: InputEvent, *, method: str, actor: str = "client",
                t_ns: int | None = None, source: str | None = None, device: str | None = None) -> None:
        """Sound first (before any drawing), then the log."""
        ctx = self.ctx
        assert ctx is not None
        choice = self.state.choose(index, event.t_ns if t_ns is None else t_ns, method=method,
                                   source=source or event.source, device=event.device if device is None else device,
                                   actor=actor)
        card = self.board.cards[index]
        spoken = self._sound_card(card, choice.t_ns, sounded=event.data.get("sounded"), speak=index)
        row, col = card.cell or (index // self.board.cols, index % self.board.cols)
        data = {"board": self.board.id, "card": card.label, "position": index, "row": row, "col": col,
                "access": method, "latency_ms": choice.latency_ms, "latency_from": choice.latency_from,
                "sound": self._sound(card.first_sound or ""), "sounded_by_fast_path": bool(event.data.get("sounded"))}
        if spoken is not None:
            data["spoken"], data["speech"] = spoken[2], spoken[0]
        if card.activity:
            data["activity"] = card.activity
        if event.note is not None:
            data["note"] = event.note
        if event.key:
            data["key"] = event.key
        kind = "choice" if choice.actor == "client" else "model"
        trial = self._open_trial(choice.t_ns)  # a choice before the board was "ready" opens its own
        prompt = self._prompt() if kind == "choice" else "model"
        eid = ctx.log(kind, actor=choice.actor, source=choice.source, device=choice.device, t_ns=choice.t_ns,
                      prompt=prompt, data=data, trial=trial)
        if kind == "choice":
            self.last_choice_id, self.last_choice = eid, choice
            self._judge("success", choice.t_ns, {"card": card.label, "position": index, "board": self.board.id,
                                                 "access": method, "latency_ms": choice.latency_ms,
                                                 "after_model": self._modelled})
            if card.activity:  # "What next?": the client's choice changes the plan (the session logs how)
                ctx.choose_next(card.activity, card.label)
        else:
            self._modelled = True  # not the client's response: their next choice answers the model

    def _sound_card(self, card: Card, t_ns: int, sounded: str | None = None,
                    speak: int | None = None) -> tuple[str, int, str] | None:
        """The card's phrase anchored on the choice time; the first sound now (unless the MIDI
        fast path already played it), the rest sample-accurately at their offsets; then, for a
        choice (``speak`` = the card's index), its spoken label, then any sung echo. Returns what
        spoke the label."""
        ctx = self.ctx
        assert ctx is not None
        vel = float(self.config.get("velocity", 0.9)) * (0.5 if self.low_stim else 1.0)
        steps = card.sound or (Step(PLACEHOLDER_SOUND),)
        for i, s in enumerate(steps):
            if i == 0 and s.at_ms == 0:
                if not sounded:
                    ctx.play(self._sound(s.sound), vel * s.velocity)
            else:
                ctx.play(self._sound(s.sound), vel * s.velocity, at_ns=t_ns + s.at_ms * 1_000_000)
        end_ms = steps[-1].at_ms
        spoken = None
        if speak is not None and self.config.get("speak", True):
            spoken = self.speech_for(self.board, speak)
            at_ms = end_ms + SPEECH_GAP_MS
            ctx.play(spoken[0], vel, at_ns=t_ns + at_ms * 1_000_000)
            end_ms = at_ms + spoken[1] // 1_000_000 - 300  # the echo's own 300 ms lead-in follows the label
        if self.config.get("echo") or card.echo:
            start = end_ms + int(self.config.get("echo_gap_ms", 400)) + 300
            echo = tuple(Step(e.sound, start + e.at_ms, e.velocity) for e in card.echo) or sung_echo(card, start)
            for s in echo:
                ctx.play(self._sound(s.sound), vel * s.velocity, at_ns=t_ns + s.at_ms * 1_000_000)
        return spoken

    def _cue(self, cards: list[int]) -> None:
        """Scanning's auditory cue: a soft preview of the highlighted card (a soft chime for a row)."""
        if not self.access.cue or not cards or self.ctx is None:
            return
        vel = float(self.config.get("cue_velocity", 0.25)) * (0.6 if self.low_stim else 1.0)
        if len(cards) == 1:
            self.ctx.play(self._sound(self.board.cards[cards[0]].first_sound or PLACEHOLDER_SOUND), vel)
        else:
            self.ctx.play(f"chimes:{84 + 2 * self.state.row_of(cards[0])}", vel)

    def _log_card(self, kind: str, card: int, event: InputEvent, extra: dict[str, Any]) -> None:
        assert self.ctx is not None
        self.ctx.log(kind, actor="client", source=event.source, device=event.device, t_ns=event.t_ns,
                     goals=self.board.goals, trial=self.trial,
                     data={"board": self.board.id, "card": self.board.cards[card].label, "position": card,
                           "access": self.access.method, **extra})

    def next_frame_ns(self, now_ns: int) -> int | None:
        """Every frame while a card grows or a dwell ring fills; at the scan's next step and when
        the board is ready for the next choice; otherwise the board waits, drawn, for a touch."""
        from .view import CONFIRM_NS, GROW_NS, HOLD_NS

        if self._recording is not None:  # a recording stops by itself after its longest length
            from .speech import MAX_RECORDING_S

            return self._recording[4] + int(MAX_RECORDING_S * 1e9)
        if self.editor is not None or self.picker is not None:
            return None
        wants: list[int] = []
        st = self.state
        if st.dwells:
            wants.append(now_ns)
        if st.chosen and now_ns - st.chosen[-1][1] < CONFIRM_NS:  # the confirmation: moving only while it
            t = st.chosen[-1][1]                                   # grows and settles, then once at its end
            if self.low_stim:
                wants.append(t + CONFIRM_NS)
            elif now_ns - t < GROW_NS or now_ns - t >= GROW_NS + HOLD_NS:
                wants.append(now_ns)
            else:
                wants.append(t + GROW_NS + HOLD_NS)
        if st.scan.active and st.scan.next_ns is not None:
            wants.append(st.scan.next_ns)
        if self.trial is None and self._next_trial_ns is not None:
            wants.append(self._next_trial_ns)
        return min(wants) if wants else None

    def update(self, now_ns: int) -> None:
        ctx = self.ctx
        assert ctx is not None
        if self._recording is not None:
            from .speech import MAX_RECORDING_S

            if now_ns - self._recording[4] >= MAX_RECORDING_S * 1e9 and self.editor is not None:
                self.editor.message = self._stop_recording()
                self.editor.relayout()
        if self.editor is not None or self.picker is not None:
            return
        if self.trial is None and self._next_trial_ns is not None and now_ns >= self._next_trial_ns:
            self._open_trial(self._next_trial_ns)  # the board is ready for the next choice
        for pid, card, t_done in self.state.dwell_due(now_ns):
            if pid == HOVER_POINTER:
                self._hover_chosen = card
            source, device = self._pointers.get(pid, ("touch", ""))
            ev = InputEvent(t_done, source, "dwell", device=device, pointer_id=pid)
            self._choose(card, ev, method="dwell")
        moves, timed_out = self.state.scan_update(now_ns)
        if moves:
            self._cue(moves[-1])
        if timed_out:
            trial = self._open_trial(now_ns)
            data = {"board": self.board.id, "loops": self.access.loops, "scan_ms": self.access.scan_ms}
            ctx.log("scan_timeout", actor="system", data=data, trial=trial)
            self._judge("no_response", now_ns, data)

    # ---- therapist -------------------------------------------------------------------------

    def primary_action(self) -> tuple[str, Any]:
        """Next board: what the therapist reaches for between choices (and with the pedal)."""
        t = self.ctx.t if self.ctx else (lambda s: s)
        return t("Next board"), self.next_board

    def therapist_actions(self) -> list[tuple[str, str, Any]]:
        t = self.ctx.t if self.ctx else (lambda s: s)
        return [("next_board", t("Next board"), self.next_board),
                ("boards", t("Choose board"), self.open_picker),
                ("prompt", t("Prompt now"), self.mark_prompt),
                ("model", t("Cancel model") if self.state.model_next else t("Model next"), self.toggle_model),
                ("edit", t("Close editor") if self.editor is not None else t("Edit boards"), self.toggle_editor)]

    def next_board(self) -> None:
        assert self.ctx is not None
        i = self.order.index(self.board.id) if self.board.id in self.order else -1
        self._show(self.order[(i + 1) % len(self.order)], self.ctx.now_ns())

    def show_board(self, board_id: str) -> None:
        assert self.ctx is not None
        self._show(board_id, self.ctx.now_ns())

    def open_picker(self) -> None:
        """The boards by title, to pick one (from the therapist panel): the board on screen is
        withdrawn meanwhile; picking shows the new one, Cancel brings this one back."""
        ctx = self.ctx
        assert ctx is not None
        if self.editor is not None:
            self._close_editor()
        from .editor import BoardList

        offered = [self.boards[i] for i in self.order] + [b for i, b in self.boards.items() if i not in self.order]
        self._end_trial("withdrawn")
        self.picker = BoardList(offered, self.board.id, ctx.t, self._pick, self._cancel_pick, ctx.t("Choose board"))
        self.picker.layout(self.size, self.theme)

    def _pick(self, board_id: str) -> None:
        assert self.ctx is not None
        self.picker = None
        self.ctx.log("board_picked", actor="therapist", data={"board": board_id, "from": self.board.id})
        self._show(board_id, self.ctx.now_ns())

    def _cancel_pick(self) -> None:
        assert self.ctx is not None
        self.picker = None
        self._show(self.board.id, self.ctx.now_ns())

    def mark_prompt(self) -> None:
        assert self.ctx is not None
        now = self.ctx.now_ns()
        self.state.prompt(now)
        trial = self._open_trial(now) if self.editor is None else None  # prompting offers the board
        self.ctx.log("prompt", actor="therapist", t_ns=now, goals=self.board.goals, prompt=self.ctx.prompt,
                     data={"board": self.board.id}, trial=trial)

    def toggle_model(self) -> None:
        self.state.model_next = not self.state.model_next

    def toggle_editor(self) -> None:
        ctx = self.ctx
        assert ctx is not None
        if self.editor is not None:
            self._close_editor()
            return
        from .editor import BoardEditor, list_pictures

        sounds = sorted({s.sound for b in self.boards.values() for c in b.cards for s in c.sound}
                        | set(EXTRA_SOUNDS)
                        | {f"sample:{p.stem}" for p in sorted(self.sounds_dir.glob("*.wav"))})
        ids = list(self.boards)
        self._end_trial("withdrawn")  # the client's board is gone while the therapist edits
        self.picker = None
        self.editor = BoardEditor([self.boards[i] for i in ids], ids.index(self.board.id),
                                  list_pictures(self.image_dirs), sounds, ctx.t, self._save_board,
                                  lambda card: self._sound_card(card, ctx.now_ns()), self._record, self._hear)
        self.editor.layout(self.size, self.theme)
        ctx.notify(ctx.t("Board editor open: tap Back to client to use it"))

    def _close_editor(self) -> None:
        ed = self.editor
        assert ed is not None and self.ctx is not None
        if self._recording is not None:
            self._stop_recording()
        for b in ed.boards:
            if b != self.boards.get(b.id):
                self.boards[b.id] = b
                self._load_assets(b)
        self.editor = None
        self._show(ed.board.id, self.ctx.now_ns())  # speaks its (new) labels: synthesized here if needed

    # ---- recording a card's label (the therapist, in the editor) ---------------------------

    def _record(self, board: Board, index: int) -> str:
        """Start recording the card's label from the microphone, or stop and keep it."""
        ctx = self.ctx
        assert ctx is not None
        if self._recording is not None:
            return self._stop_recording()
        mic = ctx.open_mic()
        if mic is None or getattr(mic, "backend", "") == "null":
            return ctx.t("Recording needs the microphone")
        self._recording = (mic, board.id, index, int(mic.frames_captured), ctx.now_ns())
        if self.editor is not None:
            self.editor.recording = True
        return ctx.t("Recording: say the label, then tap Stop recording")

    def _stop_recording(self) -> str:
        """Cut the recording from the mic's ring, trim it to the voice, level it, keep it as a WAV
        beside the board file and load it: from now on the card speaks in the therapist's voice."""
        from .speech import level, resample, trim_voice

        ctx = self.ctx
        assert ctx is not None and self._recording is not None
        mic, board_id, index, first, t0 = self._recording
        self._recording = None
        if self.editor is not None:
            self.editor.recording = False
        x, _ = mic.latest(int(mic.frames_captured) - first)
        clip = trim_voice(x, int(mic.rate))
        if clip is None:
            return ctx.t("Nothing heard: try again")
        y = level(resample(clip, int(mic.rate), self.rate))
        board = next((b for b in (self.editor.boards if self.editor else []) if b.id == board_id), self.boards[board_id])
        name = voice_file_name(board, index)
        saved = ""
        if self.user_dir is not None:
            from prelude_play.audio.bank import write_wav

            try:
                self.user_dir.mkdir(parents=True, exist_ok=True)
                saved = str(write_wav(self.user_dir / name, y, self.rate))
            except OSError as exc:
                ctx.notify(ctx.t("Could not save the board") + f": {exc}")
        load = getattr(ctx.audio, "load", None)
        if callable(load):
            load(self._voice_sound(board_id, name), y)
        self.recorded[(board_id, name)] = (self._voice_sound(board_id, name), int(y.size / self.rate * 1e9))
        if self.editor is not None:
            self.editor.set_card_voice(board_id, index, name)
        ctx.log("voice_recorded", actor="therapist", source="mic", device="mic", t_ns=t0,
                data={"board": board_id, "card": board.cards[index].label, "file": name, "path": saved,
                      "duration_ms": round(y.size / self.rate * 1000, 1)})
        msg = ctx.t("Voice recorded") + f": {name}"
        return msg if saved else msg + " · " + ctx.t("Not saved: no boards folder is set (changes last until the app closes)")

    def _hear(self, board: Board, index: int) -> None:
        """Play what the client will hear for the card's label (synthesized now if it is new)."""
        ctx = self.ctx
        assert ctx is not None
        if self.voices is not None:
            self.voices.ensure(self.language, [ctx.t(board.cards[index].label)])
        sound, _, how = self.speech_for(board, index)
        ctx.play(sound, float(self.config.get("velocity", 0.9)))
        if self.editor is not None:
            self.editor.message = {"recording": ctx.t("recorded voice"), "synthesized": ctx.t("synthesized voice"),
                                   "chime": ctx.t("chime (no voice)")}[how]

    def _save_board(self, board: Board) -> str:
        ctx = self.ctx
        assert ctx is not None
        if self.user_dir is not None and board.path is not None and board.path.parent != self.user_dir:
            self._copy_voices(board)  # a shipped board's recordings go with its copy
        self.boards[board.id] = board
        self._load_assets(board)
        if self.user_dir is None:
            msg = ctx.t("Not saved: no boards folder is set (changes last until the app closes)")
            ctx.notify(msg)
            return msg
        try:
            path = save_board(board, self.user_dir)
        except OSError as exc:
            msg = ctx.t("Could not save the board") + f": {exc}"
            ctx.notify(msg)
            return msg
        ctx.log("board_saved", actor="therapist", goals=board.goals, data={"board": board.id, "path": str(path)})
        return ctx.t("Saved") + f": {path.name}"

    def _copy_voices(self, board: Board) -> None:
        import shutil

        assert self.user_dir is not None
        for c in board.cards:
            src = self._voice_path(board, c.voice) if c.voice else None
            if src is not None and src.is_file() and not (self.user_dir / c.voice).exists():
                self.user_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, self.user_dir / c.voice)

    def _editor_input(self, event: InputEvent) -> None:
        ed = self.editor
        assert ed is not None
        # The therapist works the editor: the client's repeat filter does not apply to them.
        if event.kind == "tap" and event.data.get("filtered") in (None, "repeat") and event.pos is not None:
            if ed.tap(event.pos):
                ed.layout(self.size, self.theme)
        elif event.kind == "key_down" and event.key:
            import pygame

            if ed.key(event.key, bool(event.data.get("mod", 0) & pygame.KMOD_SHIFT)):
                ed.layout(self.size, self.theme)

    def status_text(self) -> str:
        t = self.ctx.t if self.ctx else (lambda s: s)
        return f"{t(self.board.title)} · {self.state.count} · {t(self.access.method.replace('_', ' '))}"

    # ---- drawing ---------------------------------------------------------------------------

    def draw(self, surface: "pygame.Surface") -> None:
        from .view import draw, note_name

        ctx = self.ctx
        assert ctx is not None
        if self.layout_ is None or self.layout_.size != surface.get_size():
            self.layout(surface.get_size())
        if self.picker is not None:
            self.picker.draw(surface, self.theme)
            return
        if self.editor is not None:
            self.editor.draw(surface, self.theme, self.pictures)
            return
        badges: list[str] = []
        if self.access.method == "play":
            inv_n = {i: n for n, i in self.note_cards.items()}
            inv_k = {i: k for k, i in self.key_cards.items()}
            badges = [inv_k.get(i, "") or (note_name(inv_n[i]) if i in inv_n else "")
                      for i in range(len(self.board.cards))]
        status = ctx.t("Model next") if self.state.model_next else ""
        assert self.layout_ is not None
        draw(surface, self.theme, self.board, self.state, self.layout_, self.pictures, ctx.now_ns(), ctx.t,
             low_stim=self.low_stim, badges=badges, status=status)

    def stop(self) -> None:
        self._end_trial("withdrawn")
        self.editor = None
        self.picker = None
        self._recording = None
        if getattr(self, "voices", None) is not None:
            self.voices.close()  # type: ignore[union-attr]


ACTIVITY = ChoiceBoard
