"""The check of advice (docs/analysis.md, "Advice that is checked"): each finding's prediction (advice.py) against
the measured change of its target between the analysed version and the newest later version of the endpoint that
has had ``advice_min_requests`` requests.

Runs with the periodic work (the upkeep loop's automatic-analysis tick, or the ``advice-check`` task of the Redis
workers). Cheap and idempotent: per project it reads the advice index (a few columns per analysis with
predictions) and, only when some analysis has not been checked against its endpoint's newest qualifying version,
the versions, the endpoint's roll-up counts and the latest records of the two versions (once per tick per
endpoint and version). A verdict is written into its finding (``check``) and the index remembers the version it
was measured on; a newer qualifying version checks it again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from pystrument.core import failsafe
from pystrument.server.analysis import advice
from pystrument.server.stores.advice_index import advice_index
from pystrument.server.stores.base import AnalysisQuery, Filters, Store, StoreError

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

logger = logging.getLogger("pystrument.server.analysis.advice")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def track(store: Store, analysis: dict[str, Any]) -> None:
    """Enter an analysis whose findings carry predictions in the index (called when it is done)."""
    index = advice_index(store)
    if index is not None and any("prediction" in f for f in analysis.get("findings") or []):
        index.track(analysis["project_id"], analysis["id"], analysis.get("endpoint") or "", analysis.get("version") or "",
                                  analysis["created_at"])


_FIRST_SEEN: dict[str, dict[str, str]] = {}  # project -> version -> first seen (ISO): versions() only for a version not known yet


class _FirstSeen:
    """When each version of the project was first seen (``Store.versions``, a scan of the records in SQLite), kept
    in this process between checks and read again only when a version it does not know is asked for."""

    def __init__(self, store: Store, project_id: str) -> None:
        self.store, self.project_id = store, project_id

    def of(self, versions: list[str]) -> dict[str, str]:
        known = _FIRST_SEEN.get(self.project_id)
        if known is None or any(v not in known for v in versions):
            known = {}
            for row in self.store.versions(self.project_id):
                known[row["version"]] = min(known.get(row["version"], row["first_seen"]), row["first_seen"])
            known.update({v: "" for v in versions if v not in known})  # no records left (purged): "" until the next refresh
            if len(_FIRST_SEEN) > 10_000:
                _FIRST_SEEN.clear()
            _FIRST_SEEN[self.project_id] = known
        return known


class _Traffic:
    """Per endpoint, per version: requests (continuous count where present, else detailed records) and detailed records."""

    def __init__(self, store: Store, project_id: str) -> None:
        self.store, self.project_id = store, project_id
        self._cache: dict[str, tuple[dict[str, int], dict[str, int]]] = {}

    def of(self, endpoint: str) -> tuple[dict[str, int], dict[str, int]]:
        if endpoint not in self._cache:
            table = self.store.bucket_table(self.project_id, Filters(endpoint=endpoint), 86400, keys=True)
            detailed: dict[str, int] = {}
            for version, count in zip(table.version.tolist(), table.count.tolist(), strict=True):
                detailed[version] = detailed.get(version, 0) + int(count)
            continuous: dict[str, int] = {}
            rows = getattr(self.store, "aggregate_rows", None)
            if rows is not None:
                for stats, _tree in rows(self.project_id, Filters(endpoint=endpoint), False):
                    continuous[stats.version] = continuous.get(stats.version, 0) + stats.count
            requests = {v: continuous.get(v) or detailed.get(v, 0) for v in set(detailed) | set(continuous)}
            self._cache[endpoint] = (requests, detailed)
        return self._cache[endpoint]

    def endpoint_ms(self, endpoint: str, version: str) -> float | None:
        table = self.store.bucket_table(self.project_id, Filters(endpoint=endpoint, version=version), 86400, keys=False)
        count = int(table.count.sum())
        return round(float(table.sum_ms.sum()) / count, 3) if count else None


def check_all(store: Store, settings: ServerSettings) -> int:
    """Check every project's advice; returns the number of analyses whose verdicts were (re)written. A project
    whose check fails is logged (and reported as a bug unless the database failed); the others are still checked."""
    done = 0
    for project in store.list_projects():
        try:
            done += check_project(store, project["id"], settings)
        except (StoreError, OSError, MemoryError) as exc:
            logger.error("pystrument-server: advice check of project %s failed: %s: %s", project["id"], type(exc).__name__, exc)
        except Exception as exc:
            logger.error("pystrument-server: advice check of project %s failed: %s: %s", project["id"], type(exc).__name__, exc)
            failsafe.report("advice check", exc)
    return done


def check_project(store: Store, project_id: str, settings: ServerSettings) -> int:
    index = advice_index(store)
    if index is None:
        return 0
    rows = index.rows(project_id)
    if not rows:
        return 0
    first_seen = _FirstSeen(store, project_id)
    traffic = _Traffic(store, project_id)
    records: dict[tuple[str, str], list[Any]] = {}
    written = 0
    for row in rows:
        endpoint, version = row["endpoint"], row["version"]
        requests, detailed = traffic.of(endpoint)
        ready = [v for v in requests if v != version and requests[v] >= settings.advice_min_requests and detailed.get(v, 0) > 0]
        if not ready:
            continue
        seen = first_seen.of([version, *ready])
        if not seen.get(version):
            continue  # the analysed version's records are gone: nothing to order versions by
        later = [v for v in ready if seen.get(v) and seen[v] > seen[version]]
        if not later:
            continue
        against = max(later, key=lambda v: (seen[v], v))
        if against == row["checked_against"]:
            continue
        analysis = store.get_analysis(row["analysis_id"])
        if analysis is None:
            index.forget(row["analysis_id"])
            continue
        if analysis.get("status") != "done":
            continue
        for v in (version, against):
            if (endpoint, v) not in records:
                records[(endpoint, v)] = advice.version_records(store, project_id, endpoint, v, settings.advice_records)
        figures = {"requests": {"before": requests.get(version, 0), "after": requests[against]},
                   "endpoint_ms": {"before": traffic.endpoint_ms(endpoint, version), "after": traffic.endpoint_ms(endpoint, against)}}
        _check(analysis, records[(endpoint, version)], records[(endpoint, against)], against, figures, settings)
        store.save_analysis(analysis)
        index.mark(row["analysis_id"], against)
        written += 1
    if written:
        logger.info("pystrument-server: advice of %d analysis(es) of project %s checked", written, project_id)
    return written


def _check(analysis: dict[str, Any], before: list[Any], after: list[Any], against: str, figures: dict[str, Any], settings: ServerSettings) -> None:
    findings = [f for f in analysis.get("findings") or [] if isinstance(f.get("prediction"), dict)]
    targets = [f["prediction"]["target"] for f in findings]
    n_before, ms_before = advice.measure(before, targets)
    n_after, ms_after = advice.measure(after, targets)
    for i, finding in enumerate(findings):
        prediction = finding["prediction"]
        base = ms_before[i] if n_before else float(prediction["baseline_ms"])  # records of the analysed version purged
        measured = base - ms_after[i]
        finding["check"] = {
            "verdict": advice.verdict(float(prediction["predicted_ms"]), measured, settings),
            "predicted_ms": prediction["predicted_ms"], "measured_ms": round(measured, 3),
            "before_ms": round(base, 3), "after_ms": round(ms_after[i], 3),
            "version": prediction["version"], "against": against,
            "records": {"before": n_before or prediction["records"], "after": n_after}, **figures, "checked_at": _now(),
        }


HISTORY_ITEMS = 8


def history(store: Store, project_id: str, endpoint: str, limit: int = HISTORY_ITEMS) -> list[dict[str, Any]]:
    """What earlier advice on this endpoint did: the newest checked findings (one per target), for the AI prompt."""
    items, _ = store.list_project_analyses(project_id, AnalysisQuery(endpoint=endpoint, page_size=50))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for analysis in items:
        for finding in analysis.get("findings") or []:
            check = finding.get("check")
            if not isinstance(check, dict):
                continue
            target = finding["prediction"]["target"]
            key = f"{target.get('kind')}|{target.get('function')}|{target.get('text', '')}"
            if key in seen:
                continue
            seen.add(key)
            out.append({"title": finding.get("title", ""), "function": finding.get("function", ""), "target": target.get("text") or target.get("function"),
                        "suggestion": (finding.get("suggestion") or "")[:300], "verdict": check["verdict"],
                        "predicted_ms": check["predicted_ms"], "measured_ms": check["measured_ms"], "version": check["version"],
                        "against": check["against"], "before_ms": check["before_ms"], "after_ms": check["after_ms"]})
            if len(out) >= limit:
                return out
    return out
