"""The WSGI middleware itself; the package docstring (wsgi/__init__.py) says how to use it."""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Iterable
from typing import Any

from pystrument.adapters.base import client_getter, load_profiler, unmatched
from pystrument.core import Config
from pystrument.core.failsafe import report
from pystrument.core.unit import Unit

load_profiler()

__all__ = ["PerformanceMiddleware", "request_unit"]

_SKIP = object()
# The request unit of the WSGI call running in this context (``_SKIP`` for an unsampled one):
# a framework adapter reads it to name the unit; an inner middleware seeing it passes through.
_current: contextvars.ContextVar[Any] = contextvars.ContextVar("pystrument_wsgi_request", default=None)


def request_unit() -> Unit | None:
    """The sampled request unit of the WSGI request running here, or None."""
    unit = _current.get()
    return None if unit is None or unit is _SKIP else unit


class PerformanceMiddleware:
    """WSGI middleware profiling each sampled request. ``config``: a ``Config``, a dict, or None
    (the process-wide configuration from env and files)."""

    framework = "wsgi"

    def __init__(self, app: Callable[..., Iterable[bytes]], config: Config | dict[str, Any] | None = None, *,
                 route: Callable[[dict[str, Any]], str | None] | None = None) -> None:
        self.app = app
        self._get_client = client_getter(config)
        self._route = route
        # Instrumenting twice profiles once: wrapping one of ours, requests are handled by the inner one.
        self._passthrough = isinstance(app, PerformanceMiddleware)

    @property
    def client(self) -> Any:
        return self._get_client()

    def __getattr__(self, name: str) -> Any:  # keep attributes of the wrapped app reachable
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._passthrough or _current.get() is not None:
            return self.app(environ, start_response)
        client = self._get_client()
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if client.is_excluded(path):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        unit = client.start("request", unmatched(method), entry_frame=sys._getframe(), method=method, path=path,
                            framework=self.framework)
        if unit is None:
            token = _current.set(_SKIP)
            try:
                return self.app(environ, start_response)
            finally:
                _current.reset(token)
        return self._call_sampled(client, unit, environ, start_response)

    # A framework adapter's hook, called with (unit, environ) when the app starts its response (Flask's
    # names the unit by the rule its request matched, read from the request Flask keeps in the environ).
    _name_at_start: Callable[[Unit, dict[str, Any]], None] | None = None

    def _call_sampled(self, client: Any, unit: Unit, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        token = _current.set(unit)
        name_at_start = self._name_at_start

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                unit.status_code = int(status[:3])
            except ValueError:
                pass
            if name_at_start is not None:
                name_at_start(unit, environ)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        if self._route is not None:
            try:
                name = self._route(environ)
                if name:
                    unit.name = f"{unit.method} {name}"
            except Exception as exc:
                report("wsgi route()", exc)
        try:
            result = self.app(environ, start)
        except BaseException as exc:
            client.finish(unit, exc)
            raise
        finally:
            _current.reset(token)
        if type(result) in (list, tuple) or _is_file_wrapper(environ, result):
            client.finish(unit)
            return result
        # The app has returned: its unit's code runs again only inside the body's next()/close(). The
        # caller's own code (a test after reading the status) is not sampled into it, nor nested under it.
        enter, leave = client.resumers(unit)
        leave(unit)
        # This call's frame (the unit's entry frame) returns now and is never on a stack again: the continuous
        # collector must not keep it, or a body nobody closes stays alive (frame -> environ -> response ->
        # body -> unit, the unit held by the client until it ends) and its finalizer never ends the unit.
        unit.cont_entry = None
        return _ClosingIterable(result, client, unit, enter, leave)


def _is_file_wrapper(environ: dict[str, Any], result: Any) -> bool:
    wrapper = environ.get("wsgi.file_wrapper")
    return isinstance(wrapper, type) and isinstance(result, wrapper)


class _ClosingIterable:
    """The app's iterable, chunk for chunk. The unit ends when the iterable is exhausted
    (``StopIteration``) or closed, whichever comes first (as OpenTelemetry's WSGI middleware ends its
    span): a server or test client that never calls ``close()`` (werkzeug's test client) still ends
    it. ``close()`` passes through to the app's iterable exactly once."""

    __slots__ = ("_result", "_iter", "_client", "_unit", "_done", "_closed", "_enter", "_leave")

    def __init__(self, result: Iterable[bytes], client: Any, unit: Unit, enter: Callable[[Unit], None],
                 leave: Callable[[Unit], None]) -> None:
        self._result = result
        self._iter: Any = None
        self._client = client
        self._unit = unit
        self._done = False
        self._closed = False
        self._enter, self._leave = enter, leave  # client.resumers(unit)

    def __iter__(self) -> _ClosingIterable:
        if self._iter is None:
            self._iter = iter(self._result)
        return self

    def __next__(self) -> bytes:
        if self._iter is None:
            self._iter = iter(self._result)
        if self._done:  # ended (e.g. closed): the chunks pass through unsampled
            return next(self._iter)  # type: ignore[no-any-return]
        unit = self._unit
        self._enter(unit)  # the app's code producing this chunk is the unit's
        try:
            chunk = next(self._iter)
        except StopIteration:
            self._end(None)  # ending the unit leaves it
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        self._leave(unit)
        return chunk  # type: ignore[no-any-return]

    def _end(self, exc: BaseException | None) -> None:
        if not self._done:
            self._done = True
            self._client.finish(self._unit, exc)

    def __del__(self) -> None:
        # Last resort for a caller that neither exhausts nor closes the body (PEP 3333 says servers must
        # close it): werkzeug's test client when only the status is read. A finalizer runs wherever the
        # last reference goes, the profiler's own hook included: it only queues the unit's end
        # (``finish_later`` touches no profiler, ContextVar or lock); the client ends it at a safe point.
        if not self._done:
            self._done = True
            self._client.finish_later(self._unit)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._done:
            self._enter(self._unit)  # the app's clean-up (a generator's finally) is the unit's
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            self._end(exc)
            raise
        if not self._done:
            self._end(None)  # ending the unit leaves it
