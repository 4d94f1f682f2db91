"""The SQLite store's continuous aggregates (continuous.py): one row per (project, endpoint, version, environment,
hour) in ``aggregates`` and the absorbed ids in ``aggregate_ids`` (a duplicate ``record_id`` is absorbed once)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from pystrument.core.record import Record
from pystrument.server.stats import continuous
from pystrument.server.stores.base import Filters, InsertResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS aggregates (
    project_id TEXT NOT NULL, endpoint TEXT NOT NULL, version TEXT NOT NULL, environment TEXT NOT NULL,
    hour INTEGER NOT NULL, stats BLOB NOT NULL, tree_z BLOB,
    PRIMARY KEY (project_id, hour, endpoint, version, environment)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aggregate_ids (
    project_id TEXT NOT NULL, record_id TEXT NOT NULL, hour INTEGER NOT NULL, PRIMARY KEY (project_id, record_id)
) WITHOUT ROWID;
"""
TABLES = ("aggregates", "aggregate_ids")


def insert(c: sqlite3.Connection, project_id: str, records: list[Record], settings: Any) -> InsertResult:
    """In the caller's transaction: the new aggregates absorbed into their hours' rows."""
    fresh: list[Record] = []
    duplicates: list[str] = []
    for r in records:
        added = c.execute("INSERT OR IGNORE INTO aggregate_ids VALUES (?,?,?)", (project_id, r.record_id, continuous.hour_of(r))).rowcount
        if added:
            fresh.append(r)
        else:
            duplicates.append(r.record_id)
    for key, items in continuous.group(fresh).items():
        endpoint, version, environment, hour = key
        old = c.execute("SELECT stats, tree_z FROM aggregates WHERE project_id=? AND hour=? AND endpoint=? AND version=? AND environment=?",
                        (project_id, hour, endpoint, version, environment)).fetchone()
        stats, tree = continuous.absorb(key, continuous.decode_stats(old[0]) if old else None, old[1] if old else None, items, settings)
        c.execute("INSERT OR REPLACE INTO aggregates VALUES (?,?,?,?,?,?,?)",
                  (project_id, endpoint, version, environment, hour, continuous.encode_stats(stats), tree))
    return InsertResult([r.record_id for r in fresh], duplicates)


def where(project_id: str, filters: Filters) -> tuple[str, list[Any]]:
    sql = ["project_id = ?"]
    args: list[Any] = [project_id]
    for column, value in (("endpoint", filters.endpoint), ("version", filters.version), ("environment", filters.environment)):
        if value is not None:
            sql.append(f"{column} = ?")
            args.append(value)
    if filters.since is not None:  # the hours that overlap the range
        sql.append("hour > ?")
        args.append(filters.since - 3600)
    if filters.until is not None:
        sql.append("hour <= ?")
        args.append(filters.until)
    return " AND ".join(sql), args


def rows(c: sqlite3.Connection, project_id: str, filters: Filters, with_tree: bool) -> Iterator[tuple[continuous.HourStats, bytes | None]]:
    """The rows of the filters, streamed (one row decoded at a time)."""
    clause, args = where(project_id, filters)
    for stats, tree in c.execute(f"SELECT stats, {'tree_z' if with_tree else 'NULL'} FROM aggregates WHERE {clause}", args):
        yield continuous.decode_stats(stats), tree


def delete(c: sqlite3.Connection, project_id: str, version: str | None = None, before_hour: int | None = None) -> None:
    """A project's aggregates (of one version / of the hours before ``before_hour`` only, when given)."""
    if version is not None:
        c.execute("DELETE FROM aggregates WHERE project_id = ? AND version = ?", (project_id, version))
    elif before_hour is not None:
        c.execute("DELETE FROM aggregates WHERE project_id = ? AND hour < ?", (project_id, before_hour))
        c.execute("DELETE FROM aggregate_ids WHERE project_id = ? AND hour < ?", (project_id, before_hour))
    else:
        for table in TABLES:
            c.execute(f"DELETE FROM {table} WHERE project_id = ?", (project_id,))
