"""The continuous budget check (budgets.py): every ``budget_check_interval_s`` (the budgets' roll-up interval), each
project's versions that received records since the last check (or all of its newest ``MAX_VERSIONS``, when its budgets
changed) are checked; their breaches replace the stored ones (``breaches(store)``: a table of the SQLite store, a
collection of MongoDB), so a breach that no longer holds disappears. A breach seen for the first time can trigger an
automatic analysis (setting ``budget_auto_analysis``, on by default; the project's ``settings.auto_analysis`` policy
and hourly quota apply) of the slowest of the version's newest records of the endpoint, with trigger ``budget``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from pystrument.server.analysis import budgets as budgets_mod
from pystrument.server.stores.base import Filters, Store

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

logger = logging.getLogger("pystrument.server.analysis.budgets")
MAX_VERSIONS = 20
TRIGGER = "budget"


def breaches(store: Store) -> Any:
    """The breach table of a store (SQLite or MongoDB; also through the Redis cache's wrapper)."""
    inner: Any = getattr(store, "_inner", store)
    found = getattr(inner, "_pystrument_breaches", None)
    if found is None:
        if inner.name == "sqlite":
            from pystrument.server.stores.sqlite_budgets import SQLiteBreaches

            found = SQLiteBreaches(inner)
        elif inner.name == "mongodb":
            from pystrument.server.stores.mongo_budgets import MongoBreaches

            found = MongoBreaches(inner)
        else:
            raise NotImplementedError(f"store {inner.name!r} keeps no budget breaches (SQLite and MongoDB do)")
        inner._pystrument_breaches = found  # one per store object
    return found


def forget(store: Store, project_id: str) -> None:
    """A deleted project's breaches go with it (the DELETE route; a check still running when the project went is
    caught by ``BudgetChecker.check_all``'s pass over the deleted projects)."""
    try:
        table = breaches(store)
    except NotImplementedError:  # a store that keeps no breaches has none to forget
        return
    table.replace(project_id, None, [])


class BudgetChecker:
    def __init__(self, store: Store, settings: ServerSettings, auto: Any = None) -> None:
        self.store = store
        self.settings = settings
        self.auto = auto  # autoanalysis.AutoAnalysis, for breaches seen for the first time
        self._seen: dict[str, tuple[str, dict[str, tuple[str, int]]]] = {}  # project -> (budgets' hash, version -> (last_seen, count))
        self._lock = threading.Lock()  # one check at a time in a process (the periodic loop, or a test calling it)

    def check_all(self) -> int:
        """Check every project; returns the number of breaches that hold now."""
        total = 0
        with self._lock:
            projects = self.store.list_projects()
            for project in projects:
                try:
                    total += self.check_project(project)
                except Exception as exc:  # one project's failure does not stop the others; logged each interval
                    logger.error("pystrument-server: budget check of project %s failed: %s: %s", project["id"], type(exc).__name__, exc)
            table = breaches(self.store)
            # deleted projects leave no breach behind, one deleted during this pass included (its check may have
            # written its breaches after the deletion removed them): the project list is read again here
            for gone in table.project_ids() - {p["id"] for p in self.store.list_projects()}:
                table.replace(gone, None, [])
                self._seen.pop(gone, None)
        return total

    def check_project(self, project: dict[str, Any]) -> int:
        pid = project["id"]
        try:
            budgets = budgets_mod.effective(project, self.settings)
        except ValueError as exc:  # stored before validation existed, or a server setting changed: say so, check nothing
            logger.error("pystrument-server: project %s has invalid budgets, not checked: %s", pid, exc)
            budgets = []
        digest = hashlib.blake2b(json.dumps(budgets_mod.to_builtins(budgets), sort_keys=True).encode(), digest_size=8).hexdigest()
        old_digest, old = self._seen.get(pid, ("", {}))
        table = breaches(self.store)
        if not budgets:  # nothing to check: no store read beyond clearing what older budgets found, once
            if old_digest != digest:
                table.replace(pid, None, [])
                self._touch(pid)
            self._seen[pid] = (digest, {})
            return 0
        versions: dict[str, tuple[str, int]] = {}
        for v in self.store.versions(pid):
            last, count = versions.get(v["version"], ("", 0))
            versions[v["version"]] = (max(last, v["last_seen"]), count + v["count"])
        newest = sorted(versions, key=lambda v: versions[v][0], reverse=True)[:MAX_VERSIONS]
        changed = newest if old_digest != digest else [v for v in newest if old.get(v) != versions[v]]
        if not changed:
            self._seen[pid] = (digest, versions)
            return len(table.list(pid))
        before = {budgets_mod.breach_key(b): b for b in table.list(pid)}
        found: list[dict[str, Any]] = []
        for version in changed:
            found += budgets_mod.check_version(self.store, pid, version, budgets, self.settings.sample_limit)
        fresh = []
        for b in found:
            prior = before.get(budgets_mod.breach_key(b))
            b["first_seen"] = prior.get("first_seen", prior["checked_at"]) if prior else b["checked_at"]
            if prior is None:
                fresh.append(b)
        gone = [v for v in {b["version"] for b in before.values()} if v not in newest]  # deleted or no longer among the newest
        if self.store.get_project(pid) is None:  # deleted while it was checked: its breaches went with it
            return 0
        table.replace(pid, changed + gone, found)
        self._touch(pid)
        self._seen[pid] = (digest, versions)
        for b in fresh:
            logger.warning("pystrument-server: budget breach in project %s: %s", pid, budgets_mod.describe(b))
        if fresh and self.auto is not None and self.settings.budget_auto_analysis:
            self._analyse(project, fresh)
        return len(table.list(pid))

    def _touch(self, project_id: str) -> None:
        invalidate = getattr(self.store, "invalidate", None)  # the Redis cache's wrapper: cached /endpoints answers are stale
        if invalidate is not None:
            invalidate(project_id)

    def _analyse(self, project: dict[str, Any], fresh: list[dict[str, Any]]) -> None:
        from pystrument.server.analysis.auto import policy

        rule = policy(project, self.settings)
        if not rule.enabled:
            return
        for endpoint, version in dict.fromkeys((b["endpoint"], b["version"]) for b in fresh):
            newest = list(self.store.sample_records(project["id"], Filters(endpoint=endpoint, version=version), 50, with_tree=False))
            if newest:
                record = max(newest, key=lambda r: r.duration_ms)
                self.auto._submit(project["id"], rule, record.record_id, trigger=TRIGGER, endpoint=endpoint, version=version)
