"""The plugin's options: inert without --pystrument; every misconfiguration stops the run before any test runs,
with pytest's usage error (exit 4) naming the option, its variable and the fix; a baseline without records
fails the gate (exit 4) with the versions that exist, never a silent pass."""

from __future__ import annotations

import pytest
from gate_harness import TOKEN, SampleRepo, run_gate, run_pytest
from pystrument_testing.ports import free_port

TEST = "def test_one():\n    assert sum(range(10)) == 45\n"


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "test_one.py").write_text(TEST)
    return tmp_path


def test_without_the_flag_the_plugin_does_nothing(folder):
    out = run_pytest(folder)
    assert out.exit_code == 0 and "1 passed" in out.output and "pystrument gate" not in out.output


@pytest.mark.parametrize(("args", "env", "expected"), [
    ((), {}, "--pystrument needs --pystrument-server (or PYSTRUMENT_SERVER_URL)"),
    (("--pystrument-server", "http://127.0.0.1:1"), {}, "--pystrument needs --pystrument-project (or PYSTRUMENT_PROJECT)"),
    (("--pystrument-project", "shop"), {"PYSTRUMENT_SERVER_URL": "http://127.0.0.1:1"},
     "`git rev-parse HEAD` failed"),  # not a git checkout, no --pystrument-version
    (("--pystrument-project", "shop", "--pystrument-version", "v1", "--pystrument-min-change", "ten"),
     {"PYSTRUMENT_SERVER_URL": "http://127.0.0.1:1"}, "--pystrument-min-change must be a number >= 0, got 'ten'"),
    (("--pystrument-project", "shop", "--pystrument-version", "v1", "--pystrument-metric", "wall"),
     {"PYSTRUMENT_SERVER_URL": "http://127.0.0.1:1"}, "--pystrument-metric must be cpu or duration, got 'wall'"),
])
def test_usage_errors_name_the_option_and_the_fix(folder, args, env, expected):
    out = run_pytest(folder, "--pystrument", *args, env=env)
    assert out.exit_code == pytest.ExitCode.USAGE_ERROR, out.output
    assert expected in out.output and "1 passed" not in out.output


def test_an_unreachable_server_stops_the_run_before_the_tests(folder):
    out = run_pytest(folder, "--pystrument-server", f"http://127.0.0.1:{free_port()}", "--pystrument-project", "shop",
                     "--pystrument-version", "v1", env={"PYSTRUMENT_GATE": "1"})
    assert out.exit_code == pytest.ExitCode.USAGE_ERROR and "cannot reach the pystrument server" in out.output, out.output
    assert "1 passed" not in out.output


def test_unknown_project_and_refused_token(folder, gate_server):
    out = run_pytest(folder, "--pystrument", "--pystrument-server", gate_server.url, "--pystrument-project", "nope",
                     "--pystrument-version", "v1", env={"PYSTRUMENT_TOKEN": TOKEN})
    assert out.exit_code == pytest.ExitCode.USAGE_ERROR and "no project 'nope'" in out.output and "projects: shop" in out.output
    out = run_pytest(folder, "--pystrument", "--pystrument-server", gate_server.url, "--pystrument-project", "shop",
                     "--pystrument-version", "v1", env={"PYSTRUMENT_TOKEN": "wrong"})
    assert out.exit_code == pytest.ExitCode.USAGE_ERROR and "the token given is not the server's" in out.output


def test_a_baseline_without_records_fails_the_gate_naming_the_versions(gate_server, tmp_path):
    repo = SampleRepo(tmp_path / "repo")
    out = run_gate(repo, gate_server.url, "shop", TOKEN, "--pystrument-baseline", "v0.9")
    assert out.exit_code == pytest.ExitCode.USAGE_ERROR, out.output
    assert "4 passed" in out.output and "ERROR: the gate could not compare" in out.output
    assert "version 'v0.9' has no records in environment 'ci'" in out.output and repo.git("rev-parse", "HEAD") in out.output
