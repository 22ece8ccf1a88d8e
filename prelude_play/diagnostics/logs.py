"""The log file, the native core's crash file and the exception hooks.

Why: a windowed app has no terminal, so a ``print`` to stderr is lost; a crash inside the C core
(ctypes) kills the process before Python can say anything. So every diagnostic goes through
``logging`` to a rotating file in the platform's log folder (kept to the user: 0700/0600),
``faulthandler`` writes a native crash's stacks to a file there, and an uncaught exception is
written to a report file whose path the therapist is told. No client data is logged on purpose:
log messages name devices, files and errors, never clients or events.
"""

from __future__ import annotations

import datetime as _dt
import faulthandler
import logging
import logging.handlers
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from prelude_play.os_specific import make_private_dir

LOG_NAME = "prelude-play.log"
NATIVE_CRASH_NAME = "native-crash.log"
AUDIO_CRASH_NAME = "native-crash-audio.log"  # written by the separate audio process (rt.host)
MAX_BYTES = 1_000_000
BACKUPS = 4
_OURS = "_prelude_play_handler"


def default_log_dir() -> Path:
    """``PRELUDE_PLAY_LOG_DIR``, else the platform's log folder (platformdirs)."""
    env = os.environ.get("PRELUDE_PLAY_LOG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_log_dir("prelude-play", appauthor=False))


class StderrHandler(logging.Handler):
    """Warnings for someone at a terminal, as ``prelude-play: message``. It looks up
    ``sys.stderr`` at each record (a handler that kept the stream would write to a closed or
    replaced one), and writes nothing when there is none (``pythonw``)."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr
        if stream is None:
            return
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - a log line must never stop the app
            self.handleError(record)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file created 0600 (the log can name devices and folders of this machine)."""

    def _open(self) -> IO[str]:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, self.mode if "a" in self.mode else "a", encoding=self.encoding)


