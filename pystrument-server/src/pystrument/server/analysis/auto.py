"""Automatic analysis, per project: slow records right after ingest, and regressions between a project's two
newest versions from the periodic task. Both go through the analysis worker manual analyses use (in
process, or RQ with Redis) and are marked with their ``trigger`` (``slow_record``, ``regression``).

Ingest only filters the batch in memory (the project's settings came with its key): no store query per
record or per batch, and no hand-off when every slow (endpoint, version) of the batch is known to be
claimed already. The slow records it finds are handed to one background thread, which claims the
(endpoint, version) for ``auto_analysis_cooldown_s`` and takes a token of the project's bucket
(``per_hour`` at once, refilled at ``per_hour`` an hour): in Redis when configured (every process
shares them), else in this process.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import msgspec
from pystrument.core import failsafe
from pystrument.core.record import Record
from pystrument.server.analysis.jobstate import REGRESSION_CHECK, SLOW_RECORDS, JobBoard
from pystrument.server.analysis.worker import RULES, Busy
from pystrument.server.stats import compare as compare_mod
from pystrument.server.stores.base import AnalysisQuery, Filters, Store, StoreError

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

logger = logging.getLogger("pystrument.server.auto")
SLOW, REGRESSION = "slow_record", "regression"
HELD_RECHECK_S = 60.0  # a claim held by another process is asked for again after this long
ENVIRONMENT = (StoreError, MemoryError, OSError)  # failures of the surroundings, not of our code: recorded, not reported as bugs


class ProjectAuto(msgspec.Struct, forbid_unknown_fields=True):
    """``settings.auto_analysis`` of a project: each key unset falls back to the server's setting."""

    enabled: bool | None = None
    slow_ms: Annotated[float, msgspec.Meta(gt=0)] | None = None
    per_hour: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    provider: str | None = None
    regressions: bool | None = None


def check_project_settings(value: Any) -> dict[str, Any]:
    """Validate ``settings.auto_analysis``; raises ValueError saying what is wrong."""
    try:
        parsed = msgspec.convert(value, ProjectAuto)
    except msgspec.ValidationError as exc:
        raise ValueError(f"settings.auto_analysis: {exc} (keys: enabled, slow_ms > 0, per_hour 1-10000, provider, regressions)") from None
    return {k: v for k, v in msgspec.structs.asdict(parsed).items() if v is not None}


@dataclass(frozen=True)
class Policy:
    enabled: bool
    slow_ms: float
    per_hour: int
    provider: str
    regressions: bool


def policy(project: dict[str, Any], settings: ServerSettings) -> Policy:
    own = (project.get("settings") or {}).get("auto_analysis") or {}

    def pick(key: str, default: Any) -> Any:
        value = own.get(key) if isinstance(own, dict) else None
        return default if value is None else value

    return Policy(enabled=bool(pick("enabled", settings.auto_analysis)), slow_ms=float(pick("slow_ms", settings.auto_analysis_slow_ms)),
                  per_hour=int(pick("per_hour", settings.auto_analysis_per_hour)),
                  provider=str(pick("provider", settings.auto_analysis_provider) or RULES), regressions=bool(pick("regressions", True)))


class Limiter(Protocol):
    def take(self, key: str, rate: float, burst: int) -> int: ...


class Claims(Protocol):
    def claim(self, key: str, ttl_s: float) -> bool: ...
    def release(self, key: str) -> None: ...


