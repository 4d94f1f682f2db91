"""pytest plugin of the peer harness: every Flask app the suite drives has its ``wsgi_app`` wrapped in
pystrument's Flask ``PerformanceMiddleware`` (sampling rate 1.0, memory sink ``memory://peers``), the
original documented form ``app.wsgi_app = PerformanceMiddleware(app.wsgi_app, config)``, applied on the
app's first call (``Flask.__call__``, where every test client request enters), as ``pystrument-run``
does. Not at the end of ``Flask.__init__``: ``app.wsgi_app = AnyMiddleware(app.wsgi_app)`` makes a
reference cycle (app -> middleware -> bound method -> app), which Flask's
``test_app_freed_on_zero_refcount`` rejects for a bare app (werkzeug's own ProxyFix fails it the same
way). Requests and records are counted by ``peer_counting``."""

from __future__ import annotations

import functools
from typing import Any

import flask
from peer_counting import RequestCounter, protocol_wrapper
from pystrument.adapters.base import client_getter
from pystrument.adapters.flask import PerformanceMiddleware
from pystrument.adapters.wsgi import _current  # set while a request is profiled in this context

# Every request profiled, so that each can be checked for its record (no path excluded, no overhead budget)
CONFIG = {"project_key": "peers-flask", "sampling_rate": 1.0, "sinks": ["memory://peers"], "exclude_paths": [],
          "max_overhead_pct": 100}
counter = RequestCounter("peers", lambda: client_getter(CONFIG)())


class CountingPerformanceMiddleware(PerformanceMiddleware):
    """Our middleware, counting the requests it is handed (what the records are checked against)."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        counter.count(environ.get("REQUEST_METHOD"), path, nested=_current.get() is not None)
        return super().__call__(environ, start_response)


_original_call = flask.Flask.__call__


@functools.wraps(_original_call)
def _call(self: flask.Flask, environ: dict[str, Any], start_response: Any) -> Any:
    if not isinstance(self.wsgi_app, PerformanceMiddleware):
        self.wsgi_app = CountingPerformanceMiddleware(self.wsgi_app, CONFIG)  # type: ignore[method-assign]
    return _original_call(self, environ, start_response)


def pytest_configure(config: Any) -> None:
    flask.Flask.__call__ = _call  # type: ignore[method-assign]


pytest_runtest_protocol = protocol_wrapper(counter)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    counter.finish()
