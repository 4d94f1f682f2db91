"""pystrument for FastAPI, built on the ASGI middleware.

The original middleware form (code written for it needs only the import path changed)::

    from pystrument.adapters.fastapi import PerformanceMiddleware
    app.add_middleware(PerformanceMiddleware, config={"project_key": "...", "api_endpoint": "http://..."})

or ``FastAPI(middleware=[Middleware(PerformanceMiddleware, config={...})])``. It is pure ASGI
middleware (not ``BaseHTTPMiddleware``): records are named by FastAPI's matched route
(``GET /users/{user_id}``), ``def`` routes run in the threadpool are sampled in their worker thread,
and responses, streaming and exceptions are untouched.
"""

# Lazy (PEP 562): importing this package, or its plugin modules (which the runner loads in every process),
# imports neither the middleware nor the profiler; the first attribute asked for loads ``.middleware``.
from __future__ import annotations

from pystrument.adapters.base import lazy_exports

__all__ = ["PerformanceMiddleware", "route_template"]

__getattr__, __dir__ = lazy_exports(__name__, "middleware", __all__)
