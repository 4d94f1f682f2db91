"""SQL spans from sqlite3 (the standard library's DB-API driver), bounds and the switch."""

from __future__ import annotations

import sqlite3

from pystrument.core.record import decode_record, encode
from spans_helpers import record_of


def _queries(count: int) -> None:
    with sqlite3.connect(":memory:") as conn:
        conn.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
        cur = conn.cursor()
        cur.executemany("INSERT INTO item (name) VALUES (?)", [("a",), ("b",)])
        for i in range(count):
            cur.execute("SELECT name FROM item WHERE id = ?", (i,))  # the issuing line
            cur.fetchall()


def test_sqlite_queries_are_spans_with_the_issuing_line() -> None:
    record = record_of(lambda: _queries(3))
    statements = [span.statement for span in record.spans]
    assert statements == ["CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)",
                          "INSERT INTO item (name) VALUES (?)"] + ["SELECT name FROM item WHERE id = ?"] * 3
    select = record.spans[-1]
    assert select.kind == "sql" and select.db == "sqlite"
    assert select.file == __file__ and select.function == "_queries"
    assert "the issuing line" in open(__file__).read().splitlines()[select.line - 1]
    starts = [span.start_ms for span in record.spans]
    assert starts == sorted(starts) and all(0 <= s <= record.duration_ms for s in starts)
    assert all(0 <= span.duration_ms <= record.duration_ms for span in record.spans)
    # the wire format carries them
    assert decode_record(encode(record)).spans == record.spans


def test_failed_query_is_a_span_with_its_error() -> None:
    def work() -> None:
        conn = sqlite3.connect(":memory:")
        try:
            conn.execute("SELECT * FROM missing_table WHERE id = 5")
        except sqlite3.OperationalError:
            pass
    (span,) = record_of(work).spans
    assert span.error == "OperationalError" and span.statement == "SELECT * FROM missing_table WHERE id = ?"


def test_spans_are_bounded_and_the_rest_counted() -> None:
    record = record_of(lambda: _queries(10), max_spans_per_unit=4)
    assert len(record.spans) == 4 and record.spans_dropped == 8


def test_capture_spans_off_files_none() -> None:
    record = record_of(lambda: _queries(3), capture_spans=False)
    assert record.spans == [] and record.spans_dropped == 0


def test_no_unit_no_span_and_the_connection_behaves_as_sqlite3s() -> None:
    conn = sqlite3.connect(":memory:")
    with conn:
        conn.execute("CREATE TABLE t (x)")
    cur = conn.cursor()
    assert cur.execute("INSERT INTO t VALUES (1)") is cur
    assert list(conn.execute("SELECT x FROM t")) == [(1,)]
    assert next(conn.execute("SELECT x FROM t")) == (1,)
    assert isinstance(conn, sqlite3.Connection)  # the proxy passes isinstance checks
    assert record_of(lambda: None).spans == []


def test_the_callers_own_factories_are_kept() -> None:
    class MyConnection(sqlite3.Connection):
        marker = "mine"

    class MyCursor(sqlite3.Cursor):
        def execute(self, sql, parameters=(), /):  # noqa: ANN001, ANN201 (as an app's cursor would)
            return super().execute(sql.replace("%s", "?"), parameters)

    def work() -> None:
        conn = sqlite3.connect(":memory:", factory=MyConnection)
        assert isinstance(conn, MyConnection) and conn.marker == "mine"
        cur = conn.cursor(MyCursor)
        assert isinstance(cur, MyCursor)
        cur.execute("SELECT %s", (1,))  # the factory's execute runs first: the span has what sqlite ran
        conn.execute("SELECT 2")

    assert [s.statement for s in record_of(work).spans] == ["SELECT ?", "SELECT ?"]
