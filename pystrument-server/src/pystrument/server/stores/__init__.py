"""Server stores: one interface (base.Store), chosen by the URL scheme of ``--store``: ``open_store(settings)``
finds the store plugin of that scheme (``register_stores``; SQLite and MongoDB are ours)."""

from __future__ import annotations

from collections.abc import Callable

from pystrument.core import plugins
from pystrument.server.settings import ServerSettings, SettingsError
from pystrument.server.stores.base import Store

StoreFactory = Callable[[str, ServerSettings], Store]  # (url, settings) -> an open store


def store_factories() -> dict[str, StoreFactory]:
    factories: dict[str, StoreFactory] = plugins.provided("register_stores")
    return factories


def open_store(settings: ServerSettings) -> Store:
    url = settings.store_url()
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    factories = store_factories()
    if scheme not in factories:
        raise SettingsError(f"store {url!r}: no store for scheme {scheme!r}; installed: {', '.join(sorted(factories)) or 'none'}")
    return factories[scheme](url, settings)
