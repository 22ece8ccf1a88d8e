"""Every engine test runs twice: on the C mixer (ppcore.c) and on the Python mixer it was ported
from, so the two stay sample-for-sample the same."""

from __future__ import annotations

import pytest

from prelude_play.audio import engine as engine_mod
from prelude_play.rt import native


@pytest.fixture(autouse=True, params=["c", "python"])
def mixer_core(request, monkeypatch):
    if request.param == "c" and not native.available():
        if native.in_ci():
            pytest.fail(f"the C core must be built in CI: {native.why_unavailable()}")
        pytest.skip(f"C core not built: {native.why_unavailable()}")
    monkeypatch.setattr(engine_mod, "DEFAULT_CORE", "native" if request.param == "c" else "python")
    return request.param
