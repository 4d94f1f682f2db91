"""Shared by the plugins that wrap a suite's apps in our middleware: counts the requests the middleware
is handed and compares them with the records the memory sink received, per test and in total; the
figures go to ``peer_outcomes`` (``http_requests``, ``nested_requests``, ``records``, ``unrecorded``,
``unrecorded_in``) for the driver's ``every_request_recorded`` check."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Generator
from typing import Any

import peer_outcomes
import pytest


class RequestCounter:
    def __init__(self, sink: str, client: Callable[[], Any]) -> None:
        self.sink = sink
        self.client = client  # the pystrument Client the wrapped apps use
        self.requests: Counter[str] = Counter()
        self.nested: Counter[str] = Counter()
        self.unrecorded_in: dict[str, int] = {}

    def count(self, method: Any, path: Any, nested: bool) -> None:
        """``nested``: made in-process from inside a request being profiled (a test client used inside a
        view): by design part of the enclosing request's record, not a record of its own."""
        (self.nested if nested else self.requests)[f"{method} {path}"] += 1

    def records(self) -> list[Any]:
        from pystrument.core import memory_sink

        # request records only: the default profiling_mode (both) also ships continuous aggregates
        return [r for r in memory_sink.records(self.sink) if r.kind != "aggregate"]

    def around_test(self, nodeid: str) -> Generator[None, None, None]:
        """Which tests made requests that got no record: the queue is flushed after each test (a
        response still referenced after its test, e.g. by a failure's traceback, counts later)."""
        requests_before, records_before = sum(self.requests.values()), len(self.records())
        try:
            yield
        finally:
            self.client().flush(30)
            missing = (sum(self.requests.values()) - requests_before) - (len(self.records()) - records_before)
            if missing:  # a response body the test dropped unread may end its unit only when collected
                gc.collect()
                self.client().flush(30)
                missing = (sum(self.requests.values()) - requests_before) - (len(self.records()) - records_before)
            if missing:
                self.unrecorded_in[nodeid] = missing

    def finish(self) -> None:
        gc.collect()
        client = self.client()
        client.flush(30)
        records = self.records()
        peer_outcomes.note("http_requests", sum(self.requests.values()))
        peer_outcomes.note("records", len(records))
        if self.nested:
            peer_outcomes.note("nested_requests", dict(self.nested))
        unrecorded = self.requests - Counter(f"{r.method} {r.path}" for r in records)
        if unrecorded:
            peer_outcomes.note("unrecorded", dict(unrecorded.most_common(20)))
            peer_outcomes.note("unrecorded_in", dict(list(self.unrecorded_in.items())[:20]))
        peer_outcomes.note("dropped", client.stats().get("dropped", {}))


def protocol_wrapper(counter: RequestCounter) -> Callable[..., Any]:
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        around = counter.around_test(item.nodeid)
        next(around)
        try:
            return (yield)
        finally:
            next(around, None)

    return pytest_runtest_protocol
