"""RQ job functions, importable by any worker (``pystrument.server.scale.jobs.<name>``).

``pystrument-server worker`` sets the runtime (settings, store, analysers) once; a plain ``rq worker``
builds it on first use from the same settings sources (``PYSTRUMENT_SERVER_*``, ``PYSTRUMENT_SERVER_CONFIG``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pystrument.server.analysis.worker import AnalysisWorker, _now
from pystrument.server.scale.queue import active_key

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

logger = logging.getLogger("pystrument.server.scale")


@dataclass
class Runtime:
    settings: Any
    store: Any
    conn: Any
    analysis: AnalysisWorker


_runtime: Runtime | None = None


def set_runtime(settings: ServerSettings, store: Any, conn: Any) -> Runtime:
    global _runtime
    _runtime = Runtime(settings, store, conn, AnalysisWorker(store, settings))
    return _runtime


def runtime() -> Runtime:
    if _runtime is None:
        from pystrument.server.scale.connection import connect
        from pystrument.server.scale.redis_cache import InvalidatingStore
        from pystrument.server.settings import load_settings
        from pystrument.server.stores import open_store

        settings = load_settings()
        conn = connect(settings)
        return set_runtime(settings, InvalidatingStore(open_store(settings), conn, settings), conn)
    return _runtime


def _release(rt: Runtime, analysis: dict[str, Any]) -> None:
    hold = active_key(rt.settings, analysis["project_id"], analysis["record_id"], analysis["provider"])
    if rt.conn.get(hold) == analysis["id"].encode():
        rt.conn.delete(hold)


def run_analysis(analysis_id: str, language: str = "en") -> str:
    """Run one stored analysis. Raises on failure so RQ retries it; the last failure is stored as failed."""
    from rq import get_current_job

    rt = runtime()
    analysis = rt.store.get_analysis(analysis_id)
    if analysis is None:
        logger.warning("pystrument-server: analysis %s is gone (its record or project was deleted)", analysis_id)
        return "gone"
    job = get_current_job()
    retries_left = None if job is None else job.retries_left
    last_attempt = not retries_left
    try:
        analysis.update(status="running", error=None)
        rt.store.save_analysis(analysis)
        rt.analysis._analyse(analysis, language)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if last_attempt:
            analysis.update(status="failed", error=reason, finished_at=_now())
            rt.store.save_analysis(analysis)
            _release(rt, analysis)
        else:
            analysis.update(status="queued", error=f"attempt failed, will retry ({retries_left} left): {reason}")
            rt.store.save_analysis(analysis)
        raise
    analysis["finished_at"] = _now()
    rt.store.save_analysis(analysis)
    _release(rt, analysis)
    return str(analysis["status"])

