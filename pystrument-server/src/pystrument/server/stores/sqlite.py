"""The embedded default store: SQLite in WAL mode in a data folder, no service to install.

Connections are per thread (WAL lets readers run beside the one writer); writes are serialised by a
lock. Ingest commits in groups (``insert_records``): the batches that queued up while the lock was held
are written in one transaction: records (``INSERT`` after a lookup of the ids the project already has, so
duplicates are reported per record; a ``record_id`` is unique per project, not across projects) and the roll-ups of ``rollup.py`` summed over the group (read-modify-write of the
histogram blobs, stored as packed (bin, count) entries).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import numpy as np
from pystrument.core import hookimpl
from pystrument.core.documents import decode_tree
from pystrument.core.record import Record
from pystrument.server.stats import continuous, histogram, rollup
from pystrument.server.stores import sqlite_continuous
from pystrument.server.stores.base import (
    AmbiguousRecord,
    AnalysisQuery,
    BucketTable,
    DuplicateName,
    Filters,
    FunctionPage,
    FunctionRow,
    InsertResult,
    StoreError,
    analysis_defaults,
    status_matches,
)

T = TypeVar("T")
Row = tuple[Any, ...]  # a row as sqlite3 returns it

_enc = msgspec.json.Encoder()
_dec_record = msgspec.json.Decoder(Record)


def encode_tree(tree: Any) -> bytes | None:
    """The call tree as zlib-compressed JSON (the shape of pystrument.core.documents, at a faster level)."""
    return None if tree is None else zlib.compress(_enc.encode(tree), 1)

# roll-up tables of one shape: hourly per endpoint, daily per endpoint, hourly per project (no endpoint key)
BUCKET_TABLES = ("buckets", "buckets_day", "buckets_project")
_BUCKET_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    project_id TEXT NOT NULL, endpoint TEXT NOT NULL, method TEXT NOT NULL, version TEXT NOT NULL,
    environment TEXT NOT NULL, hour INTEGER NOT NULL, count INTEGER NOT NULL, errors INTEGER NOT NULL,
    sum_ms REAL NOT NULL, max_ms REAL NOT NULL, hist BLOB NOT NULL,
    PRIMARY KEY (project_id, hour, endpoint, method, version, environment)
) WITHOUT ROWID;
"""

# a record_id is unique per project (until 0.1 it was the records table's PRIMARY KEY, unique across projects:
# one project could then claim, or probe for, another's ids); _migrate rebuilds such a table once
RECORDS = """CREATE TABLE IF NOT EXISTS records (
    record_id TEXT NOT NULL, project_id TEXT NOT NULL, name TEXT NOT NULL, method TEXT,
    status_code INTEGER, started_at REAL NOT NULL, duration_ms REAL NOT NULL, version TEXT NOT NULL,
    environment TEXT NOT NULL, is_error INTEGER NOT NULL, summary BLOB NOT NULL, tree_z BLOB, source BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS records_project_record ON records (project_id, record_id);
CREATE INDEX IF NOT EXISTS records_project_time ON records (project_id, started_at);
CREATE INDEX IF NOT EXISTS records_project_name ON records (project_id, name, version, started_at);
CREATE INDEX IF NOT EXISTS records_project_version ON records (project_id, version, environment, started_at);
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL DEFAULT '',
    project_key TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, settings TEXT NOT NULL DEFAULT '{}',
    record_count INTEGER NOT NULL DEFAULT 0, last_seen_at TEXT
);
{records}{bucket_tables}CREATE TABLE IF NOT EXISTS functions (
    project_id TEXT NOT NULL, endpoint TEXT NOT NULL, version TEXT NOT NULL, fkey TEXT NOT NULL,
    self_ms REAL NOT NULL, requests INTEGER NOT NULL, is_app INTEGER NOT NULL, hist BLOB NOT NULL,
    PRIMARY KEY (project_id, endpoint, version, fkey)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS analyses (
    id TEXT PRIMARY KEY, record_id TEXT NOT NULL, project_id TEXT NOT NULL, created_at TEXT NOT NULL, doc TEXT NOT NULL,
    endpoint TEXT, version TEXT, trigger TEXT NOT NULL DEFAULT 'manual'
);
CREATE INDEX IF NOT EXISTS analyses_record ON analyses (record_id, created_at);
""".replace("{records}", RECORDS).replace("{bucket_tables}", "".join(_BUCKET_TABLE.format(table=t) for t in BUCKET_TABLES))
# analyses listed per project and endpoint (added after the first release: older files get the columns first)
ANALYSES_V2 = (
    ("endpoint", "ALTER TABLE analyses ADD COLUMN endpoint TEXT"),
    ("version", "ALTER TABLE analyses ADD COLUMN version TEXT"),
    ("trigger", "ALTER TABLE analyses ADD COLUMN trigger TEXT NOT NULL DEFAULT 'manual'"),
)
ANALYSES_V2_INDEXES = """
CREATE INDEX IF NOT EXISTS analyses_project ON analyses (project_id, created_at);
CREATE INDEX IF NOT EXISTS analyses_project_endpoint ON analyses (project_id, endpoint, created_at);
"""

