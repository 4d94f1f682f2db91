"""The CI gate's verdict on a comparison (pystrument.core.comparison): which endpoints fail, and the words."""

from __future__ import annotations

import pytest
from pystrument.core.comparison import Thresholds, detail_lines, gate_lines, regressions


def _delta(name: str, base_p50: float, head_p50: float, kind: str = "regression", **extra: object) -> dict:
    return {"name": name, "kind": kind, "significant": kind != "unchanged", "base": {"p50": base_p50, "mean": base_p50, "count": 40},
            "head": {"p50": head_p50, "mean": head_p50, "count": 40}, "change_pct": (head_p50 / base_p50 - 1) * 100,
            "delta_ms": head_p50 - base_p50, "p_value": 1e-6, "q_value": 2e-6, "effect_size": 0.9, **extra}


RESULT = {
    "base": "a", "head": "b", "metric": "cpu", "alpha": 0.01, "functions_compared": 3, "complete": True, "skipped_endpoints": [],
    "endpoints": [_delta("GET /slow", 10.0, 13.0), _delta("GET /tiny", 0.5, 0.9), _delta("GET /same", 5.0, 5.1, "unchanged"),
                  _delta("GET /bit", 10.0, 11.5)],
    "functions": [_delta("helper", 2.0, 5.0, endpoint="GET /slow", file="app.py", line=3),
                  _delta("other", 1.0, 1.2, endpoint="GET /slow", file="app.py", line=9),
                  _delta("noise", 1.0, 1.0, "unchanged", endpoint="GET /slow", file="app.py", line=12),
                  _delta("later", 1.0, 2.5, "unchanged", endpoint="GET /slow", file="app.py", line=15)],
}


def test_an_endpoint_fails_only_when_significant_and_its_p50_grew_by_both_thresholds():
    assert [r.name for r in regressions(RESULT)] == ["GET /slow"]  # /tiny: +80% but 0.4 ms; /bit: +15%; /same: not significant
    assert [r.name for r in regressions(RESULT, Thresholds(10, 0.3))] == ["GET /tiny", "GET /slow", "GET /bit"]  # worst first
    assert [r.name for r in regressions(RESULT, Thresholds(40, 0))] == ["GET /tiny"]
    slow = regressions(RESULT)[0]
    assert [f["name"] for f in slow.functions] == ["helper", "other", "later"]  # significant first, then by growth; not "noise"


def test_the_report_says_what_how_much_how_sure_and_where():
    text = "\n".join(gate_lines(RESULT))
    assert text.startswith("FAIL: 1 endpoint(s) regressed from a to b by >= 20% and >= 1 ms (p50 of CPU time):")
    assert "  GET /slow: CPU time p50 10.00 -> 13.00 ms (+30.0%)" in text and "q < 0.001 (Benjamini-Hochberg)" in text
    assert "slower: helper (app.py:3) self time 2.00 -> 5.00 ms per request (+3.00 ms)" in text
    assert "slower: later (app.py:15) self time 1.00 -> 2.50 ms per request (+1.50 ms), not significant alone (p=1e-06)" in text
    assert "GET /tiny" not in text
    passed = "\n".join(gate_lines(RESULT, Thresholds(50, 1)))
    assert passed.startswith("PASS: no endpoint's CPU time regressed significantly by >= 50% and >= 1 ms (p50) from a to b")
    listing = "\n".join(detail_lines(RESULT))
    assert "4 endpoint(s) (CPU time) and 3 function(s)" in listing and "regression  helper [GET /slow]" in listing


@pytest.mark.parametrize(("pct", "ms"), [(-1, 0), (0, -0.5), (float("nan"), 0)])
def test_thresholds_must_be_non_negative(pct, ms):
    with pytest.raises(ValueError, match="thresholds must be >= 0"):
        Thresholds(pct, ms)
