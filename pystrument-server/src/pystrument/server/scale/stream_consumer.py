"""The consumer of the Redis sink's stream: records into the store, at least once, exactly once in the store.

Every worker is one consumer of one consumer group (``<prefix>store``) on the sink's stream. A batch is
read with ``XREADGROUP``, inserted (the store deduplicates by ``record_id``), then acknowledged with
``XACK``; a worker that dies between read and ack leaves its entries pending, and another worker takes
them over with ``XAUTOCLAIM`` once they have been idle ``stream_claim_idle_s``. A redelivered record
the store already holds counts as a duplicate: nothing is lost, nothing is stored twice.

Entries that can never be stored (not a record, unknown project key) are acknowledged and copied to
``<prefix>stream:rejected`` with the reason, so one bad entry never blocks the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pystrument.core.contract import STREAM_RECORD_FIELD
from pystrument.server.ingest.decode import decode_one
from pystrument.server.ingest.service import IngestService
from pystrument.server.scale.connection import key as rkey

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

logger = logging.getLogger("pystrument.server.scale")
REJECTED_MAXLEN = 10_000
PROJECT_TTL_S = 30.0


@dataclass
class Counts:
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    claimed: int = 0
    last_error: str = ""
    extra: dict[str, int] = field(default_factory=dict)


class StreamConsumer:
    def __init__(self, conn: Any, store: Any, settings: ServerSettings, name: str, auto: Any = None) -> None:
        self.conn = conn
        self.store = store
        # the ingest service, as on the HTTP path: the cardinality limits, the store, the automatic analysis
        self.ingest = IngestService(store, settings, auto=auto)
        self.settings = settings
        self.name = name
        self.stream = settings.redis_stream
        self.group = rkey(settings, "store")
        self.rejected_stream = rkey(settings, "stream", "rejected")
        self.counts = Counts()
        self._projects: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._claim_from = "0-0"
        self._next_claim = 0.0
        self._own_pending = True  # after a restart under the same name, or a failed batch

    def ensure_group(self) -> None:
        import redis

        try:
            self.conn.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _project(self, key: str) -> dict[str, Any] | None:
        now = time.monotonic()
        hit = self._projects.get(key)
        if hit is None or now - hit[0] > PROJECT_TTL_S:
            hit = (now, self.store.get_project_by_key(key) if key else None)
            self._projects[key] = hit
        return hit[1]

    def claim_stale(self) -> list[tuple[bytes, Any]]:
        """Entries another (dead) consumer read and never acknowledged."""
        idle_ms = int(self.settings.stream_claim_idle_s * 1000)
        entries: list[tuple[bytes, Any]]
        nxt, entries, _deleted = self.conn.xautoclaim(self.stream, self.group, self.name, idle_ms, start_id=self._claim_from,
                                                     count=self.settings.stream_batch)
        self._claim_from = nxt if entries else "0-0"
        self.counts.claimed += len(entries)
        return entries

    def forget_dead(self) -> list[str]:
        """Remove consumers that hold nothing and have been idle 10 claim periods (workers that died and
        whose entries were claimed). Harmless to a live one: its next XREADGROUP recreates it."""
        gone = []
        limit_ms = self.settings.stream_claim_idle_s * 10_000
        for consumer in self.conn.xinfo_consumers(self.stream, self.group):
            name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
            if name != self.name and consumer["pending"] == 0 and consumer["idle"] > limit_ms:
                self.conn.xgroup_delconsumer(self.stream, self.group, name)
                gone.append(name)
        return gone

    def read(self, block_ms: int | None) -> list[tuple[bytes, Any]]:
        if self._own_pending:
            own = self.conn.xreadgroup(self.group, self.name, {self.stream: "0"}, count=self.settings.stream_batch)  # ours, unacked
            if own and own[0][1]:
                mine: list[tuple[bytes, Any]] = own[0][1]
                return mine

            self._own_pending = False
        got = self.conn.xreadgroup(self.group, self.name, {self.stream: ">"}, count=self.settings.stream_batch, block=block_ms)
        return got[0][1] if got else []

    def process(self, entries: list[tuple[bytes, Any]]) -> int:
        """Insert a batch into the store, then acknowledge it. Returns the number of entries handled."""
        if not entries:
            return 0
        by_project: dict[str, list[Any]] = {}
        projects: dict[str, dict[str, Any]] = {}
        rejects: list[tuple[bytes, bytes, str]] = []
        origin: dict[int, tuple[bytes, bytes]] = {}  # id(record) -> (entry id, raw entry), for the refused ones
        for entry_id, fields in entries:
            raw = (fields or {}).get(STREAM_RECORD_FIELD.encode())
            if raw is None:  # trimmed by MAXLEN before we got it, or not written by the sink
                rejects.append((entry_id, b"", "the entry has no 'record' field (trimmed by the stream's MAXLEN, or not written by the Redis sink)"))
                continue
            record, problem = decode_one(raw, "record")
            if record is None:
                rejects.append((entry_id, raw, problem or "not a record"))
                continue
            project = self._project(record.project_key)
            if project is None:
                rejects.append((entry_id, raw, f"record {record.record_id}: project key {record.project_key!r} is not a project's key"))
                continue
            by_project.setdefault(project["id"], []).append(record)
            origin[id(record)] = (entry_id, raw)
            projects[project["id"]] = project
        for project_id, records in by_project.items():
            stored = self.ingest.store_records(projects[project_id], records, [f"record {r.record_id}" for r in records])
            for k, reason in stored.refused.items():
                rejects.append((*origin[id(records[k])], reason))
            self.counts.accepted += len(stored.accepted)
            self.counts.duplicates += stored.duplicates
        pipe = self.conn.pipeline(transaction=False)
        for entry_id, raw, reason in rejects:
            pipe.xadd(self.rejected_stream, {"record": raw, "reason": reason, "entry_id": entry_id}, maxlen=REJECTED_MAXLEN, approximate=True)
        pipe.xack(self.stream, self.group, *[e[0] for e in entries])
        pipe.execute()
        if rejects:
            self.counts.rejected += len(rejects)
            logger.warning("pystrument-server: %d stream entr(ies) rejected (see %s); first: %s", len(rejects), self.rejected_stream, rejects[0][2])
        self.counts.batches += 1
        return len(entries)

    def step(self, block_ms: int | None = 1000) -> int:
        """One batch: stale entries first, else our own pending ones, else new ones (blocking up to ``block_ms``)."""
        entries: list[tuple[bytes, Any]] = []
        now = time.monotonic()
        if now >= self._next_claim:
            entries = self.claim_stale()
            if not entries:
                self._next_claim = now + min(5.0, self.settings.stream_claim_idle_s / 2)
                self.forget_dead()
        entries = entries or self.read(block_ms)
        try:
            return self.process(entries)
        except Exception:
            self._own_pending = True  # the batch stays pending under our name: read it again first
            raise

    def drain(self) -> int:
        """Everything available now (``--burst``)."""
        total = 0
        while True:
            n = self.step(block_ms=None)
            if n == 0:
                return total
            total += n

    def run(self, stop: threading.Event) -> None:
        self.ensure_group()
        logger.info("pystrument-server: consumer %s reading stream %s (group %s)", self.name, self.stream, self.group)
        while not stop.is_set():
            try:
                self.step(block_ms=500)
            except Exception as exc:  # Redis or the store away: keep the entries pending, retry shortly
                self.counts.last_error = f"{type(exc).__name__}: {exc}"
                logger.error("pystrument-server: stream consumer %s: %s (retrying in 1s; the batch stays pending)", self.name, self.counts.last_error)
                stop.wait(1.0)