PROJECT_COLUMNS = ("id", "name", "description", "project_key", "created_at", "settings", "record_count", "last_seen_at")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _ts(value: dt.datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).timestamp()


@dataclass
class _Pending:
    """A batch waiting to be written, with its rows and roll-ups ready; ``result`` or ``error`` once written."""
    project_id: str
    records: list[Record]
    rows: list[Row]
    increments: rollup.Increments
    result: InsertResult | None = None
    error: BaseException | None = None


def unusable_path(path: Path, exc: BaseException) -> str:
    """One line for a SQLite file that cannot be made or opened: what is wrong, and the flags that fix it."""
    where = Path(getattr(exc, "filename", None) or path)
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        reason = f"{where} is a file where a folder is needed"
    elif isinstance(exc, PermissionError):
        reason = f"this user may not write to {where}"
    elif isinstance(exc, FileNotFoundError):
        reason = f"{where} does not exist and cannot be made"
    elif path.is_dir():
        reason = f"{path} is a folder, not a database file"
    else:
        reason = f"{exc} ({path})"
    return (f"cannot use the SQLite store {path}: {reason}. Choose a writable folder with --data-dir DIR (or "
            "PYSTRUMENT_SERVER_DATA_DIR), or a file with --store sqlite:///path/to/pystrument.db")


