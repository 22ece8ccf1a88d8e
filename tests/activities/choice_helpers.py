"""Start the app headless with the choice board and a client's access profile."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from prelude_play.shell.pilot import Pilot, run_test
from tests.fakes import RecordingAudio


@contextmanager
def board_app(tmp_path: Path, *, access: dict[str, Any] | None = None, size: tuple[int, int] = (1280, 800),
              **settings: Any) -> Iterator[tuple[Pilot, RecordingAudio]]:
    audio = RecordingAudio()
    with run_test(data_dir=tmp_path / "data", client="c1", audio=audio, size=size) as pilot:
        app = pilot.app
        profile = app.store.client_profile("c1")
        profile["access"] = access or {"method": "tap"}
        profile["activities"] = {"choice_board": settings}
        app.store.set_client_profile("c1", profile)
        app.start_activity("choice_board")
        assert app.activity_name == "choice_board", app.notices
        pilot.step()
        yield pilot, audio


def events(pilot: Pilot, kind: str | None = None) -> list:
    pilot.app.store.flush()
    return [e for e in pilot.app.store.events() if kind is None or e.kind == kind]


def trials(pilot: Pilot) -> list:
    """The session's trials as the summary reads them (from the stored log)."""
    from prelude_play.store.trials import read_trials

    return read_trials(events(pilot))


def assert_outcomes_only_on_trials(pilot: Pilot) -> None:
    """An outcome outside a trial would count as a trial of its own (the old double count)."""
    stray = [(e.kind, e.outcome) for e in events(pilot) if e.outcome is not None and e.trial_id is None]
    assert stray == []
