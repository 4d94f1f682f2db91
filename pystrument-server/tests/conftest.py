"""Fixtures of the server's tests: a real uvicorn server on a free loopback port, over each store.

``api`` runs the whole API suite once against SQLite and once against MongoDB: nx-27017 (the
wire-protocol server) started here on a free port, or the MongoDB at ``PYSTRUMENT_TEST_MONGODB_URI``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import uvicorn
from pystrument.core.histogram_bins import bin_of
from pystrument.server import ServerSettings, create_app
from pystrument.server.api.connlimits import uvicorn_options
from pystrument.server.stores import open_store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nx_binary() -> str:
    found = shutil.which("nx-27017") or str(Path(sys.executable).parent / "nx-27017")
    if not Path(found).exists():
        pytest.skip("nx-27017 is not installed (it is in TEST_DEPS)")
    return found


class NxServer:
    """A private nx-27017 (MongoDB wire protocol) on a free port; can be restarted."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [_nx_binary(), "--data-dir", "memory", "-p", str(self.port), "--pid-file", str(self.folder / "nx.pid"),
             "--log-file", str(self.folder / "nx.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nx-27017 did not start on port {self.port}; see {self.folder / 'nx.log'}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory):
    real = os.environ.get("PYSTRUMENT_TEST_MONGODB_URI")
    if real:
        yield real
        return
    nx = NxServer(tmp_path_factory.mktemp("nx"))
    nx.start()
    try:
        yield nx.uri
    finally:
        nx.stop()


def mongo_url(base: str) -> str:
    """A database of our own on the server (dropped by the fixture that made it)."""
    name = "pystrument_test_" + uuid.uuid4().hex[:8]
    head, _, query = base.partition("?")
    return head.rstrip("/") + "/" + name + (f"?{query}" if query else "")


@pytest.fixture
def nx_server(tmp_path):
    nx = NxServer(tmp_path)
    nx.start()
    try:
        yield nx
    finally:
        nx.stop()


class LiveServer:
    def __init__(self, settings: ServerSettings, store=None) -> None:
        self.settings = settings
        self.app = create_app(settings, store=store)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on", **uvicorn_options(settings)))  # as serve runs it
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)


def make_settings(store_kind: str, tmp: Path, mongo: str | None, **overrides) -> ServerSettings:
    store = f"sqlite:///{tmp / 'pystrument.db'}" if store_kind == "sqlite" else mongo_url(mongo or "")
    values = {"store": store, "data_dir": str(tmp), "rate_limit_rps": 0, **overrides}
    return ServerSettings(**values)


@pytest.fixture(scope="session", params=["sqlite", "mongodb"])
def store_kind(request):
    return request.param


@pytest.fixture(scope="session")
def live(store_kind, tmp_path_factory, request):
    """One real server per store for the whole API suite (tests isolate themselves by project)."""
    mongo = request.getfixturevalue("mongo_uri") if store_kind == "mongodb" else None
    settings = make_settings(store_kind, tmp_path_factory.mktemp(f"live-{store_kind}"), mongo)
    with LiveServer(settings) as server:
        yield server


@pytest.fixture
def api(live):
    with live.client() as client:
        yield client


@pytest.fixture
def project(api):
    r = api.post("/api/v1/projects", json={"name": f"proj-{uuid.uuid4().hex[:8]}", "description": "test"})
    assert r.status_code == 201, r.text
    return r.json()["data"]


