"""SQL spans on real engines: PostgreSQL (psycopg 3) and MariaDB (PyMySQL) of this machine, SQLAlchemy on SQLite,
PostgreSQL and MariaDB, and the Django ORM on all three. Tables are unique to each test and dropped."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from pystrument.core import spans
from pystrument.core.record import Span
from spans_helpers import record_of

PG = {"host": "127.0.0.1", "dbname": "test", "user": "postgres"}
MY = {"host": "127.0.0.1", "user": "root", "password": "", "database": "test"}
URLS = {"sqlite": "sqlite://", "postgresql": "postgresql+psycopg://postgres@127.0.0.1/test",
        "mysql": "mysql+pymysql://root@127.0.0.1/test"}


@pytest.fixture
def table() -> str:
    return f"spans_{uuid.uuid4().hex[:10]}"


def _connect(engine: str):  # noqa: ANN202
    spans.install()  # what the first client with capture_spans does: connections made from now on are wrapped
    if engine == "postgresql":
        psycopg = pytest.importorskip("psycopg")
        try:
            return psycopg.connect(**PG, autocommit=True)
        except psycopg.OperationalError as exc:
            pytest.skip(f"PostgreSQL is not running on 127.0.0.1:5432: {exc}")
    pymysql = pytest.importorskip("pymysql")
    try:
        return pymysql.connect(**MY, autocommit=True)
    except pymysql.err.OperationalError as exc:
        pytest.skip(f"MariaDB is not running on 127.0.0.1:3306: {exc}")


@pytest.fixture(params=["postgresql", "mysql"])
def dbapi(request: pytest.FixtureRequest, table: str) -> Iterator[tuple[str, object]]:
    conn = _connect(request.param)
    try:
        yield request.param, conn
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


def test_dbapi_drivers_file_one_span_per_execute(dbapi: tuple[str, object], table: str) -> None:
    engine, conn = dbapi

    def work() -> None:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(20))")
            cur.executemany(f"INSERT INTO {table} (id, name) VALUES (%s, %s)", [(1, "a"), (2, "b")])
            for i in (1, 2):
                cur.execute(f"SELECT name FROM {table} WHERE id = %s", (i,))
                assert cur.fetchone() is not None
            try:
                cur.execute(f"SELECT nope FROM {table}")
            except Exception:
                pass

    spans = record_of(work).spans
    assert [s.statement for s in spans] == [
        f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(?))",
        f"INSERT INTO {table} (id, name) VALUES (?, ?)",
        f"SELECT name FROM {table} WHERE id = ?", f"SELECT name FROM {table} WHERE id = ?",
        f"SELECT nope FROM {table}"]
    assert {s.db for s in spans} == {engine}
    assert spans[-1].error and not spans[0].error
    assert all(s.function == "work" and s.file == __file__ for s in spans)


def test_psycopg_cursors_are_subclasses_and_the_callers_factories_are_kept(table: str) -> None:
    psycopg = pytest.importorskip("psycopg")

    class MyCursor(psycopg.ClientCursor):  # an app's own factory (client-side binding)
        marker = "mine"

    conn = _connect("postgresql")
    with conn:
        plain = psycopg.connect.__wrapped__(**PG, autocommit=True)  # made before the hooks: no spans, no change
        try:
            assert type(plain.cursor()) is psycopg.Cursor
        finally:
            plain.close()
        cur = conn.cursor()
        assert isinstance(cur, psycopg.Cursor) and type(cur) is not psycopg.Cursor and type(cur).__name__ == "Cursor"
        assert cur.execute("SELECT 1") is cur  # psycopg's execute returns the cursor itself
        mine = psycopg.connect(**PG, autocommit=True, cursor_factory=MyCursor)

        def work() -> None:
            conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")  # connection.execute: through the factory
            with mine.cursor() as c:
                assert isinstance(c, MyCursor) and c.marker == "mine"
                c.execute(f"INSERT INTO {table} VALUES (%s)", (7,))
            with mine.transaction(), mine.cursor(name="server_side") as server:  # a server-side cursor
                assert isinstance(server, psycopg.ServerCursor)
                server.execute(f"SELECT id FROM {table} WHERE id = %s", (7,))
                assert server.fetchall() == [(7,)]

        try:
            spans = record_of(work).spans
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            mine.close()
    assert [(s.statement, s.db, s.function) for s in spans] == [
        (f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)", "postgresql", "work"),
        (f"INSERT INTO {table} VALUES (?)", "postgresql", "work"),
        (f"SELECT id FROM {table} WHERE id = ?", "postgresql", "work")]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mysql"])
def test_sqlalchemy_events_one_span_per_statement(engine: str, table: str) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    if engine != "sqlite":
        _connect(engine).close()  # skips when the server is not running
    db = sqlalchemy.create_engine(URLS[engine])
    meta = sqlalchemy.MetaData()
    items = sqlalchemy.Table(table, meta, sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
                             sqlalchemy.Column("name", sqlalchemy.String(20)))
    meta.create_all(db)
    try:
        def work() -> None:
            with db.begin() as conn:
                conn.execute(items.insert(), [{"id": i, "name": f"n{i}"} for i in range(1, 6)])
                for i in range(1, 6):
                    conn.execute(sqlalchemy.select(items.c.name).where(items.c.id == i)).scalar_one()

        spans = record_of(work).spans
    finally:
        meta.drop_all(db)
        db.dispose()
    statements = Counter(s.statement for s in spans if s.statement.startswith(("SELECT", "INSERT")))
    assert len(statements) == 2 and sorted(statements.values()) == [1, 5], statements  # not twice (DB-API layer silent)
    assert {s.db for s in spans} == {engine}
    assert all(s.function == "work" for s in spans)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mysql"])
def test_django_orm_execute_wrapper(engine: str, table: str) -> None:
    pytest.importorskip("django")
    if engine != "sqlite":
        _connect(engine).close()
    script = Path(__file__).parent / "fixtures" / "spans_django_app.py"
    done = subprocess.run([sys.executable, str(script), engine, table], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    spans = msgspec.json.decode(done.stdout, type=list[Span])
    by_statement = Counter(s.statement for s in spans)
    (per_item, count), = [(k, v) for k, v in by_statement.items() if "LIMIT" in k]
    assert count == 12 and per_item.startswith("SELECT")  # one span per query, not two
    assert len(spans) == 13 and {s.db for s in spans} == {engine}
    (line,) = {(s.function, s.line) for s in spans if s.statement == per_item}
    assert line[0] == "list_page"
    assert "the planted N+1" in script.read_text().splitlines()[line[1] - 1]
