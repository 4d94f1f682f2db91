"""Hook specifications of the ``pystrument`` pluggy project.

Every hook is synchronous and is called at assembly time, never on the request path: the SDK and the
server call the objects a plugin registers directly, each inside its own failsafe. Each hook is
documented in ``docs/plugins.md`` (a test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("pystrument")


@hookspec
def register_sinks(register: Callable[..., None]) -> None:
    """Register sink factories by URL scheme: ``register(scheme, factory)``, ``factory(url, config) -> Sink``."""


@hookspec
def register_collectors(register: Callable[..., None]) -> None:
    """Register profiling collectors by name: ``register(name, factory)``, ``factory(config) -> Collector``."""


@hookspec
def register_enrichers(register: Callable[..., None]) -> None:
    """Register record enrichers: ``register(func)``, ``func(record) -> None`` runs in the background thread."""


@hookspec
def register_adapters(register: Callable[..., None]) -> None:
    """Register framework adapters: ``register(adapter)``, an object with ``name``, ``on_import``, ``detect()`` and ``instrument(config)``."""


@hookspec
def register_ai_providers(register: Callable[..., None]) -> None:
    """Register AI providers by name: ``register(name, provider)``."""


@hookspec
def register_analysers(register: Callable[..., None]) -> None:
    """Register rule-based analysers: ``register(name, analyser)``."""


@hookspec
def register_stores(register: Callable[..., None]) -> None:
    """Register server stores by URL scheme: ``register(scheme, factory)``, ``factory(url, settings) -> Store``."""


@hookspec
def register_routes(register: Callable[..., None]) -> None:
    """Register extra server routes: ``register(route)`` with a Starlette ``Route`` or ``Mount``."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands to the ``pystrument-server`` command group ``cli``."""


@hookspec
def startup(app: Any) -> None:
    """Called once when the server application ``app`` has been assembled, before it serves."""
