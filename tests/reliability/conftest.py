"""Fixtures of the reliability suite (issue 9, points 3 and 4): a real ``pystrument-server serve`` process
(uvicorn) on a free loopback port with a temporary data folder and its log captured, that a test may kill
with SIGKILL and restart; records as the SDK sends them; and the figures every test reports, printed at
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
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
FIGURES: dict[str, dict[str, Any]] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_command() -> list[str]:
    script = Path(sys.executable).parent / "pystrument-server"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from pystrument.server.cli import main; main()"]


class ServerProcess:
    """``pystrument-server serve`` in its own process; ``kill()`` is SIGKILL, ``start()`` again reuses the data."""

    def __init__(self, folder: Path, settings: dict[str, str], env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.env = env or {}
        self.data_dir = folder / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "server.log"
        self.settings = settings
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYSTRUMENT_SERVER_")}
        env.update({"PYSTRUMENT_SERVER_DATA_DIR": str(self.data_dir), "PYSTRUMENT_SERVER_RATE_LIMIT_RPS": "0",
                    "PYSTRUMENT_SERVER_LOG_LEVEL": "info", "PYTHONUNBUFFERED": "1"})
        env.update({f"PYSTRUMENT_SERVER_{k.upper()}": v for k, v in self.settings.items()})
        env.update(self.env)
        for attempt in range(3):
            log = self.log_path.open("ab")
            self.proc = subprocess.Popen([*_server_command(), "serve", "--port", str(self.port)], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.folder)
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    time.sleep(0.05)
            self.stop()
            if "address already in use" in self.log().lower() and attempt < 2:
                self.port = free_port()  # another process took the free port between our check and uvicorn's bind
                continue
            break
        raise RuntimeError(f"pystrument-server did not start on port {self.port}; its log:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what the store committed is all that survives."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", 60), **kw)


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


def new_project(client: httpx.Client, name: str | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = client.post("/api/v1/projects", json={"name": name or f"rel-{uuid.uuid4().hex[:8]}"}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["data"]


@pytest.fixture
def project_in():
    """``project_in(client, name=None, headers=None)`` -> a new project (with its key)."""
    return new_project


@pytest.fixture
def record():
    """``record(name=..., duration=..., tree=None, **fields)`` -> a record dict as the SDK sends it."""

    def make(name: str = "GET /items/{id}", duration: float = 12.5, tree: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        tree = tree or {"function": "view", "file": "app.py", "line": 10, "time_ms": duration, "self_ms": duration / 2, "is_app": True,
                        "children": [{"function": "query", "file": "db.py", "line": 3, "time_ms": duration / 2, "self_ms": duration / 2}]}
        rec = {"schema_version": 1, "record_id": uuid.uuid4().hex, "kind": "request", "name": name, "method": name.split(" ")[0],
               "path": "/items/1", "status_code": 200, "started_at": dt.datetime.now(dt.timezone.utc).isoformat(),
               "duration_ms": duration, "app": {"name": "reliability", "version": "1.0", "environment": "test"}, "call_tree": tree}
        rec.update(fields)
        return rec

    return make


def stored_ids(client: httpx.Client, project_id: str, headers: dict[str, str] | None = None) -> set[str]:
    """Every record id the server stores for a project (paged through the records list)."""
    ids: set[str] = set()
    page = 1
    while True:
        r = client.get(f"/api/v1/projects/{project_id}/records", params={"page": page, "page_size": 500, "since": "2000-01-01T00:00:00Z"},
                       headers=headers)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        ids.update(item["record_id"] for item in data["items"])
        if page * 500 >= data["total"] or not data["items"]:
            return ids
        page += 1


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
