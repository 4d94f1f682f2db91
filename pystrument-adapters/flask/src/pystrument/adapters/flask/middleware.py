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
from pystrument.core.failsafe import failsafe

import flask

__all__ = ["PerformanceMiddleware", "Pystrument", "rule_template"]

EXTENSION_KEY = "pystrument"
_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_connected: list[bool] = []


@functools.lru_cache(maxsize=4096)  # once per rule: continuous mode names every request
def rule_template(rule: str) -> str:
    """``/users/<int:user_id>`` -> ``/users/{user_id}``."""
    return _CONVERTER.sub(r"{\1}", rule)


def _on_request_started(sender: Any, **extra: Any) -> None:
    unit = request_unit()
    if unit is None:
        return
    with failsafe("flask request_started"):
        rule = flask.request.url_rule
        method = unit.method or flask.request.method
        if rule is None:
            unit.name = unmatched(method)
        else:
            unit.name = f"{method} {flask.request.script_root}{rule_template(rule.rule)}"


def _on_exception(sender: Any, exception: BaseException, **extra: Any) -> None:
    unit = request_unit()
    if unit is not None and unit.error is None:
        with failsafe("flask got_request_exception"):
            unit.set_error(exception)


def _connect() -> None:
    """Listen to every Flask app's signals, once: the handlers act only while one of our WSGI
    middlewares has a sampled request running in this context, so this works however deep the
    middleware sits (e.g. outside ``ProxyFix``)."""
    if _connected:
        return
    flask.request_started.connect(_on_request_started, weak=False)
    flask.got_request_exception.connect(_on_exception, weak=False)
    _connected.append(True)


class PerformanceMiddleware(WSGIMiddleware):
    """``app.wsgi_app = PerformanceMiddleware(app.wsgi_app, config)``; also takes the Flask app itself."""

    framework = "flask"

    def __init__(self, app: Callable[..., Any], config: Config | dict[str, Any] | None = None) -> None:
        super().__init__(app, config)
        _connect()


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
