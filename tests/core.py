"""The C real-time core in tests: skipped where it is not built, required in CI."""

from __future__ import annotations

import pytest

from prelude_play import native


def require_core() -> None:
    """Skip (or, in CI, fail) unless the C core (prelude_play/native/ppcore.c) is built and loads."""
    if not native.available():
        if native.in_ci():
            pytest.fail(f"the C core must be built in CI: {native.why_unavailable()}")
        pytest.skip(f"C core not built: {native.why_unavailable()}")
