"""Repository-wide pytest setup: every test fails if pystrument swallowed an internal error."""

from __future__ import annotations

import os

import pytest

# Real services on loopback (nx-27017, Redis, the ingest stand-in): tests/fixtures/pystrument_services.py
pytest_plugins = ["pystrument_services"]
# a sample project with its own tests, run in a temporary git repository by pystrument-pytest's acceptance test
collect_ignore = ["tests/gate_sample"]

os.environ.setdefault("PYINSTRUMENT_IGNORE_OVERHEAD_WARNING", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# Tests count records: the overhead governor (on by default, max_overhead_pct 2.5) would lower the rate of
# a test's busy loop and drop units at random. Off here (100 = no budget) and in subprocesses started
# from tests; the governor's own tests ask for it explicitly (pystrument-core/tests/test_governor.py).
os.environ.setdefault("PYSTRUMENT_MAX_OVERHEAD_PCT", "100")


@pytest.fixture(autouse=True)
def _no_internal_errors(request: pytest.FixtureRequest):
    from pystrument.core import failsafe

    failsafe.clear()
    yield
    errors = list(failsafe.internal_errors)
    failsafe.clear()
    if errors and not request.node.get_closest_marker("internal_errors_expected"):
        first = errors[0]
        raise AssertionError(f"pystrument swallowed {len(errors)} internal error(s); first in {first}\n{first.traceback}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "internal_errors_expected: the test provokes internal errors on purpose")
