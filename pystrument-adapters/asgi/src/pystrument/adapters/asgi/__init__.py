"""pystrument for any ASGI application (Starlette, FastAPI, Litestar, Quart, ...).

    from pystrument.adapters.asgi import PerformanceMiddleware
    app = PerformanceMiddleware(app, {"project_key": "...", "api_endpoint": "http://..."})
    # Starlette: Starlette(routes=..., middleware=[Middleware(PerformanceMiddleware, config={...})])

Pure ASGI middleware: ``websocket`` and ``lifespan`` scopes pass straight through, every message
passes through as the same object, in order, as it is produced (nothing is buffered), and an
exception propagates as the same object. Each sampled ``http`` request is one unit, named by the
route the router matched (``scope["route"]``, set by Starlette and FastAPI) once the response starts,
and finished when the last body chunk has been sent. Requests no route matched are ``METHOD [unmatched]``.
Work the app hands to anyio's threadpool (Starlette/FastAPI ``def`` routes, sync iterators) is
sampled for the request that handed it over.
"""

# Lazy (PEP 562): importing this package, or its plugin modules (which the runner loads in every process),
# imports neither the middleware nor the profiler; the first attribute asked for loads ``.middleware``.
from __future__ import annotations

from pystrument.adapters.base import lazy_exports

__all__ = ["PerformanceMiddleware", "StarletteMiddleware", "route_template"]

__getattr__, __dir__ = lazy_exports(__name__, "middleware", __all__)
