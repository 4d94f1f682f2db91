"""The Flask adapter for ``pystrument-run``: every Flask app is instrumented on its first request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystrument.adapters.base import Adapter, claim
from pystrument.core import hookimpl


def _install(config: Any) -> None:
    import flask

    from .middleware import EXTENSION_KEY, Pystrument

    claim(_is_flask_app)
    original = flask.Flask.__call__
    if getattr(original, "_pystrument", False):
        return

    def __call__(self: flask.Flask, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.extensions.get(EXTENSION_KEY) is None:
            Pystrument(self, config)
        return original(self, environ, start_response)

    __call__._pystrument = True  # type: ignore[attr-defined]
    flask.Flask.__call__ = __call__  # type: ignore[method-assign]


def _is_flask_app(app: Any) -> bool:
    import flask

    return isinstance(app, flask.Flask)


adapter = Adapter("flask", "flask", _install)


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    register(adapter)
