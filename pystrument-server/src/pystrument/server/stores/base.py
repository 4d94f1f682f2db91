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


class AmbiguousRecord(Exception):
    """A ``record_id`` is unique per project only: asked without a project, it is held by several."""

    def __init__(self, record_id: str, project_ids: list[str]) -> None:
        super().__init__(f"record {record_id!r} exists in {len(project_ids)} projects")
        self.record_id = record_id
        self.project_ids = project_ids


@dataclass
class Filters:
    endpoint: str | None = None
    version: str | None = None
    environment: str | None = None
    since: float | None = None  # epoch seconds
    until: float | None = None
    min_duration: float | None = None
    status: str | None = None  # "error", "ok", "5xx", "404", ...


class BucketTable:
    """Roll-up rows in columns (what statistics need, vectorised): one entry per row in the row columns,
    and the rows' sparse histograms as three flat arrays (row index, bin, count)."""

    def __init__(self, endpoint: list[str], method: list[str], version: list[str], environment: list[str], hour: list[int],
                 count: list[int], errors: list[int], sum_ms: list[float], max_ms: list[float],
                 entry_row: np.ndarray, entry_bin: np.ndarray, entry_n: np.ndarray) -> None:
        self.endpoint = np.array(endpoint, dtype=object)
        self.method = np.array(method, dtype=object)
        self.version = np.array(version, dtype=object)
        self.environment = np.array(environment, dtype=object)
        self.hour = np.asarray(hour, dtype=np.int64)
        self.count = np.asarray(count, dtype=np.int64)
        self.errors = np.asarray(errors, dtype=np.int64)
        self.sum_ms = np.asarray(sum_ms, dtype=float)
        self.max_ms = np.asarray(max_ms, dtype=float)
        self.entry_row = entry_row.astype(np.int64)
        self.entry_bin = entry_bin.astype(np.int64)
        self.entry_n = entry_n.astype(np.int64)

    def __len__(self) -> int:
        return len(self.hour)

    @classmethod
    def concat(cls, tables: list[BucketTable]) -> BucketTable:
        offsets = np.cumsum([0] + [len(t) for t in tables[:-1]])
        out = cls.__new__(cls)
        for name in ("endpoint", "method", "version", "environment", "hour", "count", "errors", "sum_ms", "max_ms", "entry_bin", "entry_n"):
            setattr(out, name, np.concatenate([getattr(t, name) for t in tables]))
        out.entry_row = np.concatenate([t.entry_row + off for t, off in zip(tables, offsets, strict=True)]).astype(np.int64)
        return out

    def histograms(self, group: np.ndarray, n_groups: int, bins: int) -> np.ndarray:
        """Histograms summed per group (``group[i]`` is row i's group): an ``n_groups x bins`` array."""
        if n_groups == 0:
            return np.zeros((0, bins), dtype=np.int64)
        flat = np.bincount(group[self.entry_row] * bins + self.entry_bin, weights=self.entry_n, minlength=n_groups * bins)
        out: np.ndarray = flat.reshape(n_groups, bins).round().astype(np.int64)
        return out


@dataclass
class FunctionRow:
    fkey: str
    self_ms: float
    requests: int
    is_app: bool
    hist: np.ndarray


@dataclass
class FunctionPage:
    """One page of a project's functions, heaviest total self time first, summed over endpoints and versions
    by the database (only the page's rows reach Python): ``rows`` (their histograms summed too), the number of
    distinct functions and the self time summed over all of them."""

    rows: list[FunctionRow]
    total: int
    total_self_ms: float


@dataclass
class AnalysisQuery:
    """Which of a project's analyses to list (newest first): filters and the page."""

    endpoint: str | None = None
    version: str | None = None
    triggers: tuple[str, ...] = ()  # empty: every trigger
    page: int = 1
    page_size: int = 50


TRIGGERS = ("manual", "slow_record", "regression", "budget")


def analysis_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """An analysis in the API's shape, also when it was stored before these fields existed."""
    for name, value in (("trigger", "manual"), ("endpoint", None), ("version", None), ("severity", None), ("regression", None)):
        doc.setdefault(name, value)
    return doc


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
    # a record_id is unique per project; without project_id: the one project holding it, AmbiguousRecord if several
    def get_record(self, record_id: str, project_id: str | None = None) -> tuple[str, Record] | None: ...
    def sample_records(self, project_id: str, filters: Filters, limit: int, with_tree: bool = True) -> Iterator[Record]: ...
    def stream_records(self, project_id: str, filters: Filters, limit: int) -> Iterator[Record]: ...  # optional: sample_records with trees, streamed
    def durations(self, project_id: str, filters: Filters, limit: int) -> dict[str, list[float]]: ...
    def versions(self, project_id: str) -> list[dict[str, Any]]: ...
    def delete_version(self, project_id: str, version: str) -> int: ...
    def purge_before(self, project_id: str, cutoff: dt.datetime) -> int: ...

    # roll-ups
    def bucket_table(self, project_id: str, filters: Filters, resolution: int = 3600, keys: bool = True) -> BucketTable: ...
    def endpoint_tables(self, project_id: str, filters: Filters, rows: int = 50_000) -> Iterator[BucketTable]: ...
    def function_page(self, project_id: str, endpoint: str | None, version: str | None, offset: int, limit: int) -> FunctionPage: ...
    def distinct_names(self, project_id: str, kind: str) -> list[str]: ...  # kind: "endpoint" or "version", from the roll-ups

    # analyses: dicts in the API's analysis shape
    def save_analysis(self, analysis: dict[str, Any]) -> None: ...
    def get_analysis(self, analysis_id: str) -> dict[str, Any] | None: ...
    def list_analyses(self, record_id: str, project_id: str | None = None) -> list[dict[str, Any]]: ...
    def list_project_analyses(self, project_id: str, query: AnalysisQuery) -> tuple[list[dict[str, Any]], int]: ...

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
