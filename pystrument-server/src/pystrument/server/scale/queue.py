"""Analysis jobs on RQ: ``RQAnalysisWorker`` is the server's analysis worker when Redis is configured.

``submit`` stores the analysis as queued and enqueues ``jobs.run_analysis`` on the ``analysis`` queue
(retried with backoff); one job per (record, provider) at a time across every process, held by a
Redis key with expiry (20006 while it exists).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pystrument.server.analysis.worker import AnalysisWorker, Busy
from pystrument.server.scale.connection import key as rkey

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

ANALYSIS = "analysis"
QUEUES = (ANALYSIS,)
JOB_TIMEOUT_S = 600
FAILURE_TTL_S = 7 * 24 * 3600


def queue_name(settings: ServerSettings, short: str) -> str:
    return settings.redis_prefix + short


def make_queue(conn: Any, settings: ServerSettings, short: str = ANALYSIS) -> Any:
    from rq import Queue

    return Queue(queue_name(settings, short), connection=conn, default_timeout=JOB_TIMEOUT_S)


def retry_policy(settings: ServerSettings) -> Any:
    from rq import Retry

    if settings.job_retries <= 0:
        return None
    return Retry(max=settings.job_retries, interval=[settings.job_retry_backoff_s * 4**i for i in range(settings.job_retries)])


def active_key(settings: ServerSettings, project_id: str, record_id: str, provider: str) -> str:
    return rkey(settings, "analysis", "active", project_id, record_id, provider)


def backoff_total(settings: ServerSettings) -> int:
    return sum(settings.job_retry_backoff_s * 4**i for i in range(settings.job_retries))


class RQAnalysisWorker(AnalysisWorker):
    """Same providers and checks as the in-process worker; the work runs in ``pystrument-server worker``."""

    def __init__(self, store: Any, settings: ServerSettings, conn: Any) -> None:
        super().__init__(store, settings)
        self.conn = conn
        self.queue = make_queue(conn, settings)

    def submit(self, project_id: str, record_id: str, provider: str, model: str | None, language: str, **extra: Any) -> dict[str, Any]:
        analysis = self.new_analysis(project_id, record_id, provider, model, **extra)
        hold = active_key(self.settings, project_id, record_id, provider)
        # held until the job ends (done or finally failed); the expiry outlives every retry, so a lost job frees it
        if not self.conn.set(hold, analysis["id"], nx=True, ex=JOB_TIMEOUT_S * (self.settings.job_retries + 1) + backoff_total(self.settings)):
            holder = self.conn.get(hold)
            raise Busy(holder.decode() if holder else "")
        try:
            self.store.save_analysis(analysis)
            self.queue.enqueue("pystrument.server.scale.jobs.run_analysis", analysis["id"], language, job_id=analysis["id"],
                               retry=retry_policy(self.settings), failure_ttl=FAILURE_TTL_S,
                               description=f"analyse record {record_id} with {provider}")
        except Exception:
            self.conn.delete(hold)
            raise
        return analysis

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return True  # the work happens in the workers, not in this process

    def close(self) -> None:
        super().close()
