"""Fixtures of the reliability suite (issue 9, points 3 and 4): a real ``pystrument-server serve`` process
(``tests/fixtures/pystrument_server_process.py``: uvicorn on a free loopback port with a temporary data folder
and its log captured, that a test may kill with SIGKILL and restart); records as the SDK sends them; and the figures every test reports, printed at
the end of the run and written into ``docs/reliability.md`` with the command that produced them.

``PYSTRUMENT_RELIABILITY_SECONDS`` sets the length of the concurrent load test (``nox -s reliability``: 60;
the default here, as in ``nox -s tests``: 15). The figures are written into the doc only with
``PYSTRUMENT_RELIABILITY_DOCS=1`` (``nox -s reliability`` sets it): a plain test run leaves the tree clean.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from pystrument_server_process import ServerProcess, make_record, new_project, stored_ids  # noqa: F401  (re-exported to the tests)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
FIGURES: dict[str, dict[str, Any]] = {}


@pytest.fixture
def server_process(tmp_path):
    """``server_process(start=True, env=None, **settings)`` -> a ServerProcess (settings become PYSTRUMENT_SERVER_*
    variables; ``env``: more environment variables)."""
    made: list[ServerProcess] = []

    def make(start: bool = True, env: dict[str, str] | None = None, **settings: Any) -> ServerProcess:
        server = ServerProcess(tmp_path / f"server{len(made)}", {k: str(v) for k, v in settings.items()}, env)
        made.append(server)
        return server.start() if start else server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def project_in():
    """``project_in(client, name=None, headers=None)`` -> a new project (with its key)."""
    return new_project


@pytest.fixture
def record():
    """``record(name=..., duration=..., tree=None, **fields)`` -> a record dict as the SDK sends it."""

    return make_record


@pytest.fixture
def stored():
    """``stored(client, project_id, headers=None)`` -> the set of stored record ids."""
    return stored_ids


@pytest.fixture
def figures(request):
    """``figures(**values)``: this test's figures (printed at the end of the run, written into docs/reliability.md)."""

    def put(**values: Any) -> None:
        entry = FIGURES.setdefault(request.node.nodeid.split("::", 1)[-1], {})
        entry.update(values)
        print(f"[reliability] {request.node.name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))

    return put


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, values in FIGURES.items():
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    if os.environ.get("PYSTRUMENT_RELIABILITY_DOCS", "0") == "1":
        _write_doc(config)
        terminalreporter.write_line(f"written into {DOC.relative_to(ROOT)}")


def _command(config) -> str:
    nox = os.environ.get("NOX_CURRENT_SESSION")
    if nox:
        return f"nox -s {nox}"
    seconds = os.environ.get("PYSTRUMENT_RELIABILITY_SECONDS")
    prefix = f"PYSTRUMENT_RELIABILITY_SECONDS={seconds} " if seconds else ""
    return prefix + "python -m pytest " + " ".join(shlex.quote(a) for a in config.invocation_params.args)


ROW = re.compile(r"^\| `([^`]+)` \|")
HEADER = "| test | figures | command | when (UTC) |\n|---|---|---|---|\n"


def _write_doc(config) -> None:
    """Replace the rows of the tests that ran; keep the others (a partial run does not erase figures)."""
    text = DOC.read_text() if DOC.exists() else ""
    head, sep, table = text.partition("<!-- figures -->\n")
    if not sep:
        head = INTRO
    rows: dict[str, str] = {}
    for line in table.splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group(1)] = line
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    command = _command(config)
    for name, values in FIGURES.items():
        shown = "; ".join(f"{k} {v}" for k, v in values.items()).replace("|", "/")
        rows[name] = f"| `{name}` | {shown} | `{command}` | {when} |"
    DOC.write_text(head + "<!-- figures -->\n" + HEADER + "\n".join(rows[k] for k in sorted(rows)) + "\n")


INTRO = """# Reliability figures

Written by the reliability suite (`tests/reliability/`, `nox -s reliability`; `nox -s tests` runs it too,
with a shorter load test) at the end of each run: one row per test, with the command that produced it.
A partial run replaces only its own rows. Counts: *acknowledged* is what the server answered with
`accepted`/`duplicates` (or a 200 on `/collect`), *stored* is what the records list returns afterwards.

"""
