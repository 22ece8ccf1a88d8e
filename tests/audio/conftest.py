"""Every engine test runs twice: on the C mixer (ppcore.c) and on the Python mixer it was ported
from, so the two stay sample-for-sample the same."""

from __future__ import annotations

import pytest
from tests.core import require_core

from prelude_play.audio import engine as engine_mod


@pytest.fixture(autouse=True, params=["c", "python"])
def mixer_core(request, monkeypatch):
    if request.param == "c":
        require_core()
    monkeypatch.setattr(engine_mod, "DEFAULT_CORE", "native" if request.param == "c" else "python")
    return request.param
