"""pystrument for FastAPI, built on the ASGI middleware.

The seed's form, with only the import path changed::

    from pystrument.adapters.fastapi import PerformanceMiddleware
    app.add_middleware(PerformanceMiddleware, config={"project_key": "...", "api_endpoint": "http://..."})

or ``FastAPI(middleware=[Middleware(PerformanceMiddleware, config={...})])``. It is pure ASGI
middleware (not ``BaseHTTPMiddleware``): records are named by FastAPI's matched route
(``GET /users/{user_id}``), ``def`` routes run in the threadpool are sampled in their worker thread,
and responses, streaming and exceptions are untouched.
"""

from __future__ import annotations

from pystrument.adapters.asgi import PerformanceMiddleware as ASGIMiddleware
from pystrument.adapters.asgi import route_template

__all__ = ["PerformanceMiddleware", "route_template"]


class PerformanceMiddleware(ASGIMiddleware):
    framework = "fastapi"
