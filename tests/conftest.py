"""Shared fixtures. Real-stack tests skip with a reason where JACK or a display is missing;
with CI=true such a skip is turned into a failure so CI can never pass without them."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
if "PRELUDE_PLAY_LOG_DIR" not in os.environ:  # the app's log file: never the tester's own log folder
    import tempfile

    os.environ["PRELUDE_PLAY_LOG_DIR"] = tempfile.mkdtemp(prefix="pp-test-logs-")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

try:  # the loaders' fuzz tests (tests/test_fuzz_loaders.py)
    from hypothesis import HealthCheck, settings

    _QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
    # ci (the default): the same examples every run, a few seconds per test; dev: new examples
    # each run, remembered when they fail; long: minutes
    # (HYPOTHESIS_PROFILE=long ./dev test tests/test_fuzz_loaders.py --timeout=0)
    settings.register_profile("ci", derandomize=True, database=None, max_examples=100, deadline=None,
                              suppress_health_check=_QUIET, print_blob=True)
    settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=_QUIET)
    settings.register_profile("long", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 3_000)),
                              deadline=None, suppress_health_check=_QUIET, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover - the test extra installs it
    pass


REALSTACK_RERUNS = 2


def pytest_collection_modifyitems(config, items):
    """Real-stack tests run on JACK's dummy driver without real-time scheduling, where an xrun
    can drop a MIDI message or delay a callback (≈ 1 xrun/s even for a lone probe on a shared
    2-vCPU machine). Such a test is rerun up to twice; each attempt asserts the full behaviour,
    so a real regression still fails all three."""
    for item in items:
        if item.get_closest_marker("realstack") is not None and item.get_closest_marker("flaky") is None:
            item.add_marker(pytest.mark.flaky(reruns=REALSTACK_RERUNS, reruns_delay=1))


@pytest.fixture(scope="session")
def jack_server():
    """A private ``jackd -d dummy -r 48000 -p 128`` for the whole test session."""
    from tests.jack import jackd_path, start_jack

    if jackd_path() is None:
        pytest.skip("jackd not installed: apt-get install jackd2 (real-stack test)")
    try:
        import jack  # noqa: F401
    except (ImportError, OSError) as exc:
        pytest.skip(f"JACK client library unavailable: {exc}")
    server = start_jack()
    yield server
    # PortAudio's JACK host API asserts (and aborts the interpreter) if it is terminated at
    # exit after the server is gone, so release PortAudio while the server still runs.
    try:
        import sounddevice as sd

        sd._terminate()
    except (ImportError, OSError):
        pass
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("realstack") is not None:
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"real-stack test skipped in CI (CI=true), which counts as a failure: {reason}"


_REALSTACK_PASSED: list[str] = []


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed and "realstack" in report.keywords:
        _REALSTACK_PASSED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """In CI a run where no real-stack test passed is a failure, even if nothing 'failed'."""
    if IN_CI and session.testscollected and not _REALSTACK_PASSED and exitstatus == 0:
        session.exitstatus = 1
        print("\nCI: no real-stack test (marker 'realstack') passed in this run — failing.")
