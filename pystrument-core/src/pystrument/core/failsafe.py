"""Failsafe wrappers: our own errors never reach the host application.

Every internal error is logged (once per place, then counted) and appended to ``internal_errors``:
the test suites assert that list is empty after each test, so a swallowed bug still fails a test
(as sentry-python's ``internal_exceptions`` fixture does).

What is kept is text, never the exception: an exception holds its traceback, the traceback its frames,
and the frames every local of the failed call (a request's body, its decoded records). Kept for the life
of the process, those would pin each failed request's memory. So an error is kept as (where, type name,
message, formatted traceback), each cut to a bounded length, and logged from that text too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections import Counter
from collections.abc import Iterator
from typing import NamedTuple

logger = logging.getLogger("pystrument")

MAX_KEPT = 100
MAX_TEXT = 20_000  # characters of a message or traceback kept


class InternalError(NamedTuple):
    """One internal error, as text: nothing in it refers to the failed call's objects."""

    where: str
    type: str
    message: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.where}: {self.type}: {self.message}"


internal_errors: list[InternalError] = []
_counts: Counter[str] = Counter()
_lock = threading.Lock()


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT // 2] + f"\n... ({len(text) - MAX_TEXT} characters cut) ...\n" + text[-MAX_TEXT // 2:]


def as_text(where: str, exc: BaseException) -> InternalError:
    """The error as text (the traceback formatted now, while the frames exist)."""
    try:
        message = str(exc)
    except Exception as str_failed:  # an exception whose __str__ fails must still be reported
        message = f"<str() failed: {type(str_failed).__name__}>"
    return InternalError(where, type(exc).__name__, _cut(message), _cut("".join(traceback.format_exception(exc))))


def report(where: str, exc: BaseException) -> None:
    error = as_text(where, exc)
    with _lock:
        _counts[where] += 1
        first = _counts[where] == 1
        if len(internal_errors) < MAX_KEPT:
            internal_errors.append(error)
    if first:
        logger.error("pystrument: internal error in %s (monitoring continues): %s: %s\n%s", where, error.type, error.message, error.traceback)
    else:
        logger.debug("pystrument: internal error in %s again (%d times)", where, _counts[where])


@contextlib.contextmanager
def failsafe(where: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        report(where, exc)


def clear() -> None:
    with _lock:
        internal_errors.clear()
        _counts.clear()
