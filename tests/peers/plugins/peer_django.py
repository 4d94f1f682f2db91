"""The peer harness's runner for Django's own suite (``tests/runtests.py``, unittest-based, so not a pytest plugin):
``python peer_django.py [runtests.py's arguments]`` from the sdist's ``tests`` folder.

Both runs: every test's outcome is kept by a unittest result class given to Django's runner and written, with the
exit status, to ``PEERS_OUTCOMES`` in the format of ``peer_outcomes``. The run with pystrument (``PEERS_MODE=with``)
also puts ``CountingPerformanceMiddleware`` (pystrument's Django middleware, memory sink ``memory://peers``, rate
1.0) first in ``MIDDLEWARE`` wherever Django builds a handler's middleware chain (the test client's, the live
server's, ASGI's), as a user who adds it first to their settings would: what the tests override the setting with
included. Requests and records are counted as ``peer_counting`` counts them, for ``every_request_recorded``."""

from __future__ import annotations

import gc
import json
import os
import runpy
import sys
import unittest
from collections import Counter
from typing import Any

WITH = os.environ.get("PEERS_MODE") == "with"
OURS = "peer_django.CountingPerformanceMiddleware"
CONFIG = {"project_key": "peers-django", "sampling_rate": 1.0, "sinks": ["memory://peers"], "exclude_paths": [],
          "max_overhead_pct": 100}
outcomes: dict[str, str] = {}
requests: Counter[str] = Counter()
nested: Counter[str] = Counter()


def _keep(test: Any, outcome: str) -> None:
    name = test.id()
    if outcomes.get(name) not in ("failed", "error"):  # a failed subtest fails its test
        outcomes[name] = outcome


class OutcomeResult(unittest.TextTestResult):
    """Django's runner reports each test here too (it prints what it printed before)."""

    def addSuccess(self, test: Any) -> None:
        super().addSuccess(test)
        _keep(test, "passed")

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        _keep(test, "failed")

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        _keep(test, "error")

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        _keep(test, "skipped")

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        super().addExpectedFailure(test, err)
        _keep(test, "xfailed")

    def addUnexpectedSuccess(self, test: Any) -> None:
        super().addUnexpectedSuccess(test)
        _keep(test, "xpassed")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            _keep(test, "failed" if issubclass(err[0], test.failureException) else "error")


def _insert_ours() -> None:
    from django.conf import settings
    from django.core.handlers import base

    class WithOurs:
        """``settings`` as ``load_middleware`` reads it: our middleware first in ``MIDDLEWARE``."""

        def __getattr__(self, name: str) -> Any:
            value = getattr(settings, name)
            return [OURS, *value] if name == "MIDDLEWARE" else value

    base.settings = WithOurs()  # type: ignore[assignment]


def _counting_class() -> type:
    from pystrument.adapters.django import PerformanceMiddleware
    from pystrument.adapters.django.middleware import _current, _outer

    class Counting(PerformanceMiddleware):  # type: ignore[misc, valid-type]
        def __init__(self, get_response: Any) -> None:
            super().__init__(get_response, CONFIG)

        def __call__(self, request: Any) -> Any:
            inner = _current.get() is not None or _outer() is not None  # the test client used inside a view
            (nested if inner else requests)[f"{request.method} {request.path}"] += 1
            return super().__call__(request)

    return Counting


def __getattr__(name: str) -> Any:  # the middleware class, made on first import by Django (after settings exist)
    if name == "CountingPerformanceMiddleware":
        globals()[name] = _counting_class()
        return globals()[name]
    raise AttributeError(name)


def _write(exitstatus: int) -> None:
    notes: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    if WITH:
        from pystrument.adapters.base import client_getter
        from pystrument.core import failsafe, memory_sink

        gc.collect()  # a streaming response a test dropped unread ends its unit when collected
        client = client_getter(CONFIG)()
        client.flush(30)
        records = [r for r in memory_sink.records("peers") if r.kind != "aggregate"]
        notes = {"http_requests": sum(requests.values()), "records": len(records), "dropped": client.stats().get("dropped", {})}
        if nested:
            notes["nested_requests"] = dict(nested)
        unrecorded = requests - Counter(f"{r.method} {r.path}" for r in records)
        if unrecorded:
            notes["unrecorded"] = dict(unrecorded.most_common(20))
        errors = [{"test": "<run>", "where": where, "error": f"{type(exc).__name__}: {exc}"} for where, exc in failsafe.internal_errors]
    with open(os.environ["PEERS_OUTCOMES"], "w", encoding="utf-8") as out:
        json.dump({"outcomes": outcomes, "internal_errors": errors, "notes": notes, "exitstatus": exitstatus}, out, indent=1)


def main() -> None:
    from django.test.runner import DiscoverRunner

    DiscoverRunner.get_resultclass = lambda self: OutcomeResult  # type: ignore[method-assign]
    sys.modules["peer_django"] = sys.modules[__name__]  # the module MIDDLEWARE names is this one, not a second copy
    if WITH:
        _insert_ours()
    sys.path.insert(0, os.getcwd())  # runtests.py imports the test apps from its own folder
    sys.argv = ["runtests.py", *sys.argv[1:]]
    status = 0
    try:
        runpy.run_path("runtests.py", run_name="__main__")
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else int(bool(exc.code))
    _write(status)
    sys.exit(status)


if __name__ == "__main__":
    main()
