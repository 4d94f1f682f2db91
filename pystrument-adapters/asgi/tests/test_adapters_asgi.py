"""The ASGI middleware on Starlette (Middleware list form, mounts) and on a bare ASGI callable."""

from __future__ import annotations

import pytest
from pystrument.adapters.asgi import PerformanceMiddleware, route_template
from pystrument_testing.call_trees import functions
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient


async def user(request):
    return JSONResponse(dict(request.path_params))


def sync_page(request):
    return PlainTextResponse("page")


def make_app(config=None) -> Starlette:
    routes = [
        Route("/users/{user_id:int}", user),
        Route("/page", sync_page),
        Mount("/v1", routes=[Route("/things/{name}", user)]),
    ]
    middleware = [Middleware(PerformanceMiddleware, config=config)] if config else []
    return Starlette(routes=routes, middleware=middleware)


def test_starlette_middleware_list_names_and_identity(make_config, records):
    bare, inst = TestClient(make_app()), TestClient(make_app(make_config()))
    for path in ("/users/3", "/page", "/v1/things/x", "/missing", "/health"):
        a, b = bare.get(path), inst.get(path)
        assert (a.status_code, a.headers.raw, a.content) == (b.status_code, b.headers.raw, b.content)
    names = [r.name for r in records()]
    assert names == ["GET /users/{user_id}", "GET /page", "GET /v1/things/{name}", "GET [unmatched]"]
    assert {r.app.framework for r in records()} == {"asgi"}


async def test_bare_asgi_app_and_pass_through_scopes(make_config, records):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            return
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await send({"type": "http.response.body", "body": b"end"})

    wrapped = PerformanceMiddleware(app, make_config())
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "lifespan.startup"}

    await wrapped({"type": "lifespan"}, receive, send)
    await wrapped({"type": "http", "method": "PUT", "path": "/x/1", "headers": []}, receive, send)
    assert seen == ["lifespan", "http"]
    assert sent[0] == {"type": "lifespan.startup.complete"}
    assert [m.get("body") for m in sent[2:]] == [b"part", b"end"]
    [record] = records()
    assert record.name == "PUT [unmatched]" and record.status_code == 201 and record.method == "PUT"


async def test_exception_before_response_is_recorded_and_reraised(make_config, records):
    boom = KeyError("k")

    async def app(scope, receive, send):
        raise boom

    with pytest.raises(KeyError) as info:
        await PerformanceMiddleware(app, make_config())({"type": "http", "method": "GET", "path": "/"}, None, None)
    assert info.value is boom
    [record] = records()
    assert record.error.type == "KeyError" and record.status_code == 500


def test_route_template_with_mount_prefix():
    route = Route("/items/{item_id:int}", user)
    assert route_template({"route": route, "root_path": "/api/v1", "app_root_path": "/api"}) == "/v1/items/{item_id}"
    assert route_template({}) is None


def test_bad_config_type_is_a_clear_error():
    with pytest.raises(TypeError, match="config must be a pystrument Config, a dict or None"):
        PerformanceMiddleware(lambda *a: None, config="project-key")  # type: ignore[arg-type]


def background_marker_after_stream() -> None:
    import time

    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        pass


def streamed_marker() -> None:
    import time

    end = time.perf_counter() + 0.01
    while time.perf_counter() < end:
        pass


def test_stream_sent_from_a_child_task_ends_the_unit_and_background_work_is_not_in_it(make_config, records):
    import time

    from starlette.background import BackgroundTask
    from starlette.responses import StreamingResponse

    async def stream(request):
        async def gen():
            streamed_marker()
            yield b"a"
            yield b"b"
        # Without ASGI spec 2.4 Starlette sends the body from a child task; the background task then
        # runs in the request's own context after the last chunk.
        return StreamingResponse(gen(), background=BackgroundTask(background_marker_after_stream))

    app = Starlette(routes=[Route("/s", stream)],
                    middleware=[Middleware(PerformanceMiddleware, config=make_config(async_send=True, flush_interval=0.05))])
    with TestClient(app) as client:
        assert client.get("/s").content == b"ab"
    deadline = time.monotonic() + 5
    while not records() and time.monotonic() < deadline:
        time.sleep(0.02)
    [record] = records()

    found = set(functions(record.call_tree))
    assert "streamed_marker" in found
    assert "background_marker_after_stream" not in found, found
    # ended at the last chunk, before the 300 ms background task (the margin absorbs a loaded machine)
    assert record.duration_ms < 200


def test_lifespan_shutdown_flush_does_not_block_the_event_loop(make_config, records):
    """Before the server hears shutdown.complete, queued records are delivered, waiting in a worker
    thread: blockbuster (which Starlette's own suite runs) fails any blocking call made in the event loop,
    and the flush used to wait on a lock there (found by tests/peers, Starlette's suite)."""
    from blockbuster import blockbuster_ctx
    from pystrument.core import failsafe

    # wrapped here, in the main thread, so that the client (and its config files) is made before the loop runs
    app = PerformanceMiddleware(Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))]),
                                make_config(async_send=True, flush_interval=60.0))
    with blockbuster_ctx(["pystrument.core", "pystrument.adapters.asgi"]):  # namespace package: name its parts
        with TestClient(app) as client:
            assert client.get("/").text == "ok"
            assert records() == []  # queued: neither batch_size nor flush_interval reached
    assert [(where, repr(exc)) for where, exc in failsafe.internal_errors] == []
    assert [r.name for r in records()] == ["GET /"]
