"""Version comparison acceptance: a generated data set where version 2 adds 20 ms to one helper of one
endpoint, 200 requests per version; and an A/A check (two samples of one version)."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from click.testing import CliRunner
from pystrument.core.record import AppInfo, CallNode, Record
from pystrument.server.api.routes.projects import create_project
from pystrument.server.cli import create_cli
from pystrument.server.stats.compare import NoData, compare
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



def test_counts_say_per_table_what_they_count_and_agree_with_the_tables(dataset):
    store, project, _ = dataset
    result = compare(store, project["id"], "1.0", "2.0")
    for table in ("endpoints", "functions"):
        counts = result["counts"][table]
        shown = result[table]
        assert counts["regressions"] == sum(1 for d in shown if d["kind"] == "regression")
        assert counts["improvements"] == sum(1 for d in shown if d["kind"] == "improvement")
    assert result["counts"]["endpoints"] == {"regressions": 1, "improvements": 0, "unchanged": len(ENDPOINTS) - 1}
    assert sum(result["counts"]["functions"].values()) == result["functions_compared"]
    assert result["regressions"] == result["counts"]["endpoints"]["regressions"] + result["counts"]["functions"]["regressions"]


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
    from pystrument.server.stats.compare import benjamini_hochberg
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


@pytest.mark.parametrize("seed", range(8))
def test_sparse_mann_whitney_equals_scipy_on_the_dense_samples(seed):
    """The test on (non-zero values, count) gives scipy's p-value and U on the dense samples, ties and zeros included."""
    from pystrument.server.stats.compare import sparse_mann_whitney
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(seed)
    n_b, n_h = int(rng.integers(5, 300)), int(rng.integers(5, 300))
    dense = []
    for n in (n_b, n_h):
        x = np.round(rng.lognormal(0, 1, n), int(rng.integers(0, 3)))  # rounding makes ties among the non-zero values
        x[rng.random(n) < rng.uniform(0, 0.95)] = 0.0  # absent in many requests
        dense.append(x)
    b, h = dense
    p, effect = sparse_mann_whitney(b[b != 0], n_b, h[h != 0], n_h)
    ref = mannwhitneyu(h, b, alternative="two-sided", method="asymptotic")
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)
    assert effect == pytest.approx(2 * ref.statistic / (n_b * n_h) - 1, abs=1e-12)


def test_sparse_mann_whitney_edge_cases():
    from pystrument.server.stats.compare import sparse_mann_whitney

    none = np.array([])
    assert sparse_mann_whitney(none, 50, none, 50) == (1.0, 0.0)  # all zero: nothing to test
    assert sparse_mann_whitney(np.ones(4), 4, np.ones(9), 9) == (1.0, 0.0)  # too few on a side
    p, effect = sparse_mann_whitney(none, 40, np.full(40, 3.0), 40)
    assert p < 1e-10 and effect == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(4))
def test_sparse_summary_equals_numpy_on_the_dense_sample(seed):
    from pystrument.server.stats.compare import sparse_percentile

    rng = np.random.default_rng(seed)
    x = rng.normal(1, 2, int(rng.integers(1, 200)))
    x[rng.random(x.size) < 0.6] = 0.0
    nz = np.sort(x[x != 0])
    for q in (0, 5, 50, 95, 100):
        assert sparse_percentile(nz, x.size, q) == pytest.approx(np.percentile(x, q), abs=1e-12)


def test_functions_beyond_the_budget_are_folded_into_other(dataset):
    """With 4 functions kept per endpoint the 9 lightest of each are tested as one [other]; the slowed helper
    (f3, the heaviest of GET /e2 in version 2.0) is still found."""
    from pystrument.server.stats.compare import OTHER, Budget

    store, project, _ = dataset
    result = compare(store, project["id"], "1.0", "2.0", budget=Budget(max_functions=4), max_unchanged_functions=1000)
    assert result["complete"] and result["functions_folded"] == len(ENDPOINTS) * (len(FUNCS) + 1 - 4)
    per_endpoint: dict[str, list[str]] = {}
    for f in result["functions"]:
        per_endpoint.setdefault(f["endpoint"], []).append(f["name"])
    assert all(len(names) == 5 and OTHER in names for names in per_endpoint.values())
    totals: dict[str, float] = {}
    for version in ("1.0", "2.0"):
        for row in store.function_page(project["id"], "GET /e0", version, 0, 1_000_000).rows:
            totals[row.fkey.split("\x00")[0]] = totals.get(row.fkey.split("\x00")[0], 0.0) + row.self_ms
    heaviest = sorted(totals, key=lambda k: -totals[k])[:4]
    assert sorted(per_endpoint["GET /e0"]) == sorted([*heaviest, OTHER])  # the heaviest by self time in the two versions
    assert ("GET /e2", "f3") in [(f["endpoint"], f["name"]) for f in result["functions"] if f["kind"] == "regression"]
    # the memory budget lowers the count: room for 3 values per record (400 records) keeps 2 functions and [other]
    tight = compare(store, project["id"], "1.0", "2.0", budget=Budget(memory_mb=8 * 400 * 3 / 2**20), max_unchanged_functions=1000)
    assert {len([f for f in tight["functions"] if f["endpoint"] == ep]) for ep in ENDPOINTS} == {3}


