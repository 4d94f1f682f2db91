"""The in-process analysis worker: a thread pool running analysers and AI providers on stored records.

A job runs every registered analyser (``register_analysers``), then, when a provider is asked for,
that AI provider (``register_ai_providers``) with the analysers' findings; the result is stored as
an analysis. One job per (record, provider) may be queued or running at a time (20006 otherwise).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
from pystrument.core import failsafe, plugins
from pystrument.core.analysis import SEVERITY_RANK, AIUnavailable, AnalysisContext, rank_findings
from pystrument.server.analysis import advice, advice_check
from pystrument.server.settings import ServerSettings
from pystrument.server.stores.base import Filters, Store, StoreError

logger = logging.getLogger("pystrument.server.analysis.worker")
RULES = "rules"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def top_severity(findings: list[Any]) -> str | None:
    """The most severe of the findings' severities (None without findings): what lists of analyses show."""
    return max((f.severity for f in findings), key=lambda s: SEVERITY_RANK.get(s, 0), default=None)


class Busy(Exception):
    def __init__(self, analysis_id: str) -> None:
        super().__init__(analysis_id)
        self.analysis_id = analysis_id


class AnalysisWorker:
    def __init__(self, store: Store, settings: ServerSettings) -> None:
        self.store = store
        self.settings = settings
        self.analysers: dict[str, Any] = plugins.provided("register_analysers")
        self.providers: dict[str, Any] = plugins.provided("register_ai_providers")
        self._pool = ThreadPoolExecutor(max_workers=settings.analysis_workers, thread_name_prefix="pystrument-analysis")
        self._active: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def provider_settings(self, name: str, model: str | None = None) -> dict[str, Any]:
        """The provider's section flattened over the global AI settings, plus ``ai``: the whole ``ai`` setting
        (with ``model`` in the provider's section), the shape pystrument-ai's providers read."""
        conf = self.settings.ai or {}
        value = conf.get(name)
        section: dict[str, Any] = value if isinstance(value, dict) else {}
        whole = {**conf, name: {**section, "model": model}} if model else dict(conf)
        return {**{k: v for k, v in conf.items() if not isinstance(v, dict)}, **section, "ai": whole}

    def configured(self, name: str) -> bool:
        provider = self.providers[name]
        check = getattr(provider, "is_configured", None) or getattr(provider, "configured", None)
        if callable(check):
            try:
                return bool(check(self.provider_settings(name)))
            except Exception:
                return False
        return True

    def describe_providers(self) -> list[dict[str, Any]]:
        items = [{"name": RULES, "default_model": None, "configured": True, "analysers": sorted(self.analysers)}]
        for name, provider in sorted(self.providers.items()):
            items.append({"name": name, "default_model": getattr(provider, "default_model", None), "configured": self.configured(name)})
        return items

    def new_analysis(self, project_id: str, record_id: str, provider: str, model: str | None, *, trigger: str = "manual",
                     endpoint: str | None = None, version: str | None = None, regression: dict[str, Any] | None = None) -> dict[str, Any]:
        """A queued analysis in the API's shape; ``regression`` (base, head, the compared function deltas) when a
        version comparison is analysed."""
        return {
            "id": uuid.uuid4().hex, "record_id": record_id, "project_id": project_id, "provider": provider,
            "model": model or (getattr(self.providers.get(provider), "default_model", None) if provider != RULES else None),
            "status": "queued", "created_at": _now(), "finished_at": None, "summary": "", "findings": [], "error": None, "raw": None,
            "trigger": trigger, "endpoint": endpoint, "version": version, "severity": None, "regression": regression,
        }

    def submit(self, project_id: str, record_id: str, provider: str, model: str | None, language: str, **extra: Any) -> dict[str, Any]:
        """Queue an analysis (``extra``: the keywords of ``new_analysis``); raises ``Busy`` while one of the same
        record and provider is queued or running."""
        key = (project_id, record_id, provider)
        with self._lock:
            if key in self._active:
                raise Busy(self._active[key])
            analysis = self.new_analysis(project_id, record_id, provider, model, **extra)
            self.store.save_analysis(analysis)
            self._active[key] = analysis["id"]
        self._pool.submit(self._run, analysis, language)
        return analysis

    def _run(self, analysis: dict[str, Any], language: str) -> None:
        key = (analysis["project_id"], analysis["record_id"], analysis["provider"])
        try:
            analysis["status"] = "running"
            self.store.save_analysis(analysis)
            self._analyse(analysis, language)
        except Exception as exc:  # a job never takes the worker down; its failure is stored
            logger.exception("pystrument-server: analysis %s failed", analysis["id"])
            analysis.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            analysis["finished_at"] = _now()
            try:
                self.store.save_analysis(analysis)
            finally:
                with self._lock:
                    self._active.pop(key, None)

    def _analyse(self, analysis: dict[str, Any], language: str) -> None:
        found = self.store.get_record(analysis["record_id"], analysis["project_id"])
        if found is None:
            analysis.update(status="failed", error="the record was deleted before it could be analysed")
            return
        project_id, record = found
        peers = [r for r in self.store.sample_records(project_id, Filters(endpoint=record.name, version=record.app.version), 20)
                 if r.record_id != record.record_id]
        regressions = (analysis.get("regression") or {}).get("functions") or []
        context = AnalysisContext(record=record, peers=peers, regressions=regressions, language=language)  # type: ignore[arg-type]
        findings = []
        errors = []
        for name, analyser in sorted(self.analysers.items()):
            try:
                findings.extend(analyser.analyse(context))
            except Exception as exc:
                logger.error("pystrument-server: analyser %r failed on %s: %s: %s", name, record.record_id, type(exc).__name__, exc)
                errors.append(f"analyser {name}: {type(exc).__name__}: {exc}")
        findings = rank_findings(findings)  # most important first, as the API says
        summary = f"{len(findings)} finding(s) from {len(self.analysers)} rule-based analyser(s)"
        raw = None
        if analysis["provider"] != RULES:
            provider = self.providers[analysis["provider"]]
            context.advice = self._tried(project_id, record.name)
            settings = {**self.provider_settings(analysis["provider"], analysis["model"]), "model": analysis["model"]}
            try:
                result = provider.analyse(context, findings, settings)
            except AIUnavailable as exc:
                analysis.update(status="failed", error=f"20005 AI service unavailable ({exc.reason}): {exc}",
                                findings=[msgspec.to_builtins(f) for f in findings], summary=summary, severity=top_severity(findings))
                return
            findings = list(result.findings) if result.findings else findings
            summary, raw = result.summary or summary, result.raw
        analysis.update(status="done", summary=summary, findings=[msgspec.to_builtins(f) for f in findings], raw=raw,
                        error="; ".join(errors) or None, severity=top_severity(findings))
        self._predict(project_id, record, analysis)

    def _predict(self, project_id: str, record: Any, analysis: dict[str, Any]) -> None:
        """What each finding predicts, entered in the advice index (advice.py, advice_check.py); a failure here
        costs the analysis nothing but its predictions."""
        try:
            if advice.predict(self.store, project_id, record, analysis["findings"], self.settings):
                advice_check.track(self.store, analysis)
        except StoreError as exc:  # the database failed: not a bug of ours
            logger.error("pystrument-server: predictions of analysis %s not stored: %s", analysis["id"], exc)
        except Exception as exc:
            failsafe.report("advice predictions", exc)

    def _tried(self, project_id: str, endpoint: str) -> list[dict[str, Any]]:
        """What earlier advice on this endpoint did (for the AI prompt); empty when it cannot be read."""
        try:
            return advice_check.history(self.store, project_id, endpoint)
        except StoreError as exc:
            logger.error("pystrument-server: earlier advice on %s not read: %s", endpoint, exc)
            return []
        except Exception as exc:
            failsafe.report("advice history", exc)
            return []

    def wait_idle(self, timeout: float = 10.0) -> bool:
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if not self._active:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
