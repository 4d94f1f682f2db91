"""pytest plugin of the peer harness (loaded with ``-p peer_outcomes`` in both runs of a peer suite).

Writes every test's outcome to the JSON file named by ``PEERS_OUTCOMES`` at the end of the session.
In the run WITH pystrument (``PEERS_MODE=with``) it also lists pystrument's internal errors
(``pystrument.core.failsafe.internal_errors``), each with the test that was running when it happened;
in the run without, it imports nothing of pystrument.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

WITH = os.environ.get("PEERS_MODE") == "with"
_outcomes: dict[str, str] = {}
_errors: list[dict[str, str]] = []
_notes: dict[str, Any] = {}


def note(key: str, value: Any) -> None:
    """An insertion plugin's figure for the report (e.g. how many records the sink got)."""
    _notes[key] = value


def _outcome(report: pytest.TestReport) -> str | None:
    if hasattr(report, "wasxfail"):
        return "xpassed" if report.passed else "xfailed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if report.skipped:
        return "skipped"
    if report.when == "call":
        return "passed"
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    outcome = _outcome(report)
    if outcome is None:
        return
    previous = _outcomes.get(report.nodeid)
    if previous in ("failed", "error") and outcome != "error":
        return  # a failure in call stays a failure whatever teardown says
    _outcomes[report.nodeid] = outcome


def _collect_internal_errors(nodeid: str) -> None:
    from pystrument.core import failsafe

    for where, exc in list(failsafe.internal_errors):
        _errors.append({"test": nodeid, "where": where, "error": f"{type(exc).__name__}: {exc}"})
    failsafe.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    try:
        return (yield)
    finally:
        if WITH:
            _collect_internal_errors(item.nodeid)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _outcomes[f"{report.nodeid}::<collection>"] = "error"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if WITH:
        _collect_internal_errors("<session>")
    path = os.environ.get("PEERS_OUTCOMES")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump({"outcomes": _outcomes, "internal_errors": _errors, "notes": _notes, "exitstatus": int(exitstatus)}, out, indent=1)
