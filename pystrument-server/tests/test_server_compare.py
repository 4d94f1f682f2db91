"""Version comparison acceptance: a generated data set where version 2 adds 20 ms to one helper of one
endpoint, 200 requests per version; and an A/A check (two samples of one version)."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from click.testing import CliRunner
from pystrument.core.record import AppInfo, CallNode, Record
from pystrument.server.cli import create_cli
from pystrument.server.compare import compare
from pystrument.server.routes.projects import create_project
from pystrument.server.stores.sqlite import SQLiteStore

ENDPOINTS = [f"GET /e{i}" for i in range(5)]
FUNCS = [f"f{j}" for j in range(12)]


def _record(rng, endpoint, version, slow_helper: bool) -> Record:
    children = []
    for j, fn in enumerate(FUNCS):
        if rng.random() < 0.8:  # functions do not appear in every request
            t = float(rng.lognormal(np.log(1 + j), 0.5))
            if slow_helper and fn == "f3":
                t += 20.0
            children.append(CallNode(function=fn, file=f"app/{endpoint[5:]}.py", line=10 + j, time_ms=t, self_ms=t, is_app=True))
    own = float(rng.lognormal(0, 0.3))
    total = own + sum(c.time_ms for c in children)
    tree = CallNode(function="view", file="app/views.py", line=1, time_ms=total, self_ms=own, is_app=True, children=children)
    return Record(record_id=uuid.uuid4().hex, name=endpoint, kind="request", method="GET",
                  started_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=float(rng.uniform(0, 3600))),
                  duration_ms=total, app=AppInfo(version=version, environment="ci"), call_tree=tree)


@pytest.fixture
def dataset(tmp_path):
    store = SQLiteStore(f"sqlite:///{tmp_path / 'cmp.db'}")
    project = create_project(store, "cmp")
    rng = np.random.default_rng(42)
    for version in ("1.0", "2.0", "1.0-again"):
        records = [_record(rng, ep, version, slow_helper=(version == "2.0" and ep == "GET /e2")) for ep in ENDPOINTS for _ in range(200)]
        store.insert_records(project["id"], records)
    yield store, project, tmp_path
    store.close()


def test_the_slowed_helper_and_its_endpoint_are_flagged(dataset):
    store, project, _ = dataset
    result = compare(store, project["id"], "1.0", "2.0")
    flagged_endpoints = [d["name"] for d in result["endpoints"] if d["significant"]]
    assert flagged_endpoints == ["GET /e2"]
    e2 = result["endpoints"][0]
    assert e2["kind"] == "regression" and e2["p_value"] < 0.01 and e2["base"]["count"] == e2["head"]["count"] == 200
    assert e2["delta_ms"] == pytest.approx(0.8 * 20, rel=0.25) and e2["effect_size"] > 0.3
    flagged = [(f["endpoint"], f["name"]) for f in result["functions"] if f["significant"]]
    assert ("GET /e2", "f3") in flagged
    f3 = next(f for f in result["functions"] if (f["endpoint"], f["name"]) == ("GET /e2", "f3"))
    assert f3["kind"] == "regression" and f3["p_value"] < 0.01 and f3["delta_ms"] == pytest.approx(16, rel=0.25)
    assert len(flagged) <= 0.05 * result["functions_compared"] + 1
    assert not [d for d in result["endpoints"] + result["functions"] if d["kind"] == "improvement"]


def test_two_samples_of_one_version_flag_at_most_5_percent(dataset):
    store, project, _ = dataset
    result = compare(store, project["id"], "1.0", "1.0-again")
    assert result["functions_compared"] == len(ENDPOINTS) * (len(FUNCS) + 1)
    flagged = [f for f in result["functions"] if f["significant"]]
    assert len(flagged) <= 0.05 * result["functions_compared"]
    assert not [d for d in result["endpoints"] if d["significant"]]


def test_cli_compare_gates_on_regressions(dataset):
    store, project, tmp = dataset
    runner = CliRunner()
    args = ["--store", f"sqlite:///{tmp / 'cmp.db'}", "compare", "--project", "cmp", "--base", "1.0", "--head", "2.0"]
    r = runner.invoke(create_cli(), [*args, "--fail-on-regression", "10"])
    assert r.exit_code == 1, r.output
    assert "regression  GET /e2" in r.output and "f3 [GET /e2]" in r.output and "FAIL" in r.output
    r = runner.invoke(create_cli(), [*args, "--fail-on-regression", "500"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(create_cli(), ["--store", f"sqlite:///{tmp / 'cmp.db'}", "compare", "--project", "cmp", "--base", "1.0",
                                     "--head", "1.0-again", "--fail-on-regression", "1"])
    assert r.exit_code == 0 and "endpoints:\n  no significant change" in r.output


def test_benjamini_hochberg_q_values():
    from pystrument.server.compare import benjamini_hochberg
    from scipy.stats import false_discovery_control

    assert benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.005])).tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])
    p = np.random.default_rng(3).uniform(0, 0.2, 200) ** 2
    assert benjamini_hochberg(p) == pytest.approx(false_discovery_control(p, method="bh"))
    assert benjamini_hochberg(np.array([])).size == 0


def _null_record(rng, endpoint: str, version: str) -> Record:
    """~50 functions per endpoint, all drawn from one distribution whatever the version."""
    children = []
    for j in range(50):
        if rng.random() < 0.9:
            t = float(rng.lognormal(np.log(0.5 + j / 10), 0.6))
            children.append(CallNode(function=f"g{j}", file=f"app/{endpoint[5:]}.py", line=j, time_ms=t, self_ms=t, is_app=True))
    own = float(rng.lognormal(0, 0.3))
    total = own + sum(c.time_ms for c in children)
    tree = CallNode(function="view", file="app/views.py", line=1, time_ms=total, self_ms=own, is_app=True, children=children)
    return Record(record_id=uuid.uuid4().hex, name=endpoint, kind="request", method="GET", started_at=dt.datetime.now(dt.timezone.utc),
                  duration_ms=total, app=AppInfo(version=version, environment="ci"), call_tree=tree)


def test_about_a_hundred_unchanged_functions_flag_nothing_beyond_the_false_discovery_rate(tmp_path):
    """20 seeded comparisons of two samples of one version, ~100 functions each. With every function
    unchanged, any flag is a false discovery, and BH at q < 0.01 bounds the chance of one per comparison
    by 1%: over 20 comparisons at most one may flag anything. Without the correction (p < 0.01) about one
    function per comparison would be flagged: checked too, so that this test cannot pass vacuously."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'null.db'}")
    project = create_project(store, "null")
    rng = np.random.default_rng(2026)
    trials = 20
    for t in range(trials):
        store.insert_records(project["id"], [_null_record(rng, ep, f"{t}-{side}") for side in "ab" for ep in ("GET /n0", "GET /n1")
                                             for _ in range(60)])
    flagged_trials = raw_flags = 0
    for t in range(trials):
        result = compare(store, project["id"], f"{t}-a", f"{t}-b", max_unchanged_functions=1000)
        assert 90 <= result["functions_compared"] <= 102 and result["correction"] == "benjamini-hochberg"
        deltas = result["endpoints"] + result["functions"]
        assert all(d["q_value"] >= d["p_value"] * (1 - 1e-12) for d in deltas)
        flagged_trials += any(d["significant"] for d in deltas)
        raw_flags += sum(d["p_value"] < 0.01 for d in deltas)
    store.close()
    assert flagged_trials <= 1, f"{flagged_trials} of {trials} comparisons of unchanged code flagged something"
    assert raw_flags >= 5, f"only {raw_flags} raw p < 0.01 over {trials} x ~100 tests: the data set does not exercise the correction"
