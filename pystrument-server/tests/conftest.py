"""Fixtures of the server's tests: a real uvicorn server on a free loopback port, over each store.

``api`` runs the whole API suite once against SQLite and once against MongoDB: the session's nx-27017 (the
wire-protocol server, ``mongodb_server`` of tests/fixtures/pystrument_services.py), or the MongoDB at
``PYSTRUMENT_TEST_MONGODB_URI``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from pathlib import Path

import httpx
import pytest
import uvicorn
from pystrument.core.histogram_bins import bin_of
from pystrument.server import ServerSettings, create_app
from pystrument.server.api.connlimits import uvicorn_options
from pystrument.server.stores import open_store
from pystrument_testing.http_servers import start_uvicorn, stop_uvicorn
from pystrument_testing.mongo import database_url, nx_binary


def _skip_without_nx() -> None:
    if nx_binary() is None:
        pytest.skip("nx-27017 is not installed (it is in TEST_DEPS)")


@pytest.fixture(scope="session")
def mongo_uri(request):
    """The session's MongoDB: ``PYSTRUMENT_TEST_MONGODB_URI``, or nx-27017 (``mongodb_server``, skipped without it)."""
    if not os.environ.get("PYSTRUMENT_TEST_MONGODB_URI"):
        _skip_without_nx()
    return request.getfixturevalue("mongodb_server")


def mongo_url(base: str) -> str:
    """A database of our own on the server (dropped by the fixture that made it)."""
    return database_url(base, "pystrument_test_" + uuid.uuid4().hex[:8])


@pytest.fixture
def nx_server(request):
    """An nx-27017 of the test's own (``private_mongodb``) that it may ``stop()`` and ``start()`` again."""
    _skip_without_nx()
    return request.getfixturevalue("private_mongodb")


class LiveServer:
    def __init__(self, settings: ServerSettings, store=None) -> None:
        self.settings = settings
        self.app = create_app(settings, store=store)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on", **uvicorn_options(settings)))  # as serve runs it

    def __enter__(self) -> LiveServer:
        self.thread = start_uvicorn(self.server, 20, sockets=[self.sock])
        return self

    def __exit__(self, *exc: object) -> None:
        stop_uvicorn(self.server, self.thread, 15)
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
