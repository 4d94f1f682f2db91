"""The SQLite store's budget breaches (budgets.py): table ``budget_breaches``, one row per (project, version, endpoint,
budget, metric, function) holding the breach as JSON. Created on first use, beside the store's own tables."""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

from pystrument.server.stores.base import StoreError

SCHEMA = """CREATE TABLE IF NOT EXISTS budget_breaches (
    project_id TEXT NOT NULL, version TEXT NOT NULL, endpoint TEXT NOT NULL, budget TEXT NOT NULL, metric TEXT NOT NULL,
    function TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (project_id, version, endpoint, budget, metric, function)
) WITHOUT ROWID"""


class SQLiteBreaches:
    def __init__(self, store: Any) -> None:
        self.store = store
        self._made = False
        self._lock = threading.Lock()

    def _schema(self) -> None:
        with self._lock:
            if not self._made:
                self.store._write(lambda c: c.execute(SCHEMA))
                self._made = True

    def replace(self, project_id: str, versions: list[str] | None, breaches: list[dict[str, Any]]) -> None:
        """The project's breaches of ``versions`` (None: of every version) become ``breaches``, in one transaction."""
        self._schema()

        def run(c: sqlite3.Connection) -> None:
            if versions is None:
                c.execute("DELETE FROM budget_breaches WHERE project_id = ?", (project_id,))
            else:
                c.executemany("DELETE FROM budget_breaches WHERE project_id = ? AND version = ?", [(project_id, v) for v in versions])
            c.executemany("INSERT OR REPLACE INTO budget_breaches VALUES (?,?,?,?,?,?,?)",
                          [(project_id, b["version"], b["endpoint"], b["budget"], b["metric"], b.get("function") or "", json.dumps(b))
                           for b in breaches])

        self.store._write(run)

    def project_ids(self) -> set[str]:
        self._schema()
        return {pid for (pid,) in self.store._read("SELECT DISTINCT project_id FROM budget_breaches")}

    def list(self, project_id: str, version: str | None = None, endpoint: str | None = None) -> list[dict[str, Any]]:
        self._schema()
        sql, args = "SELECT doc FROM budget_breaches WHERE project_id = ?", [project_id]
        for column, value in (("version", version), ("endpoint", endpoint)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        try:
            return [json.loads(doc) for (doc,) in self.store._read(sql + " ORDER BY endpoint, version, budget, metric, function", args)]
        except sqlite3.Error as exc:  # pragma: no cover - _read raises StoreError already
            raise StoreError(f"SQLite read failed: {exc}") from exc
