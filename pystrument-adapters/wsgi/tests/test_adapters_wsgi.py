"""The WSGI middleware on bare WSGI callables: what is returned, when the unit ends, and the guards."""

from __future__ import annotations

import time

import pytest
from pystrument.adapters.wsgi import PerformanceMiddleware
from pystrument_testing.call_trees import functions

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


def _busy(ms: float) -> int:
    end = time.perf_counter() + ms / 1000
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def test_body_dropped_inside_the_profiler_hook_changes_nothing_there_and_ends_later(make_config, records):
    """A body the caller neither reads nor closes ends from its finalizer, which runs wherever the last
    reference goes: here, deterministically, inside pyinstrument's hook (another subscriber of the same
    thread's sampler drops it). There the finalizer must not end the unit (no profiler call, no ContextVar
    reset, no record sent: that freed the hook's state under it, "failed to get value of the context
    var"); the unit ends at the client's next safe point."""
    from pyinstrument.stack_sampler import get_stack_sampler
    from pystrument.core.profiling.stack_sampler import current_unit

    def app(environ, start):
        start("200 OK", [])
        return Body()

    middleware = PerformanceMiddleware(app, make_config())
    bodies = [middleware(dict(ENVIRON), start_response)]
    sampler = get_stack_sampler()
    seen: dict[str, tuple] = {}

    def dropper(call_stack, time_since_last_sample, async_state):
        if "before" in seen:
            return
        seen["before"] = (list(sampler.subscribers), current_unit.get(), len(records()))
        bodies.clear()  # the last reference: the finalizer runs here, inside the hook
        seen["after"] = (list(sampler.subscribers), current_unit.get(), len(records()))

    sampler.subscribe(dropper, desired_interval=0.0001, use_async_context=False)
    try:
        deadline = time.monotonic() + 5
        while "after" not in seen and time.monotonic() < deadline:
            _busy(1)
    finally:
        sampler.unsubscribe(dropper)
    assert "after" in seen, "the hook never sampled"
    assert seen["after"] == seen["before"]
    assert seen["before"][1] is None  # the app has returned: its unit is not the caller's current unit
    middleware.client.flush()  # a safe point
    [record] = records()
    assert record.name == "GET [unmatched]" and record.status_code == 200


def test_caller_code_after_the_app_returns_is_not_the_units_but_the_body_is(make_config, records):
    def produce_chunk():
        _busy(30)
        return b"chunk"

    def app(environ, start):
        start("200 OK", [])
        return (produce_chunk() for _ in range(2))

    def caller_between_chunks():
        _busy(30)

    middleware = PerformanceMiddleware(app, make_config(profiler_interval=0.001))
    result = middleware(dict(ENVIRON), start_response)
    caller_between_chunks()
    chunks = []
    for chunk in result:
        chunks.append(chunk)
        caller_between_chunks()
    assert chunks == [b"chunk", b"chunk"]
    [record] = records()

    found = set(functions(record.call_tree))
    assert "produce_chunk" in found
    assert "caller_between_chunks" not in found
