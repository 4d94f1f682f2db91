"""An adapter plugin for the toy framework ``example_framework``: each ``App.handle(path)`` call is a
unit named by its route. Importing this module imports no framework: ``pystrument-run`` instruments
``example_framework`` when the application imports it (``on_import``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pystrument.adapters.base import Adapter, client_getter
from pystrument.core import hookimpl


def _install(config: Any) -> None:
    from example_framework import App

    get_client = client_getter(config)
    original = App.handle

    @functools.wraps(original)
    def handle(self: App, path: str) -> Any:
        client = get_client()
        unit = client.start("request", f"{self.name} {path}", path=path, framework="example-framework")
        if unit is None:
            return original(self, path)
        try:
            result = original(self, path)
        except BaseException as exc:
            client.finish(unit, exc)
            raise
        client.finish(unit)
        return result

    App.handle = handle  # type: ignore[method-assign]


adapter = Adapter("example-framework", "example_framework", _install)


@hookimpl
def register_adapters(register: Callable[..., None]) -> None:
    register(adapter)
