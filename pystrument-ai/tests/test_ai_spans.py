"""The N+1 finding from spans: a planted one-query-per-item list page, profiled through the real SDK."""

from __future__ import annotations

import sqlite3

from pystrument.ai.rules import repeated
from pystrument.core import spans
from pystrument.core.analysis import AnalysisContext


def make_db(rows: int = 50) -> sqlite3.Connection:
    spans.install()  # as the app's first configured client does: connections opened from then on are hooked
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute("create table product (id integer primary key, name text)")
    conn.executemany("insert into product values (?, ?)", [(i, f"p{i}") for i in range(rows)])
    return conn


def product_list(conn: sqlite3.Connection) -> list[str]:
    ids = [row[0] for row in conn.execute("select id from product order by id limit 20")]
    return [conn.execute("select name from product where id = ?", (i,)).fetchone()[0] for i in ids]  # planted N+1


def test_planted_n_plus_one_names_statement_count_and_line(profile) -> None:
    conn = make_db()
    record = profile(product_list, conn)
    peers = [profile(product_list, conn) for _ in range(2)]
    findings = repeated.RepeatedCallAnalyser().analyse(AnalysisContext(record=record, peers=peers))
    (f,) = [f for f in findings if f.evidence.get("statement")]
    assert f.evidence["statement"] == "select name from product where id = ?"
    assert f.evidence["count_per_request"] == 20 and f.evidence["calls_at_least"] >= 20
    file, _, line = f.evidence["issued_at"].rpartition(":")
    assert file == __file__ and "planted N+1" in open(__file__).read().splitlines()[int(line) - 1]
    assert "`select name from product where id = ?` 20 times per request" in f.title
    assert f"test_ai_spans.py:{line}" in f.title
    assert f.evidence["peers_with_statement"] == "2 of 2" and f.evidence["peers_median_count"] == 20
    assert "IN (" in f.suggestion


def test_a_statement_run_once_is_no_finding(profile) -> None:
    record = profile(lambda conn: conn.execute("select 1").fetchall(), make_db())
    assert [f for f in repeated.RepeatedCallAnalyser().analyse(AnalysisContext(record=record)) if "statement" in f.evidence] == []


def slow_list(conn: sqlite3.Connection) -> list[tuple]:
    return [load(conn, i % 50) for i in range(4000)]


def load(conn: sqlite3.Connection, i: int) -> tuple:
    return conn.execute("select name from product where id = ?", (i,)).fetchone()


def test_the_call_tree_finding_gets_the_statement_and_the_exact_count(profile) -> None:
    record = profile(slow_list, make_db(), max_spans_per_unit=5000)
    (f,) = [f for f in repeated.RepeatedCallAnalyser().analyse(AnalysisContext(record=record)) if f.function == "load"]
    assert f.line == load.__code__.co_firstlineno  # the tree's site, as before
    assert f.evidence["statement"] == "select name from product where id = ?"
    assert f.evidence["count_per_request"] == 4000 == f.evidence["calls_at_least"]
    assert f.evidence["calls_basis"] == "counted from spans" and f.title.startswith("N+1 queries: load runs")
