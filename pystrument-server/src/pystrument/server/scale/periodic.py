"""Periodic work scheduled by the workers, once per cluster: each task runs in whichever worker first
takes its Redis lock (``SET <prefix>periodic:<task> <worker> NX PX <interval>``); the lock expires
after the task's interval, so the task runs once per interval however many workers there are, and
keeps running while at least one worker lives. Each run is logged to ``<prefix>periodic:log:<task>``
(the last 100: worker, time, result), which ``pystrument-server worker --status`` and the tests read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pystrument.server.scale.connection import key as rkey

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

logger = logging.getLogger("pystrument.server.scale")
MAINTAIN_INTERVAL_S = 5.0
LOG_LENGTH = 100


def retention_purge(store: Any, settings: ServerSettings) -> int:
    from pystrument.server.stores.retention import purge_expired

    return purge_expired(store, settings)


def rollup_maintenance(store: Any, settings: ServerSettings) -> int:
    maintain = getattr(store, "maintain", None)
    return int(maintain() or 0) if maintain is not None else 0


def advice_check(store: Any, settings: ServerSettings) -> int:
    from pystrument.server.analysis.advice_check import check_all

    return check_all(store, settings)


TASKS: dict[str, Callable[[Any, Any], int]] = {"retention-purge": retention_purge, "rollup-maintenance": rollup_maintenance,
                                               "advice-check": advice_check}


def intervals(settings: ServerSettings) -> dict[str, float]:
    return {"retention-purge": settings.purge_interval_s, "rollup-maintenance": min(MAINTAIN_INTERVAL_S, settings.purge_interval_s),
            "advice-check": settings.auto_analysis_interval_s}


class Scheduler:
    def __init__(self, conn: Any, store: Any, settings: ServerSettings, name: str, auto: Any = None) -> None:
        self.conn = conn
        self.store = store
        self.settings = settings
        self.name = name
        self.ran: dict[str, int] = {}
        self.tasks = dict(TASKS)
        self.intervals = intervals(settings)
        if auto is not None:  # autoanalysis.AutoAnalysis: regressions between a project's two newest versions
            self.tasks["auto-analysis"] = lambda store, settings: auto.check_regressions()
            self.intervals["auto-analysis"] = settings.auto_analysis_interval_s
        from pystrument.server.analysis.budget_check import BudgetChecker

        budgets = BudgetChecker(store, settings, auto)  # budget breaches, once per budget_check_interval_s per cluster
        self.tasks["budgets"] = lambda store, settings: budgets.check_all()
        self.intervals["budgets"] = settings.budget_check_interval_s

    def tick(self) -> list[str]:
        """Run every task whose cluster-wide lock this worker takes now; returns the tasks it ran."""
        ran = []
        for task, interval in self.intervals.items():
            if not self.conn.set(rkey(self.settings, "periodic", task), self.name, nx=True, px=int(interval * 1000)):
                continue
            started = time.monotonic()
            try:
                result: Any = self.tasks[task](self.store, self.settings)
            except Exception as exc:  # the next interval retries; the failure is in the log
                result = f"failed: {type(exc).__name__}: {exc}"
                logger.error("pystrument-server: periodic %s failed: %s", task, result)
            entry = {"worker": self.name, "at": dt.datetime.now(dt.timezone.utc).isoformat(), "result": result,
                     "seconds": round(time.monotonic() - started, 3)}
            log = rkey(self.settings, "periodic", "log", task)
            self.conn.pipeline(transaction=False).lpush(log, json.dumps(entry)).ltrim(log, 0, LOG_LENGTH - 1).execute()
            self.ran[task] = self.ran.get(task, 0) + 1
            ran.append(task)
            if task == "retention-purge" and result:
                logger.info("pystrument-server: retention purged %s record(s)", result)
        return ran

    def run(self, stop: threading.Event, every_s: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # Redis away: try again next tick
                logger.error("pystrument-server: periodic scheduler: %s: %s", type(exc).__name__, exc)
            stop.wait(every_s)


def history(conn: Any, settings: ServerSettings, task: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in conn.lrange(rkey(settings, "periodic", "log", task), 0, -1)]
