"""``pystrument-server compare`` as a CI gate: exit 0 (no regression), 1 (regression, named), 2 (cannot compare:
a version or endpoint without records, an unknown project, an unreachable server or a refused token), in the
store mode and in the HTTP mode against a real ``pystrument-server serve`` process with a token."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from pystrument.server.cli import create_cli
from pystrument_server_process import ServerProcess, make_record, new_project
from pystrument_testing.ports import free_port

TOKEN = "gate-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENDPOINTS = ("GET /orders", "GET /items/{id}")
SLOW = "GET /orders"


def _records(rng: np.random.Generator, version: str, slower: float) -> list[dict]:
    out = []
    for endpoint in ENDPOINTS:
        for _ in range(40):
            helper = float(rng.lognormal(np.log(6.0), 0.2)) * (slower if endpoint == SLOW else 1.0)
            own = float(rng.lognormal(np.log(2.0), 0.2))
            tree = {"function": "view", "file": "shop/views.py", "line": 5, "time_ms": own + helper, "self_ms": own, "is_app": True,
                    "children": [{"function": "price_order", "file": "shop/pricing.py", "line": 12, "time_ms": helper, "self_ms": helper,
                                  "is_app": True}]}
            out.append(make_record(endpoint, own + helper, tree, cpu_ms=0.9 * (own + helper),
                                   app={"name": "shop", "version": version, "environment": "ci"}))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real server with a token; project "shop" with versions a, a2 (same code), b (GET /orders' helper 40% slower)."""
    proc = ServerProcess(tmp_path_factory.mktemp("gate-server"), {"token": TOKEN}).start()
    try:
        with proc.client(headers=AUTH) as client:
            project = new_project(client, "shop")
            rng = np.random.default_rng(7)
            for version, slower in (("a", 1.0), ("a2", 1.0), ("b", 1.4)):
                r = client.post("/api/v1/performance/batch", json={"records": _records(rng, version, slower)},
                                headers={"X-Project-Key": project["project_key"]})
                assert r.status_code == 200 and r.json()["data"]["accepted"] == 80, r.text
        yield proc, project
    finally:
        proc.stop()


def _cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(create_cli(), ["compare", *args])
    return r.exit_code, r.output


def test_http_mode_exits_1_naming_the_endpoint_and_function_that_got_slower(server):
    proc, _ = server
    code, out = _cli("--server", proc.url, "--token", TOKEN, "--project", "shop", "--base", "a", "--head", "b")
    assert code == 1, out
    assert "FAIL: 1 endpoint(s) regressed from a to b" in out and f"  {SLOW}: duration p50 " in out
    assert "slower: price_order (shop/pricing.py:12)" in out and "confidence: q < 0.001" in out
    assert "GET /items/{id}: duration" not in out  # the unchanged endpoint is not named


def test_http_mode_exits_0_on_two_versions_of_the_same_code(server):
    proc, project = server
    code, out = _cli("--server", proc.url + "/", "--token", TOKEN, "--project", project["id"], "--base", "a", "--head", "a2")
    assert code == 0, out
    assert "PASS: no endpoint's duration regressed significantly by >= 20% and >= 1 ms" in out


def test_http_mode_on_cpu_time_and_thresholds(server):
    proc, _ = server
    args = ("--server", proc.url, "--token", TOKEN, "--project", "shop", "--base", "a", "--head", "b", "--metric", "cpu")
    code, out = _cli(*args)
    assert code == 1 and f"  {SLOW}: CPU time p50 " in out and "(CPU time) and" in out, out
    code, out = _cli(*args, "--min-delta-ms", "1000")  # the p50 grew by ~2.2 ms: below an absolute threshold of 1 s
    assert code == 0 and "by >= 20% and >= 1000 ms" in out, out
    code, out = _cli(*args, "--min-change", "80")
    assert code == 0, out


def test_http_mode_token_from_the_environment_and_json(server, monkeypatch):
    proc, _ = server
    monkeypatch.setenv("PYSTRUMENT_TOKEN", TOKEN)
    r = CliRunner().invoke(create_cli(), ["compare", "--server", proc.url, "--project", "shop", "--base", "a", "--head", "b", "--json"])
    assert r.exit_code == 1
    assert '"regressions"' in r.stdout and "FAIL" in r.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (("--head", "9.9"), ["version '9.9' has no records", "versions with records:", "a (80 records)", "b (80 records)"]),
    (("--head", "b", "--endpoint", "GET /nope"), ["endpoint 'GET /nope' has no records", "endpoints: GET /items/{id}, GET /orders"]),
    (("--head", "b", "--project", "nope"), ["no project 'nope'", "projects: shop"]),
])
def test_http_mode_exits_2_on_what_has_no_data(server, args, expected):
    proc, _ = server
    code, out = _cli("--server", proc.url, "--token", TOKEN, "--project", "shop", "--base", "a", *args)
    assert code == 2, out
    for text in expected:
        assert text in out


def test_http_mode_exits_2_on_a_refused_token_or_no_server(server):
    proc, _ = server
    code, out = _cli("--server", proc.url, "--token", "wrong", "--project", "shop", "--base", "a", "--head", "b")
    assert code == 2 and "the token given is not the server's" in out, out
    code, out = _cli("--server", proc.url, "--project", "shop", "--base", "a", "--head", "b")
    assert code == 2 and "needs a valid token" in out, out
    code, out = _cli("--server", f"http://127.0.0.1:{free_port()}", "--project", "shop", "--base", "a", "--head", "b")
    assert code == 2 and "cannot reach the pystrument server" in out, out
    code, out = _cli("--server", "ci-server:8000", "--project", "shop", "--base", "a", "--head", "b")
    assert code == 2 and "must look like http://host:port" in out, out


def test_the_api_answers_404_with_the_versions_that_exist(server):
    proc, project = server
    with proc.client(headers=AUTH) as client:
        r = client.get(f"/api/v1/projects/{project['id']}/compare", params={"base": "a", "head": "9.9"})
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == 10001 and "'9.9' has no records" in body["msg"]
    assert body["data"]["missing"] == ["9.9"] and sorted(body["data"]["versions"]) == ["a", "a2", "b"]
