"""Span capture's C hot path (spans/_capture.c) against its pure-Python twin (capture.spanned): the same spans."""

from __future__ import annotations

import importlib.util
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from pystrument.core import failsafe
from pystrument.core.record import Span
from pystrument.core.spans import capture
from spans_helpers import record_of

plain_connect = getattr(sqlite3.connect, "__wrapped__", sqlite3.connect)  # the driver's own: no hooked cursor


class PythonCursor(sqlite3.Cursor):
    execute = capture.spanned(sqlite3.Cursor.execute, "sqlite")
    executemany = capture.spanned(sqlite3.Cursor.executemany, "sqlite")


class CCursor(sqlite3.Cursor):
    pass


ACCELERATED = capture.accelerate(CCursor, sqlite3.Cursor.execute, sqlite3.Cursor.executemany, "sqlite")
needs_c = pytest.mark.skipif(not ACCELERATED, reason="pystrument.core.spans._capture was not built here")


def test_the_c_module_is_built_where_a_c_compiler_is() -> None:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): the pure-Python path is the one in use")
    assert importlib.util.find_spec("pystrument.core.spans._capture") is not None, (
        "pystrument-core was installed without its C module although a compiler is here: reinstall it "
        "(nox -s tests --install-only) and read the build's warning")
    from pystrument.core.spans import sql_sqlite

    assert sql_sqlite.ACCELERATED and ACCELERATED


def _workload(cursor_class: type, errors: list[str]) -> None:
    conn = plain_connect(":memory:")
    cur = conn.cursor(cursor_class)
    cur.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)")
    cur.executemany("INSERT INTO item (name) VALUES (?)", [("a",), ("b",)])
    for i in range(3):
        assert cur.execute("SELECT name FROM item WHERE id = ?", (i,)) is cur  # the issuing line
    try:
        cur.execute("SELECT * FROM missing WHERE id = 1")
    except sqlite3.OperationalError as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    try:
        cur.execute()  # the driver's own argument error, as it is
    except TypeError as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    try:
        cur.execute("SELECT 1", (), extra=1)  # keyword arguments reach the driver
    except TypeError as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    token = capture.open_outer()  # a library-level span is open: the cursor files none
    try:
        cur.execute("SELECT 'inside an outer span'")
    finally:
        capture.close_outer(token)
    assert cur.execute("SELECT name FROM item ORDER BY id").fetchall() == [("a",), ("b",)]
    conn.close()


def _spans(cursor_class: type, **settings: Any) -> tuple[list[tuple[Any, ...]], int, list[str]]:
    errors: list[str] = []
    record = record_of(lambda: _workload(cursor_class, errors), **settings)
    timeless = [(s.kind, s.statement, s.db, s.error, s.file, s.line, s.function) for s in record.spans]
    assert all(isinstance(s, Span) and 0 <= s.start_ms <= record.duration_ms for s in record.spans)
    return timeless, record.spans_dropped, errors


@needs_c
def test_c_and_python_capture_file_the_same_spans() -> None:
    c_spans, c_dropped, c_errors = _spans(CCursor)
    py_spans, py_dropped, py_errors = _spans(PythonCursor)
    assert c_spans == py_spans and c_dropped == py_dropped == 0
    driver_errors: list[str] = []
    _workload(sqlite3.Cursor, driver_errors)
    assert c_errors == driver_errors and len(c_errors) == 3  # the driver's own errors, word for word
    assert [e.split(":")[0] for e in py_errors] == [e.split(":")[0] for e in c_errors]
    assert [s[1] for s in c_spans] == ["CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)",
                                       "INSERT INTO item (name) VALUES (?)",
                                       *["SELECT name FROM item WHERE id = ?"] * 3,
                                       "SELECT * FROM missing WHERE id = ?",
                                       "SELECT ?",  # the call the driver refused (a keyword): filed with its error
                                       "SELECT name FROM item ORDER BY id"]
    assert c_spans[5][3] == "OperationalError" and c_spans[6][3] == "TypeError" and c_spans[2][4] == __file__ and c_spans[2][6] == "_workload"
    assert "the issuing line" in open(__file__).read().splitlines()[c_spans[2][5] - 1]


@needs_c
def test_c_capture_bounds_and_counts_as_python() -> None:
    assert _spans(CCursor, max_spans_per_unit=2)[:2] == _spans(PythonCursor, max_spans_per_unit=2)[:2]
    c_spans, c_dropped, _ = _spans(CCursor, max_spans_per_unit=2)
    assert len(c_spans) == 2 and c_dropped == 6


@needs_c
def test_c_capture_files_nothing_without_a_unit_or_with_spans_off() -> None:
    assert _spans(CCursor, capture_spans=False)[:2] == ([], 0)
    errors: list[str] = []
    _workload(CCursor, errors)  # no unit: the driver's results and errors as they are
    assert len(errors) == 3


@needs_c
@pytest.mark.internal_errors_expected
def test_c_capture_reports_its_own_failure_and_returns_the_drivers_result(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_classify(filename: str) -> bool:
        raise RuntimeError("classify broke")

    capture._app_files.clear()
    capture._lib_files.clear()
    capture._capture.configure(capture.current_unit, capture.outer, capture._app_files, capture._lib_files,
                               broken_classify, capture.file_span, failsafe.report, capture.perf_counter)
    before = len(failsafe.internal_errors)
    try:
        errors: list[str] = []
        record_of(lambda: _workload(CCursor, errors))  # the host's queries all ran and answered
        assert len(errors) == 3
    finally:
        capture._capture.configure(capture.current_unit, capture.outer, capture._app_files, capture._lib_files,
                                   capture._classify, capture.file_span, failsafe.report, capture.perf_counter)
    reported = failsafe.internal_errors[before:]
    assert reported and all(e.where == "span capture (C)" and "classify broke" in e.message for e in reported)


def test_the_pure_python_path_passes_the_span_tests_without_the_c_module() -> None:
    """Where the C module was not built (no compiler): the span tests pass on the pure-Python path."""
    here = Path(__file__).parent
    blocked = ("import sys, pytest; sys.modules['pystrument.core.spans._capture'] = None; "
               "from pystrument.core.spans import log, sql_sqlite; "
               "assert log.SpanLog is log.PySpanLog and not sql_sqlite.ACCELERATED; "
               "sys.exit(pytest.main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", blocked, "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                           "--rootdir", str(here.parent.parent), str(here / "test_spans_sqlite.py"),
                           str(here / "test_spans_http.py")],
                          capture_output=True, text=True, timeout=300, cwd=here.parent.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
