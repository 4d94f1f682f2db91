"""Django: the MIDDLEWARE entry, settings.PYSTRUMENT / PERFORMANCE_MONITOR, sync and async views,
responses byte-identical with and without the adapter through the test client, waitress (WSGI) and
uvicorn (ASGI), names from resolver_match.route, errors from process_exception."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import types
from pathlib import Path

import django
import httpx
import pytest
from django.conf import settings
from pystrument_testing.call_trees import functions

if not settings.configured:
    settings.configure(
        DEBUG=False, ALLOWED_HOSTS=["*"], SECRET_KEY="adapters-test", ROOT_URLCONF="", USE_TZ=True,
        MIDDLEWARE=[], INSTALLED_APPS=[], DEFAULT_CHARSET="utf-8",
    )
    django.setup()

from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.http import (  # noqa: E402
    FileResponse,
    HttpResponse,
    HttpResponseNotModified,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect  # noqa: E402
from django.test import AsyncClient, Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import include, path, re_path  # noqa: E402
from pystrument.adapters.django import route_template  # noqa: E402

FILE = Path(__file__)
RAISED: list[BaseException] = []
OURS = "pystrument.adapters.django.PerformanceMiddleware"
OTHERS = ["django.middleware.common.CommonMiddleware", "django.middleware.http.ConditionalGetMiddleware"]


def spin(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def django_sync_marker(ms: float) -> None:
    spin(ms)


def django_async_marker(ms: float) -> None:
    spin(ms)


def json_view(request):
    return JsonResponse({"ok": True, "items": [1, 2, 3]})


def html_view(request):
    return HttpResponse("<h1>héllo</h1>")


def user_view(request, user_id):
    django_sync_marker(4)
    return JsonResponse({"user": user_id})


async def async_user_view(request, user_id):
    django_async_marker(2)
    await asyncio.sleep(0.001)
    django_async_marker(2)
    return JsonResponse({"async_user": user_id})


def stream_view(request):
    return StreamingHttpResponse((f"chunk-{i}\n".encode() for i in range(5)), content_type="text/plain")


def file_view(request):
    return FileResponse(open(FILE, "rb"), content_type="text/plain")


def empty_view(request):
    return HttpResponse(status=204)


def not_modified_view(request):
    return HttpResponseNotModified()


def redirect_view(request):
    return redirect("/json/")


def boom_view(request):
    exc = ValueError("boom in view")
    RAISED.append(exc)
    raise exc


GATE: dict[str, threading.Event] = {}


def live_view(request):
    def gen():
        yield b"first\n"
        if not GATE["gate"].wait(10):
            yield b"TIMED-OUT\n"
        yield b"second\n"
    return StreamingHttpResponse(gen(), content_type="text/plain")


def article_view(request, year):
    return HttpResponse(f"year {year}")


def item_view(request, name):
    return HttpResponse(f"item {name}")


URLCONF = types.ModuleType("adapters_django_urls")
URLCONF.urlpatterns = [
    path("json/", json_view), path("html/", html_view), path("users/<int:user_id>/", user_view),
    path("async-users/<int:user_id>/", async_user_view), path("stream/", stream_view), path("file/", file_view),
    path("empty/", empty_view), path("not-modified/", not_modified_view), path("redirect/", redirect_view),
    path("boom/", boom_view), re_path(r"^articles/(?P<year>[0-9]{4})/$", article_view),
    path("api/", include([path("items/<slug:name>/", item_view)])), path("health/", json_view), path("live/", live_view),
]

CASES = [
    ("GET", "/json/"), ("GET", "/html/"), ("GET", "/users/5/"), ("GET", "/async-users/6/"), ("GET", "/stream/"),
    ("GET", "/file/"), ("HEAD", "/json/"), ("HEAD", "/file/"), ("GET", "/empty/"), ("GET", "/not-modified/"),
    ("GET", "/redirect/"), ("GET", "/boom/"), ("GET", "/articles/2024/"), ("GET", "/api/items/abc/"),
    ("GET", "/nope/"), ("GET", "/json"), ("GET", "/health/"),
]
EXPECTED_NAMES = {
    "GET /json/", "GET /html/", "GET /users/{user_id}/", "GET /async-users/{user_id}/", "GET /stream/", "GET /file/",
    "HEAD /json/", "GET /empty/", "GET /not-modified/", "GET /redirect/", "GET /boom/", "GET /articles/{year}/",
    "GET /api/items/{name}/", "GET [unmatched]",
}


def django_settings(config, instrumented: bool, key: str = "PYSTRUMENT"):
    middleware = ([OURS] if instrumented else []) + OTHERS
    return override_settings(ROOT_URLCONF=URLCONF, MIDDLEWARE=middleware, **{key: config})


def test_route_template():
    assert route_template("users/<int:user_id>/") == "/users/{user_id}/"
    assert route_template("^articles/(?P<year>[0-9]{4})/$") == "/articles/{year}/"
    assert route_template("api/items/<slug:name>/") == "/api/items/{name}/"


def _client_response(client: Client, method: str, url: str):
    response = client.generic(method, url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    response.close()
    return response.status_code, sorted(response.items()), body


@pytest.mark.parametrize("key", ["PYSTRUMENT", "PERFORMANCE_MONITOR"])
def test_test_client_responses_identical_and_named(make_config, records, key):
    results = {}
    for instrumented in (False, True):
        with django_settings(make_config(), instrumented, key):
            client = Client(raise_request_exception=False)
            results[instrumented] = [_client_response(client, m, u) for m, u in CASES]
    for case, a, b in zip(CASES, results[False], results[True], strict=True):
        assert a == b, case
    names = {r.name for r in records()}
    assert EXPECTED_NAMES <= names, EXPECTED_NAMES - names
    assert not any("/health" in n for n in names)
    boom = next(r for r in records() if r.name == "GET /boom/")
    assert boom.status_code == 500 and boom.error.type == "ValueError" and boom.error.message == "boom in view"
    user = next(r for r in records() if r.name == "GET /users/{user_id}/")
    assert user.app.framework == "django" and user.path == "/users/5/" and {"user_view", "django_sync_marker"} <= set(functions(user.call_tree))


def test_exception_propagates_as_same_object_through_the_test_client(make_config, records):
    RAISED.clear()
    with django_settings(make_config(), True), pytest.raises(ValueError) as info:
        Client().get("/boom/")
    assert info.value is RAISED[0]


async def test_async_client_async_view_holds_its_frames(make_config, records):
    with django_settings(make_config(), True):
        response = await AsyncClient().get("/async-users/3/")
        response_sync = await AsyncClient().get("/users/4/")
    assert response.status_code == 200 and response_sync.status_code == 200
    by_name = {r.name: r for r in records()}
    async_record = by_name["GET /async-users/{user_id}/"]
    assert {"async_user_view", "django_async_marker"} <= set(functions(async_record.call_tree))
    sync_record = by_name["GET /users/{user_id}/"]  # a sync view run by sync_to_async in a worker thread
    assert {"user_view", "django_sync_marker"} <= set(functions(sync_record.call_tree))


def test_wsgi_under_waitress_identical(make_config, records, wsgi_server, raw_http):
    with django_settings(make_config(), False):
        bare = WSGIHandler()
    with django_settings(make_config(), True):
        inst = WSGIHandler()
    with django_settings(make_config(), False), wsgi_server(bare) as p_bare, wsgi_server(inst) as p_inst:
        for method, url in CASES:
            assert raw_http(p_bare, method, url) == raw_http(p_inst, method, url), url
    names = {r.name for r in records()}
    assert EXPECTED_NAMES <= names, EXPECTED_NAMES - names


def gunicorn_app(instrumented: bool) -> WSGIHandler:
    """For gunicorn (``test_adapters_django:gunicorn_app(True)``): the settings of this module, the
    middleware's configuration from env."""
    django_settings(None, instrumented).enable()
    return WSGIHandler()


