"""The Starlette adapter for ``pystrument-run``: every Starlette app gets the ASGI middleware as the
outermost layer of its middleware stack when the stack is built (FastAPI, which builds its own stack,
is patched the same way by pystrument-fastapi)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pystrument.adapters.base import Adapter, claim
from pystrument.core import hookimpl

if TYPE_CHECKING:
    from starlette.applications import Starlette


def install_starlette(config: Any, middleware: type | None = None, classes: tuple[type[Starlette], ...] | None = None) -> None:
    """Wrap ``build_middleware_stack`` of Starlette (or of the given subclasses that define their own,
    such as FastAPI) once per class per process (idempotent). ``middleware`` defaults to the ASGI
    middleware named ``starlette``; it is imported here, not with this module, which the runner loads in
    every process."""
    if middleware is None:
        from .middleware import StarletteMiddleware

        middleware = StarletteMiddleware
    if classes is None:
        from starlette.applications import Starlette

        classes = (Starlette,)
    claim(functools.partial(_is_instance, classes=classes))
    for cls in classes:
        original = cls.__dict__.get("build_middleware_stack")
        if original is None or getattr(original, "_pystrument", False):
            continue
        cls.build_middleware_stack = _wrapped(original, middleware, config)  # type: ignore[method-assign]


def _is_instance(app: Any, classes: tuple[type, ...]) -> bool:
    return isinstance(app, classes)


def _wrapped(original: Callable[..., Any], middleware: type, config: Any) -> Callable[..., Any]:
    from .middleware import PerformanceMiddleware

    def build_middleware_stack(self: Any) -> Any:
        stack = original(self)
        for item in getattr(self, "user_middleware", ()):
            if isinstance(getattr(item, "cls", None), type) and issubclass(item.cls, PerformanceMiddleware):
                return stack  # the app adds the middleware itself, with its own configuration
        return middleware(stack, config)

    build_middleware_stack._pystrument = True  # type: ignore[attr-defined]
    return build_middleware_stack


adapter = Adapter("starlette", "starlette", install_starlette, on_import="starlette.applications")


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    register(adapter)
