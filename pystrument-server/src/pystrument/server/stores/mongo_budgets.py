"""The MongoDB store's budget breaches (budgets.py): collection ``budget_breaches``, one document per (project,
version, endpoint, budget, metric, function), ``_id`` a hash of those."""

from __future__ import annotations

import threading
from typing import Any

from pystrument.server.stores.mongo_ids import hashed_id

FIELDS = ("version", "endpoint", "budget", "metric", "function", "limit", "measured", "requests", "checked_at", "first_seen")


class MongoBreaches:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.coll = store.db.budget_breaches
        self._made = False
        self._lock = threading.Lock()

    def _indexes(self) -> None:
        with self._lock:
            if not self._made:
                import pymongo

                self.store._retry(self.coll.create_index, [("project_id", pymongo.ASCENDING), ("version", pymongo.ASCENDING)])
                self._made = True

    def replace(self, project_id: str, versions: list[str] | None, breaches: list[dict[str, Any]]) -> None:
        """The project's breaches of ``versions`` (None: of every version) become ``breaches``."""
        from pymongo import ReplaceOne

        self._indexes()
        docs = [{"_id": hashed_id(project_id, b["version"], b["endpoint"], b["budget"], b["metric"], b.get("function") or ""),
                 "project_id": project_id, **b} for b in breaches]
        if docs:  # written before the stale ones go, so a reader never sees a breach that still holds disappear
            self.store._retry(self.coll.bulk_write, [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs], ordered=False)
        query: dict[str, Any] = {"project_id": project_id, "_id": {"$nin": [d["_id"] for d in docs]}}
        if versions is not None:
            query["version"] = {"$in": list(versions)}
        self.store._retry(self.coll.delete_many, query)

    def project_ids(self) -> set[str]:
        self._indexes()
        return set(self.store._retry(self.coll.distinct, "project_id"))

    def list(self, project_id: str, version: str | None = None, endpoint: str | None = None) -> list[dict[str, Any]]:
        self._indexes()
        query: dict[str, Any] = {"project_id": project_id}
        if version is not None:
            query["version"] = version
        if endpoint is not None:
            query["endpoint"] = endpoint
        docs = self.store._retry(lambda: list(self.coll.find(query)))
        out = [{k: d[k] for k in FIELDS if k in d} for d in docs]
        return sorted(out, key=lambda b: (b["endpoint"], b["version"], b["budget"], b["metric"], b.get("function") or ""))
