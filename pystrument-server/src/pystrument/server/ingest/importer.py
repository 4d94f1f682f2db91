"""``pystrument-server import``: load the file sink's JSON Lines (plain or gzip) into the store."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pystrument.core.record import Record
from pystrument.server.ingest.decode import decode_one
from pystrument.server.ingest.service import IngestService
from pystrument.server.stores.base import Store


@dataclass
class ImportSummary:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)  # the first few, with file and line


def _lines(path: Path) -> Iterator[tuple[int, bytes, int]]:
    """(line number, line, bytes read so far in the file as stored)."""
    raw = path.open("rb")
    with raw:
        stream: Any = gzip.GzipFile(fileobj=raw) if raw.read(2) == b"\x1f\x8b" else raw
        raw.seek(0)
        for n, line in enumerate(stream, 1):
            yield n, line, raw.tell()


def import_files(store: Store, paths: list[Path], project: dict[str, Any] | None, *, batch: int = 500,
                 progress: Callable[[int], None] | None = None, max_errors: int = 20, settings: Any = None) -> ImportSummary:
    """Import records; ``project`` given: every record goes there, else by each record's ``project_key``.
    ``settings`` (ServerSettings): the cardinality limits of ingest apply (the ingest service's, as on every way in)."""
    summary = ImportSummary()
    keys: dict[str, dict[str, Any] | None] = {}
    pending: dict[str, list[Record]] = {}
    projects: dict[str, dict[str, Any]] = {}
    where_of: dict[int, str] = {}  # id(record) -> file:line, for the records the limits refuse
    service = IngestService(store, settings)  # settings None: no cardinality limits

    def reject(where: str, why: str) -> None:
        summary.rejected += 1
        if len(summary.errors) < max_errors:
            summary.errors.append(f"{where}: {why}")

    def flush(project_id: str) -> None:
        records = pending.pop(project_id, [])
        wheres = [where_of.pop(id(r)) for r in records]
        if not records:
            return
        stored = service.store_records(projects[project_id], records, wheres)
        for k, message in stored.refused.items():  # message: "<file:line>.name: endpoint ... is new ..."
            reject(wheres[k], message[len(wheres[k]) + 1:])
        summary.accepted += len(stored.accepted)
        summary.duplicates += stored.duplicates

    for path in paths:
        last = 0
        for n, line, pos in _lines(path):
            if progress is not None and pos != last:
                progress(pos - last)
                last = pos
            if not line.strip():
                continue
            record, problem = decode_one(line, "")
            where = f"{path}:{n}"
            if record is None:
                reject(where, (problem or "").lstrip("."))
                continue
            target = project
            if target is None:
                if record.project_key not in keys:
                    keys[record.project_key] = store.get_project_by_key(record.project_key) if record.project_key else None
                target = keys[record.project_key]
                if target is None:
                    reject(where, "project_key is missing or unknown: pass --project NAME to import into one project")
                    continue
            projects[target["id"]] = target
            pending.setdefault(target["id"], []).append(record)
            where_of[id(record)] = where
            if len(pending[target["id"]]) >= batch:
                flush(target["id"])
        for project_id in list(pending):
            flush(project_id)
    return summary