@pytest.fixture
def make_record():
    """A record as the SDK sends it (JSON-ready dict), with a small call tree."""

    def make(name="GET /users/{id}", duration=20.0, version="1.0", environment="test", started=None, helper_ms=None,
             status=200, error=None, record_id=None, extra_fn=None):
        helper = duration * 0.6 if helper_ms is None else helper_ms
        started = started or dt.datetime.now(dt.timezone.utc)
        children = [{"function": "helper", "file": "app.py", "line": 20, "time_ms": helper, "self_ms": helper, "is_app": True}]
        if extra_fn:
            children.append({"function": extra_fn, "file": "lib.py", "line": 5, "time_ms": 1.0, "self_ms": 1.0})
        rest = max(0.0, duration - sum(c["time_ms"] for c in children))
        rec = {
            "schema_version": 1, "record_id": record_id or uuid.uuid4().hex, "kind": "request", "name": name,
            "method": name.split(" ")[0], "path": "/users/1", "status_code": status, "started_at": started.isoformat(),
            "duration_ms": duration, "app": {"name": "demo", "version": version, "environment": environment},
            "call_tree": {"function": "view", "file": "app.py", "line": 10, "time_ms": duration, "self_ms": rest, "is_app": True,
                          "children": children},
        }
        if error:
            rec["error"] = {"type": error, "message": "boom"}
        return rec

    return make


@pytest.fixture
def start_server(tmp_path, request):
    """``start_server(store_kind="sqlite", mongo=None, *, wrap_store=None, store_url=None, **settings)`` -> a running
    LiveServer, stopped after the test. ``wrap_store(store)`` wraps the opened store; ``store_url`` shares another
    server's store."""
    started: list[LiveServer] = []

    def start(store_kind: str = "sqlite", mongo: str | None = None, *, wrap_store=None, store_url: str | None = None, **overrides) -> LiveServer:
        folder = tmp_path / f"server{len(started)}"
        folder.mkdir()
        if store_kind == "mongodb" and mongo is None:
            mongo = request.getfixturevalue("mongo_uri")
        settings = make_settings(store_kind, folder, mongo, **overrides)
        if store_url:
            settings = ServerSettings(**{**settings.model_dump(), "store": store_url})
        server = LiveServer(settings, store=wrap_store(open_store(settings)) if wrap_store else None).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


AGGREGATE_HOUR = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def aggregate():
    """A continuous aggregate (kind "aggregate") as the SDK's continuous mode sends it (JSON-ready dict), in the hour
    ``AGGREGATE_HOUR``: [root] -> view -> (hot, cold) with ``samples`` per node and the request counts."""
    return _aggregate


def _aggregate(name="GET /items/{id}", *, started=None, count=100, errors=2, statuses=None, durations=(), samples=(30, 10),
               version="1.0", environment="prod", record_id=None):
    hot, cold = samples
    interval = 1.0
    bins: dict[str, int] = {}
    for d in durations:
        bins[str(bin_of(d))] = bins.get(str(bin_of(d)), 0) + 1
    view = {"function": "view", "file": "app.py", "line": 10, "is_app": True, "samples": hot + cold, "time_ms": (hot + cold) * interval,
            "children": [
                {"function": "hot", "file": "app.py", "line": 20, "is_app": True, "samples": hot, "time_ms": hot * interval, "self_ms": hot * interval},
                {"function": "cold", "file": "lib.py", "line": 5, "samples": cold, "time_ms": cold * interval, "self_ms": cold * interval},
            ]}
    return {
        "record_id": record_id or uuid.uuid4().hex, "kind": "aggregate", "name": name,
        "started_at": (started or AGGREGATE_HOUR + dt.timedelta(minutes=5)).isoformat(), "duration_ms": 10_000.0,
        "app": {"name": "demo", "version": version, "environment": environment}, "sample_rate": 1.0, "interval_ms": interval,
        "sample_count": hot + cold,
        "call_tree": {"function": "[root]", "samples": hot + cold, "time_ms": (hot + cold) * interval, "children": [view]},
        "requests": {"count": count, "errors": errors, "statuses": statuses or {"200": count - errors, "500": errors},
                     "duration_bins": bins, "cpu_ms": 5.0, "max_ms": max(durations, default=0.0)},
    }
@pytest.fixture
def clean_server_env(tmp_path, monkeypatch):
    """A CLI test's process state: the temporary folder as working folder, no PYSTRUMENT_SERVER_* variables."""
    monkeypatch.chdir(tmp_path)
    for k in list(os.environ):
        if k.startswith("PYSTRUMENT_SERVER_"):
            monkeypatch.delenv(k)
    return tmp_path
