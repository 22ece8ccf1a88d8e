"""Choice-board presets: TOML files → typed, immutable Board objects.

A board file is small and written by therapists, so every mistake is reported with the file and
line (a ConfigError) and a bad file never stops the other boards from loading. Boards in the
user's folder (edited in the app) override shipped boards with the same id.

File format (one board per file)::

    [board]
    id = "instruments"            # defaults to the file stem
    title = "Which instrument?"
    rows = 2                      # rows x cols must hold the cards; 2..9 cards
    cols = 3
    goals = ["functional_communication", "self_expression"]   # optional override
    kind = "choice"               # or "first_then" (a routine board: First ... Then ...)

    [[card]]
    label = "Guitar"
    picture = "guitar.png"        # in assets/images, the user's image folder, or an absolute path
    sound = "sample:guitar_E3"    # one sound, or a phrase: [{sound = "keys:60", at_ms = 0}, ...]
    echo = "vowel:ee:67"          # optional sung/spoken echo (a sound or a phrase)
    note = 36                     # optional MIDI pad/key that chooses this card
    key = "1"                     # optional computer key that chooses this card
    colour = "blue"               # optional card colour (match a coloured pad sticker)
    row = 1                       # the card's place, row 1.. and column 1.. (1, 1 = top left): a card
    col = 2                       #   keeps it across sessions and edits (motor planning); cards with
                                  #   no place fill the free cells in reading order
    hidden = true                 # optional: not shown for now, its cell stays empty (a gap)
    voice = "what_next.drum.wav"  # optional: the therapist's recording of the label, beside this file
    activity = "drum_turns"       # optional ("What next?"): choosing the card makes this activity the
                                  #   running plan's next step

A card is spoken when chosen: its recording, else the label synthesized offline (speech.py),
else its chime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from prelude_play.audio.bank import check_sound_name
from prelude_play.config import capped, key_lines, load_toml, using
from prelude_play.errors import ConfigError, brief

DEFAULT_GOALS = ("functional_communication", "self_expression")
ROUTINE_GOALS = ("functional_communication", "attention_executive")
KINDS = ("choice", "first_then")
MIN_CARDS, MAX_CARDS = 2, 9
SIZES = ((1, 2), (1, 3), (2, 2), (2, 3), (3, 3))
COLOURS = {"blue": 0, "orange": 1, "green": 2, "purple": 3, "yellow": 4, "teal": 5, "pink": 6,
           "olive": 7, "violet": 8}
SOUND_RE = re.compile(
    r"^(drum:\d{1,3}|(guitar|keys|chimes):\d{1,3}(\.\d+)?|vowel:(ah|ee|oo|oh|eh):\d+(\.\d+)?(hz)?(:\d+(\.\d+)?s?)?"
    r"|click:(hi|lo)|sample:[\w.\-]+)$", re.IGNORECASE)
SOUND_FORMS = "drum:N, guitar:N, keys:N, chimes:N, vowel:ah|ee|oo|oh|eh:N, click:hi|lo, sample:STEM"
PICTURE_EXTS = (".png", ".jpg", ".jpeg", ".svg")
MAX_STEPS = 16  # sounds in one card's phrase
MAX_BOARD_FILES = 500  # board files read from one folder
MAX_RAW_CARDS = 4 * MAX_CARDS  # [[card]] tables read; a file with thousands is refused past these
CARD_FIELDS = ("label", "picture", "sound", "echo", "note", "key", "colour", "color", "row", "col", "hidden",
               "voice", "activity")


@dataclass(frozen=True)
class Step:
    """One sound of a card's phrase, ``at_ms`` after the choice."""

    sound: str
    at_ms: int = 0
    velocity: float = 1.0


@dataclass(frozen=True)
class Card:
    label: str
    picture: str = ""
    sound: tuple[Step, ...] = ()
    echo: tuple[Step, ...] = ()
    note: int | None = None
    key: str | None = None
    colour: int | None = None
    cell: tuple[int, int] | None = None
    """(row, col) from 0 in the board's grid; a Board places a card without one in a free cell."""
    hidden: bool = False
    voice: str = ""
    activity: str = ""

    @property
    def first_sound(self) -> str | None:
        return self.sound[0].sound if self.sound else None


