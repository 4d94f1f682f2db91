"""The MongoDB store's advice index (advice_index.py): collection ``advice_index``, ``_id`` = the analysis id."""

from __future__ import annotations

from typing import Any

import pymongo


class MongoAdvice:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.coll = store.db.advice_index
        store._retry(self.coll.create_index, [("project_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)])

    def track(self, project_id: str, analysis_id: str, endpoint: str, version: str, created_at: str) -> None:
        doc = {"_id": analysis_id, "project_id": project_id, "endpoint": endpoint, "version": version, "created_at": created_at,
               "checked_against": ""}
        self.store._retry(self.coll.replace_one, {"_id": analysis_id}, doc, upsert=True)

    def rows(self, project_id: str, limit: int = 500) -> list[dict[str, Any]]:
        docs = self.store._retry(lambda: list(self.coll.find({"project_id": project_id}).sort("created_at", -1).limit(limit)))
        return [{"analysis_id": d["_id"], "endpoint": d["endpoint"], "version": d["version"], "checked_against": d.get("checked_against", "")}
                for d in docs]

    def mark(self, analysis_id: str, checked_against: str) -> None:
        self.store._retry(self.coll.update_one, {"_id": analysis_id}, {"$set": {"checked_against": checked_against}})

    def forget(self, analysis_id: str) -> None:
        self.store._retry(self.coll.delete_one, {"_id": analysis_id})
