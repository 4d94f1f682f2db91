"""The store interface every server store implements, and the shapes it hands back.

Stores keep projects, records (deduplicated by ``record_id``), analyses and the roll-ups of
``rollup.py``; every statistic is computed from the roll-ups in ``stats.py``, the same way for
every store. Methods are synchronous (the app calls them in a thread pool); a store raises
``StoreError`` when its database fails (answered as code 10005).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pystrument.core.record import Record


class StoreError(Exception):
    """The database failed (unreachable, locked, corrupt): code 10005."""


class DuplicateName(Exception):
    """A project with this name exists (code 20002)."""


@dataclass
class Filters:
    endpoint: str | None = None
    version: str | None = None
    environment: str | None = None
    since: float | None = None  # epoch seconds
    until: float | None = None
    min_duration: float | None = None
    status: str | None = None  # "error", "ok", "5xx", "404", ...


@dataclass
class BucketRow:
    endpoint: str
    method: str
    version: str
    environment: str
    hour: int  # epoch seconds; -1 in all-time rows
    count: int
    errors: int
    sum_ms: float
    max_ms: float
    hist: np.ndarray


@dataclass
class FunctionRow:
    fkey: str
    self_ms: float
    requests: int
    is_app: bool
    hist: np.ndarray


@dataclass
class InsertResult:
    accepted: list[str]
    duplicates: list[str]


class Store(Protocol):
    name: str  # "sqlite", "mongodb"

    # projects: dicts with id, name, description, project_key, created_at, settings, record_count, last_seen_at
    def create_project(self, project: dict[str, Any]) -> dict[str, Any]: ...
    def list_projects(self) -> list[dict[str, Any]]: ...
    def get_project(self, project_id: str) -> dict[str, Any] | None: ...
    def get_project_by_name(self, name: str) -> dict[str, Any] | None: ...
    def get_project_by_key(self, key: str) -> dict[str, Any] | None: ...
    def update_project(self, project_id: str, fields: dict[str, Any]) -> dict[str, Any] | None: ...
    def delete_project(self, project_id: str) -> bool: ...

    # records
    def insert_records(self, project_id: str, records: list[Record]) -> InsertResult: ...
    def query_records(self, project_id: str, filters: Filters, page: int, page_size: int, sort: str) -> tuple[list[dict[str, Any]], int]: ...
    def get_record(self, record_id: str) -> tuple[str, Record] | None: ...
    def sample_records(self, project_id: str, filters: Filters, limit: int, with_tree: bool = True) -> Iterator[Record]: ...
    def durations(self, project_id: str, filters: Filters, limit: int) -> dict[str, list[float]]: ...
    def versions(self, project_id: str) -> list[dict[str, Any]]: ...
    def delete_version(self, project_id: str, version: str) -> int: ...
    def purge_before(self, project_id: str, cutoff: dt.datetime) -> int: ...

    # roll-ups
    def bucket_rows(self, project_id: str, filters: Filters, hourly: bool) -> list[BucketRow]: ...
    def function_rows(self, project_id: str, endpoint: str | None, version: str | None) -> list[FunctionRow]: ...

    # analyses: dicts in the API's analysis shape
    def save_analysis(self, analysis: dict[str, Any]) -> None: ...
    def get_analysis(self, analysis_id: str) -> dict[str, Any] | None: ...
    def list_analyses(self, record_id: str) -> list[dict[str, Any]]: ...

    def ping(self) -> None: ...
    def close(self) -> None: ...


def status_matches(status: str | None) -> tuple[str, Any] | None:
    """Parse the ``status`` filter: ("error"|"ok", None), ("class", 5) for 5xx, ("code", 404)."""
    if not status:
        return None
    s = status.strip().lower()
    if s in ("error", "errors", "failed"):
        return ("error", None)
    if s in ("ok", "success"):
        return ("ok", None)
    if len(s) == 3 and s[0].isdigit() and s[1:] == "xx":
        return ("class", int(s[0]))
    if s.isdigit():
        return ("code", int(s))
    raise ValueError(f"status={status!r}: use error, ok, a status code like 404 or a class like 5xx")
