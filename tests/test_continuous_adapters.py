"""Continuous mode through the real framework adapters: Flask (WSGI) and Starlette (ASGI, a real event loop)."""

from __future__ import annotations

import time
import uuid

import pytest
from pystrument.core import lifecycle, memory_sink


def _spin_handler_work(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _config(sink: str) -> dict:
    return {"sinks": [f"memory://{sink}"], "profiling_mode": "continuous", "continuous_interval_ms": 1,
            "tail_keep_ms": 10_000, "flush_interval": 0.05}


def _flush(sink: str) -> list:
    for client in list(lifecycle._clients):
        if f"memory://{sink}" in client.config.sinks:
            assert client.flush(5)
            client.close(1)
    return memory_sink.records(sink)


def _check(records: list, items_name: str) -> None:
    agg = {r.name: r for r in records if r.kind == "aggregate"}
    assert items_name in agg, sorted(agg)
    items = agg[items_name]
    assert items.requests.count == 20 and items.requests.statuses == {"200": 20}
    assert items.sample_count > 0
    names = set()
    stack = [items.call_tree]
    while stack:
        node = stack.pop()
        names.add(node.function)
        stack.extend(node.children)
    assert "_spin_handler_work" in names
    assert not any("pystrument" in n for n in names), "the SDK's own frames are cut"
    failing = [r for r in records if r.kind == "request"]
    assert len(failing) == 1 and failing[0].status_code == 500 and failing[0].tags["profiler"] == "continuous"
    assert sum(r.requests.errors for r in agg.values()) == 1


def test_flask_continuous():
    flask = pytest.importorskip("flask")
    from pystrument.adapters.flask import PerformanceMiddleware

    sink = uuid.uuid4().hex
    app = flask.Flask("cont")

    @app.get("/items/<int:item>")
    def item(item: int):
        _spin_handler_work(0.005)
        return {"item": item}

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    app.wsgi_app = PerformanceMiddleware(app.wsgi_app, _config(sink))  # type: ignore[method-assign]
    client = app.test_client()
    for i in range(20):
        assert client.get(f"/items/{i}").json == {"item": i}
    response = client.get("/boom")
    assert response.status_code == 500
    response.close()  # what a WSGI server does (werkzeug's test client leaves it to the garbage collector)
    _check(_flush(sink), "GET /items/{item}")


def test_starlette_continuous():
    pytest.importorskip("starlette")
    from pystrument.adapters.asgi import PerformanceMiddleware
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    sink = uuid.uuid4().hex

    async def item(request):
        # longer than the GIL's switch interval: on an event loop the stack is read when the sampler gets the
        # GIL, up to 5 ms after the sample's target (docs/continuous.md)
        _spin_handler_work(0.02)
        return JSONResponse({"item": request.path_params["item"]})

    async def boom(request):
        raise RuntimeError("boom")

    app = Starlette(routes=[Route("/items/{item:int}", item), Route("/boom", boom)],
                    middleware=[Middleware(PerformanceMiddleware, config=_config(sink))])
    with TestClient(app, raise_server_exceptions=False) as client:
        for i in range(20):
            assert client.get(f"/items/{i}").json() == {"item": i}
        assert client.get("/boom").status_code == 500
    _check(_flush(sink), "GET /items/{item}")
