"""A toy web framework for the example adapter plugin (no pystrument import here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class App:
    def __init__(self, name: str) -> None:
        self.name = name
        self.routes: dict[str, Callable[[], Any]] = {}

    def route(self, path: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        def add(func: Callable[[], Any]) -> Callable[[], Any]:
            self.routes[path] = func
            return func

        return add

    def handle(self, path: str) -> Any:
        return self.routes[path]()