@dataclass(frozen=True)
class Board:
    id: str
    title: str
    rows: int
    cols: int
    cards: tuple[Card, ...]
    goals: tuple[str, ...] = DEFAULT_GOALS
    kind: str = "choice"
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Every card has its own cell: placed cards keep theirs, the others take free cells in
        # reading order, so adding a card never moves another.
        object.__setattr__(self, "cards", place_cards(self.cards, self.rows, self.cols))

    def with_cards(self, cards: Iterable[Card]) -> "Board":
        return replace(self, cards=tuple(cards))

    def card_in(self, cell: tuple[int, int]) -> int | None:
        """The index of the card (hidden or not) in ``cell``, or None for an empty cell."""
        return next((i for i, c in enumerate(self.cards) if c.cell == cell), None)

    def free_cells(self) -> list[tuple[int, int]]:
        taken = {c.cell for c in self.cards}
        return [(r, c) for r in range(self.rows) for c in range(self.cols) if (r, c) not in taken]


def place_cards(cards: Iterable[Card], rows: int, cols: int) -> tuple[Card, ...]:
    """Cards with a cell inside the grid (the first one to claim it) keep it; the rest take the free
    cells in reading order (a card left over when the grid is full keeps no cell and is hidden)."""
    cards = tuple(cards)
    taken: set[tuple[int, int]] = set()
    keep: list[bool] = []
    for c in cards:
        ok = c.cell is not None and 0 <= c.cell[0] < rows and 0 <= c.cell[1] < cols and c.cell not in taken
        keep.append(ok)
        if ok:
            assert c.cell is not None
            taken.add(c.cell)
    free = iter([(r, k) for r in range(rows) for k in range(cols) if (r, k) not in taken])
    out = []
    for c, ok in zip(cards, keep):
        if not ok:
            cell = next(free, None)
            c = replace(c, cell=cell, hidden=c.hidden or cell is None)
        out.append(c)
    return tuple(out)


def grid_holding(cards: Iterable[Card], n: int, rows: int = 1, cols: int = 1) -> tuple[int, int]:
    """The smallest standard grid, at least ``rows`` x ``cols``, that holds ``n`` cards and every
    card's own cell (so growing a board never moves a card)."""
    cells = [c.cell for c in cards if c.cell is not None]
    need_r = max([rows] + [r + 1 for r, _ in cells])
    need_c = max([cols] + [k + 1 for _, k in cells])
    for r, c in SIZES:
        if r >= need_r and c >= need_c and r * c >= n:
            return r, c
    return 3, 3


