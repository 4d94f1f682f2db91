"""Which analyses carry predictions still to check (advice_check.py): one small row per such analysis, kept apart
from the analyses themselves so that the periodic check reads a few columns, never the analyses' documents.

Rows: ``project_id``, ``analysis_id``, ``endpoint``, ``version`` (analysed), ``created_at`` and ``checked_against``
(the later version its verdicts were measured on, "" before the first check). ``advice_index(store)`` picks the
store's implementation (``sqlite_advice.py``, ``mongo_advice.py``) by ``store.name`` and keeps it on the store.
"""

from __future__ import annotations

from typing import Any, Protocol

MAX_ROWS = 500  # per project and check: the newest analyses with predictions


class AdviceIndex(Protocol):
    def track(self, project_id: str, analysis_id: str, endpoint: str, version: str, created_at: str) -> None: ...
    def rows(self, project_id: str, limit: int = MAX_ROWS) -> list[dict[str, Any]]: ...
    def mark(self, analysis_id: str, checked_against: str) -> None: ...
    def forget(self, analysis_id: str) -> None: ...


def advice_index(store: Any) -> AdviceIndex:
    index = getattr(store, "_pystrument_advice_index", None)
    if index is not None:
        return index  # type: ignore[no-any-return]
    if store.name == "sqlite":
        from .sqlite_advice import SQLiteAdvice

        index = SQLiteAdvice(store)
    elif store.name == "mongodb":
        from .mongo_advice import MongoAdvice

        index = MongoAdvice(store)
    else:
        raise NotImplementedError(f"store {store.name!r} keeps no advice index: checked advice needs the sqlite or mongodb store")
    try:
        store._pystrument_advice_index = index
    except AttributeError:  # a store with __slots__: made again next time (cheap: CREATE ... IF NOT EXISTS)
        pass
    return index