class LocalClaims:
    """Keys held for a time, in this process (without Redis)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, ttl_s: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._until.get(key, 0.0) > now:
                return False
            self._until[key] = now + ttl_s
            if len(self._until) > 100_000:
                self._until = {k: v for k, v in self._until.items() if v > now}
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._until.pop(key, None)


def claim_key(project_id: str, endpoint: str, version: str) -> str:
    return f"{project_id}:" + hashlib.blake2b(f"{endpoint}\x1f{version}".encode(), digest_size=12).hexdigest()


class AutoAnalysis:
    def __init__(self, store: Store, settings: ServerSettings, worker: Any, limiter: Limiter, claims: Claims) -> None:
        self.store = store
        self.settings = settings
        self.worker = worker
        self.limiter = limiter
        self.claims = claims
        self.language = str((settings.ai or {}).get("language") or "en")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pystrument-auto")
        self._compared: dict[tuple[str, str, str], int] = {}  # (project, base, head) -> head's count when compared without a finding
        self._done: set[tuple[str, str, str]] = set()
        self._warned: set[str] = set()
        # claim keys known to be held, until when: read by ingest (skips the hand-off), written by the hand-off thread
        self._held: dict[str, float] = {}
        self.jobs = JobBoard(settings.auto_analysis_interval_s, settings.job_backoff_max_s)  # failed runs, backoff: GET /health

    # -- slow records (called by ingest) --------------------------------------------------------------
    def after_ingest(self, project: dict[str, Any], records: list[Record], accepted: list[str]) -> None:
        """Hand the batch's slowest new record per (endpoint, version) above the threshold to the background
        thread. In memory only; never raises into ingest."""
        try:
            rule = policy(project, self.settings)
            if not rule.enabled or not self.jobs.due(SLOW_RECORDS, project["id"]):  # off, or backing off after a failure
                return
            slow: dict[tuple[str, str], Record] = {}
            for r in records:
                if r.kind != "aggregate" and r.duration_ms >= rule.slow_ms:  # continuous aggregates: windows, not requests
                    key = (r.name, r.app.version)
                    if key not in slow or r.duration_ms > slow[key].duration_ms:
                        slow[key] = r
            if not slow:
                return
            fresh, now = set(accepted), time.monotonic()
            picked = [r for r in slow.values() if r.record_id in fresh and self._held.get(claim_key(project["id"], r.name, r.app.version), 0.0) <= now]
            if picked:  # else every endpoint and version of the batch is known to be claimed: no thread to wake
                self._pool.submit(self._queue_slow, project["id"], rule, picked)
        except Exception as exc:  # ingest has stored the batch; an automatic analysis is not worth failing it
            failsafe.report("auto-analysis after ingest", exc)

    def _queue_slow(self, project_id: str, rule: Policy, records: list[Record]) -> None:
        try:
            cooldown = self.settings.auto_analysis_cooldown_s
            for r in sorted(records, key=lambda r: -r.duration_ms):
                key = claim_key(project_id, r.name, r.app.version)
                if not self.claims.claim(key, cooldown):  # this endpoint and version had one recently (another process's claim
                    self._held[key] = time.monotonic() + min(cooldown, HELD_RECHECK_S)  # may be released: look again later)
                    continue
                self._held[key] = time.monotonic() + cooldown
                if not self._submit(project_id, rule, r.record_id, trigger=SLOW, endpoint=r.name, version=r.app.version):
                    self.claims.release(key)  # rate-limited: a later slow record of it may take the next token
                    self._held.pop(key, None)
            if len(self._held) > 100_000:
                now = time.monotonic()
                self._held = {k: v for k, v in self._held.items() if v > now}
            self.jobs.succeeded(SLOW_RECORDS, project_id)
        except Exception as exc:
            self._job_failed(SLOW_RECORDS, project_id, exc)

    def _job_failed(self, job: str, project_id: str, exc: BaseException) -> None:
        """Record a failed automatic job (text only) and back off; a failure that is not the surroundings' is a bug."""
        wait = self.jobs.failed(job, project_id, exc)
        logger.error("pystrument-server: automatic %s of project %s failed (%d in a row), next run in %.1fs: %s: %s",
                     job, project_id or "-", self.jobs.failures(job, project_id), wait, type(exc).__name__, exc)
        if not isinstance(exc, ENVIRONMENT):
            failsafe.report(f"automatic {job}", exc)

    def _submit(self, project_id: str, rule: Policy, record_id: str, **extra: Any) -> bool:
        wait = self.limiter.take(f"auto-analysis:{project_id}", rule.per_hour / 3600.0, rule.per_hour)
        if wait:
            logger.info("pystrument-server: automatic analysis of %s skipped: project %s is at %d per hour (next in %ds)",
                        record_id, project_id, rule.per_hour, wait)
            return False
        try:
            self.worker.submit(project_id, record_id, self._provider(rule), None, self.language, **extra)
        except Busy:
            return False
        return True

    def _provider(self, rule: Policy) -> str:
        name = rule.provider
        if name == RULES:
            return RULES
        if name in self.worker.providers and self.worker.configured(name):
            return name
        if name not in self._warned:
            self._warned.add(name)
            state = "not installed" if name not in self.worker.providers else "not configured"
            logger.warning("pystrument-server: automatic analyses use the rule-based analysers: AI provider %r is %s", name, state)
        return RULES

    # -- regressions (called by the periodic task) -----------------------------------------------------
    def check_regressions(self) -> int:
        """Compare each project's newest version with the one before it; analyse what regressed, once per
        (project, base, head). Returns the number of analyses queued."""
        queued = 0
        if not self.jobs.due(REGRESSION_CHECK):
            return 0
        try:
            projects = self.store.list_projects()
        except Exception as exc:
            self._job_failed(REGRESSION_CHECK, "", exc)
            return 0
        self.jobs.succeeded(REGRESSION_CHECK)
        for project in projects:
            rule = policy(project, self.settings)
            if not (rule.enabled and rule.regressions) or not self.jobs.due(REGRESSION_CHECK, project["id"]):
                continue
            try:
                queued += self._check_project(project["id"], rule)
            except Exception as exc:  # recorded, backs off; the other projects are still checked
                self._job_failed(REGRESSION_CHECK, project["id"], exc)
            else:
                self.jobs.succeeded(REGRESSION_CHECK, project["id"])
        return queued

    def _check_project(self, project_id: str, rule: Policy) -> int:
        first: dict[str, str] = {}
        counts: dict[str, int] = {}
        for v in self.store.versions(project_id):
            first[v["version"]] = min(first.get(v["version"], v["first_seen"]), v["first_seen"])
            counts[v["version"]] = counts.get(v["version"], 0) + v["count"]
        if len(first) < 2:
            return 0
        head, base = sorted(first, key=lambda v: (first[v], v), reverse=True)[:2]
        key = (project_id, base, head)
        need = self.settings.auto_analysis_min_records
        if key in self._done or counts[head] < need or counts[base] < need:
            return 0
        if counts[head] < 2 * self._compared.get(key, 0):
            return 0  # compared at half this count without a finding: wait for more records
        done, _ = self.store.list_project_analyses(project_id, AnalysisQuery(version=head, triggers=(REGRESSION,), page_size=100))
        if any((a.get("regression") or {}).get("base") == base for a in done):
            self._done.add(key)
            return 0
        result = compare_mod.compare(self.store, project_id, base, head, limit=self.settings.sample_limit,
                                     budget=compare_mod.Budget.from_settings(self.settings))
        regressed = self._regressed(result)
        if not regressed:
            self._compared[key] = counts[head]
            return 0
        queued = 0
        for endpoint, delta, functions in regressed:
            newest = list(self.store.sample_records(project_id, Filters(endpoint=endpoint, version=head), 50, with_tree=False))
            if not newest:
                continue
            record = max(newest, key=lambda r: r.duration_ms)
            context = {"base": base, "head": head, "endpoint": endpoint, "delta": delta, "functions": functions}
            if self._submit(project_id, rule, record.record_id, trigger=REGRESSION, endpoint=endpoint, version=head, regression=context):
                queued += 1
        if queued:
            self._done.add(key)
        return queued

    @staticmethod
    def _regressed(result: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None, list[dict[str, Any]]]]:
        """Endpoints with a regression (of the endpoint or of functions in it), most regressed first."""
        functions: dict[str, list[dict[str, Any]]] = {}
        for f in result["functions"]:
            if f["kind"] == "regression":
                functions.setdefault(f["endpoint"], []).append(f)
        deltas = {d["name"]: d for d in result["endpoints"]}
        names = {d["name"] for d in result["endpoints"] if d["kind"] == "regression"} | set(functions)
        order = sorted(names, key=lambda n: -max([deltas[n]["delta_ms"] if n in deltas else 0.0] + [f["delta_ms"] for f in functions.get(n, [])]))
        return [(n, deltas.get(n) if deltas.get(n, {}).get("kind") == "regression" else None, functions.get(n, [])) for n in order]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for the handed-off batches (tests)."""
        return self._pool.submit(lambda: None).result(timeout) is None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