def _steps(value: Any, where: str, err: Any) -> tuple[Step, ...]:
    """A sound string, a list of strings (spaced 400 ms) or a list of {sound, at_ms, velocity}."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        err(where, f"must be a sound name or a list of them, not {brief(value)}")
        return ()
    if len(value) > MAX_STEPS:
        err(where, f"a phrase has at most {MAX_STEPS} sounds, not {len(value)}", f"using the first {MAX_STEPS}")
        value = value[:MAX_STEPS]
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            item = {"sound": item, "at_ms": 400 * i}
        if not isinstance(item, dict) or not isinstance(item.get("sound"), str):
            err(where, f"step {i + 1} must be a sound name or {{sound = \"...\", at_ms = N}}, not {brief(item)}")
            continue
        name = item["sound"]
        if len(name) > 200 or not SOUND_RE.match(name):
            err(where, f"{brief(name)} is not a sound name (allowed: {SOUND_FORMS})")
            continue
        problem = check_sound_name(name)
        if problem:
            err(where, f"{brief(name)}: {problem}", "the card plays a placeholder sound")
            continue
        at = item.get("at_ms", 0)
        vel = item.get("velocity", 1.0)
        if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at <= 10_000:
            err(where, f"at_ms {brief(at)} must be a whole number of ms within 0..10000")
            continue
        if isinstance(vel, bool) or not isinstance(vel, (int, float)) or not 0 < vel <= 1:
            err(where, f"velocity {brief(vel)} must be within 0..1")
            continue
        out.append(Step(name, at, float(vel)))
    return tuple(sorted(out, key=lambda s: s.at_ms))


def parse_board(data: dict[str, Any], path: Path, text: str = "",
                known_goals: Iterable[str] | None = None) -> tuple[Board | None, list[ConfigError]]:
    """Check a parsed board file; return the board (None if unusable) and every problem found."""
    problems: list[ConfigError] = []
    lines = key_lines(text) if text else None

    def line_of(key: str) -> int | None:
        return lines.line(key) if lines is not None else None

    def err(key: str, msg: str, hint: str | None = None) -> None:
        problems.append(ConfigError(msg, path=path, line=line_of(key), key=key, hint=hint))

    head = data.get("board", {})
    if not isinstance(head, dict):
        err("board", "must be a table: [board]", "using the defaults for the board's settings")
        head = {}
    unknown = set(data) - {"board", "card"}
    for k in sorted(unknown)[:10]:
        err(k, f"unknown section {brief(k)}", "use [board] and [[card]]")
    bid = head.get("id", path.stem)
    if not isinstance(bid, str) or not re.fullmatch(r"[\w\-]{1,64}", bid):
        err("board.id", f"id {brief(bid)} must be 1–64 letters, digits, - or _", f"using {path.stem!r}")
        bid = path.stem
    title = head.get("title", bid.replace("_", " ").capitalize())
    if not isinstance(title, str):
        err("board.title", f"title {brief(title)} must be text", f"using {bid!r}")
        title = bid
    kind = head.get("kind", "choice")
    if not isinstance(kind, str) or kind not in KINDS:
        err("board.kind", f"kind {brief(kind)} is not allowed", f"use one of {', '.join(KINDS)}; using 'choice'")
        kind = "choice"
    goals = head.get("goals", ROUTINE_GOALS if kind == "first_then" else DEFAULT_GOALS)
    if not isinstance(goals, list | tuple) or not all(isinstance(g, str) for g in goals) or not goals:
        err("board.goals", f"goals {brief(goals)} must be a list of goal-area keys",
            f"using {', '.join(DEFAULT_GOALS)}")
        goals = DEFAULT_GOALS
    if known_goals is not None:
        known = set(known_goals)
        bad = [g for g in goals if g not in known]
        if bad:
            err("board.goals", f"unknown goal area(s) {brief(bad)}", "see config/goals.toml; they are left out")
            goals = [g for g in goals if g in known] or list(DEFAULT_GOALS)
    goals = tuple(dict.fromkeys(goals))

    raw_cards = data.get("card", [])
    if not isinstance(raw_cards, list):
        err("card", "cards must be [[card]] tables")
        raw_cards = []
    if len(raw_cards) > MAX_RAW_CARDS:
        err("card", f"{len(raw_cards)} [[card]] tables is far more than a board holds ({MAX_CARDS})",
            f"reading the first {MAX_RAW_CARDS}")
        raw_cards = raw_cards[:MAX_RAW_CARDS]
    cards: list[Card] = []
    for ci, raw in enumerate(raw_cards):

        def cerr(key: str, msg: str, hint: str | None = None, _ci: int = ci) -> None:
            line = None
            if lines is not None:  # the key's own line inside this card's table, else the card's
                line = lines.lines.get(f"card[{_ci}].{key.split('.')[-1]}") or lines.lines.get(f"card[{_ci}]")
            problems.append(ConfigError(msg, path=path, line=line, key=f"card {_ci + 1}.{key}", hint=hint))

        if not isinstance(raw, dict):
            cerr("card", "must be a table", "the card is left out")
            continue
        label = raw.get("label")
        if not isinstance(label, str) or not label.strip():
            cerr("label", f"label {brief(label)} must be non-empty text", "the card is left out")
            continue
        for k in sorted(set(raw) - set(CARD_FIELDS))[:10]:
            cerr(k, f"unknown card field {brief(k)}",
                 "allowed: label, picture, sound, echo, note, key, colour, row, col, hidden, voice, activity")
        picture = raw.get("picture", "")
        if not isinstance(picture, str) or len(picture) > 1024 or "\0" in picture or (
                picture and not picture.lower().endswith(PICTURE_EXTS)):
            cerr("picture", f"picture {brief(picture)} must be a .png, .jpg or .svg file name",
                 "the card shows a placeholder")
            picture = ""
        sound = _steps(raw.get("sound"), "sound", cerr)
        echo = _steps(raw.get("echo"), "echo", cerr)
        note = raw.get("note")
        if note is not None and (isinstance(note, bool) or not isinstance(note, int) or not 0 <= note <= 127):
            cerr("note", f"note {brief(note)} must be a MIDI note 0..127", "no pad chooses this card")
            note = None
        key = raw.get("key")
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 32):
            cerr("key", f"key {brief(key)} must be a key name such as \"1\" or \"a\"", "no key chooses this card")
            key = None
        colour = raw.get("colour", raw.get("color"))
        cidx: int | None = None
        if colour is not None:
            if isinstance(colour, str) and colour in COLOURS:
                cidx = COLOURS[colour]
            else:
                cerr("colour", f"colour {brief(colour)} is not known",
                     f"use one of {', '.join(COLOURS)}; using the card's place colour")
        cell: tuple[int, int] | None = None
        row, col = raw.get("row"), raw.get("col")
        if row is not None or col is not None:
            if all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 3 for v in (row, col)):
                cell = (row - 1, col - 1)
            else:
                cerr("row", f"place row = {brief(row)}, col = {brief(col)}: give both, each 1..3", "row 1, col 1 is top left")
        hidden = raw.get("hidden", False)
        if not isinstance(hidden, bool):
            cerr("hidden", f"hidden {brief(hidden)} must be true or false")
            hidden = False
        voice = raw.get("voice", "")
        if not isinstance(voice, str) or (voice and not voice.lower().endswith(".wav")):
            cerr("voice", f"voice {brief(voice)} must be a .wav file name")
            voice = ""
        activity = raw.get("activity", "")
        if not isinstance(activity, str) or (activity and not re.fullmatch(r"[a-z][a-z0-9_]*", activity)):
            cerr("activity", f"activity {brief(activity)} must be an activity name such as \"drum_turns\"")
            activity = ""
        cards.append(Card(label.strip(), picture, sound, echo, note, key.lower() if key else None, cidx, cell,
                          hidden, voice, activity))

    if len(cards) < MIN_CARDS or len(cards) > MAX_CARDS:
        err("card", f"a board needs {MIN_CARDS} to {MAX_CARDS} cards, this one has {len(cards)}")
        if len(cards) < MIN_CARDS:
            return None, problems
        cards = cards[:MAX_CARDS]
    if kind == "first_then" and len(cards) != 2:
        err("board.kind", f"a first/then board has exactly 2 cards, not {len(cards)}")
        cards = cards[:2]
    rows, cols = head.get("rows"), head.get("cols")
    if rows is None and cols is None:
        rows, cols = grid_holding(cards, len(cards))
    elif not (type(rows) is int and type(cols) is int and 1 <= rows <= 3 and 1 <= cols <= 3):
        err("board.rows", f"size {brief(rows)} x {brief(cols)} must be rows 1..3 and cols 1..3 (1x2, 2x2, 2x3, 3x3 …)",
            "using the smallest size that holds the cards")
        rows, cols = grid_holding(cards, len(cards))
    elif rows * cols < len(cards):
        err("board.rows", f"a {rows}x{cols} board holds {rows * cols} cards, not {len(cards)}",
            "make it bigger or remove cards")
        rows, cols = grid_holding(cards, len(cards))
    taken: dict[tuple[int, int], str] = {}
    for i, c in enumerate(cards):
        if c.cell is None:
            continue
        if c.cell[0] >= rows or c.cell[1] >= cols:
            err("card", f"card {i + 1} ({brief(c.label)}): row {c.cell[0] + 1}, col {c.cell[1] + 1} is outside the "
                f"{rows}x{cols} board", "it takes a free cell instead")
        elif c.cell in taken:
            err("card", f"card {i + 1} ({brief(c.label)}): row {c.cell[0] + 1}, col {c.cell[1] + 1} is taken by "
                f"'{taken[c.cell]}'", "it takes a free cell instead")
        else:
            taken[c.cell] = c.label
    return Board(bid, title, rows, cols, tuple(cards), tuple(goals), kind, path), capped(problems, path)


def load_board(path: Path, known_goals: Iterable[str] | None = None) -> tuple[Board | None, list[ConfigError]]:
    """One board file; every problem is a ConfigError and never stops the other boards."""
    try:
        data, text = load_toml(path)
    except ConfigError as exc:
        return None, [using(exc, "no board from this file; the other boards are there")]
    return parse_board(data, path, text, known_goals)


def check_board_file(path: Path) -> list[ConfigError]:
    """Everything wrong with one board file (used by ``prelude-play check-config``)."""
    from prelude_play.config import resource_dir

    return load_board(Path(path), known_goal_keys(resource_dir("config") / "goals.toml"))[1]


def known_goal_keys(goals_file: Path) -> list[str] | None:
    """Goal-area keys from goals.toml, or None (no check) if it cannot be read."""
    from prelude_play.goals import parse_goals

    try:
        goals, _ = parse_goals(goals_file)
    except ConfigError:  # the goals file has its own checker
        return None
    return list(goals.areas)


def load_boards(folders: Iterable[Path], known_goals: Iterable[str] | None = None
                ) -> tuple[dict[str, Board], list[ConfigError]]:
    """Every board in ``folders`` (later folders override earlier ones by id); bad files reported."""
    boards: dict[str, Board] = {}
    problems: list[ConfigError] = []
    known = list(known_goals) if known_goals is not None else None
    for folder in folders:
        if not folder or not Path(folder).is_dir():
            continue
        for p in sorted(Path(folder).glob("*.toml"))[:MAX_BOARD_FILES]:
            try:
                board, errs = load_board(p, known)
            except Exception as exc:  # noqa: BLE001 - one board file must never take the others down
                board, errs = None, [ConfigError(f"could not be read ({type(exc).__name__}: {brief(str(exc))})",
                                                 path=p, hint="the other boards are there; please report this file")]
            problems.extend(errs)
            if board is not None:
                boards.pop(board.id, None)  # keep file order but let the later one win
                boards[board.id] = board
    return boards, problems


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _steps_toml(steps: tuple[Step, ...]) -> str:
    if len(steps) == 1 and steps[0].at_ms == 0 and steps[0].velocity == 1.0:
        return _toml_str(steps[0].sound)
    items = []
    for s in steps:
        v = f", velocity = {s.velocity:g}" if s.velocity != 1.0 else ""
        items.append(f"{{ sound = {_toml_str(s.sound)}, at_ms = {s.at_ms}{v} }}")
    return "[" + ", ".join(items) + "]"


def board_to_toml(board: Board) -> str:
    """The board as a board file (what the in-app editor saves)."""
    inv = {v: k for k, v in COLOURS.items()}
    out = ["# Saved by the Prelude Play board editor.", "[board]", f"id = {_toml_str(board.id)}",
           f"title = {_toml_str(board.title)}", f"rows = {board.rows}", f"cols = {board.cols}",
           "goals = [" + ", ".join(_toml_str(g) for g in board.goals) + "]", f"kind = {_toml_str(board.kind)}"]
    for c in board.cards:
        out += ["", "[[card]]", f"label = {_toml_str(c.label)}"]
        if c.picture:
            out.append(f"picture = {_toml_str(c.picture)}")
        if c.sound:
            out.append(f"sound = {_steps_toml(c.sound)}")
        if c.echo:
            out.append(f"echo = {_steps_toml(c.echo)}")
        if c.note is not None:
            out.append(f"note = {c.note}")
        if c.key:
            out.append(f"key = {_toml_str(c.key)}")
        if c.colour is not None:
            out.append(f"colour = {_toml_str(inv[c.colour])}")
        if c.cell is not None:
            out.append(f"row = {c.cell[0] + 1}")
            out.append(f"col = {c.cell[1] + 1}")
        if c.hidden:
            out.append("hidden = true")
        if c.voice:
            out.append(f"voice = {_toml_str(c.voice)}")
        if c.activity:
            out.append(f"activity = {_toml_str(c.activity)}")
    return "\n".join(out) + "\n"


def save_board(board: Board, folder: Path) -> Path:
    """Write ``board`` to ``folder/<id>.toml`` atomically (a crash never leaves half a file)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{board.id}.toml"
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(board_to_toml(board), encoding="utf-8")
    tmp.replace(path)
    return path
