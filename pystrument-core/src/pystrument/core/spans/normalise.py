"""Statements and URLs made safe to store and to group (background thread only).

SQL: comments dropped, string and number literals and every placeholder style (``?``, ``%s``, ``%(name)s``,
``$1``, ``:name``) become ``?``, ``IN (?, ?, ...)`` and multi-row ``VALUES`` collapse to one, whitespace is
folded: ``WHERE id = 1`` and ``WHERE id = 2`` give one statement. Parameters are never seen here.
URLs: ``scheme://host[:port]/path``, user info dropped, query values replaced by ``?`` (keys kept), no fragment.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MAX_STATEMENT = 4000

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_LITERALS = re.compile(
    r"""[EeXxBbNn]?'(?:[^'\\]|\\.|'')*'"""  # strings (with E'', X'', N'' prefixes)
    r"""|\b0x[0-9A-Fa-f]+\b"""  # hex numbers
    r"""|(?<![\w$.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b"""  # numbers not inside identifiers
    r"""|%\(\w+\)s|%s|\$\d+|(?<![:\w]):[A-Za-z_]\w*"""  # placeholders: pyformat, format, numeric, named
)
_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.I)
_VALUES = re.compile(r"\bVALUES\s*(\([?,\s]*\))(?:\s*,\s*\([?,\s]*\))+", re.I)
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def normalise_sql(statement: str) -> str:
    """The statement with its literals as ``?``, lists collapsed and whitespace folded (bounded length)."""
    text = _COMMENTS.sub(" ", statement[: MAX_STATEMENT * 4])
    text = _LITERALS.sub("?", text)
    text = _IN_LIST.sub("IN (?)", text)
    text = _VALUES.sub(r"VALUES \1", text)
    text = _SPACE.sub(" ", text).strip()
    return text[:MAX_STATEMENT]


def statement_text(statement: Any) -> str:
    """A driver's statement object as text: str, bytes, or a composed object (psycopg ``sql.SQL``)."""
    if isinstance(statement, str):
        return statement
    if isinstance(statement, (bytes, bytearray, memoryview)):
        return bytes(statement).decode("utf-8", "replace")
    as_string = getattr(statement, "as_string", None)
    if as_string is not None:
        try:
            return str(as_string(None))
        except Exception:  # needs a connection context: the class name is all that is safe to show
            pass
    return f"<{type(statement).__name__}>"


@lru_cache(maxsize=4096)
def safe_url(url: str) -> tuple[str, str]:
    """``(url, host)``: ``scheme://host[:port]/path`` with query values as ``?``, and ``host[:port]``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid url>", ""
    if port is not None:
        host = f"{host}:{port}"
    out = f"{parts.scheme}://{host}{parts.path or '/'}" if parts.scheme else (parts.path or "/")
    if parts.query:
        out += "?" + "&".join(f"{key}=?" for key, _ in parse_qsl(parts.query, keep_blank_values=True))
    return out[:MAX_STATEMENT], host
