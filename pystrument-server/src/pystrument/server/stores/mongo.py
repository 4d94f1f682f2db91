"""The MongoDB store (pymongo): records in the document shape of ``pystrument.core.documents`` (the
MongoDB sink writes the same), roll-ups kept with ``$inc``/``$max`` upserts, percentiles from the
roll-up histograms (no ``$percentile``/``$median``, which nx-27017 lacks).

Collections in the URL's database (default ``pystrument``): ``projects``, ``records``, ``buckets``,
``functions``, ``analyses``. Records the MongoDB sink wrote directly (no ``project_id`` yet) are
adopted by ``maintain()``: assigned to the project of their ``project_key`` and rolled up.
A standalone server gets no retryable writes: a write that fails with ``AutoReconnect`` (the first
one after a restart) is retried.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from pystrument.core import hookimpl
from pystrument.core.documents import from_document, to_document
from pystrument.core.record import Record
from pystrument.server.stats import continuous, histogram, rollup
from pystrument.server.stores import base
from pystrument.server.stores.mongo_ids import hashed_id

if TYPE_CHECKING:
    from pymongo import MongoClient

T = TypeVar("T")


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc)


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _sparse(doc: dict[str, Any]) -> dict[str, int]:
    """The sparse histogram of a roll-up document. nx-27017 stores ``$inc`` of ``hist.N`` in an upsert's insert
    as a literal top-level field named "hist.N" (MongoDB nests it): both are read."""
    sparse = dict(doc.get("hist") or {})
    for k, v in doc.items():
        if k.startswith("hist."):
            sparse[k[5:]] = sparse.get(k[5:], 0) + v
    return sparse


def _hist(doc: dict[str, Any]) -> Any:
    return histogram.from_sparse(_sparse(doc))


def _or_missing(value: str) -> Any:
    """Empty app fields are omitted from documents (msgspec omit_defaults): match them as missing too."""
    return value if value else {"$in": ["", None]}


def record_key(project_id: str, record_id: str) -> str:
    """The ``_id`` of a record the server stores: scoped to its project (the sink's own documents have
    ``_id`` = record_id until ``maintain()`` adopts them; index ``project_record`` is what makes ids unique)."""
    return f"{project_id}:{record_id}"


class MongoStore:
    name = "mongodb"

    def __init__(self, url: str, settings: Any = None) -> None:
        import pymongo
        from pymongo.errors import AutoReconnect, PyMongoError

        self._pymongo = pymongo
        self._AutoReconnect = AutoReconnect
        self._PyMongoError = PyMongoError
        options: dict[str, Any] = {} if "serverselectiontimeoutms" in url.lower() else {"serverSelectionTimeoutMS": 5000}
        self.client: MongoClient[dict[str, Any]] = pymongo.MongoClient(url, tz_aware=True, **options)
        db_name = pymongo.uri_parser.parse_uri(url).get("database") or "pystrument"
        self.db = self.client[db_name]
        from pystrument.server.stores.mongo_continuous import MongoAggregates

        self.aggregates = MongoAggregates(self.db, self._retry, settings)
        self._retry(self._indexes)

    def _indexes(self) -> None:
        P = self._pymongo
        self.db.projects.create_index("name", unique=True)
        self.db.projects.create_index("project_key", unique=True)
        # a record_id is unique per project (before 0.2 ``_id`` = record_id made it unique across projects; such
        # documents keep their ``_id``, and this index holds for them too, so creating it is the whole migration)
        self.db.records.create_index([("project_id", P.ASCENDING), ("record_id", P.ASCENDING)], unique=True, name="project_record")
        self.db.records.create_index([("project_id", P.ASCENDING), ("started_at", P.DESCENDING)])
        self.db.records.create_index([("project_id", P.ASCENDING), ("name", P.ASCENDING), ("app.version", P.ASCENDING), ("started_at", P.DESCENDING)])
        self.db.buckets.create_index([("project_id", P.ASCENDING), ("hour", P.ASCENDING)])
        self.db.functions.create_index([("project_id", P.ASCENDING), ("endpoint", P.ASCENDING), ("version", P.ASCENDING)])
        self.db.analyses.create_index([("record_id", P.ASCENDING), ("created_at", P.DESCENDING)])
        self.db.analyses.create_index([("project_id", P.ASCENDING), ("endpoint", P.ASCENDING), ("created_at", P.DESCENDING)])
        self.db.analyses.create_index([("project_id", P.ASCENDING), ("created_at", P.DESCENDING)])
        self._function_ids()
        self.aggregates.indexes()

    def _function_ids(self) -> None:
        """Function roll-ups written before ``fid`` (the function key's hash, what ``function_page`` groups by) get it."""
        from pymongo import UpdateOne

        ops = []
        for d in self.db.functions.find({"fid": {"$exists": False}}, {"fkey": 1}):
            ops.append(UpdateOne({"_id": d["_id"]}, {"$set": {"fid": hashed_id(d["fkey"])}}))
            if len(ops) >= 1000:
                self.db.functions.bulk_write(ops, ordered=False)
                ops = []
        if ops:
            self.db.functions.bulk_write(ops, ordered=False)

    def _retry(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        for attempt in range(4):
            try:
                return fn(*args, **kwargs)
            except self._AutoReconnect as exc:
                if attempt == 3:
                    raise base.StoreError(f"MongoDB unreachable: {exc}") from exc
                time.sleep(0.05 * (2 ** attempt))
            except self._PyMongoError as exc:
                if isinstance(exc, (self._pymongo.errors.DuplicateKeyError, self._pymongo.errors.BulkWriteError)):
                    raise
                raise base.StoreError(f"MongoDB error: {exc}") from exc
        raise AssertionError("unreachable")

    def ping(self) -> None:
        self._retry(self.client.admin.command, "ping")

    def close(self) -> None:
        self.client.close()

    # -- projects -------------------------------------------------------------------------------
    @staticmethod
    def _project(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        if doc is None:
            return None
        out = {k: v for k, v in doc.items() if k != "_id"}
        out["id"] = doc["_id"]
        for k in ("created_at", "last_seen_at"):
            if isinstance(out.get(k), dt.datetime):
                out[k] = _iso(out[k])
        out.setdefault("settings", {})
        out.setdefault("record_count", 0)
        out.setdefault("last_seen_at", None)
        return {k: out.get(k) for k in ("id", "name", "description", "project_key", "created_at", "settings", "record_count", "last_seen_at")}

    def create_project(self, project: dict[str, Any]) -> dict[str, Any]:
        doc = {k: v for k, v in project.items() if k != "id"}
        doc["_id"] = project["id"]
        doc["record_count"] = 0
        try:
            self._retry(self.db.projects.insert_one, doc)
        except self._pymongo.errors.DuplicateKeyError as exc:
            raise base.DuplicateName(project.get("name")) from exc
        return self.get_project(project["id"])  # type: ignore[return-value]

    def list_projects(self) -> list[dict[str, Any]]:
        return [self._project(d) for d in self._retry(lambda: list(self.db.projects.find().sort([("created_at", 1), ("name", 1)])))]  # type: ignore[misc]

    def get_project(self, project_id: str) -> dict[str, Any] | None:
        return self._project(self._retry(self.db.projects.find_one, {"_id": project_id}))

    def get_project_by_name(self, name: str) -> dict[str, Any] | None:
        return self._project(self._retry(self.db.projects.find_one, {"name": name}))

    def get_project_by_key(self, key: str) -> dict[str, Any] | None:
        return self._project(self._retry(self.db.projects.find_one, {"project_key": key}))

    def update_project(self, project_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        allowed = {k: v for k, v in fields.items() if k in ("name", "description", "project_key", "settings")}
        if allowed:
            try:
                self._retry(self.db.projects.update_one, {"_id": project_id}, {"$set": allowed})
            except self._pymongo.errors.DuplicateKeyError as exc:
                raise base.DuplicateName(fields.get("name")) from exc
        return self.get_project(project_id)

    def delete_project(self, project_id: str) -> bool:
        n = self._retry(self.db.projects.delete_one, {"_id": project_id}).deleted_count
        for coll in ("records", "buckets", "functions", "analyses"):
            self._retry(self.db[coll].delete_many, {"project_id": project_id})
        self.aggregates.delete(project_id)
        return n > 0

    # -- records --------------------------------------------------------------------------------
    def _doc(self, project_id: str, r: Record) -> dict[str, Any]:
        doc = to_document(r)
        doc["_id"] = record_key(project_id, r.record_id)
        doc["project_id"] = project_id
        doc["is_error"] = rollup.is_error(r)
        return doc

    def insert_records(self, project_id: str, records: list[Record]) -> base.InsertResult:
        """The records (``_insert_records``) and the continuous aggregates (``insert_aggregates``) of a batch."""
        return continuous.insert(records, lambda rs: self._insert_records(project_id, rs), lambda rs: self.insert_aggregates(project_id, rs))

    def insert_aggregates(self, project_id: str, records: list[Record]) -> base.InsertResult:
        return self.aggregates.insert(project_id, records)

    def aggregate_rows(self, project_id: str, filters: base.Filters, with_tree: bool) -> Iterator[tuple[continuous.HourStats, bytes | None]]:
        return self.aggregates.rows(project_id, filters, with_tree)

    def _insert_records(self, project_id: str, records: list[Record]) -> base.InsertResult:
        if not records:
            return base.InsertResult([], [])
        docs = [self._doc(project_id, r) for r in records]
        failed: set[int] = set()
        try:
            self._retry(self.db.records.insert_many, docs, ordered=False)
        except self._pymongo.errors.BulkWriteError as exc:
            for err in exc.details.get("writeErrors", []):
                if err.get("code") != 11000:
                    raise base.StoreError(f"MongoDB insert failed: {err.get('errmsg')}") from exc
                failed.add(err["index"])
        fresh = [r for i, r in enumerate(records) if i not in failed]
        duplicates = [r.record_id for i, r in enumerate(records) if i in failed]
        if fresh:
            self._apply_rollups(project_id, fresh)
        return base.InsertResult([r.record_id for r in fresh], duplicates)

    def _apply_rollups(self, project_id: str, records: list[Record]) -> None:
        from pymongo import UpdateOne

        buckets, functions = rollup.compute(records)
        ops = []
        for (endpoint, method, version, env, hour), b in buckets.items():
            inc: dict[str, Any] = {"count": b.count, "errors": b.errors, "sum_ms": b.sum_ms}
            inc.update({f"hist.{k}": v for k, v in histogram.to_sparse(b.hist()).items()})
            ops.append(UpdateOne(
                {"_id": hashed_id(project_id, endpoint, method, version, env, hour)},
                {"$inc": inc, "$max": {"max_ms": b.max_ms},
                 "$setOnInsert": {"project_id": project_id, "endpoint": endpoint, "method": method, "version": version, "environment": env, "hour": hour}},
                upsert=True,
            ))
        if ops:
            self._retry(self.db.buckets.bulk_write, ops, ordered=False)
        ops = []
        for (endpoint, version, fkey), f in functions.items():
            inc = {"self_ms": f.self_ms, "requests": f.requests}
            inc.update({f"hist.{k}": v for k, v in histogram.to_sparse(f.hist()).items()})
            update: dict[str, Any] = {"$inc": inc, "$setOnInsert": {"project_id": project_id, "endpoint": endpoint, "version": version, "fkey": fkey,
                                                                         "fid": hashed_id(fkey)}}
            if f.is_app:
                update["$set"] = {"is_app": True}
            ops.append(UpdateOne({"_id": hashed_id(project_id, endpoint, version, fkey)}, update, upsert=True))
        if ops:
            self._retry(self.db.functions.bulk_write, ops, ordered=False)
        last = max(r.started_at for r in records)
        self._retry(self.db.projects.update_one, {"_id": project_id}, {"$inc": {"record_count": len(records)}, "$max": {"last_seen_at": last}})

    def maintain(self, limit: int = 5000) -> int:
        """Adopt records the MongoDB sink wrote directly: set their project and roll them up."""
        adopted = 0
        docs = self._retry(lambda: list(self.db.records.find({"project_id": {"$exists": False}}, limit=limit)))
        by_key: dict[str, list[dict[str, Any]]] = {}
        for d in docs:
            by_key.setdefault(d.get("project_key", ""), []).append(d)
        for key, group in by_key.items():
            project = self.get_project_by_key(key) if key else None
            if project is None:
                continue
            aggregates = [d for d in group if d.get("kind") == continuous.KIND]
            if aggregates:  # continuous aggregates the sink wrote: absorbed into their hours, out of the records
                self.aggregates.insert(project["id"], [from_document(d) for d in aggregates])
                self._retry(self.db.records.delete_many, {"_id": {"$in": [d["_id"] for d in aggregates]}, "project_id": {"$exists": False}})
                adopted += len(aggregates)
                group = [d for d in group if d.get("kind") != continuous.KIND]
            group = self._adoptable(project["id"], group)
            ids = [d["_id"] for d in group]
            res = self._retry(self.db.records.update_many, {"_id": {"$in": ids}, "project_id": {"$exists": False}},
                              {"$set": {"project_id": project["id"]}})
            if res.modified_count:
                records = [from_document(d) for d in group]
                for d, r in zip(group, records, strict=True):
                    self._retry(self.db.records.update_one, {"_id": d["_id"]}, {"$set": {"is_error": rollup.is_error(r)}})
                self._apply_rollups(project["id"], records)
                adopted += len(records)
        return adopted

    def _adoptable(self, project_id: str, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The sink's documents whose record_id the project does not hold yet; the others are duplicates (the
        same record also came through the HTTP API) and are deleted."""
        held = {d["record_id"] for d in self._retry(lambda: list(self.db.records.find(
            {"project_id": project_id, "record_id": {"$in": [d["record_id"] for d in docs]}}, {"record_id": 1})))}
        duplicates = [d["_id"] for d in docs if d["record_id"] in held]
        if duplicates:
            self._retry(self.db.records.delete_many, {"_id": {"$in": duplicates}, "project_id": {"$exists": False}})
        return [d for d in docs if d["record_id"] not in held]

    def _filter(self, project_id: str, f: base.Filters) -> dict[str, Any]:
        q: dict[str, Any] = {"project_id": project_id}
        if f.endpoint is not None:
            q["name"] = f.endpoint
        if f.version is not None:
            q["app.version"] = _or_missing(f.version)
        if f.environment is not None:
            q["app.environment"] = _or_missing(f.environment)
        if f.since is not None or f.until is not None:
            q["started_at"] = {}
            if f.since is not None:
                q["started_at"]["$gte"] = _utc(f.since)
            if f.until is not None:
                q["started_at"]["$lt"] = _utc(f.until)
        if f.min_duration is not None:
            q["duration_ms"] = {"$gte": f.min_duration}
        status = base.status_matches(f.status)
        if status:
            kind, value = status
            if kind == "error":
                q["is_error"] = True
            elif kind == "ok":
                q["is_error"] = False
            elif kind == "class":
                q["status_code"] = {"$gte": value * 100, "$lt": value * 100 + 100}
            else:
                q["status_code"] = value
        return q

    @staticmethod
    def _summary(doc: dict[str, Any]) -> dict[str, Any]:
        import msgspec

        record = from_document({k: v for k, v in doc.items() if k not in ("project_id", "is_error")}, with_tree=False)
        out: dict[str, Any] = msgspec.to_builtins(record)
        out.pop("call_tree", None)
        out.pop("source", None)
        out.pop("spans", None)  # lists stay small: a record's spans come with GET /records/{id}
        return out

    def query_records(self, project_id: str, filters: base.Filters, page: int, page_size: int, sort: str) -> tuple[list[dict[str, Any]], int]:
        q = self._filter(project_id, filters)
        direction = -1 if sort.startswith("-") else 1
        docs = self._retry(lambda: list(self.db.records.find(q, {"call_tree_z": 0, "source": 0, "spans": 0})
                                        .sort([(sort.lstrip("-"), direction), ("_id", 1)]).skip((page - 1) * page_size).limit(page_size)))
        total = self._retry(self.db.records.count_documents, q)
        return [self._summary(d) for d in docs], total

    def get_record(self, record_id: str, project_id: str | None = None) -> tuple[str, Record] | None:
        q = {"record_id": record_id, "project_id": {"$exists": True} if project_id is None else project_id}
        docs = self._retry(lambda: list(self.db.records.find(q).limit(2)))
        if not docs:
            return None
        if len(docs) > 1:
            # the owners from the documents themselves (one per project), not ``distinct``: nx-27017 once answered it
            # with a value that was no project id (a CI run: Int64 beside the ids)
            owners = self._retry(lambda: {d["project_id"] for d in self.db.records.find(q, {"project_id": 1, "_id": 0})})
            raise base.AmbiguousRecord(record_id, sorted(owners))
        doc = docs[0]
        project_id = doc.pop("project_id")
        doc.pop("is_error", None)
        return project_id, from_document(doc)

    def sample_records(self, project_id: str, filters: base.Filters, limit: int, with_tree: bool = True) -> Iterator[Record]:
        projection = None if with_tree else {"call_tree_z": 0}
        docs = self._retry(lambda: list(self.db.records.find(self._filter(project_id, filters), projection).sort("started_at", -1).limit(limit)))
        for d in docs:
            d.pop("project_id", None)
            d.pop("is_error", None)
            yield from_document(d, with_tree=with_tree)

    def stream_records(self, project_id: str, filters: base.Filters, limit: int) -> Iterator[Record]:
        """``sample_records`` with trees, fetched 64 documents at a time (comparisons)."""
        cursor = self.db.records.find(self._filter(project_id, filters)).sort("started_at", -1).limit(limit).batch_size(64)
        try:
            while True:
                d = self._retry(next, cursor, None)
                if d is None:
                    return
                d.pop("project_id", None)
                d.pop("is_error", None)
                yield from_document(d, with_tree=True)
        finally:
            cursor.close()

    def durations(self, project_id: str, filters: base.Filters, limit: int) -> dict[str, list[float]]:
        q = self._filter(project_id, filters)
        out: dict[str, list[float]] = {}
        for name in self._retry(self.db.records.distinct, "name", q):
            docs = self._retry(lambda q=q, name=name: list(self.db.records.find({**q, "name": name}, {"duration_ms": 1}).sort("started_at", -1).limit(limit)))
            out[name] = [float(d["duration_ms"]) for d in docs]
        return out

    def versions(self, project_id: str) -> list[dict[str, Any]]:
        # the pairs come from the roll-ups (nx-27017 does not group by compound keys of nested fields)
        pairs = {(d["version"], d["environment"]) for d in self._retry(lambda: list(self.db.buckets.find(
            {"project_id": project_id}, {"version": 1, "environment": 1})))}
        out = []
        for version, env in sorted(pairs):
            q = {"project_id": project_id, "app.version": _or_missing(version), "app.environment": _or_missing(env)}
            count = self._retry(self.db.records.count_documents, q)
            if not count:
                continue
            first = self._retry(lambda q=q: next(iter(self.db.records.find(q, {"started_at": 1}).sort("started_at", 1).limit(1))))
            last = self._retry(lambda q=q: next(iter(self.db.records.find(q, {"started_at": 1}).sort("started_at", -1).limit(1))))
            out.append({"version": version, "environment": env, "count": count,
                        "first_seen": _iso(first["started_at"]), "last_seen": _iso(last["started_at"])})
        return out

    def delete_version(self, project_id: str, version: str) -> int:
        n = self._retry(self.db.records.delete_many, {"project_id": project_id, "app.version": _or_missing(version)}).deleted_count
        self._retry(self.db.buckets.delete_many, {"project_id": project_id, "version": version})
        self._retry(self.db.functions.delete_many, {"project_id": project_id, "version": version})
        self.aggregates.delete(project_id, version=version)
        self._retry(self.db.projects.update_one, {"_id": project_id}, {"$inc": {"record_count": -n}})
        return n

    def purge_before(self, project_id: str, cutoff: dt.datetime) -> int:
        n = self._retry(self.db.records.delete_many, {"project_id": project_id, "started_at": {"$lt": cutoff}}).deleted_count
        self.aggregates.delete(project_id, before_hour=int(cutoff.timestamp()) // 3600 * 3600)
        if n:
            self._retry(self.db.projects.update_one, {"_id": project_id}, {"$inc": {"record_count": -n}})
        return n

    # -- roll-ups -------------------------------------------------------------------------------
    def _bucket_query(self, project_id: str, filters: base.Filters) -> dict[str, Any]:
        q: dict[str, Any] = {"project_id": project_id}
        for field, value in (("endpoint", filters.endpoint), ("version", filters.version), ("environment", filters.environment)):
            if value is not None:
                q[field] = value
        if filters.since is not None or filters.until is not None:
            q["hour"] = {}
            if filters.since is not None:
                q["hour"]["$gte"] = int(filters.since // 3600) * 3600
            if filters.until is not None:
                q["hour"]["$lt"] = filters.until
        return q

    @staticmethod
    def _table(docs: list[dict[str, Any]]) -> base.BucketTable:
        rid: list[int] = []
        bins: list[int] = []
        ns: list[int] = []
        for i, d in enumerate(docs):
            for k, v in _sparse(d).items():
                rid.append(i)
                bins.append(int(k))
                ns.append(int(v))
        return base.BucketTable([d["endpoint"] for d in docs], [d["method"] for d in docs], [d["version"] for d in docs],
                           [d["environment"] for d in docs], [d["hour"] for d in docs], [d["count"] for d in docs],
                           [d["errors"] for d in docs], [d["sum_ms"] for d in docs], [d.get("max_ms", 0.0) for d in docs],
                           np.asarray(rid, dtype=np.int64), np.asarray(bins, dtype=np.int64), np.asarray(ns, dtype=np.int64))

    def bucket_table(self, project_id: str, filters: base.Filters, resolution: int = 3600, keys: bool = True) -> base.BucketTable:
        # hourly roll-ups only (daily ones are an SQLite read optimisation so far)
        q = self._bucket_query(project_id, filters)
        return self._table(self._retry(lambda: list(self.db.buckets.find(q))))

    def endpoint_tables(self, project_id: str, filters: base.Filters, rows: int = 50_000) -> Iterator[base.BucketTable]:
        """The roll-up rows of ``bucket_table`` ordered by endpoint, in tables of about ``rows`` rows that never split
        an endpoint: a cursor, so that memory is a table's, not the project's."""
        docs: list[dict[str, Any]] = []
        try:
            for d in self.db.buckets.find(self._bucket_query(project_id, filters)).sort("endpoint", 1).batch_size(5000):
                if len(docs) >= rows and d["endpoint"] != docs[-1]["endpoint"]:
                    yield self._table(docs)
                    docs = []
                docs.append(d)
        except self._PyMongoError as exc:
            raise base.StoreError(f"MongoDB error: {exc}") from exc
        if docs:
            yield self._table(docs)

    def function_page(self, project_id: str, endpoint: str | None, version: str | None, offset: int, limit: int) -> base.FunctionPage:
        """Grouped, ordered and cut to the page by the database (an aggregation allowed to spill to disk), then the
        page's rows read for their keys and histograms. Grouped by ``fid``, the hash of the function key: the key
        holds NUL separators, which nx-27017 cuts strings at in aggregations and queries (plain reads keep them)."""
        q: dict[str, Any] = {"project_id": project_id}
        if endpoint is not None:
            q["endpoint"] = endpoint
        if version is not None:
            q["version"] = version
        totals = self._retry(lambda: list(self.db.functions.aggregate([
            {"$match": q}, {"$group": {"_id": "$fid"}}, {"$group": {"_id": None, "n": {"$sum": 1}}}], allowDiskUse=True)))
        total_self = self._retry(lambda: list(self.db.functions.aggregate([
            {"$match": q}, {"$group": {"_id": None, "s": {"$sum": "$self_ms"}}}], allowDiskUse=True)))
        page = self._retry(lambda: list(self.db.functions.aggregate([
            {"$match": q}, {"$group": {"_id": "$fid", "s": {"$sum": "$self_ms"}}},
            {"$sort": {"s": -1, "_id": 1}}, {"$skip": offset}, {"$limit": limit}], allowDiskUse=True)))
        merged: dict[str, list[Any]] = {d["_id"]: ["", 0.0, 0, False, histogram.empty()] for d in page}
        fids = list(merged)
        for i in range(0, len(fids), 500):
            part = fids[i:i + 500]
            # whole documents: nx-27017 keeps some histogram entries as top-level "hist.N" fields (_sparse)
            docs = self._retry(lambda part=part: list(self.db.functions.find({**q, "fid": {"$in": part}})))
            for d in docs:
                m = merged[d["fid"]]
                m[0] = d["fkey"]
                m[1] += d["self_ms"]
                m[2] += d["requests"]
                m[3] = m[3] or bool(d.get("is_app"))
                m[4] += _hist(d)
        rows = [base.FunctionRow(m[0], m[1], m[2], m[3], m[4]) for m in merged.values()]
        return base.FunctionPage(rows, int(totals[0]["n"]) if totals else 0, float(total_self[0]["s"]) if total_self else 0.0)

    def distinct_names(self, project_id: str, kind: str) -> list[str]:
        names = {str(v) for v in self._retry(self.db.buckets.distinct, kind, {"project_id": project_id})}
        return sorted(names | set(self.aggregates.names(project_id, kind)))

    # -- analyses -------------------------------------------------------------------------------
    def save_analysis(self, analysis: dict[str, Any]) -> None:
        doc = {**analysis, "_id": analysis["id"]}
        self._retry(self.db.analyses.replace_one, {"_id": analysis["id"]}, doc, upsert=True)

    def get_analysis(self, analysis_id: str) -> dict[str, Any] | None:
        doc = self._retry(self.db.analyses.find_one, {"_id": analysis_id})
        if doc is None:
            return None
        doc.pop("_id")
        return base.analysis_defaults(doc)

    def list_analyses(self, record_id: str, project_id: str | None = None) -> list[dict[str, Any]]:
        q = {"record_id": record_id} if project_id is None else {"record_id": record_id, "project_id": project_id}
        docs = self._retry(lambda: list(self.db.analyses.find(q).sort("created_at", -1)))
        for d in docs:
            d.pop("_id")
        return [base.analysis_defaults(d) for d in docs]

    def list_project_analyses(self, project_id: str, query: base.AnalysisQuery) -> tuple[list[dict[str, Any]], int]:
        q: dict[str, Any] = {"project_id": project_id}
        if query.endpoint is not None:
            q["endpoint"] = query.endpoint
        if query.version is not None:
            q["version"] = query.version
        if query.triggers:  # analyses stored before triggers existed are manual ones
            q["trigger"] = {"$in": [*query.triggers, None] if "manual" in query.triggers else list(query.triggers)}
        total = self._retry(self.db.analyses.count_documents, q)
        docs = self._retry(lambda: list(self.db.analyses.find(q).sort([("created_at", -1), ("_id", 1)])
                                        .skip((query.page - 1) * query.page_size).limit(query.page_size)))
        for d in docs:
            d.pop("_id")
        return [base.analysis_defaults(d) for d in docs], total


def open_store(url: str, settings: Any = None) -> MongoStore:
    return MongoStore(url, settings)


@hookimpl
def register_stores(register: Callable[..., None]) -> None:
    register("mongodb", open_store)
    register("mongodb+srv", open_store)
