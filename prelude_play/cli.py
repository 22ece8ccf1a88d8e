"""Command line: run the app (default), export, note, summary, check-config, devices, selftest, analyze."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from prelude_play import __version__

if TYPE_CHECKING:
    from prelude_play.diagnostics.logs import CrashGuard

START_NS = time.perf_counter_ns()
log = logging.getLogger("prelude_play")


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("prelude-play", appauthor=False))


def default_spill_dir() -> Path:
    """Where writes the store refused wait (a disk full, the data folder gone): the user's state
    folder, away from the data folder, so a lost data drive does not take them too."""
    import platformdirs

    return Path(platformdirs.user_state_dir("prelude-play", appauthor=False)) / "held"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError("size must look like 1280x800") from None


def add_global_options(p: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """The options every command takes. Added to the main parser (with their defaults) and again to
    each subcommand (``suppress``: no default, so that an option given before the subcommand is not
    reset by the subcommand's parser), so ``prelude-play export --data-dir D`` works as well as
    ``prelude-play --data-dir D export``. A subcommand's own option of the same name wins."""
    own = set(p._option_string_actions)

    def add_argument(*flags: str, **kw) -> None:
        if own.intersection(flags):
            return
        if suppress:
            kw["default"] = argparse.SUPPRESS
        p.add_argument(*flags, **kw)

    add_argument("--data-dir", type=Path, help="where the event store and user settings live")
    add_argument("--headless", action="store_true", help="no window (SDL dummy video driver)")
    add_argument("--fullscreen", action="store_true", help="kiosk mode")
    add_argument("--size", type=_size, help="window size, e.g. 1920x1080")
    add_argument("--client", help="start with this client: its id, code or name (a new name creates the "
                                  "client with a generated id)")
    add_argument("--activity", help="start straight into this activity")
    add_argument("--for", dest="for_seconds", type=float, help="stop by itself after SECONDS")
    add_argument("--midi-api", choices=["auto", "alsa", "jack", "rtmidi-jack", "coremidi", "winmm", "virtual", "none"])
    add_argument("--audio-backend", choices=["auto", "sounddevice", "sdl", "null"])
    add_argument("--audio-process", choices=["inline", "separate"],
                 help="run the audio engine and MIDI in this process or their own (audio.process)")
    add_argument("--language", choices=["en", "fr_CA"],
                 help="the app's language; for note, summary and an HTML export: write in this language "
                      "instead of the session's")
    add_argument("--screenshot", type=Path, help="save the last frame as PNG on exit")
    add_argument("--report-ready", action="store_true", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prelude-play", description="Prelude Play — music therapy sessions")
    p.add_argument("--version", action="version", version=f"prelude-play {__version__}")
    add_global_options(p)
    sub = p.add_subparsers(dest="command")
    e = sub.add_parser("export", help="write events to a file")
    e.add_argument("--format", choices=["jsonl", "csv", "html"], default="jsonl")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--names", action="store_true", help="show client names instead of codes")
    e.add_argument("--session", help="only this session (id or its first characters)")
    e.add_argument("--client", help="only this client (id or pseudonymous code)")
    e.add_argument("--since", help="sessions started on or after this day (YYYY-MM-DD)")
    e.add_argument("--until", help="sessions started on or before this day (YYYY-MM-DD)")
    e.add_argument("--goal", help="only events tagged with this goal (area key or client:<goal id>)")
    e.add_argument("--free-text", choices=["keep", "withhold"],
                   help="notes, plan names and other typed text: withheld by default unless --names")
    n = sub.add_parser("note", help="write one session's note (PDF, text or JSON) to sign")
    n.add_argument("--session", required=True, help="the session's id, or its first characters")
    n.add_argument("--format", choices=["pdf", "txt", "json"], default="pdf")
    n.add_argument("--out", type=Path, help="the file to write (default: note-<session>.<format> here)")
    n.add_argument("--names", action="store_true", help="show the client's name instead of their code")
    sm = sub.add_parser("summary", help="print one session's figures (--json) or its note as text")
    sm.add_argument("--session", required=True, help="the session's id, or its first characters")
    sm.add_argument("--json", action="store_true", help="the per-goal figures as JSON")
    sm.add_argument("--names", action="store_true", help="show the client's name instead of their code")
    c = sub.add_parser("check-config", help="report every problem in config files")
    c.add_argument("files", nargs="*", type=Path)
    d = sub.add_parser("devices", help="list MIDI and audio devices")
    d.add_argument("--json", action="store_true")
    s = sub.add_parser("selftest", help="measure audio output latency and jitter on this machine")
    s.add_argument("--json", action="store_true")
    a = sub.add_parser("analyze", help="vowel/pitch/formant analysis of a WAV file")
    a.add_argument("rest", nargs=argparse.REMAINDER)
    pd = sub.add_parser("pedal", help="name the therapist's MIDI scoring pedal (none until named)")
    pd.add_argument("device", nargs="?", help="its name or a pattern, as `prelude-play devices` lists it")
    pd.add_argument("--control", type=int, default=None, help="the controller (CC) it sends (default 64)")
    pd.add_argument("--note", type=int, default=None, help="the note it sends, for pedals that send notes")
    pd.add_argument("--none", action="store_true", help="no scoring pedal")
    # --- the clinic (issue 19): enroll, sync, conflicts, clinic …, export --server -------------
    from prelude_play.store.clinic_cli import add_commands as add_clinic_commands

    add_clinic_commands(sub)
    dr = sub.add_parser("doctor", help="say what this machine has and lacks for sessions, and how to fix it")
    dr.add_argument("--json", action="store_true")
    sb = sub.add_parser("support-bundle", help="a zip for support: logs, versions, devices, settings "
                        "(no client data, no PIN)")
    sb.add_argument("--out", type=Path, default=Path("prelude-support.zip"))
    for command_parser in sub.choices.values():  # last, so that every subcommand gets them
        if not any(a.nargs == argparse.REMAINDER for a in command_parser._actions):  # analyze: all its own
            add_global_options(command_parser, suppress=True)
    return p


def cmd_pedal(args: argparse.Namespace, data_dir: Path) -> int:
    """Write ``[pedal]`` into the user's instrument map (a copy of the shipped one at first)."""
    from prelude_play.config import resource_dir
    from prelude_play.errors import ConfigError
    from prelude_play.midi.instruments import set_pedal

    path = data_dir / "config" / "instruments.toml"
    if args.none == bool(args.device):
        print("prelude-play pedal: give the pedal's device name, or --none", file=sys.stderr)
        return 2
    control = args.control if args.control is not None or args.note is not None else 64
    try:
        m = set_pedal(path, resource_dir("config") / "instruments.toml", None if args.none else args.device,
                      control=control, note=args.note)
    except ConfigError as exc:
        print(f"prelude-play pedal: {exc} (nothing changed)", file=sys.stderr)
        return 1
    if m.pedal is None:
        print(f"no scoring pedal ({path})")
    else:
        what = ", ".join([f"CC{c}" for c in sorted(m.pedal.controls)] + [f"note {n}" for n in sorted(m.pedal.notes)])
        print(f"scoring pedal: {m.pedal.device} ({what}) in {path}")
    return 0


def load_config(args: argparse.Namespace, data_dir: Path):
    from prelude_play.config import default_config_paths, load_app_config

    cfg = load_app_config(default_config_paths(data_dir))
    if args.language:
        cfg.ui.language = args.language
    if args.size:
        cfg.ui.width, cfg.ui.height = args.size
    return cfg


def cmd_run(args: argparse.Namespace, data_dir: Path) -> int:
    """The app, under a crash guard: crash reports in the log folder, faulthandler for the C core."""
    from prelude_play.diagnostics.logs import install_crash_guard, uninstall_crash_guard

    guard = install_crash_guard()
    log.info("prelude-play %s starting (data %s)", __version__, data_dir)
    try:
        return run_app(args, data_dir, guard)
    except Exception as exc:  # reported here, before the guard is taken down
        guard.excepthook(type(exc), exc, exc.__traceback__)
        return 70  # EX_SOFTWARE
    finally:
        uninstall_crash_guard(guard)


def run_app(args: argparse.Namespace, data_dir: Path, guard: "CrashGuard | None" = None) -> int:
    if args.headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    # The audio and MIDI callbacks are Python and need the GIL each period; the default 5 ms
    # switch interval lets the UI thread hold it for longer than a 2.7 ms period.
    sys.setswitchinterval(0.001)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from prelude_play.activity import discover
    from prelude_play.clock import MonotonicClock
    from prelude_play.config import resource_dir
    from prelude_play.errors import StoreError
    from prelude_play.goals import parse_goals
    from prelude_play.devices.build import build_audio, build_midi, link_native, mic_factory
    from prelude_play.hits import HitPath
    from prelude_play.shell.app import App
    from prelude_play.store.eventlog import EventLog

    cfg = load_config(args, data_dir)
    if cfg.therapist.pin and not cfg.pin_problem:  # a plain PIN in the user's file: hashed there at once
        from prelude_play.settings_file import migrate_plain_pin

        try:
            migrate_plain_pin(data_dir, cfg.therapist.pin, cfg.pin_hash())
        except OSError as exc:
            log.warning("could not rewrite the PIN as a hash in %s: %s", data_dir, exc)
    for problem in cfg.problems:
        log.warning("config: %s", problem)
    clock = MonotonicClock()
    try:
        store = EventLog(data_dir / "prelude.db", clock, spill_dir=default_spill_dir())
    except StoreError as exc:
        log.error("%s", exc)
        return 3
    goals, goal_problems = parse_goals(resource_dir("config") / "goals.toml")
    registry = discover(known_goals=goals.is_known if goals.areas else None)  # unreadable goals: no check
    for err in registry.errors:
        log.warning("%s", err)
    notices = [str(p) for p in cfg.problems + goal_problems]
    if args.audio_process:
        cfg.audio.process = args.audio_process
    rt = None
    if cfg.audio.process == "separate":
        from prelude_play.errors import DeviceError
        from prelude_play.rt.proxy import start_rt

        try:  # audio + MIDI (and the MIDI fast path) in a child process, away from the UI's GIL
            from prelude_play.diagnostics.logs import default_log_dir

            rt = start_rt(cfg, audio_backend=args.audio_backend, midi_api=args.midi_api, data_dir=data_dir,
                          log_dir=default_log_dir())
        except DeviceError as exc:
            notices.append(f"{exc}; audio and MIDI run in the app's own process")
    native_facts: list[str] = []
    if rt is not None:  # hits are sounded in the child; the frame loop routes and logs them
        audio, midi, midi_out, hits = rt.audio, rt.midi, rt.midi_out, rt.hits
        device_notes = list(rt.notices)
    else:
        audio, audio_notes = build_audio(cfg, clock, args.audio_backend)
        midi, midi_out, midi_notes = build_midi(cfg, clock, args.midi_api, data_dir)
        link = link_native(audio, midi, cfg.audio.fast_path)
        native_facts = list(link.facts) if link is not None else []
        hits = HitPath(audio, midi, steady=cfg.audio.fast_path == "steady", native=link)
        device_notes = audio_notes + midi_notes
    app = App(cfg, store=store, registry=registry, clock=clock, audio=audio, midi=midi, midi_out=midi_out,
              hits=hits, mic_factory=mic_factory(cfg, clock, args.audio_backend),
              fullscreen=args.fullscreen, data_dir=data_dir, notices=notices)
    app.native_facts = native_facts
    for n in device_notes:
        app.notify(n)
        log.warning("%s", n)

    def ready() -> None:
        if args.report_ready:
            print(f"READY {(time.perf_counter_ns() - START_NS) / 1e6:.1f} ms", flush=True)

    if guard is not None:  # an uncaught exception: what is logged is saved, the store closed
        guard.on_crash.append(store.close)
    from prelude_play.store.sync import start_background_sync  # the clinic (issue 19): None unless enrolled

    clinic_sync = start_background_sync(data_dir)
    if clinic_sync is not None:
        from prelude_play.store.sync import SYNC_FAILED, SYNC_OK

        app.loop.watch(clinic_sync, SYNC_OK, SYNC_FAILED)  # the therapist hears of it once per change
    try:
        client = None
        if args.client:  # an id, a code or a name; a name never becomes the id (store/clients.py)
            from prelude_play.store.clients import ClientBook

            try:
                client = ClientBook(store).find_or_create(args.client)
            except StoreError as exc:
                log.error("--client: %s", exc)
                return 2
        app.start(client_id=client, activity=args.activity)
        app.run(for_seconds=args.for_seconds, on_first_frame=ready)
        if args.screenshot:
            app.screenshot(args.screenshot)
    finally:
        if clinic_sync is not None:
            clinic_sync.stop()
        for told in store.close():  # held events: where they are, so the therapist knows
            log.warning("%s", told)
    return 0


def cmd_export(args: argparse.Namespace, data_dir: Path) -> int:
    from prelude_play.clock import MonotonicClock
    from prelude_play.errors import PreludeError
    from prelude_play.store import export
    from prelude_play.store.eventlog import EventLog

    db = data_dir / "prelude.db"
    if not db.exists():
        print(f"prelude-play export: no event store at {db}; pass --data-dir", file=sys.stderr)
        return 2
    sel = export.Selection(session=args.session, client=args.client, since=args.since, until=args.until,
                           goal=args.goal)
    try:
        store = _reading_store(db)
        for n in store.notices:
            print(f"prelude-play export: {n}", file=sys.stderr)
        try:
            fn = {"jsonl": export.export_jsonl, "csv": export.export_csv}.get(args.format)
            if fn is None:
                from prelude_play.store.report import export_html

                fn = export_html
            settings = {"format": args.format, "command": "prelude-play export"}  # never the --out path
            free_text = None if args.free_text is None else args.free_text == "keep"
            if fn is export.export_jsonl or fn is export.export_csv:
                out = fn(store, args.out, names=args.names, selection=sel, settings=settings, free_text=free_text)
            else:  # the report: in the latest session's language unless --language says otherwise
                out = fn(store, args.out, names=args.names, selection=sel, settings=settings,
                         language=args.language, registry=_registry(), free_text=free_text)
        finally:
            store.close()
    except PreludeError as exc:
        print(f"prelude-play export: {exc}", file=sys.stderr)
        return 1
    if store.skipped:
        print(f"prelude-play export: {store.skipped} unreadable row(s) of the damaged store were skipped; "
              "everything else was exported", file=sys.stderr)
    print(f"wrote {out}")
    return 0


def _reading_store(db: Path):
    """The store for export, note and summary: opened read-only, so a damaged or read-only store
    is read as far as it goes; an older format that can be written is upgraded first (a backup
    is kept), as the app would."""
    from prelude_play.clock import MonotonicClock
    from prelude_play.store.eventlog import SCHEMA_VERSION, EventLog

    store = EventLog(db, MonotonicClock(), read_only=True, allow_old=True)
    if store.format < SCHEMA_VERSION and not store.damaged:
        store.close()
        store = EventLog(db, MonotonicClock())
    return store


def _open_store(data_dir: Path, command: str):
    """The event store for a read-only command, or None after saying what to do."""
    from prelude_play.clock import MonotonicClock
    from prelude_play.errors import StoreError
    from prelude_play.store.eventlog import EventLog

    db = data_dir / "prelude.db"
    if not db.exists():
        print(f"prelude-play {command}: no event store at {db}; pass --data-dir with the folder that holds "
              "prelude.db (the app's data folder)", file=sys.stderr)
        return None
    try:
        store = _reading_store(db)
    except StoreError as exc:
        print(f"prelude-play {command}: {exc}", file=sys.stderr)
        return None
    for n in store.notices:
        print(f"prelude-play {command}: {n}", file=sys.stderr)
    return store


def _registry():
    """The installed activities, for their titles and trial words in a note (never run here)."""
    from prelude_play.activity import discover

    return discover()


def cmd_note(args: argparse.Namespace, data_dir: Path) -> int:
    from prelude_play.errors import PreludeError
    from prelude_play.store.note import write_note
    from prelude_play.store.summary import find_session

    store = _open_store(data_dir, "note")
    if store is None:
        return 2
    try:
        session = find_session(store, args.session)
        out = args.out or Path(f"note-{session['id'][:13]}.{args.format}")
        out = write_note(store, session["id"], out, fmt=args.format, names=args.names, registry=_registry(),
                         language=args.language)
    except PreludeError as exc:
        print(f"prelude-play note: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"wrote {out}")
    return 0


def cmd_summary(args: argparse.Namespace, data_dir: Path) -> int:
    """The figures every screen and document shows (``--json``), or the note as plain text."""
    from prelude_play.errors import PreludeError
    from prelude_play.store.note import build_note
    from prelude_play.store.summary import summarize_stored

    store = _open_store(data_dir, "summary")
    if store is None:
        return 2
    try:
        if args.json:
            st = summarize_stored(store, args.session, registry=_registry(), language=args.language,
                                  names=args.names)
            print(json.dumps(st.json(), ensure_ascii=False, indent=2))
        else:
            print(build_note(store, args.session, names=args.names, registry=_registry(),
                             language=args.language).as_text(), end="")
    except PreludeError as exc:
        print(f"prelude-play summary: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def cmd_check_config(args: argparse.Namespace, data_dir: Path) -> int:
    from prelude_play.config import check_app_file, check_files, resource_dir
    from prelude_play.goals import check_goals_file

    checkers = {"app.toml": check_app_file, "goals.toml": check_goals_file}
    try:
        from prelude_play.midi.instruments import check_instruments_file

        checkers["instruments.toml"] = check_instruments_file
    except ImportError:
        pass
    try:
        from prelude_play.activities.choice_board.boards import check_board_file

        checkers["boards/"] = check_board_file
    except ImportError:
        pass
    try:
        from prelude_play.activity import discover
        from prelude_play.store.plans import check_plan_file

        installed = discover().names()  # a plan step must name one of these
        checkers["plans/"] = lambda path: check_plan_file(path, installed)
    except ImportError:
        pass
    files = args.files
    if not files:
        files = sorted(resource_dir("config").rglob("*.toml"))
        user = data_dir / "config"
        if user.is_dir():
            files += sorted(user.rglob("*.toml"))
    problems = check_files(files, checkers)
    for p in problems:
        print(p)
    print(f"{len(files)} file(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def list_audio_devices() -> dict:
    """PortAudio's devices per host API (JACK, ALSA, ...), or why PortAudio is unavailable."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        return {"error": f"PortAudio unavailable ({exc}); the app uses SDL audio or runs silent"}
    apis = sd.query_hostapis()
    out = []
    for i, d in enumerate(sd.query_devices()):
        out.append({"index": i, "name": d["name"], "hostapi": apis[d["hostapi"]]["name"],
                    "inputs": d["max_input_channels"], "outputs": d["max_output_channels"],
                    "default_rate": d["default_samplerate"]})
    return {"devices": out}


def cmd_devices(args: argparse.Namespace) -> int:
    from prelude_play.midi.devices import list_devices

    api = args.midi_api or "auto"
    api = {"rtmidi-jack": "jack", "virtual": "auto", "none": "auto"}.get(api, api)
    info = {"midi": list_devices(api)["midi"], "audio": list_audio_devices()}
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print("MIDI:")
        for name, entry in info["midi"].items():
            if entry.get("error"):
                print(f"  {name}: not available ({entry['error']})")
                continue
            print(f"  {name}: inputs {entry['inputs'] or '—'}; outputs {entry['outputs'] or '—'}")
        print("Audio:")
        if "error" in info["audio"]:
            print(f"  {info['audio']['error']}")
        if not info["audio"].get("devices") and "error" not in info["audio"]:
            print("  no audio devices found (the app will run silent)")
        for d in info["audio"].get("devices", []):
            print(f"  [{d['index']}] {d['name']} ({d['hostapi']}): {d['inputs']} in, {d['outputs']} out")
    return 0


def cmd_support_bundle(args: argparse.Namespace, data_dir: Path) -> int:
    from prelude_play.diagnostics.bundle import write_bundle
    from prelude_play.diagnostics.logs import default_log_dir

    try:
        out = write_bundle(args.out, data_dir, default_log_dir())
    except OSError as exc:
        print(f"prelude-play support-bundle: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} (logs, versions, devices, settings; no client data, no PIN): send it to support")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    data_dir = (args.data_dir or default_data_dir()).expanduser()
    from prelude_play.diagnostics.logs import setup_logging

    setup_logging()  # every command logs to the rotating file; warnings also to stderr
    if args.command == "doctor":
        from prelude_play.diagnostics.doctor import run_doctor

        return run_doctor(data_dir, as_json=args.json)
    if args.command == "support-bundle":
        return cmd_support_bundle(args, data_dir)
    from prelude_play.store import clinic_cli  # the clinic (issue 19): its commands and export --server

    if clinic_cli.handles(args):
        return clinic_cli.run(args, data_dir)
    if args.command == "export":
        return cmd_export(args, data_dir)
    if args.command == "note":
        return cmd_note(args, data_dir)
    if args.command == "summary":
        return cmd_summary(args, data_dir)
    if args.command == "check-config":
        return cmd_check_config(args, data_dir)
    if args.command == "devices":
        return cmd_devices(args)
    if args.command == "selftest":
        from prelude_play.audio.selftest import run_selftest

        return run_selftest(args, data_dir, load_config(args, data_dir))
    if args.command == "analyze":
        from prelude_play.audio.analysis import run_analyze

        return run_analyze(args.rest)
    if args.command == "pedal":
        return cmd_pedal(args, data_dir)
    return cmd_run(args, data_dir)


def gui_main(argv: list[str] | None = None) -> int:
    """The ``prelude-play-gui`` command ([project.gui-scripts]): the same as ``prelude-play``, but
    on Windows its launcher runs pythonw, so no console window opens behind the app. There
    ``sys.stdout``/``sys.stderr`` are None: they go to os.devnull instead, so that a write to them
    (ours or a library's) cannot raise."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
    return main(argv)


if __name__ == "__main__":
    sys.exit(main())
