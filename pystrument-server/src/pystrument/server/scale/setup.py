"""What ``create_app`` swaps in when Redis is configured: the invalidating store, the shared rate
limiter, the RQ analysis worker and the cache middleware."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pystrument.server.analysis.auto import AutoAnalysis
from pystrument.server.scale.claims import RedisClaims
from pystrument.server.scale.connection import connect
from pystrument.server.scale.queue import RQAnalysisWorker
from pystrument.server.scale.rate_limit import RedisRateLimiter
from pystrument.server.scale.redis_cache import CacheMiddleware, InvalidatingStore
from starlette.middleware import Middleware

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings


@dataclass
class Scaled:
    store: Any
    limiter: RedisRateLimiter
    worker: RQAnalysisWorker
    middleware: list[Middleware]
    auto: AutoAnalysis


def attach(settings: ServerSettings, store: Any) -> Scaled:
    conn = connect(settings)
    shared = InvalidatingStore(store, conn, settings)
    limiter, worker = RedisRateLimiter(conn, settings), RQAnalysisWorker(shared, settings, conn)
    return Scaled(store=shared, limiter=limiter, worker=worker, middleware=[Middleware(CacheMiddleware, settings=settings)],
                  auto=auto_analysis(shared, settings, conn, worker, limiter))


def auto_analysis(store: Any, settings: ServerSettings, conn: Any, worker: RQAnalysisWorker | None = None, limiter: RedisRateLimiter | None = None) -> AutoAnalysis:
    """Automatic analysis with the cluster's claims and rate limits, queued on RQ."""
    return AutoAnalysis(store, settings, worker or RQAnalysisWorker(store, settings, conn), limiter or RedisRateLimiter(conn, settings),
                        RedisClaims(conn, settings))
