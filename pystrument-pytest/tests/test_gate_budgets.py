"""The CI gate fails on a budget breach of the version it uploaded (docs/budgets.md): ``pytest --pystrument`` on the
sample project against a real server, budgets from ``--pystrument-budgets`` (a YAML file) or from the project."""

from __future__ import annotations

from gate_harness import TOKEN, SampleRepo, run_gate


def test_a_budget_breach_fails_the_run_with_a_readable_line(gate_server, tmp_path):
    repo = SampleRepo(tmp_path / "repo")
    tight = tmp_path / "budgets.yaml"
    tight.write_text("budgets:\n  - endpoint: GET /orders\n    p95_ms: 0.001\n    min_requests: 5\n  - endpoint: GET /search*\n    p95_ms: 60000\n")
    result = run_gate(repo, gate_server.url, "shop", TOKEN, "--pystrument-budgets", str(tight))
    assert result.exit_code == 1, result.output
    summary = result.output[result.output.index("pystrument gate"):]
    assert "FAIL: 1 budget breach(es) in version" in summary and "  GET /orders: p95 duration " in summary, summary
    assert "over its budget of 0.001ms (budget 'GET /orders', version " in summary and " requests)" in summary
    assert "PASS" not in summary and "GET /search: p95" not in summary

    repo.commit("same code again")
    loose = tmp_path / "loose.json"
    loose.write_text('[{"endpoint": "GET *", "p95_ms": 60000}]')
    ok = run_gate(repo, gate_server.url, "shop", TOKEN, "--pystrument-budgets", str(loose))
    assert "budgets: 1 checked, no breach" in ok.output and "budget breach" not in ok.output, ok.output


def test_the_project_budgets_on_the_server_are_checked_without_a_file(gate_server, tmp_path):
    with gate_server.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        pid = next(p["id"] for p in client.get("/api/v1/projects").json()["data"]["items"] if p["name"] == "shop")
        r = client.put(f"/api/v1/projects/{pid}/budgets", json={"budgets": [{"endpoint": "GET /items/*", "p95_ms": 0.001, "min_requests": 5}]})
        assert r.status_code == 200, r.text
    result = run_gate(SampleRepo(tmp_path / "repo"), gate_server.url, "shop", TOKEN)
    assert result.exit_code == 1 and "  GET /items/{item_id}: p95 duration " in result.output, result.output


def test_a_bad_budgets_file_is_a_usage_error_before_any_test_runs(gate_server, tmp_path):
    repo = SampleRepo(tmp_path / "repo")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- endpoint: GET /orders\n  p95: 3\n")
    result = run_gate(repo, gate_server.url, "shop", TOKEN, "--pystrument-budgets", str(bad))
    assert result.exit_code == 4 and "--pystrument-budgets: " in result.output and "budgets[0]: Object contains unknown field `p95`" in result.output
    assert "passed" not in result.output, result.output
    missing = run_gate(repo, gate_server.url, "shop", TOKEN, "--pystrument-budgets", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 4 and "cannot read" in missing.output and "nope.yaml" in missing.output, missing.output
    bad.write_text("endpoint: GET /orders\n")
    shape = run_gate(repo, gate_server.url, "shop", TOKEN, "--pystrument-budgets", str(bad))
    assert shape.exit_code == 4 and "must hold a list of budgets" in shape.output, shape.output
