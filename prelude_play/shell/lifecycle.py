"""The clean stop (quit, SIGTERM, the end of ``--for``): the activity stopped, every note off, the
session closed with its audio health, the log flushed, every device closed — never a hang or a
crash on the way out."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from prelude_play.events import LogEvent

if TYPE_CHECKING:
    from prelude_play.shell.port import AppPort

log = logging.getLogger(__name__)


def shut_down(app: "AppPort") -> None:
    app.running = False
    app.live.stop_activity()
    app.actions.panic(log=False)
    if app.session is not None:
        try:  # the session's audio health (xruns, callback load) for benchmarks and provenance
            data = dict(app.audio.stats())
            data.setdefault("fast_path_delay_ms", app.hits.delay_ms)  # separate: the child's own
            app.log(LogEvent("audio_stats", actor="system", data=data))
        except Exception as exc:
            log.warning("audio stats: %s", exc)
    if app.session is not None:
        app.live.end_plan()
        app.store.end_session(app.session)
        app.live.record = None
    for dev, close in ((app.midi, app.midi.stop), (app.mic, app.mic.close), (app.audio, app.audio.close)):
        try:
            close()
        except Exception as exc:  # never hang or crash on the way out
            log.warning("closing %s: %s", type(dev).__name__, exc)
    app.store.flush()
