"""The application factory: ``create_app(settings)`` assembles routes, stores and startup hooks from plugins.

Nothing here calls a hook at import. Every response is the API's envelope, 404/405/413/422/500 included.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

from pystrument.core import failsafe, plugins
from pystrument.server.analysis import advice_check
from pystrument.server.analysis.auto import AutoAnalysis, LocalClaims
from pystrument.server.analysis.budget_check import BudgetChecker
from pystrument.server.analysis.jobstate import UPKEEP
from pystrument.server.analysis.worker import AnalysisWorker
from pystrument.server.api.connlimits import BodyGuard
from pystrument.server.api.context import Context
from pystrument.server.api.envelope import PARAMETER_ERROR, PERMISSION_ERROR, SYSTEM_ERROR, ApiError, EnvelopeResponse, error
from pystrument.server.api.routes import analysis, budgets, ingest, meta, projects, reading
from pystrument.server.api.routes import continuous as continuous_routes
from pystrument.server.api.security import RateLimiter
from pystrument.server.ingest.cardinality import KnownNames
from pystrument.server.ingest.service import IngestService
from pystrument.server.scale import routes as jobs
from pystrument.server.settings import ServerSettings, SettingsError
from pystrument.server.stores.base import Store
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

logger = logging.getLogger("pystrument.server")


def store_factories() -> dict[str, Any]:
    return plugins.provided("register_stores")


def open_store(settings: ServerSettings) -> Store:
    url = settings.store_url()
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    factories = store_factories()
    if scheme not in factories:
        raise SettingsError(f"store {url!r}: no store for scheme {scheme!r}; installed: {', '.join(sorted(factories)) or 'none'}")
    return factories[scheme](url, settings)


def purge_expired(store: Store, settings: ServerSettings, now: dt.datetime | None = None) -> int:
    """Delete records older than each project's retention (its settings.retention_days, else the server's)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    purged = 0
    for project in store.list_projects():
        days = (project.get("settings") or {}).get("retention_days", settings.retention_days) or 0
        if days > 0:
            purged += store.purge_before(project["id"], now - dt.timedelta(days=days))
    return purged


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if exc.status_code == 404 and request.method in ("GET", "HEAD") and not path.startswith(("/api/", "/docs/")) and path != "/health":
        return await meta.ui_fallback(_with_path(request))
    if exc.status_code == 405:
        return error(ApiError(PARAMETER_ERROR, f"method {request.method} is not allowed on {path}", status=405, headers=dict(exc.headers or {})))
    if exc.status_code == 404:
        return error(ApiError(PARAMETER_ERROR, f"no such endpoint: {request.method} {path} (the API is under /api/v1, see /docs)", status=404))
    return error(ApiError(PARAMETER_ERROR, exc.detail or "bad request", status=exc.status_code, headers=dict(exc.headers or {})))


def _with_path(request: Request) -> Request:
    request.scope.setdefault("path_params", {})["path"] = request.url.path.lstrip("/")
    return request


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error(exc)


async def _server_error(request: Request, exc: Exception) -> Response:
    failsafe.report(f"server {request.method} {request.url.path}", exc)
    return error(ApiError(SYSTEM_ERROR, f"internal server error ({type(exc).__name__}); see the server log", status=500))


class EnvelopeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, with its preflight answers in the envelope too."""

    def preflight_response(self, request_headers: Any) -> Response:
        response = super().preflight_response(request_headers)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
        if response.status_code == 200:
            return EnvelopeResponse({}, headers=headers)
        text = bytes(response.body).decode()
        return EnvelopeResponse({}, code=PERMISSION_ERROR, msg=f"{text}: allowed origins are set with cors_origins", status_code=400, headers=headers)


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
    ctx = Context(settings=settings, store=store, limiter=scaled.limiter if scaled else RateLimiter(settings.rate_limit_rps, settings.rate_limit_burst))
    ctx.names = KnownNames(store, settings)
    ctx.worker = scaled.worker if scaled else AnalysisWorker(store, settings)
    ctx.auto = scaled.auto if scaled else AutoAnalysis(store, settings, ctx.worker, ctx.limiter, LocalClaims())
    ctx.extra["budgets"] = BudgetChecker(store, settings, ctx.auto)  # with Redis the workers run it (scale/periodic.py)
    ctx.ingest = IngestService(store, settings, names=ctx.names, auto=ctx.auto)

    routes: list[BaseRoute] = [*ingest.routes, *projects.routes, *reading.routes, *continuous_routes.routes, *budgets.routes, *analysis.routes, *jobs.routes, *meta.routes()]
    for item in plugins.registered("register_routes").values():
        routes.append(item.value)
        logger.debug("pystrument-server: route %s from plugin %s", item.name, item.plugin)
    routes += meta.ui_routes()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        task = None if scaled else asyncio.create_task(_purge_loop(ctx))  # with Redis, the workers do it once per cluster
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            ctx.auto.close()
            ctx.worker.close()
            store.close()

    middleware = []
    if settings.cors_origins:
        middleware.append(Middleware(
            EnvelopeCORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
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
        exception_handlers={HTTPException: _not_found, ApiError: _api_error, Exception: _server_error},
    )
    app.state.ctx = ctx
    app.state.settings = settings
    app.state.store = store
    _call_startup(app)
    return app


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