def setup_logging(log_dir: Path | None = None, *, console_level: int = logging.WARNING) -> Path | None:
    """Route ``logging`` to ``log_dir/prelude-play.log`` (rotated at 1 MB, 4 kept) and warnings to
    stderr. Safe to call again (tests, a second ``main``): our handlers are replaced, others kept.
    Returns the log file, or None when the folder cannot be made (then only stderr)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _OURS, False):
            root.removeHandler(h)
            h.close()
    console = StderrHandler(console_level)
    console.setFormatter(logging.Formatter("prelude-play: %(message)s"))
    setattr(console, _OURS, True)
    root.addHandler(console)
    root.setLevel(logging.INFO)
    log_dir = default_log_dir() if log_dir is None else log_dir
    try:
        make_private_dir(log_dir)
        path = log_dir / LOG_NAME
        handler = PrivateRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                             encoding="utf-8", delay=True)
    except OSError as exc:
        logging.getLogger(__name__).warning("no log file in %s (%s); logging to the terminal only", log_dir, exc)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    handler.setLevel(logging.INFO)
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    return path


@dataclass
class CrashGuard:
    """The exception hooks of one run. ``on_crash`` callbacks (flush and close the event store)
    run once, on the main thread's uncaught exception; events already logged are in SQLite and
    stay there. ``report_paths`` lists the reports written (tests read it)."""

    log_dir: Path
    on_crash: list[Callable[[], None]] = field(default_factory=list)
    report_paths: list[Path] = field(default_factory=list)
    native_file: IO[bytes] | None = None
    faulthandler_was_enabled: bool = False
    _crashed: bool = False

    def write_report(self, kind: str, exc_type: type[BaseException], exc: BaseException | None,
                     tb: TracebackType | None, thread: str | None = None) -> Path | None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.log_dir / f"crash-{stamp}-{os.getpid()}.txt"
        from prelude_play import __version__

        text = (f"Prelude Play {__version__} — {kind}" + (f" in thread {thread}" if thread else "") + "\n"
                f"Python {sys.version.split()[0]} on {sys.platform}\n\n"
                + "".join(traceback.format_exception(exc_type, exc, tb)))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError:
            return None
        self.report_paths.append(path)
        return path

    def _tell(self, path: Path | None, what: str) -> None:
        where = f"The report is in {path}." if path else f"See the log in {self.log_dir}."
        msg = (f"{what} Everything logged in the session so far is saved. {where} "
               "To send it to support: prelude-play support-bundle --out prelude-support.zip")
        logging.getLogger("prelude_play.crash").critical(msg)

    def excepthook(self, exc_type: type[BaseException], exc: BaseException,
                   tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        logging.getLogger("prelude_play.crash").error("uncaught exception", exc_info=(exc_type, exc, tb))
        path = self.write_report("uncaught exception", exc_type, exc, tb)
        self.keep_safe()
        self._tell(path, "Prelude Play stopped because of an error.")

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        """A worker thread died (the app goes on): logged and reported, the store left to the app."""
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        logging.getLogger("prelude_play.crash").error("uncaught exception in thread %s", name,
                                                      exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        path = self.write_report("uncaught exception", args.exc_type, args.exc_value, args.exc_traceback, name)
        self._tell(path, f"A background task ({name}) of Prelude Play failed.")

    def keep_safe(self) -> None:
        """Run the ``on_crash`` callbacks once; a failing one does not stop the others."""
        if self._crashed:
            return
        self._crashed = True
        for fn in self.on_crash:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - the next one may still save something
                logging.getLogger("prelude_play.crash").error("while keeping the session safe: %s", exc)


def install_crash_guard(log_dir: Path | None = None, *, native: bool = True) -> CrashGuard:
    """Set ``sys.excepthook`` and ``threading.excepthook``; with ``native``, enable
    ``faulthandler`` into ``log_dir/native-crash.log``. A non-empty file from the last run means it
    crashed: it is kept as ``native-crash-<time>.log`` and the log says so."""
    log_dir = default_log_dir() if log_dir is None else log_dir
    guard = CrashGuard(log_dir)
    sys.excepthook = guard.excepthook
    threading.excepthook = guard.thread_excepthook
    if native:
        try:
            make_private_dir(log_dir)
            path = log_dir / NATIVE_CRASH_NAME
            for last, tag in ((path, ""), (log_dir / AUDIO_CRASH_NAME, "audio-")):  # the app's, its audio process's
                if last.is_file() and last.stat().st_size > 0:
                    stamp = _dt.datetime.fromtimestamp(last.stat().st_mtime).strftime("%Y%m%d-%H%M%S")
                    kept = last.with_name(f"native-crash-{tag}{stamp}.log")
                    last.replace(kept)
                    logging.getLogger(__name__).warning("the last run stopped in a native crash: %s", kept)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            guard.native_file = os.fdopen(fd, "wb", buffering=0)
            guard.faulthandler_was_enabled = faulthandler.is_enabled()
            faulthandler.enable(file=guard.native_file, all_threads=True)
        except OSError as exc:
            logging.getLogger(__name__).warning("no native crash file in %s: %s", log_dir, exc)
    return guard


def uninstall_crash_guard(guard: CrashGuard) -> None:
    """Undo ``install_crash_guard`` (tests; the end of ``main``). An empty native crash file is
    removed: it only ever holds a crash."""
    if sys.excepthook == guard.excepthook:
        sys.excepthook = sys.__excepthook__
    if threading.excepthook == guard.thread_excepthook:
        threading.excepthook = threading.__excepthook__
    if guard.native_file is not None:
        faulthandler.disable()
        if guard.faulthandler_was_enabled and sys.__stderr__ is not None:  # e.g. pytest's
            faulthandler.enable(file=sys.__stderr__, all_threads=True)
        guard.native_file.close()
        guard.native_file = None
        path = guard.log_dir / NATIVE_CRASH_NAME
        try:
            if path.stat().st_size == 0:
                path.unlink()
        except OSError:
            pass
