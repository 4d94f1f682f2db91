"""The MongoDB store's continuous aggregates (continuous.py): collection ``aggregates``, one document per (project,
endpoint, version, environment, hour) holding the encoded ``HourStats`` and merged tree, and ``aggregate_ids``, the
absorbed ids (``_id`` = project:record_id, so a duplicate is absorbed once).

A row is updated read-modify-write with a revision number (``rev``): the update matches the revision read, and is
tried again on a fresh read when another process wrote the row meanwhile, so concurrent servers lose no window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from bson import Binary
from pystrument.core.record import Record
from pystrument.server.stats import continuous
from pystrument.server.stores.base import Filters, InsertResult, StoreError
from pystrument.server.stores.mongo_ids import hashed_id

ATTEMPTS = 50  # optimistic updates of one row before giving up (each lost only to another process's write)


def _row_id(project_id: str, key: tuple[str, str, str, int]) -> str:
    return hashed_id(project_id, *key)


class MongoAggregates:
    def __init__(self, db: Any, retry: Callable[..., Any], settings: Any) -> None:
        self.db, self._retry, self.settings = db, retry, settings

    def indexes(self) -> None:
        import pymongo

        self.db.aggregates.create_index([("project_id", pymongo.ASCENDING), ("hour", pymongo.ASCENDING)])
        self.db.aggregate_ids.create_index([("project_id", pymongo.ASCENDING), ("hour", pymongo.ASCENDING)])

    def _claim(self, project_id: str, records: list[Record]) -> tuple[list[Record], list[str]]:
        """(the aggregates not absorbed before, the duplicates' ids): their ids inserted, duplicates refused by ``_id``."""
        import pymongo

        docs, failed = [], set()
        for r in records:
            docs.append({"_id": f"{project_id}:{r.record_id}", "project_id": project_id, "hour": continuous.hour_of(r)})
        try:
            self._retry(self.db.aggregate_ids.insert_many, docs, ordered=False)
        except pymongo.errors.BulkWriteError as exc:
            for err in exc.details.get("writeErrors", []):
                if err.get("code") != 11000:
                    raise StoreError(f"MongoDB insert failed: {err.get('errmsg')}") from exc
                failed.add(err["index"])
        return [r for i, r in enumerate(records) if i not in failed], [r.record_id for i, r in enumerate(records) if i in failed]

    def insert(self, project_id: str, records: list[Record]) -> InsertResult:
        import pymongo

        fresh, duplicates = self._claim(project_id, records)
        for key, items in continuous.group(fresh).items():
            row_id = _row_id(project_id, key)
            for _attempt in range(ATTEMPTS):
                old = self._retry(self.db.aggregates.find_one, {"_id": row_id})
                stats, tree = continuous.absorb(key, continuous.decode_stats(old["stats"]) if old else None,
                                                old.get("tree_z") if old else None, items, self.settings)
                fields = {"stats": Binary(continuous.encode_stats(stats)), "tree_z": Binary(tree) if tree else None}
                if old is None:
                    endpoint, version, environment, hour = key
                    try:
                        self._retry(self.db.aggregates.insert_one, {"_id": row_id, "project_id": project_id, "endpoint": endpoint,
                                                                     "version": version, "environment": environment, "hour": hour,
                                                                     "rev": 1, **fields})
                        break
                    except pymongo.errors.DuplicateKeyError:
                        continue  # another process made the row meanwhile: absorb into it
                done = self._retry(self.db.aggregates.update_one, {"_id": row_id, "rev": old["rev"]}, {"$set": fields, "$inc": {"rev": 1}})
                if done.matched_count:
                    break
            else:
                raise StoreError(f"MongoDB: the aggregate row of {key} changed under {ATTEMPTS} attempts in a row; send the batch again")
        return InsertResult([r.record_id for r in fresh], duplicates)

    def rows(self, project_id: str, filters: Filters, with_tree: bool) -> Iterator[tuple[continuous.HourStats, bytes | None]]:
        query: dict[str, Any] = {"project_id": project_id}
        for field, value in (("endpoint", filters.endpoint), ("version", filters.version), ("environment", filters.environment)):
            if value is not None:
                query[field] = value
        hour: dict[str, Any] = {}
        if filters.since is not None:  # the hours that overlap the range
            hour["$gt"] = filters.since - 3600
        if filters.until is not None:
            hour["$lte"] = filters.until
        if hour:
            query["hour"] = hour
        projection = {"stats": 1, "tree_z": 1} if with_tree else {"stats": 1}
        cursor = self.db.aggregates.find(query, projection)
        try:
            while True:  # each read through _retry: a database error while iterating is a StoreError too
                doc = self._retry(next, cursor, None)
                if doc is None:
                    return
                tree = doc.get("tree_z")
                yield continuous.decode_stats(bytes(doc["stats"])), bytes(tree) if tree else None
        finally:
            cursor.close()

    def delete(self, project_id: str, version: str | None = None, before_hour: int | None = None) -> None:
        """A project's aggregates (of one version / of the hours before ``before_hour`` only, when given)."""
        if version is not None:
            self._retry(self.db.aggregates.delete_many, {"project_id": project_id, "version": version})
            return
        query: dict[str, Any] = {"project_id": project_id}
        if before_hour is not None:
            query["hour"] = {"$lt": before_hour}
        for coll in ("aggregates", "aggregate_ids"):
            self._retry(self.db[coll].delete_many, query)

    def names(self, project_id: str, kind: str) -> list[str]:
        return [str(v) for v in self._retry(self.db.aggregates.distinct, kind, {"project_id": project_id})]