def test_wsgi_under_gunicorn_identical(tmp_path, gunicorn_server, raw_http, file_records):
    out = tmp_path / "records.jsonl"
    here = FILE.parent
    with gunicorn_server("test_adapters_django:gunicorn_app(False)", here) as p_bare, \
            gunicorn_server("test_adapters_django:gunicorn_app(True)", here, out) as p_inst:
        for method, url in CASES:
            assert raw_http(p_bare, method, url) == raw_http(p_inst, method, url), url
        recs = file_records(out, len(CASES) - 1)  # /health/ is excluded
    names = {r["name"] for r in recs}
    assert EXPECTED_NAMES <= names, EXPECTED_NAMES - names
    boom = next(r for r in recs if r["name"] == "GET /boom/")
    assert boom["status_code"] == 500 and boom["error"]["type"] == "ValueError"


def test_asgi_under_uvicorn_identical_and_concurrent(make_config, records, asgi_server, raw_http, no_profiler_errors):
    with django_settings(make_config(), False):
        bare = ASGIHandler()
    with django_settings(make_config(), True):
        inst = ASGIHandler()
    with django_settings(make_config(), False):
        with asgi_server(bare, lifespan="off") as p_bare, asgi_server(inst, lifespan="off") as p_inst:
            for method, url in CASES:
                assert raw_http(p_bare, method, url) == raw_http(p_inst, method, url), url
            names = {r.name for r in records()}
            assert EXPECTED_NAMES <= names, EXPECTED_NAMES - names
            before = len(records())

            async def fire() -> list[int]:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{p_inst}", timeout=60) as client:
                    urls = [f"/users/{i}/" if i % 2 else f"/async-users/{i}/" for i in range(40)]
                    return [r.status_code for r in await asyncio.gather(*(client.get(u) for u in urls))]

            assert asyncio.run(fire()) == [200] * 40
    recs = records()[before:]
    assert len(recs) == 40
    for r in recs:
        sync = r.path.startswith("/users/")
        found = set(functions(r.call_tree))
        own, other = ("user_view", "async_user_view") if sync else ("async_user_view", "user_view")
        assert own in found and other not in found, (r.path, found)


