"""The ASGI server's adapter for ``pystrument-run`` (``uvicorn``): the app uvicorn loads is wrapped in
the ASGI middleware, unless a framework adapter instruments it itself (Starlette, FastAPI, Django,
Flask under ``--interface wsgi``: ``claimed``) or it already holds the middleware. So a bare ASGI app,
or an app of a framework without its own adapter, is profiled too, named by ``scope["route"]`` when
its framework sets it, else ``METHOD [unmatched]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystrument.adapters.base import Adapter, claimed
from pystrument.core import hookimpl


def user_app(app: Any) -> Any:
    """The app under uvicorn's own wrappers (proxy headers, message logger, WSGI and ASGI 2 adapters)."""
    while type(app).__module__.startswith("uvicorn.middleware.") and hasattr(app, "app"):
        app = app.app
    return app


def _install_uvicorn(config: Any) -> None:
    from uvicorn.config import Config

    from .middleware import PerformanceMiddleware  # here, not with this module: the runner loads it in every process

    original = Config.load
    if getattr(original, "_pystrument", False):
        return

    def load(self: Any) -> None:
        original(self)
        inner = user_app(self.loaded_app)
        if not isinstance(inner, PerformanceMiddleware) and not claimed(inner):
            self.loaded_app = PerformanceMiddleware(self.loaded_app, config)

    load._pystrument = True  # type: ignore[attr-defined]
    Config.load = load  # type: ignore[method-assign]


uvicorn_adapter = Adapter("uvicorn", "uvicorn", _install_uvicorn, on_import="uvicorn.config")


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    register(uvicorn_adapter)
