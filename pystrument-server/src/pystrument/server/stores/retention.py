"""Retention: records older than a project's ``retention_days`` (else the server's) are deleted by the periodic
upkeep (the app's upkeep loop, or once per cluster by the Redis workers)."""

from __future__ import annotations

import datetime as dt

from pystrument.server.settings import ServerSettings
from pystrument.server.stores.base import Store


def purge_expired(store: Store, settings: ServerSettings, now: dt.datetime | None = None) -> int:
    """Delete records older than each project's retention (its settings.retention_days, else the server's)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    purged = 0
    for project in store.list_projects():
        days = (project.get("settings") or {}).get("retention_days", settings.retention_days) or 0
        if days > 0:
            purged += store.purge_before(project["id"], now - dt.timedelta(days=days))
    return purged
