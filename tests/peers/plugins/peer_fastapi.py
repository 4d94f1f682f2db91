"""pytest plugin of the peer harness for FastAPI's own tests: every app a ``TestClient`` drives goes through
the FastAPI adapter's ``PerformanceMiddleware`` (which names records by FastAPI's matched route), wrapped the way
``peer_asgi`` wraps Starlette's apps; requests and records are counted by ``peer_counting``."""

from __future__ import annotations

import peer_asgi
from peer_asgi import pytest_configure, pytest_runtest_protocol, pytest_sessionfinish
from pystrument.adapters.fastapi import PerformanceMiddleware

peer_asgi.use(PerformanceMiddleware, "peers-fastapi")

__all__ = ["pytest_configure", "pytest_runtest_protocol", "pytest_sessionfinish"]
