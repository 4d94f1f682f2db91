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


def test_streamed_body_ends_the_unit_on_close(make_config, records):
    inner = Body()

    def app(environ, start):
        start("206 Partial Content", [])
        return inner

    result = PerformanceMiddleware(app, make_config())(dict(ENVIRON), start_response)
    assert list(result) == [b"a", b"b"]
    assert records() == []  # not closed yet
    result.close()
    assert inner.closed
    [record] = records()
    assert record.name == "GET [unmatched]" and record.status_code == 206


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
