"""The Flask adapter itself: its guide is the package's docstring (``pystrument.adapters.flask``, which
re-exports this module lazily, so that importing the package does not import Flask)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from pystrument.adapters.base import unmatched
from pystrument.adapters.wsgi.middleware import PerformanceMiddleware as WSGIMiddleware
from pystrument.adapters.wsgi.middleware import request_unit
from pystrument.core import Config
from pystrument.core.failsafe import failsafe, report
from pystrument.core.unit import Unit

import flask

__all__ = ["PerformanceMiddleware", "Pystrument", "rule_template"]

EXTENSION_KEY = "pystrument"
_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_connected: list[bool] = []
_started_connected: list[bool] = []


@functools.lru_cache(maxsize=4096)  # once per rule: continuous mode names every request
def rule_template(rule: str) -> str:
    """``/users/<int:user_id>`` -> ``/users/{user_id}``."""
    return _CONVERTER.sub(r"{\1}", rule)


def _name(unit: Unit, request: Any) -> None:
    rule = request.url_rule
    method = unit.method or request.method
    if rule is None:
        unit.name = unmatched(method)
    else:
        unit.name = f"{method} {request.script_root}{rule_template(rule.rule)}"


def _on_request_started(sender: Any, **extra: Any) -> None:
    """The fallback (connected only once a request's environ came back without Flask's request in it:
    a middleware between ours and Flask passed Flask a copy of the environ)."""
    unit = request_unit()
    if unit is None:
        return
    with failsafe("flask request_started"):
        _name(unit, flask.request._get_current_object())  # type: ignore[attr-defined]


def _on_exception(sender: Any, exception: BaseException, **extra: Any) -> None:
    unit = request_unit()
    if unit is not None and unit.error is None:
        with failsafe("flask got_request_exception"):
            unit.set_error(exception)
            _name(unit, flask.request._get_current_object())  # type: ignore[attr-defined]  # a propagated error starts no response


def _connect() -> None:
    """Listen to every Flask app's exception signal, once: the handler acts only while one of our WSGI
    middlewares has a sampled request running in this context, so this works however deep the
    middleware sits (e.g. outside ``ProxyFix``). Requests are named when the response starts, from the
    request Flask keeps in the environ (``werkzeug.request``) until its context ends: a signal sent on
    every request costs a few microseconds, which continuous mode (every request sampled) pays on every
    request."""
    if _connected:
        return
    flask.got_request_exception.connect(_on_exception, weak=False)
    _connected.append(True)


def _connect_request_started() -> None:
    if not _started_connected:
        flask.request_started.connect(_on_request_started, weak=False)
        _started_connected.append(True)


class PerformanceMiddleware(WSGIMiddleware):
    """``app.wsgi_app = PerformanceMiddleware(app.wsgi_app, config)``; also takes the Flask app itself."""

    framework = "flask"

    def __init__(self, app: Callable[..., Any], config: Config | dict[str, Any] | None = None) -> None:
        super().__init__(app, config)
        _connect()

    def _name_at_start(self, unit: Unit, environ: dict[str, Any]) -> None:
        """Flask starts the response inside its request context, where the environ holds its request."""
        request = environ.get("werkzeug.request")
        if isinstance(request, flask.Request):
            try:
                _name(unit, request)
            except Exception as exc:
                report("flask route name", exc)
        elif not _started_connected:  # Flask got a copy of the environ: name by the signal from now on
            _connect_request_started()


class Pystrument:
    """The Flask extension: ``Pystrument(app, config)`` or ``Pystrument().init_app(app, config)``.
    Initialising the same app twice profiles once."""

    def __init__(self, app: flask.Flask | None = None, config: Config | dict[str, Any] | None = None) -> None:
        self.config = config
        if app is not None:
            self.init_app(app)

    def init_app(self, app: flask.Flask, config: Config | dict[str, Any] | None = None) -> None:
        if app.extensions.get(EXTENSION_KEY) is not None:
            return
        if config is None:
            config = self.config
        if config is None:
            config = app.config.get("PYSTRUMENT") or app.config.get("PERFORMANCE_MONITOR")
        app.wsgi_app = PerformanceMiddleware(app.wsgi_app, config)  # type: ignore[method-assign]
        app.extensions[EXTENSION_KEY] = self
