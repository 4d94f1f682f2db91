"""The Starlette adapter for ``pystrument-run``: every Starlette (and so FastAPI) app gets the ASGI
middleware as the outermost layer of its middleware stack when the stack is built."""

from __future__ import annotations

from typing import Any, Callable

from pystrument.adapters.base import Adapter
from pystrument.core import hookimpl


def install_starlette(config: Any, middleware: type | None = None) -> None:
    """Wrap ``Starlette.build_middleware_stack`` once per process (idempotent)."""
    from starlette.applications import Starlette

    from . import PerformanceMiddleware

    original = Starlette.build_middleware_stack
    if getattr(original, "_pystrument", False):
        return
    cls = middleware or PerformanceMiddleware

    def build_middleware_stack(self: Starlette) -> Any:
        return cls(original(self), config)

    build_middleware_stack._pystrument = True  # type: ignore[attr-defined]
    Starlette.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


adapter = Adapter("starlette", "starlette", install_starlette)


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    register(adapter)
