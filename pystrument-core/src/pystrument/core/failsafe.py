"""Failsafe wrappers: our own errors never reach the host application.

Every internal error is logged (once per place, then counted) and appended to ``internal_errors``:
the test suites assert that list is empty after each test, so a swallowed bug still fails a test
(as sentry-python's ``internal_exceptions`` fixture does).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Iterator

logger = logging.getLogger("pystrument")

internal_errors: list[tuple[str, BaseException]] = []
_counts: Counter[str] = Counter()
_lock = threading.Lock()
MAX_KEPT = 100


def report(where: str, exc: BaseException) -> None:
    with _lock:
        _counts[where] += 1
        first = _counts[where] == 1
        if len(internal_errors) < MAX_KEPT:
            internal_errors.append((where, exc))
    if first:
        logger.error("pystrument: internal error in %s (monitoring continues): %s: %s", where, type(exc).__name__, exc, exc_info=exc)
    else:
        logger.debug("pystrument: internal error in %s again (%d times)", where, _counts[where])


@contextlib.contextmanager
def failsafe(where: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        report(where, exc)


def error_counts() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def clear() -> None:
    with _lock:
        internal_errors.clear()
        _counts.clear()
