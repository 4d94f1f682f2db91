"""Cardinality limits of a project, applied at ingest: at most ``max_endpoints_per_project`` distinct endpoints
(record names) and ``max_versions_per_project`` distinct app versions. A record of a new endpoint or version
beyond the limit is refused alone (code 20004, the limit named with its value and how to raise it); records of
known ones keep being accepted.

The names known per project come from the store's roll-ups (``Store.distinct_names``), read once per process and
again when a name is new while the limit is reached (at most every ``RELOAD_S`` seconds: names freed by
``DELETE .../versions/{version}`` count again). With several server processes each holds its own view, so a
project may pass a limit by the names that arrive at the same moment in different processes, no more.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pystrument.core.record import Record
from pystrument.server.ingest import fold
from pystrument.server.stores.base import Store

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

RELOAD_S = 5.0

_HOW = {
    "endpoint": "name records by route template ('GET /users/{id}', not '/users/42'), or raise the limit: "
                "max_endpoints_per_project in the config file or PYSTRUMENT_SERVER_MAX_ENDPOINTS_PER_PROJECT",
    "version": "delete versions no longer needed (DELETE /api/v1/projects/{project_id}/versions/{version}), or raise the limit: "
               "max_versions_per_project in the config file or PYSTRUMENT_SERVER_MAX_VERSIONS_PER_PROJECT",
}


@dataclass
class _Known:
    names: set[str]
    loaded: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class KnownNames:
    """Per project and kind (``endpoint``, ``version``): the names already known, up to the limit."""

    def __init__(self, store: Store, settings: ServerSettings) -> None:
        self.store = store
        self.settings = settings
        self._known: dict[tuple[str, str], _Known] = {}
        self._lock = threading.Lock()

    def _limit(self, kind: str) -> int:
        return int(self.settings.max_endpoints_per_project if kind == "endpoint" else self.settings.max_versions_per_project)

    def _entry(self, project_id: str, kind: str) -> _Known:
        with self._lock:
            entry = self._known.get((project_id, kind))
        if entry is None:
            entry = _Known(set(self.store.distinct_names(project_id, kind)), time.monotonic())
            with self._lock:
                entry = self._known.setdefault((project_id, kind), entry)
        return entry

    def admit(self, project_id: str, records: list[Record], labels: list[str]) -> list[tuple[int, str]]:
        """The records refused (their position in ``records`` and the message); the others' new names are counted in.
        ``labels[i]``: how to name record i in a message (``records[3]``)."""
        refused: dict[int, str] = {}
        for kind in ("endpoint", "version"):
            limit = self._limit(kind)
            entry = self._entry(project_id, kind)
            with entry.lock:
                names = entry.names
                for i, r in enumerate(records):
                    if i in refused:
                        continue
                    name = r.name if kind == "endpoint" else r.app.version
                    if name in names:
                        continue
                    if len(names) >= limit and time.monotonic() - entry.loaded > RELOAD_S:
                        names.clear()
                        names.update(self.store.distinct_names(project_id, kind))
                        entry.loaded = time.monotonic()
                        if name in names:
                            continue
                    if len(names) < limit:
                        names.add(name)
                        continue
                    field_name = "name" if kind == "endpoint" else "app.version"
                    refused[i] = (f"{labels[i]}.{field_name}: {kind} {name!r} is new and the project already has {len(names)} distinct "
                                  f"{kind}s, the limit (max_{kind}s_per_project={limit}); records of known {kind}s are still accepted. "
                                  f"To fix: {_HOW[kind]}")
        return sorted(refused.items())

    def forget(self, project_id: str) -> None:
        """Names of the project read again at the next ingest (after a version was deleted)."""
        with self._lock:
            for kind in ("endpoint", "version"):
                self._known.pop((project_id, kind), None)


def apply_limits(names: KnownNames, settings: ServerSettings, project_id: str, records: list[Record], labels: list[str]
                 ) -> tuple[list[tuple[int, Record]], dict[int, str], dict[int, str]]:
    """Every ingest path's limits for one project's records: the project's (new endpoints and versions beyond the
    limits refused) and each record's (trees beyond the limits folded, fold.py). Returns the records kept (with
    their position in ``records``), the refused ones' messages and the folded ones' messages, by position."""
    refused = dict(names.admit(project_id, records, labels))
    kept: list[tuple[int, Record]] = []
    folded: dict[int, str] = {}
    n, f = settings.max_nodes_per_record, settings.max_functions_per_record
    for k, record in enumerate(records):
        if k in refused:
            continue
        out = fold.fold_record(record, n, f)  # type: ignore[arg-type]
        if out is not record:
            folded[k] = (f"{labels[k]}.call_tree: folded to at most max_nodes_per_record={n} nodes of max_functions_per_record={f} "
                         "distinct functions (the lightest frames are in [other] nodes, times kept); the record is stored, marked "
                         "truncated. Prune the tree in the client (max_tree_nodes) or raise the limits to keep more.")
        kept.append((k, out))
    return kept, refused, folded
