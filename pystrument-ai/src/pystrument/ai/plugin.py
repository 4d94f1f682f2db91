"""The ``ai`` plugin: registers the rule-based analysers and the AI providers (no litellm import)."""

from __future__ import annotations

from collections.abc import Callable

from pystrument.core import hookimpl

from .providers import builtin_providers
from .rules import default_analysers


@hookimpl
def register_analysers(register: Callable[..., None]) -> None:
    for analyser in default_analysers():
        register(analyser.name, analyser)


@hookimpl
def register_ai_providers(register: Callable[..., None]) -> None:
    for provider in builtin_providers():
        register(provider.name, provider)
