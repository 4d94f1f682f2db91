"""What ``create_app`` swaps in when Redis is configured: the invalidating store, the shared rate
limiter, the RQ analysis worker and the cache middleware."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.middleware import Middleware

from .connection import connect
from .queue import RQAnalysisWorker
from .rate_limit import RedisRateLimiter
from .redis_cache import CacheMiddleware, InvalidatingStore


@dataclass
class Scaled:
    store: Any
    limiter: RedisRateLimiter
    worker: RQAnalysisWorker
    middleware: list[Middleware]


def attach(settings: Any, store: Any) -> Scaled:
    conn = connect(settings)
    shared = InvalidatingStore(store, conn, settings)
    return Scaled(store=shared, limiter=RedisRateLimiter(conn, settings), worker=RQAnalysisWorker(shared, settings, conn),
                  middleware=[Middleware(CacheMiddleware, settings=settings)])
