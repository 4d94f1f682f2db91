"""The Django adapter for ``pystrument-run``: every Django handler (WSGI, ASGI, runserver, test
client) gets the middleware as the outermost layer of its chain when it loads its middleware. A
project that lists the middleware in ``MIDDLEWARE`` itself is still profiled once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystrument.adapters.base import Adapter, claim
from pystrument.core import hookimpl


def _install(config: Any) -> None:
    from django.core.handlers.base import BaseHandler

    from .middleware import PerformanceMiddleware

    claim(_is_django_handler)
    original = BaseHandler.load_middleware
    if getattr(original, "_pystrument", False):
        return

    def load_middleware(self: BaseHandler, is_async: bool = False) -> None:
        from django.conf import settings

        original(self, is_async)
        if any(str(path).startswith("pystrument.adapters.django") for path in settings.MIDDLEWARE):
            return  # the project lists the middleware itself, with its own configuration
        middleware = PerformanceMiddleware(self._middleware_chain, config)
        self._exception_middleware.append(middleware.process_exception)
        self._middleware_chain = middleware

    load_middleware._pystrument = True  # type: ignore[attr-defined]
    BaseHandler.load_middleware = load_middleware


def _is_django_handler(app: Any) -> bool:
    from django.core.handlers.base import BaseHandler

    return isinstance(app, BaseHandler)  # WSGIHandler and ASGIHandler


adapter = Adapter("django", "django", _install, on_import="django.core.handlers.base")


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    register(adapter)
