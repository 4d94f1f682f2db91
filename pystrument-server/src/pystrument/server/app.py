"""The application factory, where the server is put together: ``create_app(settings)`` opens the store, builds the
request context (rate limiter, ingest service, analysis worker, automatic analysis, budgets; their Redis-backed twins
with ``--redis``, scale/), the routes (ours and plugins'), the middleware and the upkeep loop.

Nothing here calls a hook at import. Every response is the API's envelope, 404/405/413/422/500 included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from pystrument.core import plugins
from pystrument.server.analysis import advice_check
from pystrument.server.analysis.auto import AutoAnalysis, LocalClaims
from pystrument.server.analysis.budget_check import BudgetChecker
from pystrument.server.analysis.jobstate import UPKEEP
from pystrument.server.analysis.worker import AnalysisWorker
from pystrument.server.api import handlers
from pystrument.server.api.connlimits import BodyGuard
from pystrument.server.api.context import Context
from pystrument.server.api.envelope import ApiError
from pystrument.server.api.routes import analysis, budgets, ingest, jobs, meta, projects, reading
from pystrument.server.api.routes import continuous as continuous_routes
from pystrument.server.api.security import RateLimiter
from pystrument.server.ingest.cardinality import KnownNames
from pystrument.server.ingest.service import IngestService
from pystrument.server.settings import ServerSettings
from pystrument.server.stores import open_store
from pystrument.server.stores.base import Store
from pystrument.server.stores.retention import purge_expired
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

logger = logging.getLogger("pystrument.server")


def _call_startup(app: Starlette) -> None:
    plugins.call("startup", app=app)


def create_app(settings: ServerSettings | None = None, *, store: Store | None = None) -> Starlette:
    settings = settings or ServerSettings()
    store = store or open_store(settings)
    scaled = None
    if settings.redis:  # many processes: shared cache, rate limits and RQ jobs (scale/)
        from pystrument.server.scale.setup import attach

        scaled = attach(settings, store)
        store = scaled.store
    limiter = scaled.limiter if scaled else RateLimiter(settings.rate_limit_rps, settings.rate_limit_burst)
    names = KnownNames(store, settings)
    worker = scaled.worker if scaled else AnalysisWorker(store, settings)
    auto = scaled.auto if scaled else AutoAnalysis(store, settings, worker, limiter, LocalClaims())
    budgets_checker = BudgetChecker(store, settings, auto)  # with Redis the workers run it (scale/periodic.py)
    ctx = Context(settings=settings, store=store, limiter=limiter, worker=worker, auto=auto, names=names,
                  ingest=IngestService(store, settings, names=names, auto=auto))
    ctx.extra["budgets"] = budgets_checker

    routes: list[BaseRoute] = [*ingest.routes, *projects.routes, *reading.routes, *continuous_routes.routes, *budgets.routes, *analysis.routes, *jobs.routes, *meta.routes()]
    for item in plugins.registered("register_routes").values():
        routes.append(item.value)
        logger.debug("pystrument-server: route %s from plugin %s", item.name, item.plugin)
    routes += meta.ui_routes()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = None if scaled else asyncio.create_task(_purge_loop(ctx))  # with Redis, the workers do it once per cluster
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                # a store call of the upkeep runs on in its worker thread until it returns (the cancellation waits
                # for it): the store is closed after it, not under it
                await asyncio.wait({task}, timeout=UPKEEP_GRACE_S)
            ctx.auto.close()
            ctx.worker.close()
            store.close()

    middleware = []
    if settings.cors_origins:
        middleware.append(Middleware(
            handlers.EnvelopeCORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"], allow_headers=["*"], expose_headers=["Retry-After", "Content-Disposition"],
        ))
    if scaled:
        middleware += scaled.middleware  # inside CORS, so cache hits carry its headers too
    # innermost: its 408 and 503 are raised from receive() as ApiError, answered in the envelope by the app
    middleware.append(Middleware(BodyGuard, body_timeout_s=settings.body_timeout_s, budget_bytes=settings.body_bytes_in_flight,
                                 wait_s=settings.body_wait_s, max_body_bytes=settings.max_body_bytes,
                                 max_header_bytes=settings.max_header_bytes))
    app = Starlette(
        routes=routes, middleware=middleware, lifespan=lifespan,
        exception_handlers={HTTPException: handlers.not_found, ApiError: handlers.api_error, Exception: handlers.server_error},
    )
    app.state.ctx = ctx
    app.state.settings = settings
    app.state.store = store
    _call_startup(app)
    return app


UPKEEP_GRACE_S = 30.0  # at shutdown, how long the store waits for an upkeep call still running


async def _purge_loop(ctx: Context) -> None:
    """Periodic upkeep: adopt records written straight into the store (``maintain``), purge expired ones,
    look for regressions to analyse (``AutoAnalysis.check_regressions``), check budgets (``BudgetChecker``). A failed upkeep is recorded in
    ``ctx.auto.jobs`` (GET /health) and waits longer before each retry."""
    last_purge = last_auto = last_budgets = 0.0
    loop = asyncio.get_running_loop()
    every = min(5.0, ctx.settings.auto_analysis_interval_s, ctx.settings.budget_check_interval_s)
    jobs = ctx.auto.jobs
    while True:
        if jobs.due(UPKEEP):
            try:
                maintain = getattr(ctx.store, "maintain", None)
                if maintain is not None:
                    await ctx.run(maintain)
                if loop.time() - last_purge >= ctx.settings.purge_interval_s:
                    last_purge = loop.time()
                    n = await ctx.run(purge_expired, ctx.store, ctx.settings)
                    if n:
                        logger.info("pystrument-server: retention purged %d record(s)", n)
                jobs.succeeded(UPKEEP)
            except Exception as exc:
                wait = jobs.failed(UPKEEP, "", exc)
                logger.error("pystrument-server: periodic upkeep failed (retry in %.0fs): %s: %s", wait, type(exc).__name__, exc)
        if loop.time() - last_auto >= ctx.settings.auto_analysis_interval_s:
            last_auto = loop.time()
            await ctx.run(ctx.auto.check_regressions)  # records its own failures per project (jobstate.py)
            try:  # findings' predictions against later versions (advice_check.py); logs its own failures per project
                await ctx.run(advice_check.check_all, ctx.store, ctx.settings)
            except Exception as exc:  # list_projects failed: next tick
                logger.error("pystrument-server: advice check failed: %s: %s", type(exc).__name__, exc)
        if loop.time() - last_budgets >= ctx.settings.budget_check_interval_s:
            last_budgets = loop.time()
            try:
                await ctx.run(ctx.extra["budgets"].check_all)  # logs each project's failure itself
            except Exception as exc:  # the project list could not be read: the next interval tries again
                logger.error("pystrument-server: budget check failed: %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(every)
