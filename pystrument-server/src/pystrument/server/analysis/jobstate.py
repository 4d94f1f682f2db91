"""The state of the server's automatic jobs (regression check, slow-record analysis, upkeep): what failed, as
text, and when it runs again.

A failed run of a job for a project is recorded (error type and message, a bounded text; never the exception,
whose frames would keep the run's data alive) and that project's job waits before its next run: the job's
interval, doubled at each consecutive failure, capped at ``job_backoff_max_s``. A success clears it.
``GET /health`` shows ``snapshot()``; the UI shows a notice while a job is failing. In this process only:
with Redis, each worker keeps its own.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

REGRESSION_CHECK = "regression_check"
SLOW_RECORDS = "slow_record_analysis"
UPKEEP = "upkeep"
JOBS = (REGRESSION_CHECK, SLOW_RECORDS, UPKEEP)
MAX_ERROR_CHARS = 500
MAX_SCOPES = 10_000  # failing (job, project) pairs kept; the oldest are forgotten beyond this


def _iso(wall: float | None) -> str | None:
    return None if wall is None else dt.datetime.fromtimestamp(wall, dt.timezone.utc).isoformat(timespec="milliseconds")


def error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


@dataclass
class _Failing:
    failures: int
    error: str
    at: float  # wall clock
    retry_mono: float
    retry_wall: float


class JobBoard:
    """Thread-safe: the upkeep loop, the slow-record thread and /health use it."""

    def __init__(self, base_s: float, max_s: float) -> None:
        self.base_s = base_s
        self.max_s = max(max_s, 0.0)
        self._lock = threading.Lock()
        self._failing: dict[tuple[str, str], _Failing] = {}
        self._runs: dict[str, int] = dict.fromkeys(JOBS, 0)
        self._failed_runs: dict[str, int] = dict.fromkeys(JOBS, 0)
        self._last_ok: dict[str, float] = {}

    def due(self, job: str, scope: str = "") -> bool:
        """False while the job is backing off for this scope (a project)."""
        with self._lock:
            failing = self._failing.get((job, scope))
            return failing is None or time.monotonic() >= failing.retry_mono

    def succeeded(self, job: str, scope: str = "") -> None:
        with self._lock:
            self._runs[job] = self._runs.get(job, 0) + 1
            self._last_ok[job] = time.time()
            self._failing.pop((job, scope), None)

    def failed(self, job: str, scope: str, exc: BaseException) -> float:
        """Record a failed run; returns the seconds until the next one."""
        with self._lock:
            self._runs[job] = self._runs.get(job, 0) + 1
            self._failed_runs[job] = self._failed_runs.get(job, 0) + 1
            previous = self._failing.get((job, scope))
            failures = previous.failures + 1 if previous else 1
            wait = min(self.max_s, self.base_s * 2.0 ** min(failures - 1, 60))
            now_mono, now_wall = time.monotonic(), time.time()
            self._failing[(job, scope)] = _Failing(failures, error_text(exc), now_wall, now_mono + wait, now_wall + wait)
            if len(self._failing) > MAX_SCOPES:
                oldest = min(self._failing, key=lambda k: self._failing[k].at)
                del self._failing[oldest]
            return wait

    def failures(self, job: str, scope: str = "") -> int:
        with self._lock:
            failing = self._failing.get((job, scope))
            return failing.failures if failing else 0

    def snapshot(self, with_errors: bool = True) -> dict[str, Any]:
        """Per job: ``state`` (ok, failing, or idle before its first run), run counts, the last success and, while
        failing, the latest failure: its project, consecutive failures, error text and next retry."""
        with self._lock:
            out: dict[str, Any] = {}
            for job in sorted(set(JOBS) | set(self._runs)):
                failing = [(scope, f) for (j, scope), f in self._failing.items() if j == job]
                entry: dict[str, Any] = {
                    "state": "failing" if failing else ("ok" if self._runs.get(job) else "idle"),
                    "runs": self._runs.get(job, 0), "failed_runs": self._failed_runs.get(job, 0),
                    "last_ok_at": _iso(self._last_ok.get(job)), "failing_projects": len([s for s, _ in failing if s]),
                }
                if failing:
                    scope, latest = max(failing, key=lambda item: item[1].at)
                    entry.update({"project_id": scope or None, "failures": latest.failures, "last_error_at": _iso(latest.at),
                                  "next_retry_at": _iso(latest.retry_wall)})
                    if with_errors:
                        entry["last_error"] = latest.error
                out[job] = entry
            return out
