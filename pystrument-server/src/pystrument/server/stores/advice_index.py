"""Which analyses carry predictions still to check (advice_check.py): one small row per such analysis, kept apart
from the analyses themselves so that the periodic check reads a few columns, never the analyses' documents.

Rows: ``project_id``, ``analysis_id``, ``endpoint``, ``version`` (analysed), ``created_at`` and ``checked_against``
(the later version its verdicts were measured on, "" before the first check). ``advice_index(store)`` picks the
store's implementation (``sqlite_advice.py``, ``mongo_advice.py``, or a store plugin's ``make_advice_index()``) by
``store.name`` and keeps it on the store.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

logger = logging.getLogger("pystrument.server.analysis.advice")

MAX_ROWS = 500  # per project and check: the newest analyses with predictions


class AdviceIndex(Protocol):
    def track(self, project_id: str, analysis_id: str, endpoint: str, version: str, created_at: str) -> None: ...
    def rows(self, project_id: str, limit: int = MAX_ROWS) -> list[dict[str, Any]]: ...
    def mark(self, analysis_id: str, checked_against: str) -> None: ...
    def forget(self, analysis_id: str) -> None: ...


_warned: set[str] = set()


def advice_index(store: Any) -> AdviceIndex | None:
    """The store's advice index; a store plugin of another kind may offer its own (``store.make_advice_index()``),
    else None: its findings get predictions but are never checked (logged once)."""
    index = getattr(store, "_pystrument_advice_index", None)
    if index is not None:
        return index  # type: ignore[no-any-return]
    make = getattr(store, "make_advice_index", None)
    if make is not None:
        index = make()
    elif store.name == "sqlite":
        from pystrument.server.stores.sqlite_advice import SQLiteAdvice

        index = SQLiteAdvice(store)
    elif store.name == "mongodb":
        from pystrument.server.stores.mongo_advice import MongoAdvice

        index = MongoAdvice(store)
    else:
        if store.name not in _warned:
            _warned.add(store.name)
            logger.warning("pystrument-server: store %r keeps no advice index (make_advice_index): findings are not checked "
                           "against later versions", store.name)
        return None
    try:
        store._pystrument_advice_index = index
    except AttributeError:  # a store with __slots__: made again next time (cheap: CREATE ... IF NOT EXISTS)
        pass
    return index
