"""pytest plugin of the peer harness: every ASGI app a Starlette ``TestClient`` drives goes through
pystrument's ``PerformanceMiddleware`` (sampling rate 1.0, memory sink ``memory://peers``); ``peer_fastapi``
uses the same wrapping with the FastAPI adapter's middleware (``use``).

Starlette's own tests build their clients with ``TestClient(app, ...)`` (directly or through the
``test_client_factory`` fixture, a ``functools.partial`` of the class), so the app is wrapped in
``TestClient.__init__``; an ASGI2 app is first turned into ASGI3 the way ``TestClient`` does it.
Requests and records are counted by ``peer_counting``.
"""

from __future__ import annotations

import functools
from typing import Any

import starlette.testclient as testclient
from peer_counting import RequestCounter, protocol_wrapper
from pystrument.adapters.asgi import (
    PerformanceMiddleware,
    _active,  # set while a request is profiled in this context
)
from pystrument.adapters.base import client_getter

# Every request profiled, so that each can be checked for its record: exclude_paths=[] (the default
# excludes /static/, which the suite requests), max_overhead_pct=100 (no overhead budget lowering the rate)
CONFIG = {"project_key": "peers-starlette", "sampling_rate": 1.0, "sinks": ["memory://peers"], "exclude_paths": [],
          "max_overhead_pct": 100}
counter = RequestCounter("peers", lambda: client_getter(CONFIG)())


class _Counting:
    """Mixed into our middleware: counts the HTTP requests it is handed (what the records are checked against)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            counter.count(scope.get("method"), scope.get("path"), nested=_active.get() is not None)
        await super().__call__(scope, receive, send)  # type: ignore[misc]


wrapping: list[type] = [type("CountingPerformanceMiddleware", (_Counting, PerformanceMiddleware), {})]


def use(middleware: type, project_key: str) -> None:
    """Wrap the suite's apps in ``middleware`` (a subclass of the ASGI adapter's) instead, under ``project_key``."""
    wrapping[0] = type(f"Counting{middleware.__name__}", (_Counting, middleware), {})
    CONFIG["project_key"] = project_key


_original_init = testclient.TestClient.__init__


@functools.wraps(_original_init)
def _init(self: Any, app: Any, *args: Any, **kwargs: Any) -> None:
    if not testclient._is_asgi3(app):
        app = testclient._WrapASGI2(app)
    _original_init(self, wrapping[0](app, CONFIG), *args, **kwargs)


def pytest_configure(config: Any) -> None:
    testclient.TestClient.__init__ = _init  # type: ignore[method-assign]


pytest_runtest_protocol = protocol_wrapper(counter)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    counter.finish()
