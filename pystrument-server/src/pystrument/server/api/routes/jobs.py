"""``GET /api/v1/jobs/failed``: the RQ jobs that failed after their last retry (Redis only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pystrument.server.api.context import Context, api
from pystrument.server.api.envelope import PARAMETER_ERROR, ApiError, ok
from pystrument.server.api.params import int_param
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if TYPE_CHECKING:
    from rq import Queue


def _failed(queue: Queue, limit: int) -> dict[str, Any]:
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    registry = FailedJobRegistry(queue=queue)
    ids = registry.get_job_ids(0, limit - 1)
    items = []
    for job in Job.fetch_many(ids, connection=queue.connection):
        if job is None:
            continue
        exc = (job.exc_info or "").strip().splitlines()
        items.append({"id": job.id, "queue": job.origin, "function": job.func_name, "args": list(job.args or []),
                      "description": job.description, "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
                      "ended_at": job.ended_at.isoformat() if job.ended_at else None, "error": exc[-1] if exc else None})
    return {"items": items, "total": registry.count}


async def failed_jobs(request: Request, ctx: Context) -> Response:
    queue = getattr(ctx.worker, "queue", None)  # RQAnalysisWorker's (scale/queue.py), with Redis
    if queue is None:
        raise ApiError(PARAMETER_ERROR, "this server has no job queue: analysis runs in its own process and a failed analysis is stored "
                       "with status 'failed' (GET /api/v1/records/{record_id}/analyses). Start it with --redis to use RQ workers.", status=409)
    limit = int_param(request, "limit", 100, 1, 1000)
    return ok(await ctx.run(_failed, queue, limit))


routes = [Route("/api/v1/jobs/failed", api(failed_jobs), methods=["GET"])]
