"""The FastAPI adapter for ``pystrument-run``: FastAPI apps are Starlette apps, instrumented the same
way (once per process, whichever of the two adapters runs first), with ``framework="fastapi"``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystrument.adapters.asgi.plugin import install_starlette
from pystrument.adapters.base import Adapter
from pystrument.core import hookimpl


def _install(config: Any) -> None:
    from fastapi.applications import FastAPI  # not ``fastapi``: this runs when fastapi.applications is imported

    from .middleware import PerformanceMiddleware

    install_starlette(config, PerformanceMiddleware, (FastAPI,))


adapter = Adapter("fastapi", "fastapi", _install, on_import="fastapi.applications")


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    register(adapter)
