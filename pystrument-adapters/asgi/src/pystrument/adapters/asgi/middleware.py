"""The ASGI middleware itself; the package docstring (asgi/__init__.py) says how to use it."""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from pystrument.adapters.base import client_getter, follow_in_threads, load_profiler, unmatched
from pystrument.core import Config
from pystrument.core.failsafe import report
from pystrument.core.unit import Unit, current_unit

load_profiler()

__all__ = ["PerformanceMiddleware", "StarletteMiddleware", "route_template"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Set while an instrumented request runs in this context (its unit, or _SKIP when it is not sampled): an inner
# instance passes through, and a framework adapter inside (Django's) names the unit by its own route.
_SKIP = object()
_active: contextvars.ContextVar[Any] = contextvars.ContextVar("pystrument_asgi_request", default=None)


def request_unit() -> Unit | None:
    """The sampled request unit of the ASGI request running here (continuous or detailed), or None."""
    unit = _active.get()
    return None if unit is None or unit is _SKIP else unit


def route_template(scope: Scope) -> str | None:
    """The matched route's template, with the prefixes of the mounts it lives under; None if no route matched."""
    route = scope.get("route")
    if route is None:
        return None
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    root_path = scope.get("root_path", "")
    app_root = scope.get("app_root_path", "")
    if root_path and root_path.startswith(app_root):
        template = root_path[len(app_root):] + template
    return template


class PerformanceMiddleware:
    """ASGI middleware profiling each sampled HTTP request. ``config``: a ``Config``, a dict, or None."""

    framework = "asgi"

    def __init__(self, app: Callable[..., Awaitable[None]], config: Config | dict[str, Any] | None = None) -> None:
        self.app = app
        self._get_client = client_getter(config)
        self._threads_followed = False

    @property
    def client(self) -> Any:
        return self._get_client()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http" or _active.get() is not None:
            await self.app(scope, receive, send)
            return
        client = self._get_client()
        if not self._threads_followed:
            self._threads_followed = True
            follow_in_threads(client)
        path = scope.get("path", "")
        if client.is_excluded(path):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        unit = client.start("request", unmatched(method), entry_frame=sys._getframe(), method=method, path=path,
                            is_async=True, framework=self.framework)
        token = _active.set(_SKIP if unit is None else unit)
        try:
            if unit is None:
                await self.app(scope, receive, send)
                return
            done = False

            def finish(exc: BaseException | None) -> None:
                nonlocal done
                done = True
                _name(unit, scope)
                client.finish(unit, exc)

            async def send_wrapper(message: Message) -> None:
                kind = message.get("type")
                if kind == "http.response.start":
                    unit.status_code = message.get("status")
                elif not done and ((kind == "http.response.body" and not message.get("more_body", False))
                                   or kind == "http.response.pathsend"):
                    await send(message)
                    finish(None)
                    return
                await send(message)

            # (inline, not a method: continuous mode runs this on every request, and a coroutine call costs)
            try:
                await self.app(scope, receive, send_wrapper)
            except BaseException as exc:
                if not done:
                    if unit.status_code is None and isinstance(exc, Exception):
                        unit.status_code = 500  # no response started: the server or framework answers 500
                    finish(exc)
                raise
            else:
                if not done:
                    finish(None)
            finally:
                # finished in a child task: clear it in this context too (only the detailed collector sets it)
                if unit.detailed and current_unit.get() is unit:
                    current_unit.set(unit.parent)
        finally:
            _active.reset(token)

    def _lifespan_send(self, send: Send) -> Send:
        """Pass every lifespan message on unchanged; before the server hears that shutdown is complete,
        deliver what is queued. uvicorn re-raises SIGTERM after a graceful shutdown, so the process dies
        by the signal and interpreter-exit handlers (our atexit flush) never run. The flush waits in a
        worker thread: the event loop keeps running (other apps' shutdown, other tasks) meanwhile."""

        async def lifespan_send(message: Message) -> None:
            if message.get("type") == "lifespan.shutdown.complete":
                try:
                    client = self._get_client()
                    await _off_the_loop(client.flush, client.config.shutdown_timeout)
                except Exception as exc:
                    report("asgi flush at lifespan shutdown", exc)
            await send(message)

        return lifespan_send

class StarletteMiddleware(PerformanceMiddleware):
    """What ``pystrument-run`` wraps Starlette apps in (records say ``framework="starlette"``)."""

    framework = "starlette"


async def _off_the_loop(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in a worker thread, awaited without blocking the event loop: asyncio's default
    executor under asyncio, anyio's worker threads under another backend anyio knows (trio); a direct
    call only where neither runs. asyncio is imported here, not with the module: ``pystrument-run`` loads
    this module in every process it starts, and a WSGI host never imports asyncio itself."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        return await loop.run_in_executor(None, func, *args)
    try:
        import anyio.to_thread
    except ImportError:
        return func(*args)
    return await anyio.to_thread.run_sync(func, *args)


def _name(unit: Unit, scope: Scope) -> None:
    try:
        template = route_template(scope)
        if template is not None:
            unit.name = f"{unit.method} {template}"
    except Exception as exc:
        report("asgi route name", exc)
