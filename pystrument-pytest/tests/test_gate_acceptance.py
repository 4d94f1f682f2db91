"""Issue #18's acceptance for the CI gate: ``pytest --pystrument`` on the sample project (tests/gate_sample) across
real git commits, against a real ``pystrument-server serve`` with a token. Commits of identical code pass (the
no-false-alarm loop: PYSTRUMENT_GATE_REPEATS of them, 3 in the default suite, 20 in ``nox -s gate``); the commit
that makes GET /orders' pricing do more rounds fails, with a report naming the endpoint and the function.

How many more (PYSTRUMENT_GATE_PLANT): ``nox -s gate`` plants 1.4x, the issue's "30% slower" (the endpoint +25-50%
raw, +24-37% calibrated in the runs measured, docs/ci-gate.md). The default suite plants 2x: on a loaded machine the
calibration over-corrects a tight arithmetic loop such as the pricing by up to 15-20% (a CI run read the calibration
+16.7% and the 1.4x plant below the 20% threshold; 1 miss in about 10 runs beside a CPU hog), and a suite that must
pass on a loaded machine cannot hold a margin of a few points. 2x puts the endpoint some +90% raw, far from 20%
whatever the calibration reads."""

from __future__ import annotations

import os

from gate_harness import TOKEN, SampleRepo, run_gate

REPEATS = int(os.environ.get("PYSTRUMENT_GATE_REPEATS", "3"))
PLANT = float(os.environ.get("PYSTRUMENT_GATE_PLANT", "2.0"))


def test_identical_commits_pass_and_a_planted_regression_fails(gate_server, tmp_path):
    server = gate_server
    repo = SampleRepo(tmp_path / "repo")
    first = run_gate(repo, server.url, "shop", TOKEN)
    assert first.exit_code == 0, first.output
    assert "PASS: no baseline yet" in first.output and "uploaded" in first.output

    false_alarms = []
    for i in range(REPEATS):
        repo.commit(f"docs only, run {i}")  # a new version of identical code, compared with the previous one
        again = run_gate(repo, server.url, "shop", TOKEN)
        if again.exit_code != 0:
            false_alarms.append(again.output)
    assert not false_alarms, f"{len(false_alarms)} of {REPEATS} identical commits failed the gate; first:\n{false_alarms[0]}"

    head = repo.plant_regression(PLANT)  # 1.4: GET /orders ~30-40% slower (docs/ci-gate.md: measured)
    slow = run_gate(repo, server.url, "shop", TOKEN)
    assert slow.exit_code == 1, slow.output
    summary = slow.output[slow.output.index("pystrument gate"):]
    assert f"version {head} of project shop" in summary
    assert "FAIL: 1 endpoint(s) regressed" in summary and "  GET /orders: calibrated CPU time p50 " in summary, summary
    assert "machine: the calibration workload took " in summary, summary
    assert "slower: price_order (" in summary and "shop/pricing.py" in summary, summary
    assert "GET /items/{item_id}: calibrated" not in summary and "GET /search: calibrated" not in summary
    print(summary)  # the report, for docs/ci-gate.md
