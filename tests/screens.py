"""Screenshots made by the tests land in tests/_artifacts/ (gitignored). Reviewed copies in
docs/screenshots/ are refreshed only on request: PRELUDE_UPDATE_SCREENSHOTS=1 ./dev test"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def publish(shot: Path, name: str | None = None) -> Path | None:
    """Copy a screenshot into docs/screenshots when asked to; a plain test run changes no tracked file."""
    if os.environ.get("PRELUDE_UPDATE_SCREENSHOTS") != "1":
        return None
    DOCS.mkdir(parents=True, exist_ok=True)
    target = DOCS / (name or shot.name)
    shutil.copy(shot, target)
    return target
