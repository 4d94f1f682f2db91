"""Registers the built-in pyinstrument collector."""

from __future__ import annotations

from collections.abc import Callable

from ..plugins import hookimpl


@hookimpl
def register_collectors(register: Callable[..., None]) -> None:
    from .stack_sampler import StackSamplerCollector

    register("pyinstrument", StackSamplerCollector)


