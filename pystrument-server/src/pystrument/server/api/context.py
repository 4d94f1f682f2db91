"""What every request handler gets: settings, the store, the rate limiter, the ingest service and the analysis worker."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from pystrument.core import failsafe
from pystrument.server.api.envelope import DATABASE_ERROR, PROJECT_NOT_FOUND, SYSTEM_ERROR, ApiError, error
from pystrument.server.api.security import RateLimiter, check_token
from pystrument.server.settings import ServerSettings
from pystrument.server.stores.base import Store, StoreError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from pystrument.server.analysis.auto import AutoAnalysis
    from pystrument.server.analysis.worker import AnalysisWorker
    from pystrument.server.ingest.cardinality import KnownNames
    from pystrument.server.ingest.service import IngestService

logger = logging.getLogger("pystrument.server")
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Context:
    settings: ServerSettings
    store: Store
    limiter: RateLimiter
    worker: AnalysisWorker  # RQAnalysisWorker (scale/queue.py) with Redis
    auto: AutoAnalysis
    names: KnownNames
    ingest: IngestService  # what the ingest routes call
    extra: dict[str, Any] = field(default_factory=dict)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking store call in the thread pool."""
        return await run_in_threadpool(fn, *args, **kwargs)

    async def project(self, project_id: str) -> dict[str, Any]:
        project = await self.run(self.store.get_project, project_id)
        if project is None:
            raise ApiError(PROJECT_NOT_FOUND, f"project {project_id!r} not found (GET /api/v1/projects lists them)")
        return project


Handler = Callable[[Request, Context], Awaitable[Response]]


def api(func: Handler, *, auth: str = "token") -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: bearer check, then errors answered in the envelope (ApiError, 10005, 10000)."""

    async def endpoint(request: Request) -> Response:
        ctx: Context = request.app.state.ctx
        try:
            if auth == "token":
                check_token(request, ctx.settings.token, ctx.settings.read_token)
            return await func(request, ctx)
        except ApiError as exc:
            return error(exc)
        except StoreError as exc:
            logger.error("pystrument-server: database error on %s %s: %s", request.method, request.url.path, exc)
            return error(ApiError(DATABASE_ERROR, f"database error: {exc}", status=503))
        except Exception as exc:
            failsafe.report(f"server {request.method} {request.url.path}", exc)
            return error(ApiError(SYSTEM_ERROR, f"internal server error ({type(exc).__name__}); see the server log", status=500))

    endpoint.__name__ = func.__name__
    return endpoint
