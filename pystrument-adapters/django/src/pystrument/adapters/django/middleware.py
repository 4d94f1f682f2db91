"""The Django adapter itself: its guide is the package's docstring (``pystrument.adapters.django``, which
re-exports this module lazily, so that importing the package does not import Django)."""

from __future__ import annotations

import contextvars
import re
import sys
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from pystrument.adapters.base import client_getter, follow_in_threads, load_profiler, unmatched
from pystrument.core.failsafe import report
from pystrument.core.unit import Unit

load_profiler()

__all__ = ["PerformanceMiddleware", "route_template"]

_current: contextvars.ContextVar[Any] = contextvars.ContextVar("pystrument_django_request", default=None)
_SKIP = object()

_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_NAMED_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


def route_template(route: str) -> str:
    """``users/<int:user_id>/`` -> ``/users/{user_id}/``; ``^articles/(?P<year>[0-9]{4})/$`` -> ``/articles/{year}/``."""
    text = _NAMED_GROUP.sub(r"{\1}", route)
    text = _CONVERTER.sub(r"{\1}", text)
    text = text.removeprefix("^").removesuffix("\\Z").removesuffix("$")
    text = text.replace("^", "")
    return text if text.startswith("/") else "/" + text


def _settings_config() -> Any:
    from django.conf import settings

    for key in ("PYSTRUMENT", "PERFORMANCE_MONITOR"):
        value = getattr(settings, key, None)
        if value is not None:
            return value
    return None


class PerformanceMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any], config: Any = None) -> None:
        self.get_response = get_response
        self._get_client = client_getter(config if config is not None else _settings_config())
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        self._threads_followed = False

    @property
    def client(self) -> Any:
        return self._get_client()

    def _start(self, request: Any, frame: Any) -> Any:
        if _current.get() is not None or _outer() is not None:  # instrumented twice: the outer layer measures
            return None
        client = self._get_client()
        if not self._threads_followed:
            self._threads_followed = True
            follow_in_threads(client)
        path = request.path
        if client.is_excluded(path):
            return None
        method = request.method
        unit = client.start("request", unmatched(method), entry_frame=frame, method=method, path=path,
                            is_async=self.is_async, framework="django")
        return _current.set(unit if unit is not None else _SKIP), client, unit

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self.__acall__(request)
        started = self._start(request, sys._getframe())
        try:
            response = self.get_response(request)
        except BaseException as exc:
            _failed(started, request, exc)
            raise
        return _done(started, request, response)

    async def __acall__(self, request: Any) -> Any:
        started = self._start(request, sys._getframe())
        try:
            response = await self.get_response(request)
        except BaseException as exc:
            _failed(started, request, exc)
            raise
        return _done(started, request, response)

    def process_exception(self, request: Any, exception: BaseException) -> None:
        unit = _current.get()
        if unit is None:
            unit = _outer()
        if isinstance(unit, Unit) and unit.error is None:
            try:
                unit.set_error(exception)
            except Exception as exc:
                report("django process_exception", exc)
        return None


def _done(started: Any, request: Any, response: Any) -> Any:
    """Django's handler answered: the request's unit (``PerformanceMiddleware._start``'s (token, client, unit), None
    when the request is not ours) named and ended, or an enclosing middleware's named; the context reset."""
    if started is None:
        _name_outer(request)
        return response
    token, client, unit = started
    try:
        if unit is not None:
            _end(client, unit, request, response)
    finally:
        _current.reset(token)
    return response


def _failed(started: Any, request: Any, exc: BaseException) -> None:
    """Django's handler raised: the unit ends with the error; the context reset."""
    if started is None:
        return
    token, client, unit = started
    try:
        if unit is not None:
            _name(unit, request)
            client.finish(unit, exc)
    finally:
        _current.reset(token)


def _outer() -> Any:
    """The request of a WSGI or ASGI middleware running around this Django handler (pystrument-run's
    server hooks wrap a handler they do not recognise, e.g. one inside other middleware): a Unit when
    it is sampled, another non-None value when not, None when there is none. Those adapters need not
    be installed: they are looked up among the loaded modules."""
    wsgi = sys.modules.get("pystrument.adapters.wsgi")
    if wsgi is not None:
        unit = wsgi.request_unit()
        if unit is not None or wsgi._current.get() is not None:
            return unit if unit is not None else _SKIP
    asgi = sys.modules.get("pystrument.adapters.asgi")
    if asgi is not None and asgi._active.get() is not None:  # its unit (continuous or detailed), or its "not sampled"
        return asgi.request_unit() or _SKIP
    return None


def _name_outer(request: Any) -> None:
    """Name an enclosing WSGI/ASGI middleware's unit by Django's route (see ``_outer``)."""
    unit = _outer()
    if isinstance(unit, Unit):
        _name(unit, request)


def _name(unit: Unit, request: Any) -> None:
    try:
        match = getattr(request, "resolver_match", None)
        if match is not None and match.route:
            unit.name = f"{unit.method} {route_template(match.route)}"
    except Exception as exc:
        report("django route name", exc)


def _end(client: Any, unit: Unit, request: Any, response: Any) -> None:
    _name(unit, request)
    unit.status_code = getattr(response, "status_code", None)
    closers = getattr(response, "_resource_closers", None)
    if getattr(response, "streaming", False) and isinstance(closers, list):
        # Django calls these from response.close(), once the server has sent the last chunk.
        closers.append(lambda: client.finish(unit))
    else:
        client.finish(unit)
