"""Fixtures of the attack suite (issue 15; ``nox -s attack``, and ``nox -s tests`` runs it too).

``attack_server``: a real ``pystrument-server serve`` process under an address-space cap (``RLIMIT_AS``,
3 GB, set in the child before exec) with its resident memory (the process and its children) sampled every
20 ms from the start, a token, a project and a first batch of records acknowledged before the attack. A case
attacks it, then checks ``peak_rss_mb()`` and ``assert_healthy()``: ``GET /health`` is 200, a normal batch
is accepted, and every record acknowledged so far (``acknowledged``, grown by ``ingest``) is stored.

Settings of the server for one case: ``@pytest.mark.attack_settings(header_timeout_s=3, ...)``; its address-space
cap: ``@pytest.mark.address_space_gb(1)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from attack_harness import AttackServer

FIGURES: dict[str, dict[str, Any]] = {}


@pytest.fixture
def attack_server(request: pytest.FixtureRequest, tmp_path: Path):
    marker = request.node.get_closest_marker("attack_settings")
    cap = request.node.get_closest_marker("address_space_gb")
    server = AttackServer(tmp_path / "server", marker.kwargs if marker else {}, cap_gb=cap.args[0] if cap else 3).start()
    yield server
    server.stop()


@pytest.fixture
def figures(request: pytest.FixtureRequest):
    """``figures(**values)``: this case's figures, printed at the end of the run."""

    def put(**values: Any) -> None:
        FIGURES.setdefault(request.node.nodeid.split("::", 1)[-1], {}).update(values)
        print(f"[attack] {request.node.name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))

    return put


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "attack_settings(**settings): server settings (PYSTRUMENT_SERVER_*) of an attack case")
    config.addinivalue_line("markers", "address_space_gb(n): the server's RLIMIT_AS in GB (default 3)")



def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not FIGURES:
        return
    terminalreporter.section("attack figures")
    for name, values in FIGURES.items():
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
