"""Statement and URL normalisation: literals never stored, statements that differ by values group."""

from __future__ import annotations

import pytest
from pystrument.core.spans.normalise import normalise_sql, safe_url, statement_text


@pytest.mark.parametrize(("raw", "expected"), [
    ("SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE id = ?"),
    ("select name\n  from  t1\twhere  id=42.5", "select name from t1 where id=?"),
    ("SELECT * FROM t WHERE name = 'O''Brien' AND x = E'a\\'b'", "SELECT * FROM t WHERE name = ? AND x = ?"),
    ("SELECT * FROM t WHERE id IN (1, 2, 3, 4)", "SELECT * FROM t WHERE id IN (?)"),
    ("SELECT * FROM t WHERE id in (%s,%s , %s)", "SELECT * FROM t WHERE id IN (?)"),
    ("INSERT INTO t (a, b) VALUES (%s, %s), (%s, %s), (%s, %s)", "INSERT INTO t (a, b) VALUES (%s, %s)".replace("%s", "?")),
    ("UPDATE t SET a = %(a)s WHERE id = $1 AND b = :name", "UPDATE t SET a = ? WHERE id = ? AND b = ?"),
    ("SELECT x::int FROM t -- secret 123\nWHERE y = 0x1F /* note 'x' */", "SELECT x::int FROM t WHERE y = ?"),
    ("SELECT \"col1\", t2.c3 FROM t2", "SELECT \"col1\", t2.c3 FROM t2"),
])
def test_sql_literals_become_placeholders(raw: str, expected: str) -> None:
    assert normalise_sql(raw) == expected


def test_statements_differing_by_values_group() -> None:
    assert normalise_sql("SELECT * FROM t WHERE id = 1") == normalise_sql("SELECT *  FROM t WHERE id = 2")


def test_statement_objects() -> None:
    assert statement_text(b"SELECT 1") == "SELECT 1"
    assert statement_text(object()) == "<object>"


@pytest.mark.parametrize(("raw", "url", "host"), [
    ("https://user:pw@api.example.com:8443/v1/items?id=7&token=abc#frag", "https://api.example.com:8443/v1/items?id=?&token=?", "api.example.com:8443"),
    ("http://127.0.0.1/", "http://127.0.0.1/", "127.0.0.1"),
    ("http://h", "http://h/", "h"),
])
def test_urls_lose_credentials_and_query_values(raw: str, url: str, host: str) -> None:
    assert safe_url(raw) == (url, host)
