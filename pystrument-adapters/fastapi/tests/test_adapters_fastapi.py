"""FastAPI: responses byte-identical with and without the adapter (TestClient and uvicorn), route
template names, def routes followed into the threadpool, websocket/lifespan untouched, 200 mixed
concurrent requests each holding only its own handler's frames."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI, WebSocket
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.testclient import TestClient
from pystrument.adapters.fastapi import PerformanceMiddleware
from pystrument_testing.call_trees import functions
from starlette.middleware import Middleware

FILE = Path(__file__)
RAISED: list[BaseException] = []
LIFESPAN_EVENTS: list[str] = []


def spin(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def sync_route_marker(ms: float) -> None:
    spin(ms)


def async_route_marker(ms: float) -> None:
    spin(ms)


def make_app(config: dict | None = None, *, seed_form: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app):
        LIFESPAN_EVENTS.append("startup")
        yield {"ready": True}
        LIFESPAN_EVENTS.append("shutdown")

    middleware = [] if seed_form or config is None else [Middleware(PerformanceMiddleware, config=config)]
    app = FastAPI(lifespan=lifespan, middleware=middleware)

    @app.get("/json")
    async def json_view():
        return {"ok": True, "items": [1, 2, 3]}

    @app.get("/html", response_class=HTMLResponse)
    async def html_view():
        return "<h1>héllo</h1>"

    @app.get("/sync/{item_id}")
    def sync_view(item_id: int):
        sync_route_marker(4)
        return {"sync": item_id}

    @app.get("/async/{item_id}")
    async def async_view(item_id: int):
        async_route_marker(2)
        await asyncio.sleep(0.001)
        async_route_marker(2)
        return {"async": item_id}

    @app.get("/stream")
    async def stream_view():
        async def gen():
            for i in range(5):
                yield f"chunk-{i}\n".encode()
                await asyncio.sleep(0)
        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/stream-sync")
    def stream_sync_view():
        def gen():
            for i in range(3):
                yield f"sync-{i}\n"
        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/file")
    async def file_view():
        return FileResponse(FILE, media_type="text/plain")

    @app.get("/empty", status_code=204)
    async def empty_view():
        return Response(status_code=204)

    @app.get("/not-modified")
    async def not_modified_view():
        return Response(status_code=304, headers={"ETag": '"abc"'})

    @app.get("/redirect")
    async def redirect_view():
        return RedirectResponse("/json")

    @app.get("/background")
    async def background_view(tasks: BackgroundTasks):
        tasks.add_task(spin, 1)
        return {"queued": True}

    @app.get("/boom")
    async def boom_view():
        exc = ValueError("boom in route")
        RAISED.append(exc)
        raise exc

    @app.websocket("/ws")
    async def ws_view(websocket: WebSocket):
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(text.upper())
        await websocket.close()

    sub = FastAPI()

    @sub.get("/items/{name}")
    async def sub_item(name: str):
        return {"name": name}

    app.mount("/sub", sub)
    if seed_form and config is not None:
        app.add_middleware(PerformanceMiddleware, config=config)  # the original documented form
    return app


CASES = [
    ("GET", "/json", {}), ("GET", "/html", {}), ("GET", "/sync/3", {}), ("GET", "/async/4", {}), ("GET", "/stream", {}),
    ("GET", "/stream-sync", {}), ("GET", "/file", {}), ("HEAD", "/file", {}), ("HEAD", "/json", {}), ("GET", "/empty", {}),
    ("GET", "/not-modified", {}), ("GET", "/redirect", {}), ("GET", "/background", {}), ("GET", "/boom", {}),
    ("GET", "/nope", {}), ("POST", "/json", {}), ("GET", "/sub/items/x", {}), ("GET", "/health", {}),
]


def test_test_client_responses_identical(make_config, records):
    bare, inst = make_app(), make_app(make_config())
    with TestClient(bare, raise_server_exceptions=False) as a_client, TestClient(inst, raise_server_exceptions=False) as b_client:
        etag = a_client.get("/file").headers["etag"]
        for method, path, headers in CASES + [("GET", "/file", {"If-None-Match": etag})]:
            a = a_client.request(method, path, headers=headers)
            b = b_client.request(method, path, headers=headers)
            assert (a.status_code, a.headers.raw, a.content) == (b.status_code, b.headers.raw, b.content), path
    by_name = {r.name: r for r in records()}
    for name in ("GET /json", "GET /sync/{item_id}", "GET /async/{item_id}", "GET /stream", "GET /file", "GET /empty",
                 "GET /not-modified", "GET /redirect", "GET /boom", "GET [unmatched]", "GET /sub/items/{name}"):
        assert name in by_name, (name, sorted(by_name))
    assert not any("/health" in n for n in by_name)
    assert by_name["GET /boom"].error.type == "ValueError" and by_name["GET /boom"].status_code == 500
    assert by_name["GET /not-modified"].status_code == 304 and by_name["GET /empty"].status_code == 204
    assert by_name["GET /sync/{item_id}"].app.framework == "fastapi" and by_name["GET /sync/{item_id}"].path == "/sync/3"


def test_uvicorn_raw_responses_identical(make_config, records, asgi_server, raw_http, no_profiler_errors):
    bare, inst = make_app(), make_app(make_config())
    with asgi_server(bare) as p_bare, asgi_server(inst) as p_inst:
        etag = dict(raw_http(p_bare, "GET", "/file")[1])[b"etag"].decode()
        for method, path, headers in CASES + [("GET", "/file", {"If-None-Match": etag})]:
            assert raw_http(p_bare, method, path, headers) == raw_http(p_inst, method, path, headers), (method, path)
    names = {r.name for r in records()}
    assert {"GET /json", "GET /stream", "GET /stream-sync", "HEAD /file", "GET /boom", "GET /sub/items/{name}"} <= names


def test_exception_propagates_as_same_object(make_config, records):
    app = make_app(make_config())
    RAISED.clear()
    with TestClient(app) as client, pytest.raises(ValueError) as info:
        client.get("/boom")
    assert info.value is RAISED[0]
    assert [r.error.message for r in records() if r.name == "GET /boom"] == ["boom in route"]


def test_websocket_and_lifespan_pass_through(make_config, records):
    LIFESPAN_EVENTS.clear()
    app = make_app(make_config(), seed_form=False)  # the Middleware(...) list form
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            ws.send_text("hello")
            assert ws.receive_text() == "HELLO"
        assert client.get("/json").json() == {"ok": True, "items": [1, 2, 3]}
    assert LIFESPAN_EVENTS == ["startup", "shutdown"]
    assert [r.name for r in records()] == ["GET /json"]


def test_def_route_record_holds_its_handler_frames(make_config, records):
    app = make_app(make_config())
    with TestClient(app) as client:
        client.get("/sync/1")
        client.get("/stream-sync")
    record = next(r for r in records() if r.name == "GET /sync/{item_id}")
    found = set(functions(record.call_tree))
    assert {"sync_view", "sync_route_marker"} <= found, found


def test_instrumenting_twice_profiles_once(make_config, records):
    app = make_app(make_config())
    app.add_middleware(PerformanceMiddleware, config=make_config())
    with TestClient(app) as client:
        client.get("/json")
    assert [r.name for r in records()] == ["GET /json"]


def test_streaming_passes_chunks_as_produced(make_config, asgi_server):
    gate = asyncio.Event()
    from fastapi import FastAPI as _F

    app = _F()

    @app.get("/live")
    async def live():
        async def gen():
            yield b"first\n"
            try:
                await asyncio.wait_for(gate.wait(), 10)
            except asyncio.TimeoutError:
                yield b"TIMED-OUT\n"
            yield b"second\n"
        return StreamingResponse(gen())

    @app.get("/open")
    async def open_gate():
        gate.set()
        return {}

    app.add_middleware(PerformanceMiddleware, config=make_config())
    with asgi_server(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
        with client.stream("GET", "/live") as response:
            chunks = response.iter_bytes()
            first = next(chunks)
            assert first.startswith(b"first")  # arrived while the generator is still waiting
            client.get("/open")
            rest = first + b"".join(chunks)
    assert rest == b"first\nsecond\n"


def test_200_concurrent_mixed_requests_each_hold_only_their_own_frames(make_config, records, asgi_server, no_profiler_errors):
    app = make_app(make_config())

    async def fire(port: int) -> list[int]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:
            paths = [f"/sync/{i}" if i % 2 else f"/async/{i}" for i in range(200)]
            responses = await asyncio.gather(*(client.get(p) for p in paths))
            return [r.status_code for r in responses]

    with asgi_server(app) as port:
        statuses = asyncio.run(fire(port))
    assert statuses == [200] * 200
    recs = records()
    assert len(recs) == 200
    assert sorted(r.path for r in recs) == sorted(f"/sync/{i}" if i % 2 else f"/async/{i}" for i in range(200))
    empty = 0
    for r in recs:
        kind = "sync" if r.path.startswith("/sync/") else "async"
        assert r.name == f"GET /{kind}/{{item_id}}"
        found = set(functions(r.call_tree)) if r.call_tree else set()
        own, other = (("sync_view", "async_view") if kind == "sync" else ("async_view", "sync_view"))
        assert other not in found and f"{'async' if kind == 'sync' else 'sync'}_route_marker" not in found, (r.path, found)
        if own not in found:
            empty += 1
    # Every handler runs >= 4 ms at a 1 ms interval: its own frame is in its record.
    assert empty == 0, f"{empty} of 200 records hold no frame of their own handler"
