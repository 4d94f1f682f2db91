"""The ``ai`` plugin: registers the rule-based analysers and the AI providers."""

from __future__ import annotations

from typing import Callable

from pystrument.core import hookimpl

from .rules import default_analysers


@hookimpl
def register_analysers(register: Callable[..., None]) -> None:
    for analyser in default_analysers():
        register(analyser.name, analyser)
