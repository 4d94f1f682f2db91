"""The FastAPI middleware itself; the package docstring (fastapi/__init__.py) says how to use it."""

from __future__ import annotations

from pystrument.adapters.asgi.middleware import PerformanceMiddleware as ASGIMiddleware
from pystrument.adapters.asgi.middleware import route_template

__all__ = ["PerformanceMiddleware", "route_template"]


class PerformanceMiddleware(ASGIMiddleware):
    framework = "fastapi"