def test_streaming_is_not_buffered_under_waitress(make_config, records, wsgi_server):
    GATE["gate"] = threading.Event()
    with django_settings(make_config(), True):
        handler = WSGIHandler()
    with django_settings(make_config(), True), wsgi_server(handler) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /live/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while b"first" not in got:  # arrives while the view's generator is still blocked
                data = sock.recv(4096)
                assert data, "closed before the first chunk"
                got += data
            assert records() == []  # the record ends with the stream, not before
            GATE["gate"].set()
            while data := sock.recv(4096):
                got += data
        deadline = time.monotonic() + 5
        while not records() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert b"second" in got and b"TIMED-OUT" not in got
    [record] = records()
    assert record.name == "GET /live/" and record.status_code == 200


def _django_inside_server_middleware(config, make_config, wsgi_server, asgi_server, raw_http, protocol):
    """What pystrument-run's server hooks build for a Django handler they do not recognise (one inside other
    middleware): the WSGI/ASGI middleware (with ``config``) outside, Django's inside; asked GET /users/5/ and
    GET /boom/."""
    from pystrument.adapters.asgi import PerformanceMiddleware as ASGIMiddleware
    from pystrument.adapters.wsgi import PerformanceMiddleware as WSGIMiddleware

    with django_settings(make_config(), True):
        handler = WSGIHandler() if protocol == "wsgi" else ASGIHandler()
    if protocol == "wsgi":
        def other_layer(environ, start_response):
            return handler(environ, start_response)
        app, server, options = WSGIMiddleware(other_layer, config), wsgi_server, {}
    else:
        async def other_layer(scope, receive, send):
            await handler(scope, receive, send)
        app, server, options = ASGIMiddleware(other_layer, config), asgi_server, {"lifespan": "off"}
    with django_settings(make_config(), True), server(app, **options) as port:
        assert raw_http(port, "GET", "/users/5/")[0].endswith(b"200 OK")
        assert raw_http(port, "GET", "/boom/")[0].endswith(b"500 Internal Server Error")
    app.client.flush(5)


@pytest.mark.parametrize("protocol", ["wsgi", "asgi"])
def test_inside_a_server_level_middleware_profiled_once_and_named_by_django(make_config, records, wsgi_server, asgi_server,
                                                                           raw_http, protocol):
    """One record per request, named by Django's route, the view's exception recorded."""
    _django_inside_server_middleware(make_config(), make_config, wsgi_server, asgi_server, raw_http, protocol)
    recs = records()
    assert sorted(r.name for r in recs) == ["GET /boom/", "GET /users/{user_id}/"]
    assert {r.app.framework for r in recs} == {protocol}
    boom = next(r for r in recs if r.name == "GET /boom/")
    assert boom.status_code == 500 and boom.error.type == "ValueError" and boom.error.message == "boom in view"


@pytest.mark.parametrize("protocol", ["wsgi", "asgi"])
def test_inside_a_server_level_middleware_continuous_units_are_named_by_django(make_config, records, wsgi_server, asgi_server,
                                                                              raw_http, protocol):
    """The same in continuous mode (the default "both" profiles most requests so): Django names the outer unit, whose
    aggregates and tail-kept failure carry its routes. Under ASGI every request was "GET [unmatched]": Django
    looked for the outer unit among the detailed profiler's only."""
    _django_inside_server_middleware(make_config(profiling_mode="continuous"), make_config, wsgi_server, asgi_server,
                                     raw_http, protocol)
    recs = records()
    assert sorted(r.name for r in recs if r.kind == "aggregate") == ["GET /boom/", "GET /users/{user_id}/"], recs
    [failed] = [r for r in recs if r.kind == "request"]
    assert failed.name == "GET /boom/" and failed.status_code == 500 and failed.error.type == "ValueError"


def test_records_start_at_djangos_frames_not_ours(make_config, records):
    """The middleware is hidden: a record's tree starts at Django's frames (issue 14)."""
    with django_settings(make_config(), True):
        client = Client()
        for user_id in range(5):
            assert client.get(f"/users/{user_id}/").status_code == 200
    found = [r for r in records() if r.name == "GET /users/{user_id}/"]
    assert len(found) == 5
    ours = f"{os.sep}pystrument{os.sep}"
    assert sum(1 for r in found if r.sample_count) >= 3, [r.sample_count for r in found]
    for record in found:
        tree = record.call_tree
        tops = [tree, *tree.children]
        assert not [n.file for n in tops if ours in n.file], [(n.function, n.file) for n in tops]