def test_the_time_budget_stops_reading_and_says_so(dataset):
    from pystrument.server.stats.compare import Budget

    store, project, _ = dataset
    result = compare(store, project["id"], "1.0", "2.0", budget=Budget(time_budget_s=1e-9))
    assert result["complete"] is False and result["skipped_endpoints"] == ENDPOINTS and result["functions"] == []
    assert [d["name"] for d in result["endpoints"] if d["significant"]] == ["GET /e2"]  # durations are still compared


def test_the_server_does_not_import_scipy():
    import subprocess
    import sys

    code = ("import sys; from pystrument.server.app import create_app; from pystrument.server import cli; from pystrument.server.stats import compare; from pystrument.server.analysis import auto; "
            "print(sorted(m for m in sys.modules if m == 'scipy' or m.startswith('scipy.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out


_CAPPED_COMPARE = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]) * 2**20, int(sys.argv[2]) * 2**20))
from pystrument.server.stats.compare import NoData, compare
from pystrument.server.stores.sqlite import SQLiteStore
store = SQLiteStore("sqlite:///" + sys.argv[1])
project = store.get_project_by_name("wide")
result = compare(store, project["id"], "a", "b")
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) // 1024
print(json.dumps({"compared": result["functions_compared"], "folded": result["functions_folded"], "peak_mb": peak}))
"""


def test_many_distinct_functions_compare_under_a_memory_cap(tmp_path):
    """Issue 15's case: 2 versions x 500 records with 50 functions of their own each (50,000 distinct keys).
    The dense records x keys matrix needed > 3 GB here (MemoryError); bounded, it runs under a 1 GB
    address-space cap (peak RSS ~65 MB) and keeps the 200 heaviest functions, the rest in [other]."""
    import json
    import subprocess
    import sys

    store = SQLiteStore(f"sqlite:///{tmp_path / 'wide.db'}")
    project = create_project(store, "wide")
    rng = np.random.default_rng(5)
    for version in ("a", "b"):
        records = []
        for i in range(500):
            children = [CallNode(function=f"gen_{version}_{i}_{j}", file="gen.py", line=j, time_ms=t, self_ms=t)
                        for j, t in enumerate(rng.uniform(60.0, 100.0, 50).tolist())]
            tree = CallNode(function="view", file="views.py", line=1, time_ms=sum(c.time_ms for c in children) + 1, self_ms=1.0, children=children)
            records.append(Record(record_id=uuid.uuid4().hex, name="GET /wide", kind="request", started_at=dt.datetime.now(dt.timezone.utc),
                                  duration_ms=tree.time_ms, app=AppInfo(version=version), call_tree=tree))
        store.insert_records(project["id"], records)
    store.close()
    env = {**__import__("os").environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CAPPED_COMPARE, str(tmp_path / "wide.db"), "1024"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    # 200 kept of 50,001 (view and the 199 heaviest one-off functions, each heavy enough to be tested), + [other]
    assert result["folded"] == 2 * 500 * 50 + 1 - 200 and result["compared"] == 201, result


# -- the CI gate in the store mode (the HTTP mode: test_compare_gate.py) -------------------------------------------
def test_store_mode_exits_2_on_a_version_without_records(dataset):
    _, _, tmp = dataset
    r = CliRunner().invoke(create_cli(), ["--store", f"sqlite:///{tmp / 'cmp.db'}", "compare", "--project", "cmp", "--base", "1.0",
                                          "--head", "9.9"])
    assert r.exit_code == 2, r.output
    assert "version '9.9' has no records" in r.output and "1.0 (1000 records)" in r.output and "no significant change" not in r.output
    r = CliRunner().invoke(create_cli(), ["--store", f"sqlite:///{tmp / 'cmp.db'}", "compare", "--project", "nope", "--base", "1.0",
                                          "--head", "2.0"])
    assert r.exit_code == 2 and "no project 'nope'" in r.output


def test_store_mode_fails_on_a_regression_by_default(dataset):
    _, _, tmp = dataset
    r = CliRunner().invoke(create_cli(), ["--store", f"sqlite:///{tmp / 'cmp.db'}", "compare", "--project", "cmp", "--base", "1.0",
                                          "--head", "2.0"])
    assert r.exit_code == 1, r.output
    assert "FAIL: 1 endpoint(s) regressed" in r.output and "  GET /e2: duration p50" in r.output and "slower: f3 (app/e2.py:13)" in r.output


def test_compare_raises_no_data_for_both_missing_sides_and_environments(dataset):
    store, project, _ = dataset
    with pytest.raises(NoData) as info:
        compare(store, project["id"], "0.1", "9.9")
    assert info.value.missing == ["0.1", "9.9"] and "versions '0.1' and '9.9' have" in str(info.value)
    with pytest.raises(NoData, match="in environment 'prod'"):
        compare(store, project["id"], "1.0", "2.0", environment="prod")
    assert compare(store, project["id"], "1.0", "2.0", environment="ci")["endpoints"]
