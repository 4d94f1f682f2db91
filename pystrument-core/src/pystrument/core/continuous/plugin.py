"""Registers the continuous collector (entry point ``continuous`` of ``pystrument.profilers``)."""

from __future__ import annotations

from collections.abc import Callable

from ..plugins import hookimpl


@hookimpl
def register_collectors(register: Callable[..., None]) -> None:
    from .collector import ContinuousCollector

    register("continuous", ContinuousCollector)
