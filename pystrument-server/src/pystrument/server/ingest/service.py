"""The one ingest service. Every way in ends here: the HTTP routes (``batch``, run in the thread pool), the
Redis-stream consumer and the importer (``store``, after ``decode.decode_one``); the demo and the SDK's HTTP sink
come through the routes. ``store`` applies the cardinality limits (cardinality.py: new endpoints or versions beyond a
project's limits refused, trees beyond a record's limits folded), stores what is left and hands the new records to
the automatic analysis; ``batch`` also decodes and checks each record and finds its project by key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pystrument.core.contract import INVALID_PROJECT_KEY, PERFORMANCE_DATA_INVALID
from pystrument.core.record import Record
from pystrument.server.ingest.cardinality import KnownNames, apply_limits
from pystrument.server.ingest.decode import check, decode_one, record_id_of
from pystrument.server.stores.base import Store

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings


class UnknownKey(Exception):
    """No project has the key that was sent (the header's, or any record's)."""


class NoKey(UnknownKey):
    """No key was sent at all (no header, and no record names one)."""


@dataclass
class Rejected:
    index: int
    record_id: str | None
    code: int  # the envelope's code for this record (pystrument.core.contract)
    error: str


@dataclass
class Folded:
    index: int
    record_id: str
    message: str


@dataclass
class Stored:
    """What storing one project's records did; ``refused`` and ``folded`` map a record's position in the records
    given to the message (which starts with the record's label)."""

    accepted: list[str] = field(default_factory=list)  # the record ids stored
    duplicates: int = 0  # records whose (project, record_id) was stored before: not stored again
    refused: dict[int, str] = field(default_factory=dict)
    folded: dict[int, str] = field(default_factory=dict)


@dataclass
class IngestResult:
    """A batch's outcome, per record by its index in the batch."""

    accepted: list[str] = field(default_factory=list)  # the record ids stored
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    folded: list[Folded] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        """The API's ``data`` for a batch (docs/api.md, Ingest); ``folded`` only when a tree was folded."""
        out: dict[str, Any] = {"accepted": len(self.accepted), "duplicates": self.duplicates,
                               "rejected": [r.__dict__ for r in self.rejected]}
        if self.folded:
            out["folded"] = [f.__dict__ for f in self.folded]
        return out


class IngestService:
    """``settings`` None: no cardinality limits (a tool filling a store from input it trusts)."""

    def __init__(self, store: Store, settings: ServerSettings, *, names: KnownNames | None = None, auto: Any = None) -> None:
        self.store = store
        self.settings = settings
        self.names = names if names is not None or settings is None else KnownNames(store, settings)
        self.auto = auto  # analysis.auto.AutoAnalysis: slow new records are analysed, whichever way they came in

    def store_records(self, project: dict[str, Any], records: list[Record], labels: list[str]) -> Stored:
        """Store ``records`` (decoded and checked) into ``project``; ``labels`` name each record in messages."""
        out = Stored()
        if self.names is not None:
            kept, out.refused, out.folded = apply_limits(self.names, self.settings, project["id"], records, labels)
            records = [r for _k, r in kept]
        if not records:
            return out
        result = self.store.insert_records(project["id"], records)
        out.accepted, out.duplicates = list(result.accepted), len(result.duplicates)
        if self.auto is not None:
            self.auto.after_ingest(project, records, result.accepted)
        return out

    def batch(self, raws: list[bytes], prefix: str, *, decoded: Sequence[Record] | None = None, key: str = "",
              admit_key: Callable[[str], None] | None = None) -> IngestResult:
        """Decode and check each record (``raws``, or ``decoded`` when the batch decoded in one go), find its
        project (``key`` for every record, else each record's ``project_key``; ``admit_key`` is called with each
        valid key, e.g. the rate limit), store per project. ``prefix`` names the records in messages
        (``records[3].name: ...``; "" for a single record). Raises UnknownKey / NoKey when no key is valid."""
        result = IngestResult()
        good: list[tuple[int, Record]] = []
        for i, record in enumerate(decoded or []):
            problem = check(record, f"{prefix}[{i}]")
            if problem:
                result.rejected.append(Rejected(i, record.record_id or None, PERFORMANCE_DATA_INVALID, problem))
            else:
                good.append((i, record))
        for i, raw in enumerate(raws):
            one, problem = decode_one(raw, f"{prefix}[{i}]" if prefix else "")
            if one is None:
                error = problem or "not a record"
                result.rejected.append(Rejected(i, record_id_of(raw), PERFORMANCE_DATA_INVALID, error if prefix else error.lstrip(".")))
            else:
                good.append((i, one))
        by_project: dict[str, list[tuple[int, Record]]] = {}
        projects: dict[str, dict[str, Any]] = {}
        if good:
            by_key = self._projects_for(key, {r.project_key for _i, r in good}, admit_key)
            for i, record in good:
                project = by_key.get(key or record.project_key)
                if project is None:
                    field_name = f"{prefix}[{i}].project_key" if prefix else "project_key"
                    result.rejected.append(Rejected(i, record.record_id, INVALID_PROJECT_KEY, f"{field_name}: not a valid project key"))
                    continue
                projects[project["id"]] = project
                by_project.setdefault(project["id"], []).append((i, record))
        elif key and self.store.get_project_by_key(key) is None:  # nothing valid to store: still tell a wrong key apart
            raise UnknownKey(key)
        for project_id, items in by_project.items():
            stored = self.store_records(projects[project_id], [r for _i, r in items],
                                        [f"{prefix}[{i}]" if prefix else "record" for i, _r in items])
            for k, message in stored.refused.items():
                i, record = items[k]
                result.rejected.append(Rejected(i, record.record_id, PERFORMANCE_DATA_INVALID, message))
            for k, message in stored.folded.items():
                i, record = items[k]
                result.folded.append(Folded(i, record.record_id, message))
            result.accepted += stored.accepted
            result.duplicates += stored.duplicates
        result.rejected.sort(key=lambda r: r.index)
        result.folded.sort(key=lambda f: f.index)
        return result

    def _projects_for(self, key: str, record_keys: set[str], admit_key: Callable[[str], None] | None) -> dict[str, dict[str, Any] | None]:
        keys = {key} if key else record_keys
        out = {k: self.store.get_project_by_key(k) if k else None for k in keys}
        if not any(out.values()):
            if not key and keys <= {""}:
                raise NoKey("")
            raise UnknownKey(key or next(iter(keys)))
        if admit_key is not None:
            for k, project in out.items():
                if project is not None:
                    admit_key(k)
        return out
