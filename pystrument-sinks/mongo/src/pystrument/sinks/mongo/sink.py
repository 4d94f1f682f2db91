"""insert_many(ordered=False) of stored documents, with one immediate retry after a reconnect.

After the server restarts, pymongo's first write on the old connection fails with ``AutoReconnect``
(a standalone server gets no retryable writes); pymongo has reconnected by then, so the batch is sent
once more straight away. What the retry finds already stored is a duplicate, i.e. a success.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import pymongo
from pymongo import errors
from pymongo.uri_parser import parse_uri
from pystrument.core.documents import INDEXES, to_document
from pystrument.core.record import Record
from pystrument.core.sinks import ProcessClient, SinkError, parse_bool, url_options

logger = logging.getLogger("pystrument.sinks.mongo")

OPTIONS: dict[str, Callable[[str], Any]] = {"collection": str, "create_indexes": parse_bool}
DEFAULT_DATABASE = "pystrument"
DEFAULT_COLLECTION = "records"
DUPLICATE_KEY = 11000
AUTH_FAILED = 18


class MongoSink:
    """``mongodb://[user:pass@]host[:port][,host2...]/database?collection=records[&pymongo options]``."""

    spool = True  # while the server is unreachable its batches wait on disk (the dispatcher's retry queue)

    def __init__(self, url: str, config: Any = None) -> None:
        stripped, opts = url_options(url, OPTIONS, passthrough=True)  # the other options are pymongo's
        parts = urlsplit(stripped)
        if parts.scheme == "mongodb":  # (+srv needs a DNS lookup: checked when it connects)
            try:
                parsed = parse_uri(stripped)
            except (errors.InvalidURI, errors.ConfigurationError, ValueError) as exc:
                raise ValueError(f"mongodb sink URL {url!r}: {exc} (our options: collection, create_indexes; "
                                 "the others are pymongo's)") from None
            database = parsed.get("database")
        else:
            database = parts.path.lstrip("/")
        self.database = database or DEFAULT_DATABASE
        self.collection = opts.get("collection", DEFAULT_COLLECTION)
        if not self.collection or self.collection.startswith("system."):
            raise ValueError(f"mongodb sink URL {url!r}: collection={self.collection!r} is not a usable collection name")
        self.create_indexes = opts.get("create_indexes", True)
        host = parts.netloc.rsplit("@", 1)[-1]
        self.name = f"{parts.scheme}://{host}/{self.database}.{self.collection}"
        timeout_ms = int(getattr(config, "sink_timeout", 5.0) * 1000)
        self._url = stripped
        self._timeout_ms = timeout_ms
        self.counts: Counter[str] = Counter()
        self._client: ProcessClient[pymongo.MongoClient[dict[str, Any]]] = ProcessClient(self._connect)
        self._indexed = False

    def _connect(self) -> pymongo.MongoClient[dict[str, Any]]:
        return pymongo.MongoClient(self._url, serverSelectionTimeoutMS=self._timeout_ms, connectTimeoutMS=self._timeout_ms,
                                   socketTimeoutMS=self._timeout_ms, appname="pystrument-sink-mongo")

    def _coll(self) -> Any:
        return self._client.get()[self.database][self.collection]

    def _ensure_indexes(self, coll: Any) -> None:
        if self._indexed or not self.create_indexes:
            return
        for keys, options in INDEXES:
            try:
                coll.create_index(keys, **options)
                self.counts["indexes_created"] += 1
            except errors.OperationFailure as exc:  # e.g. the same keys under another name: the index is there
                logger.warning("pystrument: mongodb sink %s: index %s not created: %s", self.name, options.get("name"), exc)
        self._indexed = True

    def send(self, batch: list[Record]) -> None:
        docs = [to_document(r) for r in batch]
        with self._client.lock:
            for attempt in (1, 2):
                try:
                    coll = self._coll()
                    self._ensure_indexes(coll)
                    coll.insert_many(docs, ordered=False)
                    self.counts["inserted"] += len(docs)
                    return
                except errors.BulkWriteError as exc:
                    self._count_bulk(exc.details, len(docs))
                    return
                except errors.ServerSelectionTimeoutError as exc:  # no server answered within sink_timeout
                    self.counts["errors_connection"] += 1
                    raise SinkError(f"cannot reach MongoDB at {self.name}: {exc}") from exc
                except errors.AutoReconnect as exc:
                    self.counts["errors_connection"] += 1
                    if attempt == 1:
                        self.counts["reconnect_retries"] += 1
                        continue  # pymongo has reconnected: send the batch again at once
                    raise SinkError(f"MongoDB at {self.name} dropped the connection twice: {exc}") from exc
                except errors.OperationFailure as exc:
                    if exc.code == AUTH_FAILED:
                        raise SinkError(f"MongoDB refused our credentials ({exc}); put user and password in the URL "
                                        "(mongodb://user:pass@host/db?authSource=admin)", retry=False) from exc
                    raise SinkError(f"MongoDB answered an error: {exc}") from exc
                except errors.ConfigurationError as exc:
                    raise SinkError(f"mongodb sink {self.name}: {exc}", retry=False) from exc
                except errors.PyMongoError as exc:
                    raise SinkError(f"MongoDB error: {type(exc).__name__}: {exc}") from exc

    def _count_bulk(self, details: Mapping[str, Any], sent: int) -> None:
        """A duplicate key is a record already stored: success. Other write errors cannot pass on retry."""
        write_errors = details.get("writeErrors") or []
        dups = sum(1 for e in write_errors if e.get("code") == DUPLICATE_KEY)
        others = [e for e in write_errors if e.get("code") != DUPLICATE_KEY]
        self.counts["inserted"] += int(details.get("nInserted", sent - len(write_errors)))
        self.counts["duplicates"] += dups
        if others:
            self.counts["rejected"] += len(others)
            if self.counts["rejected"] == len(others):
                logger.warning("pystrument: mongodb sink %s: %d record(s) could not be stored, e.g. code %s: %s",
                               self.name, len(others), others[0].get("code"), others[0].get("errmsg"))

    def close(self) -> None:
        self._client.close()

    def stats(self) -> dict[str, Any]:
        return dict(self.counts)
