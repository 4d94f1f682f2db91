"""The SQLite store's advice index (advice_index.py): table ``advice_index``, made on first use."""

from __future__ import annotations

import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS advice_index (
    analysis_id TEXT PRIMARY KEY, project_id TEXT NOT NULL, endpoint TEXT NOT NULL, version TEXT NOT NULL,
    created_at TEXT NOT NULL, checked_against TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS advice_index_project ON advice_index (project_id, created_at);
"""


class SQLiteAdvice:
    def __init__(self, store: Any) -> None:
        self.store = store

        def create(c: sqlite3.Connection) -> None:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)

        store._write(create)

    def track(self, project_id: str, analysis_id: str, endpoint: str, version: str, created_at: str) -> None:
        self.store._write(lambda c: c.execute(
            "INSERT OR REPLACE INTO advice_index (analysis_id, project_id, endpoint, version, created_at, checked_against) "
            "VALUES (?,?,?,?,?,'')", (analysis_id, project_id, endpoint, version, created_at)))

    def rows(self, project_id: str, limit: int = 500) -> list[dict[str, Any]]:
        rows = self.store._read("SELECT analysis_id, endpoint, version, checked_against FROM advice_index WHERE project_id = ? "
                                "ORDER BY created_at DESC LIMIT ?", (project_id, limit))
        return [{"analysis_id": a, "endpoint": e, "version": v, "checked_against": c} for a, e, v, c in rows]

    def mark(self, analysis_id: str, checked_against: str) -> None:
        self.store._write(lambda c: c.execute("UPDATE advice_index SET checked_against = ? WHERE analysis_id = ?", (checked_against, analysis_id)))

    def forget(self, analysis_id: str) -> None:
        self.store._write(lambda c: c.execute("DELETE FROM advice_index WHERE analysis_id = ?", (analysis_id,)))
