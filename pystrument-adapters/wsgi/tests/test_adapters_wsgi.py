"""The WSGI middleware on bare WSGI callables: what is returned, when the unit ends, and the guards."""

from __future__ import annotations

import pytest
from pystrument.adapters.wsgi import PerformanceMiddleware

ENVIRON = {"REQUEST_METHOD": "GET", "PATH_INFO": "/orders/12", "SCRIPT_NAME": "", "wsgi.url_scheme": "http"}


class Body:
    def __init__(self):
        self.closed = False

    def __iter__(self):
        yield b"a"
        yield b"b"

    def close(self):
        self.closed = True


def start_response(status, headers, exc_info=None):
    return lambda data: None


def test_list_body_is_returned_as_is_and_recorded(make_config, records):
    body = [b"hello"]

    def app(environ, start):
        start("200 OK", [("Content-Length", "5")])
        return body

    result = PerformanceMiddleware(app, make_config(), route=lambda e: "/orders/{id}")(dict(ENVIRON), start_response)
    assert result is body
    [record] = records()
    assert record.name == "GET /orders/{id}" and record.status_code == 200 and record.app.framework == "wsgi"


class CountingBody(Body):
    def __init__(self):
        super().__init__()
        self.closes = 0

    def close(self):
        self.closes += 1
        super().close()


def _streamed(make_config, inner, status="206 Partial Content"):
    def app(environ, start):
        start(status, [])
        return inner

    return PerformanceMiddleware(app, make_config())(dict(ENVIRON), start_response)


def test_streamed_body_ends_the_unit_when_exhausted_and_close_passes_through_once(make_config, records):
    inner = CountingBody()
    result = _streamed(make_config, inner)
    assert next(iter(result)) == b"a"
    assert records() == []  # still producing
    assert list(result) == [b"b"]
    [record] = records()  # exhausted: ended without close() (werkzeug's test client never calls it)
    assert record.name == "GET [unmatched]" and record.status_code == 206
    result.close()
    result.close()
    assert inner.closes == 1 and len(records()) == 1


def test_streamed_body_closed_early_or_never_iterated_ends_the_unit_on_close(make_config, records):
    partly, never = CountingBody(), CountingBody()
    first = _streamed(make_config, partly)
    assert next(iter(first)) == b"a"
    first.close()
    second = _streamed(make_config, never)
    assert len(records()) == 1
    second.close()
    assert partly.closes == 1 and never.closes == 1 and len(records()) == 2


def test_error_while_streaming_is_recorded_once(make_config, records):
    def failing():
        yield b"a"
        raise ValueError("mid-stream")

    result = _streamed(make_config, failing(), "200 OK")
    with pytest.raises(ValueError):
        list(result)
    result.close()
    [record] = records()
    assert record.error.type == "ValueError"


def test_exception_is_the_same_object_and_recorded(make_config, records):
    boom = RuntimeError("down")

    def app(environ, start):
        raise boom

    with pytest.raises(RuntimeError) as info:
        PerformanceMiddleware(app, make_config())(dict(ENVIRON), start_response)
    assert info.value is boom
    assert records()[0].error.message == "down"


def test_twice_wrapped_profiles_once_and_excluded_paths_skip(make_config, records):
    def app(environ, start):
        start("200 OK", [])
        return [b"x"]

    twice = PerformanceMiddleware(PerformanceMiddleware(app, make_config()), make_config())
    twice(dict(ENVIRON), start_response)
    twice(dict(ENVIRON, PATH_INFO="/health"), start_response)
    assert len(records()) == 1
