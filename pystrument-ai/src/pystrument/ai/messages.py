"""The English text of the rule-based findings' suggestions and evidence notes, by message code.

A finding says its suggestion again as ``suggestion_code`` (parameters in ``params``) and its evidence note as
``note_code``, so the UI renders both in its own language (ui/src/i18n: ``suggest.<code>``, ``note.<code>``);
the API keeps this English text in ``suggestion`` and ``evidence["note"]``. The UI's English messages must
read exactly as these templates: ``python -m pystrument.ai.messages`` writes them to
ui/tests/fixtures/finding-messages.json, which a UI test compares with en.ts and zh.ts (and
pystrument-ai/tests/test_ai_messages.py with this module)."""

from __future__ import annotations

import json
from typing import Any

from .calls import BLOCKING_FIXES, COSTLY_PATTERNS

REPEATED_FIXES = {
    "db": "Fetch the rows in one query (`WHERE id IN (...)`, a JOIN, the ORM's select_related / prefetch_related / "
          "selectinload) instead of one query per item, or load them once per request and look them up in a dict.",
    "network": "Batch the calls (one bulk request), run them concurrently, or cache the responses; reuse one session "
               "so connections are pooled.",
    "file": "Read the files once (or one combined file) and keep the content in memory instead of per item.",
}

# parameters: {lists} the list names, each in backticks; {callee} a function; {function}; {delta_ms} one decimal;
# {callees} "name (1.2 ms), ..."
SUGGESTIONS: dict[str, str] = {
    "hot_path.list_membership": "`in` tests on the list {lists} inside a loop cost O(n) each, O(n^2) in all: keep a set "
                                "(or a dict) beside it for membership tests.",
    "hot_path.sort_in_loop": "Sorting inside a loop: sort once after the loop, or keep the data ordered (bisect, heapq).",
    "hot_path.callee": "Most of this time is in `{callee}`, called from here: call it less often "
                       "(batch, cache the result, hoist it out of loops) or give it less data.",
    "hot_path.own_code": "The time is in this function's own Python code: look for loops over large collections, "
                         "membership tests on lists (use a set or dict), repeated work that could be done once or "
                         "cached, or move the computation out of the request.",
    **{f"async_blocking.io.{kind}": f"{fix[0].upper()}{fix[1:]}." for kind, fix in BLOCKING_FIXES.items()},
    "async_blocking.cpu": "Run it off the event loop: `await asyncio.to_thread(fn, ...)` for work that releases the GIL, "
                          "`await loop.run_in_executor(process_pool, fn, ...)` for pure-Python CPU work, or make it "
                          "cheaper; if it must stay, split it and `await asyncio.sleep(0)` between chunks.",
    **{f"costly.{p.key}": p.suggestion for p in COSTLY_PATTERNS},
    **{f"repeated.{kind}": fix for kind, fix in REPEATED_FIXES.items()},
    "regressed.compare": "Compare {function} between the two versions: the change that added {delta_ms} ms is in it or in what it calls.",
    "regressed.callees": "Compare {function} between the two versions: the change that added {delta_ms} ms is in it or in "
                         "what it calls; here its time goes to {callees}.",
}

NOTES: dict[str, str] = {
    "hot_path.busy_host": "the thread ran on a CPU for only part of this time (the host was busy): cost_ms is "
                          "the code's time scaled to the unit's CPU time, and sets the severity and saving",
    "async_blocking.loop_blocked": "the event loop serves nothing else meanwhile; the saving is loop time freed for other requests",
    "async_blocking.no_await": "up to this long without giving control back to the event loop",
    "costly.import_once": "paid on the first call in every worker process (and on every call after a reload)",
}


def suggestion(code: str, **params: Any) -> str:
    """The English suggestion of ``code`` with its parameters."""
    return SUGGESTIONS[code].format(**params)


def catalogue() -> dict[str, dict[str, str]]:
    return {"suggest": dict(sorted(SUGGESTIONS.items())), "note": dict(sorted(NOTES.items()))}


if __name__ == "__main__":
    print(json.dumps(catalogue(), indent=2, ensure_ascii=False))
