"""Flask: responses byte-identical with and without the adapter (test client and waitress), records
named by Flask's rules, errors recorded, Flask's error handling unchanged, instrumenting twice once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import flask
import pytest
from pystrument.adapters.flask import PerformanceMiddleware, Pystrument, rule_template
from pystrument_testing.call_trees import functions

FILE = Path(__file__)
RAISED: list[BaseException] = []
STREAM_GATE: dict[str, threading.Event] = {}


def busy_flask_user(ms: float) -> int:
    end = time.perf_counter() + ms / 1000
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def make_app() -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/json")
    def json_view():
        return {"ok": True, "items": [1, 2, 3]}

    @app.get("/html")
    def html_view():
        return "<h1>héllo</h1>"

    @app.get("/users/<int:user_id>")
    def user_view(user_id: int):
        busy_flask_user(5)
        return {"user": user_id}

    @app.get("/stream")
    def stream_view():
        def gen():
            for i in range(5):
                yield f"chunk-{i}\n"
        return flask.Response(gen(), mimetype="text/plain")

    @app.get("/live")
    def live_view():
        gate = STREAM_GATE["gate"]

        def gen():
            yield "first\n"
            if not gate.wait(10):
                yield "TIMED-OUT\n"
            yield "second\n"
        return flask.Response(gen(), mimetype="text/plain")

    @app.get("/file")
    def file_view():
        return flask.send_file(FILE, mimetype="text/plain")

    @app.get("/empty")
    def empty_view():
        return "", 204

    @app.get("/redirect")
    def redirect_view():
        return flask.redirect("/json")

    @app.get("/boom")
    def boom_view():
        exc = ValueError("boom in view")
        RAISED.append(exc)
        raise exc

    @app.get("/health")
    def health_view():
        return "ok"

    return app


CASES = [
    ("GET", "/json", {}), ("GET", "/html", {}), ("GET", "/users/42", {}), ("GET", "/stream", {}),
    ("GET", "/file", {}), ("HEAD", "/json", {}), ("HEAD", "/file", {}), ("GET", "/empty", {}),
    ("GET", "/redirect", {}), ("GET", "/boom", {}), ("GET", "/nope", {}), ("POST", "/json", {}),
    ("GET", "/health", {}),
]


def test_rule_template():
    assert rule_template("/users/<int:user_id>/posts/<slug>") == "/users/{user_id}/posts/{slug}"
    assert rule_template("/static/<path:filename>") == "/static/{filename}"


def test_test_client_responses_identical_and_records_named(make_config, records):
    bare, inst = make_app(), make_app()
    inst.wsgi_app = PerformanceMiddleware(inst.wsgi_app, make_config())  # the original documented form
    etag = bare.test_client().get("/file", buffered=True).headers["ETag"]
    cases = CASES + [("GET", "/file", {"If-None-Match": etag})]
    for method, path, headers in cases:
        a = bare.test_client().open(path, method=method, headers=headers, buffered=True)
        b = inst.test_client().open(path, method=method, headers=headers, buffered=True)
        assert (a.status, a.headers.to_wsgi_list(), a.get_data()) == (b.status, b.headers.to_wsgi_list(), b.get_data()), path
    assert inst.test_client().get("/file", headers={"If-None-Match": etag}, buffered=True).status_code == 304
    names = [r.name for r in records()]
    assert "GET /users/{user_id}" in names and "GET /users/42" not in names
    assert "GET [unmatched]" in names  # /nope
    assert "POST [unmatched]" in names  # 405: no rule for POST
    assert not any("/health" in n for n in names)
    boom = [r for r in records() if r.name == "GET /boom"]
    assert boom and boom[0].status_code == 500 and boom[0].error.type == "ValueError" and boom[0].error.message == "boom in view"
    user = next(r for r in records() if r.name == "GET /users/{user_id}")
    assert user.method == "GET" and user.path == "/users/42" and user.status_code == 200 and user.app.framework == "flask"
    assert user.duration_ms >= 5 and user.cpu_ms > 0


def test_waitress_raw_responses_identical(make_config, records, wsgi_server, raw_http):
    bare, inst = make_app(), make_app()
    inst.wsgi_app = PerformanceMiddleware(inst.wsgi_app, make_config())
    with wsgi_server(bare) as p_bare, wsgi_server(inst) as p_inst:
        etag = dict(raw_http(p_bare, "GET", "/file")[1])[b"etag"].decode()
        for method, path, headers in CASES + [("GET", "/file", {"If-None-Match": etag})]:
            a = raw_http(p_bare, method, path, headers)
            b = raw_http(p_inst, method, path, headers)
            assert a == b, (method, path)
        assert raw_http(p_inst, "GET", "/file", {"If-None-Match": etag})[0].upper().endswith(b"304 NOT MODIFIED")
    names = {r.name for r in records()}
    assert {"GET /json", "GET /users/{user_id}", "GET /stream", "GET /file", "HEAD /json", "GET /boom", "GET [unmatched]"} <= names
    stream = next(r for r in records() if r.name == "GET /stream")
    assert stream.status_code == 200


def gunicorn_app(instrumented: bool) -> flask.Flask:
    """For gunicorn (``test_adapters_flask:gunicorn_app(True)``): configuration from env."""
    app = make_app()
    if instrumented:
        app.wsgi_app = PerformanceMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def test_gunicorn_raw_responses_identical(tmp_path, gunicorn_server, raw_http, file_records):
    out = tmp_path / "records.jsonl"
    here = FILE.parent
    with gunicorn_server("test_adapters_flask:gunicorn_app(False)", here) as p_bare, \
            gunicorn_server("test_adapters_flask:gunicorn_app(True)", here, out) as p_inst:
        etag = dict(raw_http(p_bare, "GET", "/file")[1])[b"etag"].decode()
        cases = CASES + [("GET", "/file", {"If-None-Match": etag})]
        for method, path, headers in cases:
            a = raw_http(p_bare, method, path, headers)
            b = raw_http(p_inst, method, path, headers)
            assert a == b, (method, path)
        assert raw_http(p_inst, "GET", "/file", {"If-None-Match": etag})[0].upper().endswith(b"304 NOT MODIFIED")
        recs = file_records(out, len(cases))  # /health excluded, the probe and the 304 counted
    names = {r["name"] for r in recs}
    assert {"GET /json", "GET /html", "GET /users/{user_id}", "GET /stream", "GET /file", "HEAD /json", "GET /empty",
            "GET /redirect", "GET /boom", "GET [unmatched]", "POST [unmatched]"} <= names
    assert not any("/health" in n for n in names)
    boom = next(r for r in recs if r["name"] == "GET /boom")
    assert boom["status_code"] == 500 and boom["error"]["type"] == "ValueError"


def test_streaming_is_not_buffered(make_config, wsgi_server):
    import socket

    app = make_app()
    app.wsgi_app = PerformanceMiddleware(app.wsgi_app, make_config())
    STREAM_GATE["gate"] = threading.Event()
    with wsgi_server(app) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = b""
        while b"first" not in got:  # the first chunk arrives while the view is still blocked
            data = sock.recv(4096)
            assert data, "connection closed before the first chunk"
            got += data
        STREAM_GATE["gate"].set()
        while True:
            data = sock.recv(4096)
            if not data:
                break
            got += data
    assert b"second" in got and b"TIMED-OUT" not in got


def test_exception_propagates_as_same_object(make_config, records):
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = True
    app.wsgi_app = PerformanceMiddleware(app.wsgi_app, make_config())
    RAISED.clear()
    with pytest.raises(ValueError) as info:
        app.test_client().get("/boom", buffered=True)
    assert info.value is RAISED[0]
    [record] = [r for r in records() if r.name == "GET /boom"]
    assert record.error.type == "ValueError"


def test_extension_init_app_and_twice_profiles_once(make_config, records):
    app = make_app()
    ext = Pystrument()
    ext.init_app(app, make_config())
    ext.init_app(app, make_config())  # no second layer
    Pystrument(app, make_config())
    app.wsgi_app = PerformanceMiddleware(app.wsgi_app, make_config())  # and the original documented form on top
    assert app.test_client().get("/users/7", buffered=True).status_code == 200
    assert [r.name for r in records()] == ["GET /users/{user_id}"]
    assert app.extensions["pystrument"] is ext


def test_record_holds_the_view_frames(make_config, records):
    app = make_app()
    app.wsgi_app = PerformanceMiddleware(app.wsgi_app, make_config())
    app.test_client().get("/users/1", buffered=True)
    [record] = records()

    assert record.call_tree is not None
    found = set(functions(record.call_tree))
    assert "busy_flask_user" in found and "user_view" in found


def test_sampling_rate_zero_records_nothing_and_changes_nothing(make_config, records):
    bare, inst = make_app(), make_app()
    inst.wsgi_app = PerformanceMiddleware(inst.wsgi_app, make_config(sampling_rate=0.0))
    for path in ("/json", "/stream", "/boom"):
        a, b = bare.test_client().get(path, buffered=True), inst.test_client().get(path, buffered=True)
        assert (a.status, a.get_data()) == (b.status, b.get_data())
    assert records() == []


def test_outside_proxyfix_still_named_and_secrets_never_recorded(make_config, records):
    from pystrument.core.record import encode
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = make_app()
    app.wsgi_app = ProxyFix(app.wsgi_app)  # type: ignore[method-assign]
    app.wsgi_app = PerformanceMiddleware(app.wsgi_app, make_config())  # type: ignore[method-assign]
    headers = {"Cookie": "session=SECRET-COOKIE", "Authorization": "Bearer SECRET-TOKEN"}
    app.test_client().post("/json", headers=headers, data=b"SECRET-BODY", buffered=True)
    app.test_client().get("/users/3?token=SECRET-QUERY", headers=headers, buffered=True)
    assert [r.name for r in records()] == ["POST [unmatched]", "GET /users/{user_id}"]
    wire = b"".join(encode(r) for r in records())
    assert b"SECRET" not in wire


def caller_after_response(ms: float) -> int:
    return busy_flask_user(ms)


def test_status_only_response_leaves_no_unit_behind(make_config, records):
    """werkzeug's test client neither reads nor closes a body when a test reads only the status: the
    request's unit must not stay the test's current unit (the test's own code and the next request
    would be sampled into it) and ends once the response is dropped."""
    import gc

    app = make_app()
    middleware = PerformanceMiddleware(app.wsgi_app, make_config(profiler_interval=0.001))
    app.wsgi_app = middleware
    client = app.test_client()
    first = client.get("/stream")
    assert first.status_code == 200
    caller_after_response(30)
    second = client.get("/users/7")
    assert second.status_code == 200
    del first, second
    gc.collect()
    middleware.client.flush()

    by_name = {record.name: record for record in records()}
    assert sorted(by_name) == ["GET /stream", "GET /users/{user_id}"]
    streamed = set(functions(by_name["GET /stream"].call_tree)) if by_name["GET /stream"].call_tree else set()
    assert "caller_after_response" not in streamed and "busy_flask_user" not in streamed
    assert "busy_flask_user" in set(functions(by_name["GET /users/{user_id}"].call_tree))


def test_named_without_a_signal_per_request(make_config, records):
    """Requests are named from the request Flask keeps in the environ: no receiver on Flask's
    ``request_started`` (blinker would run it on every
    request, and continuous mode samples them all)."""
    from pystrument.adapters.flask import middleware

    app = make_app()
    app.wsgi_app = PerformanceMiddleware(app.wsgi_app, make_config())
    if middleware._started_connected:
        pytest.skip("an earlier test in this process connected the fallback")
    assert app.test_client().get("/users/5", buffered=True).status_code == 200
    assert id(middleware._on_request_started) not in flask.request_started.receivers
    assert [r.name for r in records()] == ["GET /users/{user_id}"]


def test_environ_copied_inside_names_by_the_signal(make_config, records):
    """A middleware between ours and Flask that passes Flask a copy of the environ: the first request is
    unmatched, then the request_started signal names every request."""
    app = make_app()
    inner = app.wsgi_app

    def copying(environ, start_response):
        return inner(dict(environ), start_response)

    app.wsgi_app = PerformanceMiddleware(copying, make_config())  # type: ignore[method-assign]
    client = app.test_client()
    for _ in range(2):
        assert client.get("/users/4", buffered=True).status_code == 200
    names = [r.name for r in records()]
    assert names[-1] == "GET /users/{user_id}"
    assert names[0] in ("GET [unmatched]", "GET /users/{user_id}")  # named at once if an earlier test connected it