class SQLiteStore:
    name = "sqlite"

    def __init__(self, url: str, settings: Any = None) -> None:
        if not url.startswith("sqlite:///"):
            raise StoreError(f"store URL {url!r}: use sqlite:///relative/path.db or sqlite:////absolute/path.db")
        path = url[len("sqlite:///"):]
        if not path:
            raise StoreError(f"store URL {url!r} has no file path: use sqlite:///path/to/pystrument.db")
        self.settings = settings
        self.path = Path(path if path == ":memory:" else Path(path).expanduser())
        if str(self.path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(unusable_path(self.path, exc)) from None
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._pending: list[_Pending] = []  # batches waiting for the write lock (insert_records)
        self._pending_lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        try:
            with self._write_lock:
                self._conn().executescript(SCHEMA + sqlite_continuous.SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(unusable_path(self.path, exc)) from None
        self._write(self._migrate)

    @staticmethod
    def _migrate(c: sqlite3.Connection) -> None:
        SQLiteStore._migrate_records(c)
        have = {row[1] for row in c.execute("PRAGMA table_info(analyses)")}
        missing = [sql for column, sql in ANALYSES_V2 if column not in have]
        for sql in missing:
            c.execute(sql)
        if missing:  # older analyses: their endpoint and version from their record
            c.execute("UPDATE analyses SET endpoint = (SELECT name FROM records WHERE records.record_id = analyses.record_id), "
                      "version = (SELECT version FROM records WHERE records.record_id = analyses.record_id) WHERE endpoint IS NULL")
        for sql in ANALYSES_V2_INDEXES.strip().splitlines():
            c.execute(sql)

    @staticmethod
    def _migrate_records(c: sqlite3.Connection) -> None:
        """A records table of before 0.2 has ``record_id`` as its PRIMARY KEY (unique across projects). A primary
        key cannot be dropped in SQLite, so the table is rebuilt once, in this transaction: renamed, created
        again (``record_id`` unique per project: index ``records_project_record``), its rows copied, the old
        table and its indexes dropped, the indexes made again. The rows are kept as they are."""
        if not any(col[1] == "record_id" and col[5] for col in c.execute("PRAGMA table_info(records)")):
            return
        c.execute("ALTER TABLE records RENAME TO records_before_0_2")
        for statement in RECORDS.split(";"):
            if statement.strip().startswith("CREATE TABLE"):
                c.execute(statement)
        c.execute("INSERT INTO records SELECT * FROM records_before_0_2")
        c.execute("DROP TABLE records_before_0_2")
        for statement in RECORDS.split(";"):
            if statement.strip().startswith("CREATE") and "INDEX" in statement:
                c.execute(statement)

    # -- connections --------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=30000")
                conn.execute("PRAGMA cache_size=-65536")
            except sqlite3.Error as exc:
                raise StoreError(unusable_path(self.path, exc)) from exc
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Row]:
        try:
            rows: list[Row] = self._conn().execute(sql, params).fetchall()
            return rows
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._write_lock:
            return self._transaction(fn)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` in one transaction; the caller holds the write lock."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite write failed: {exc}") from exc

    def ping(self) -> None:
        self._read("SELECT 1")

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._conns.clear()
        self._local = threading.local()

    # -- projects -------------------------------------------------------------------------------
    @staticmethod
    def _project(row: Row) -> dict[str, Any]:
        p = dict(zip(PROJECT_COLUMNS, row, strict=True))
        p["settings"] = json.loads(p["settings"] or "{}")
        return p

    def create_project(self, project: dict[str, Any]) -> dict[str, Any]:
        values = [project.get(c) for c in PROJECT_COLUMNS]
        values[PROJECT_COLUMNS.index("settings")] = json.dumps(project.get("settings") or {})
        values[PROJECT_COLUMNS.index("record_count")] = 0
        try:
            self._write(lambda c: c.execute(f"INSERT INTO projects ({','.join(PROJECT_COLUMNS)}) VALUES ({','.join('?' * len(PROJECT_COLUMNS))})", values))
        except sqlite3.IntegrityError as exc:
            raise DuplicateName(project.get("name")) from exc
        return self.get_project(project["id"])  # type: ignore[return-value]

    def list_projects(self) -> list[dict[str, Any]]:
        return [self._project(r) for r in self._read(f"SELECT {','.join(PROJECT_COLUMNS)} FROM projects ORDER BY created_at, name")]

    def _one_project(self, where: str, value: str) -> dict[str, Any] | None:
        rows = self._read(f"SELECT {','.join(PROJECT_COLUMNS)} FROM projects WHERE {where} = ?", (value,))
        return self._project(rows[0]) if rows else None

    def get_project(self, project_id: str) -> dict[str, Any] | None:
        return self._one_project("id", project_id)

    def get_project_by_name(self, name: str) -> dict[str, Any] | None:
        return self._one_project("name", name)

    def get_project_by_key(self, key: str) -> dict[str, Any] | None:
        return self._one_project("project_key", key)

    def update_project(self, project_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        allowed = {k: (json.dumps(v) if k == "settings" else v) for k, v in fields.items() if k in ("name", "description", "project_key", "settings")}
        if allowed:
            sets = ", ".join(f"{k} = ?" for k in allowed)
            try:
                self._write(lambda c: c.execute(f"UPDATE projects SET {sets} WHERE id = ?", [*allowed.values(), project_id]))
            except sqlite3.IntegrityError as exc:
                raise DuplicateName(fields.get("name")) from exc
        return self.get_project(project_id)

    def delete_project(self, project_id: str) -> bool:
        def run(c: sqlite3.Connection) -> bool:
            n = c.execute("DELETE FROM projects WHERE id = ?", (project_id,)).rowcount
            for table in ("records", "buckets", "buckets_day", "buckets_project", "functions", "analyses"):
                c.execute(f"DELETE FROM {table} WHERE project_id = ?", (project_id,))
            sqlite_continuous.delete(c, project_id)
            return n > 0

        return self._write(run)

    # -- records --------------------------------------------------------------------------------
    def insert_records(self, project_id: str, records: list[Record]) -> InsertResult:
        """The records (``_insert_records``) and the continuous aggregates (``insert_aggregates``) of a batch."""
        return continuous.insert(records, lambda rs: self._insert_records(project_id, rs), lambda rs: self.insert_aggregates(project_id, rs))

    def insert_aggregates(self, project_id: str, records: list[Record]) -> InsertResult:
        """Continuous aggregates absorbed into their hours' rows (sqlite_continuous.py), in one transaction."""
        return self._write(lambda c: sqlite_continuous.insert(c, project_id, records, self.settings))

    def aggregate_rows(self, project_id: str, filters: Filters, with_tree: bool) -> Iterator[tuple[continuous.HourStats, bytes | None]]:
        try:
            yield from sqlite_continuous.rows(self._conn(), project_id, filters, with_tree)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc

    def _insert_records(self, project_id: str, records: list[Record]) -> InsertResult:
        """Group commit: the CPU work (rows, roll-ups) is done before the write lock, so that concurrent batches
        do it side by side (zlib lets go of the GIL); the batch then waits in a queue, and whichever thread gets
        the lock writes every queued batch in one transaction, with their roll-ups summed (a function seen in
        four batches is one read-modify-write, not four). Each caller returns once its batch is committed."""
        if not records:
            return InsertResult([], [])
        job = _Pending(project_id, records, [self._row(project_id, r) for r in records], rollup.compute(records))
        with self._pending_lock:
            self._pending.append(job)
        with self._write_lock:
            if job.result is None and job.error is None:  # else a group written meanwhile held it
                with self._pending_lock:
                    group, self._pending = self._pending, []
                self._write_group(group)
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _write_group(self, group: list[_Pending]) -> None:
        """Under the write lock. If the group's transaction fails, each batch is tried alone, so that one
        batch's failure is not its neighbours'."""
        try:
            results = self._transaction(lambda c: self._insert_group(c, group))
        except BaseException as exc:
            if len(group) == 1:
                group[0].error = exc
                return
            for job in group:
                self._write_group([job])
            return
        for job, result in zip(group, results, strict=True):
            job.result = result

    def _insert_group(self, c: sqlite3.Connection, group: list[_Pending]) -> list[InsertResult]:
        # a record_id is unique per project: the duplicates are the (project, record_id) pairs already stored or seen
        ids_by_project: dict[str, list[str]] = {}
        for job in group:
            ids_by_project.setdefault(job.project_id, []).extend(r.record_id for r in job.records)
        existing: set[tuple[str, str]] = set()
        for project_id, ids in ids_by_project.items():
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                existing.update((project_id, row[0]) for row in c.execute(
                    f"SELECT record_id FROM records WHERE project_id = ? AND record_id IN ({','.join('?' * len(chunk))})", (project_id, *chunk)))
        seen: set[tuple[str, str]] = set()
        results: list[InsertResult] = []
        rows: list[Row] = []
        projects: dict[str, tuple[list[rollup.Increments], list[float]]] = {}
        for job in group:
            fresh: list[int] = []
            duplicates: list[str] = []
            for i, r in enumerate(job.records):
                key = (job.project_id, r.record_id)
                if key in existing or key in seen:
                    duplicates.append(r.record_id)
                else:
                    seen.add(key)
                    fresh.append(i)
            results.append(InsertResult([job.records[i].record_id for i in fresh], duplicates))
            if not fresh:
                continue
            rows += [job.rows[i] for i in fresh]
            # the roll-ups were computed assuming no duplicates: redone for the fresh records if some are
            increments, times = projects.setdefault(job.project_id, ([], []))
            increments.append(rollup.compute([job.records[i] for i in fresh]) if duplicates else job.increments)
            times += [job.rows[i][5] for i in fresh]
        c.executemany("INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        for project_id, (increments, times) in projects.items():
            self._apply_rollups(c, project_id, rollup.merged(increments))
            last = _iso(max(times))
            c.execute(
                "UPDATE projects SET record_count = record_count + ?, "
                "last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < ? THEN ? ELSE last_seen_at END WHERE id = ?",
                (len(times), last, last, project_id),
            )
        return results

    @staticmethod
    def _row(project_id: str, r: Record) -> Row:
        summary = _enc.encode(msgspec.structs.replace(r, call_tree=None, source={}))
        return (r.record_id, project_id, r.name, r.method, r.status_code, _ts(r.started_at), r.duration_ms,
                r.app.version, r.app.environment, int(rollup.is_error(r)), summary, encode_tree(r.call_tree),
                _enc.encode(r.source) if r.source else None)

    def _apply_rollups(self, c: sqlite3.Connection, project_id: str, increments: rollup.Increments) -> None:
        buckets, functions = increments
        self._upsert_buckets(c, project_id, "buckets", buckets)
        # coarser copies: per day (for long ranges) and across endpoints per hour (for project-wide trends)
        days: dict[rollup.BucketKey, rollup.Bucket] = {}
        hours: dict[rollup.BucketKey, rollup.Bucket] = {}
        for (endpoint, method, version, env, hour), b in buckets.items():
            for target, key in ((days, (endpoint, method, version, env, (hour // 86400) * 86400)), (hours, ("*", "", version, env, hour))):
                rollup.add_bucket(target.setdefault(key, rollup.Bucket()), b)
        self._upsert_buckets(c, project_id, "buckets_day", days)
        self._upsert_buckets(c, project_id, "buckets_project", hours)
        self._upsert_functions(c, project_id, functions)

    def _upsert_buckets(self, c: sqlite3.Connection, project_id: str, table: str, buckets: dict[rollup.BucketKey, rollup.Bucket]) -> None:
        """One read of the existing rows per hour (or day), then one executemany."""
        by_hour: dict[int, list[rollup.BucketKey]] = {}
        for key in buckets:
            by_hour.setdefault(key[4], []).append(key)
        rows = []
        for hour, keys in by_hour.items():
            existing = {(r[0], r[1], r[2], r[3]): r[4:] for r in c.execute(
                f"SELECT endpoint, method, version, environment, count, errors, sum_ms, max_ms, hist FROM {table} WHERE project_id=? AND hour=?",
                (project_id, hour))}
            for key in keys:
                b = buckets[key]
                old = existing.get(key[:4])
                hist = histogram.merge_packed(old[4] if old else None, b.bins)
                if old:
                    values = (old[0] + b.count, old[1] + b.errors, old[2] + b.sum_ms, max(old[3], b.max_ms))
                else:
                    values = (b.count, b.errors, b.sum_ms, b.max_ms)
                rows.append((project_id, key[0], key[1], key[2], key[3], hour, *values, hist))
        c.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)

    def _upsert_functions(self, c: sqlite3.Connection, project_id: str, functions: dict[rollup.FunctionKeyT, rollup.FunctionAgg]) -> None:
        """One read per (endpoint, version), then one executemany."""
        by_ev: dict[tuple[str, str], list[str]] = {}
        for endpoint, version, fkey in functions:
            by_ev.setdefault((endpoint, version), []).append(fkey)
        rows = []
        for (endpoint, version), fkeys in by_ev.items():
            existing: dict[str, Row] = {}
            for i in range(0, len(fkeys), 500):
                part = fkeys[i:i + 500]
                for r in c.execute(
                    f"SELECT fkey, self_ms, requests, is_app, hist FROM functions WHERE project_id=? AND endpoint=? AND version=? "
                    f"AND fkey IN ({','.join('?' * len(part))})", (project_id, endpoint, version, *part)):
                    existing[r[0]] = r[1:]
            for fkey in fkeys:
                f = functions[(endpoint, version, fkey)]
                old = existing.get(fkey)
                hist = histogram.merge_packed(old[3] if old else None, f.bins)
                if old:
                    values = (old[0] + f.self_ms, old[1] + f.requests, int(bool(old[2]) or f.is_app))
                else:
                    values = (f.self_ms, f.requests, int(f.is_app))
                rows.append((project_id, endpoint, version, fkey, *values, hist))
        c.executemany("INSERT OR REPLACE INTO functions VALUES (?,?,?,?,?,?,?,?)", rows)

    @staticmethod
    def _where(project_id: str, f: Filters, *, time_col: str = "started_at", name_col: str = "name") -> tuple[str, list[Any]]:
        clauses = ["project_id = ?"]
        params: list[Any] = [project_id]
        if f.endpoint is not None:
            clauses.append(f"{name_col} = ?")
            params.append(f.endpoint)
        if f.version is not None:
            clauses.append("version = ?")
            params.append(f.version)
        if f.environment is not None:
            clauses.append("environment = ?")
            params.append(f.environment)
        if f.since is not None:
            clauses.append(f"{time_col} >= ?")
            params.append(f.since)
        if f.until is not None:
            clauses.append(f"{time_col} < ?")
            params.append(f.until)
        return " AND ".join(clauses), params

    def _record_where(self, project_id: str, f: Filters) -> tuple[str, list[Any]]:
        where, params = self._where(project_id, f)
        if f.min_duration is not None:
            where += " AND duration_ms >= ?"
            params.append(f.min_duration)
        status = status_matches(f.status)
        if status:
            kind, value = status
            if kind == "error":
                where += " AND is_error = 1"
            elif kind == "ok":
                where += " AND is_error = 0"
            elif kind == "class":
                where += " AND status_code >= ? AND status_code < ?"
                params += [value * 100, value * 100 + 100]
            else:
                where += " AND status_code = ?"
                params.append(value)
        return where, params

    def query_records(self, project_id: str, filters: Filters, page: int, page_size: int, sort: str) -> tuple[list[dict[str, Any]], int]:
        where, params = self._record_where(project_id, filters)
        column = sort.lstrip("-")
        order = f"{column} {'DESC' if sort.startswith('-') else 'ASC'}, record_id"
        total = self._read(f"SELECT COUNT(*) FROM records WHERE {where}", params)[0][0]
        rows = self._read(f"SELECT summary FROM records WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?", [*params, page_size, (page - 1) * page_size])
        items = []
        for (summary,) in rows:
            item = msgspec.json.decode(summary)
            item.pop("call_tree", None)
            item.pop("source", None)
            item.pop("spans", None)  # lists stay small: a record's spans come with GET /records/{id}
            items.append(item)
        return items, total

    def get_record(self, record_id: str, project_id: str | None = None) -> tuple[str, Record] | None:
        if project_id is None:
            rows = self._read("SELECT project_id, summary, tree_z, source FROM records WHERE record_id = ? LIMIT 2", (record_id,))
        else:
            rows = self._read("SELECT project_id, summary, tree_z, source FROM records WHERE project_id = ? AND record_id = ?",
                              (project_id, record_id))
        if not rows:
            return None
        if len(rows) > 1:
            raise AmbiguousRecord(record_id, sorted(row[0] for row in self._read("SELECT project_id FROM records WHERE record_id = ?", (record_id,))))
        project_id, summary, tree_z, source = rows[0]
        record = _dec_record.decode(summary)
        record.call_tree = decode_tree(tree_z)
        if source:
            record.source = msgspec.json.decode(source)
        return project_id, record

    def sample_records(self, project_id: str, filters: Filters, limit: int, with_tree: bool = True) -> Iterator[Record]:
        where, params = self._record_where(project_id, filters)
        cols = "summary, tree_z" if with_tree else "summary, NULL"
        for summary, tree_z in self._read(f"SELECT {cols} FROM records WHERE {where} ORDER BY started_at DESC LIMIT ?", [*params, limit]):
            record = _dec_record.decode(summary)
            record.call_tree = decode_tree(tree_z) if with_tree else None
            yield record

    def stream_records(self, project_id: str, filters: Filters, limit: int) -> Iterator[Record]:
        """``sample_records`` with trees, read 64 rows at a time: one record's tree in memory at once (comparisons)."""
        where, params = self._record_where(project_id, filters)
        try:
            cursor = self._conn().execute(f"SELECT summary, tree_z FROM records WHERE {where} ORDER BY started_at DESC LIMIT ?", [*params, limit])
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc
        try:
            while True:
                try:
                    rows = cursor.fetchmany(64)
                except sqlite3.Error as exc:
                    raise StoreError(f"SQLite read failed: {exc}") from exc
                if not rows:
                    return
                for summary, tree_z in rows:
                    record = _dec_record.decode(summary)
                    record.call_tree = decode_tree(tree_z)
                    yield record
        finally:
            cursor.close()

    def durations(self, project_id: str, filters: Filters, limit: int) -> dict[str, list[float]]:
        where, params = self._record_where(project_id, filters)
        out: dict[str, list[float]] = {}
        names = [r[0] for r in self._read(f"SELECT DISTINCT name FROM records WHERE {where}", params)]
        for name in names:
            rows = self._read(f"SELECT duration_ms FROM records WHERE {where} AND name = ? ORDER BY started_at DESC LIMIT ?", [*params, name, limit])
            out[name] = [r[0] for r in rows]
        return out

    def versions(self, project_id: str) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT version, environment, COUNT(*), MIN(started_at), MAX(started_at) FROM records WHERE project_id = ? GROUP BY version, environment",
            (project_id,),
        )
        return [{"version": v, "environment": e, "count": n, "first_seen": _iso(a), "last_seen": _iso(b)} for v, e, n, a, b in rows]

    def delete_version(self, project_id: str, version: str) -> int:
        def run(c: sqlite3.Connection) -> int:
            n = c.execute("DELETE FROM records WHERE project_id = ? AND version = ?", (project_id, version)).rowcount
            c.execute("DELETE FROM buckets WHERE project_id = ? AND version = ?", (project_id, version))
            c.execute("DELETE FROM buckets_day WHERE project_id = ? AND version = ?", (project_id, version))
            c.execute("DELETE FROM buckets_project WHERE project_id = ? AND version = ?", (project_id, version))
            c.execute("DELETE FROM functions WHERE project_id = ? AND version = ?", (project_id, version))
            sqlite_continuous.delete(c, project_id, version=version)
            c.execute("UPDATE projects SET record_count = MAX(0, record_count - ?) WHERE id = ?", (n, project_id))
            return n

        return self._write(run)

    def purge_before(self, project_id: str, cutoff: dt.datetime) -> int:
        def run(c: sqlite3.Connection) -> int:
            n = c.execute("DELETE FROM records WHERE project_id = ? AND started_at < ?", (project_id, _ts(cutoff))).rowcount
            sqlite_continuous.delete(c, project_id, before_hour=int(_ts(cutoff)) // 3600 * 3600)
            c.execute("UPDATE projects SET record_count = MAX(0, record_count - ?) WHERE id = ?", (n, project_id))
            return n

        return self._write(run)

    # -- roll-ups -------------------------------------------------------------------------------
    @staticmethod
    def _bucket_parts(filters: Filters, resolution: int, keys: bool) -> list[tuple[str, float | None, float | None]]:
        """Which roll-up tables cover the filters' time range: (table, since, until). With ``resolution`` 86400 the
        whole days inside the range come from the daily roll-ups and only the partial days at its edges from the
        hourly ones. Without an endpoint filter and key columns, the across-endpoints hourly roll-ups answer."""
        since = None if filters.since is None else int(filters.since // 3600) * 3600
        until = None if filters.until is None else filters.until
        if resolution < 86400:
            return [("buckets_project" if not keys and filters.endpoint is None else "buckets", since, until)]
        d0 = None if since is None else -(-since // 86400) * 86400
        d1 = None if until is None else int(until // 86400) * 86400
        if d0 is not None and d1 is not None and d0 >= d1:
            return [("buckets", since, until)]
        parts: list[tuple[str, float | None, float | None]] = [("buckets_day", d0, d1)]
        if since is not None and d0 is not None and since < d0:
            parts.append(("buckets", since, d0))
        if until is not None and d1 is not None and d1 < until:
            parts.append(("buckets", d1, until))
        return parts

    def _bucket_sql(self, table: str, project_id: str, filters: Filters, since: float | None, until: float | None,
                    keys: bool = True) -> tuple[str, list[Any]]:
        f = Filters(filters.endpoint, filters.version, filters.environment, since, until)
        where, params = self._where(project_id, f, time_col="hour", name_col="endpoint")
        names = "endpoint, method, version, environment" if keys else "'', '', '', ''"
        return f"SELECT {names}, hour, count, errors, sum_ms, max_ms, hist FROM {table} WHERE {where}", params

    @staticmethod
    def _table(rows: list[Row]) -> BucketTable:
        cols: list[Row] = list(zip(*rows, strict=True)) if rows else [() for _ in range(10)]
        blobs = cols[9]
        entries = np.frombuffer(b"".join(blobs), dtype=histogram.ENTRY)
        lengths = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs)) // histogram.ENTRY.itemsize
        entry_row = np.repeat(np.arange(len(blobs)), lengths)
        endpoint, method, version, environment, hour, count, errors, sum_ms, max_ms = (list(c) for c in cols[:9])
        return BucketTable(endpoint, method, version, environment, hour, count, errors, sum_ms, max_ms, entry_row, entries["bin"], entries["n"])

    def bucket_table(self, project_id: str, filters: Filters, resolution: int = 3600, keys: bool = True) -> BucketTable:
        """Roll-up rows covering the filters' time range (``_bucket_parts``). ``keys=False`` leaves the
        endpoint/method/version/environment columns empty (faster, for time series)."""
        tables = [self._table(self._read(*self._bucket_sql(t, project_id, filters, a, b, keys)))
                  for t, a, b in self._bucket_parts(filters, resolution, keys)]
        return tables[0] if len(tables) == 1 else BucketTable.concat(tables)

    def endpoint_tables(self, project_id: str, filters: Filters, rows: int = 50_000) -> Iterator[BucketTable]:
        """The rows of ``bucket_table(..., 86400)`` ordered by endpoint (SQLite sorts, spilling to disk when large), in
        tables of about ``rows`` rows that never split an endpoint: memory is a table's, not the project's."""
        parts = [self._bucket_sql(t, project_id, filters, a, b) for t, a, b in self._bucket_parts(filters, 86400, True)]
        sql = " UNION ALL ".join(p[0] for p in parts) + " ORDER BY 1"
        params = [x for p in parts for x in p[1]]
        try:
            cursor = self._conn().execute(sql, params)
            chunk: list[Row] = []
            while True:
                batch = cursor.fetchmany(5000)
                if not batch:
                    break
                for row in batch:
                    if len(chunk) >= rows and row[0] != chunk[-1][0]:
                        yield self._table(chunk)
                        chunk = []
                    chunk.append(row)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc
        if chunk:
            yield self._table(chunk)

    def function_page(self, project_id: str, endpoint: str | None, version: str | None, offset: int, limit: int) -> FunctionPage:
        """Grouped and ordered by SQLite (a temporary b-tree, spilled to disk by SQLite when large): memory is the page."""
        where, params = self._where(project_id, Filters(endpoint=endpoint, version=version), name_col="endpoint")
        total, total_self = self._read(f"SELECT COUNT(DISTINCT fkey), TOTAL(self_ms) FROM functions WHERE {where}", params)[0]
        rows = self._read(f"SELECT fkey, TOTAL(self_ms) AS s, SUM(requests), MAX(is_app) FROM functions WHERE {where} "
                          "GROUP BY fkey ORDER BY s DESC, fkey LIMIT ? OFFSET ?", [*params, limit, offset])
        hists: dict[str, np.ndarray] = {r[0]: histogram.empty() for r in rows}
        keys = list(hists)
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            for fkey, blob in self._read(f"SELECT fkey, hist FROM functions WHERE {where} AND fkey IN ({','.join('?' * len(part))})", [*params, *part]):
                hists[fkey] += histogram.dense_from_packed(blob)
        return FunctionPage([FunctionRow(r[0], r[1], int(r[2]), bool(r[3]), hists[r[0]]) for r in rows], int(total), float(total_self))

    def distinct_names(self, project_id: str, kind: str) -> list[str]:
        column, table = ("endpoint", "buckets_day") if kind == "endpoint" else ("version", "buckets_project")
        return [r[0] for r in self._read(f"SELECT {column} FROM {table} WHERE project_id = ? UNION "
                                         f"SELECT {column} FROM aggregates WHERE project_id = ?", (project_id, project_id))]

    # -- analyses -------------------------------------------------------------------------------
    def save_analysis(self, analysis: dict[str, Any]) -> None:
        self._write(lambda c: c.execute(
            "INSERT OR REPLACE INTO analyses (id, record_id, project_id, created_at, doc, endpoint, version, trigger) VALUES (?,?,?,?,?,?,?,?)",
            (analysis["id"], analysis["record_id"], analysis["project_id"], analysis["created_at"], json.dumps(analysis),
             analysis.get("endpoint"), analysis.get("version"), analysis.get("trigger") or "manual"),
        ))

    def get_analysis(self, analysis_id: str) -> dict[str, Any] | None:
        rows = self._read("SELECT doc FROM analyses WHERE id = ?", (analysis_id,))
        return analysis_defaults(json.loads(rows[0][0])) if rows else None

    def list_analyses(self, record_id: str, project_id: str | None = None) -> list[dict[str, Any]]:
        where, params = ("record_id = ?", [record_id]) if project_id is None else ("record_id = ? AND project_id = ?", [record_id, project_id])
        return [analysis_defaults(json.loads(r[0])) for r in self._read(f"SELECT doc FROM analyses WHERE {where} ORDER BY created_at DESC", params)]

    def list_project_analyses(self, project_id: str, query: AnalysisQuery) -> tuple[list[dict[str, Any]], int]:
        where, params = ["project_id = ?"], [project_id]
        for column in ("endpoint", "version"):
            value = getattr(query, column)
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.triggers:
            where.append(f"trigger IN ({','.join('?' * len(query.triggers))})")
            params += query.triggers
        sql = " AND ".join(where)
        total = self._read(f"SELECT COUNT(*) FROM analyses WHERE {sql}", params)[0][0]
        rows = self._read(f"SELECT doc FROM analyses WHERE {sql} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                          [*params, query.page_size, (query.page - 1) * query.page_size])
        return [analysis_defaults(json.loads(r[0])) for r in rows], total


def open_store(url: str, settings: Any = None) -> SQLiteStore:
    return SQLiteStore(url, settings)


@hookimpl
def register_stores(register: Callable[..., None]) -> None:
    register("sqlite", open_store)
