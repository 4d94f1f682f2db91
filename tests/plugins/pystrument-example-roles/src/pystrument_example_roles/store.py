"""A server store plugin: ``example-sqlite:///path.db``, pystrument's SQLite store under another scheme,
marking each project it creates (so a test can tell it was this store that served)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystrument.core import hookimpl
from pystrument.server.stores.sqlite import SQLiteStore


class ExampleStore(SQLiteStore):
    def __init__(self, url: str, settings: Any = None) -> None:
        super().__init__("sqlite://" + url.split("://", 1)[1], settings)
        self.created: list[str] = []

    def create_project(self, project: dict[str, Any]) -> dict[str, Any]:
        created = super().create_project(project)
        self.created.append(created["name"])
        return created


@hookimpl
def register_stores(register: Callable[..., None]) -> None:
    register("example-sqlite", ExampleStore)
