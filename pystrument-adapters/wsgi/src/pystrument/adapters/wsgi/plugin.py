"""The WSGI servers' adapters for ``pystrument-run`` (``gunicorn``, ``waitress``): the app the server
loads is wrapped in the WSGI middleware, unless a framework adapter instruments it itself (Flask,
Django: ``claimed``) or it is an ASGI app (uvicorn's adapter takes those). So a bare WSGI callable, or
an app of a framework without its own adapter, is profiled too; with no router to ask, its requests
are named ``METHOD [unmatched]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystrument.adapters.base import Adapter, claimed, is_asgi
from pystrument.core import hookimpl


def wrap(app: Any, config: Any) -> Any:
    """``app`` in the WSGI middleware, or ``app`` itself when someone else instruments it. The middleware
    is imported here, when a server loads an app: the runner loads this module in every process."""
    from .middleware import PerformanceMiddleware

    if app is None or isinstance(app, PerformanceMiddleware) or is_asgi(app) or claimed(app):
        return app
    return PerformanceMiddleware(app, config)


def _install_gunicorn(config: Any) -> None:
    from gunicorn.app.wsgiapp import WSGIApplication

    original = WSGIApplication.load_wsgiapp
    if getattr(original, "_pystrument", False):
        return

    def load_wsgiapp(self: Any) -> Any:
        return wrap(original(self), config)

    load_wsgiapp._pystrument = True  # type: ignore[attr-defined]
    WSGIApplication.load_wsgiapp = load_wsgiapp


def _install_waitress(config: Any) -> None:
    import waitress  # waitress.serve() and waitress-serve look create_server up in this module

    original = waitress.create_server
    if getattr(original, "_pystrument", False):
        return

    def create_server(application: Any, *args: Any, **kwargs: Any) -> Any:
        return original(wrap(application, config), *args, **kwargs)

    create_server._pystrument = True  # type: ignore[attr-defined]
    waitress.create_server = create_server


gunicorn_adapter = Adapter("gunicorn", "gunicorn", _install_gunicorn, on_import="gunicorn.app.wsgiapp")
waitress_adapter = Adapter("waitress", "waitress", _install_waitress)


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    register(gunicorn_adapter)
    register(waitress_adapter)
