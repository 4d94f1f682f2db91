"""The prompt tells the AI what earlier advice on the endpoint did (the server's checked predictions,
``AnalysisContext.advice``), bounded in items and within the token budget, after the hot paths' reserve."""

from __future__ import annotations

import msgspec
from pystrument.ai.prompt import MAX_ADVICE, build_messages, user_message
from pystrument.core.analysis import AnalysisContext
from pystrument.core.record import Record


def _record() -> Record:
    children = [{"function": f"step_{i}", "file": "app.py", "line": 10 * i, "time_ms": 10.0 - i, "self_ms": 10.0 - i, "is_app": True}
                for i in range(6)]
    return msgspec.convert({
        "schema_version": 1, "record_id": "r1", "kind": "request", "name": "GET /report", "started_at": "2026-03-02T10:00:00Z",
        "duration_ms": 60.0, "app": {"version": "1.1"},
        "call_tree": {"function": "view", "file": "app.py", "line": 1, "time_ms": 60.0, "self_ms": 15.0, "is_app": True, "children": children},
    }, Record)


def _tried(i: int, verdict: str = "confirmed") -> dict:
    return {"title": f"Hot path: crunch_{i} takes 66% of the time", "function": f"crunch_{i}", "target": f"crunch_{i}",
            "suggestion": "Compute the totals once.", "verdict": verdict, "predicted_ms": 20.5, "measured_ms": 41.0 - i,
            "version": "1.0", "against": "1.1", "before_ms": 41.0, "after_ms": float(i)}


def test_the_advice_section_says_what_was_tried_and_what_it_measured():
    context = AnalysisContext(record=_record(), advice=[_tried(0), _tried(1, "not_confirmed")])
    text = user_message(context, [], 4000)
    assert "Earlier advice on this endpoint and what the later version measured (time per request):" in text
    assert ("- CONFIRMED: Hot path: crunch_0 takes 66% of the time\n  target: crunch_0; suggested: Compute the totals once.\n"
            "  predicted saving 20.5 ms, measured 41.0 ms (version 1.0 41.0 ms -> version 1.1 0.0 ms)") in text
    assert "- NOT CONFIRMED (no saving measured): Hot path: crunch_1" in text
    # before the hot paths: it is cut to fit, they are not
    assert text.index("Earlier advice") < text.index("Hot paths")


def test_no_section_without_earlier_advice():
    assert "Earlier advice" not in user_message(AnalysisContext(record=_record()), [], 4000)


def test_the_advice_is_bounded_and_within_the_token_budget():
    context = AnalysisContext(record=_record(), advice=[_tried(i) for i in range(30)])
    roomy = user_message(context, [], 8000)
    assert roomy.count("- CONFIRMED") == MAX_ADVICE  # at most MAX_ADVICE items, whatever the room
    for budget in (450, 600, 800):
        messages = build_messages(context, [], budget, "en")
        assert sum(len(m["content"]) for m in messages) <= budget * 4 * 1.05, budget
        user = messages[1]["content"]
        for i in range(3):  # the first three hot paths are always sent: the advice leaves room for them
            assert f"step_{i} (app.py:{10 * i})" in user, (budget, user)
    tight = build_messages(context, [], 700, "en")[1]["content"]
    assert "more omitted for length" in tight and 0 < tight.count("- CONFIRMED") < MAX_ADVICE, tight
