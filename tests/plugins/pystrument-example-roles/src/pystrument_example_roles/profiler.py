"""A profiler (collector) plugin: the built-in pyinstrument collector, counting the units it samples."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pystrument.core import hookimpl
from pystrument.core.profiling.stack_sampler import StackSamplerCollector

STARTED: list[str] = []  # names of the units this collector started


class CountingCollector(StackSamplerCollector):
    def start(self, unit: Any, entry_frame: Any, include_entry: bool = False) -> None:
        STARTED.append(unit.name)
        super().start(unit, entry_frame, include_entry)


@hookimpl
def register_collectors(register: Callable[..., None]) -> None:
    register("example-counting", CountingCollector)
