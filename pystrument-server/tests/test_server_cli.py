"""The pystrument-server CLI: projects, import (JSON Lines, gzip), check-config precedence, plugins, and
``serve`` as a real process."""

from __future__ import annotations

import gzip
import json
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from pystrument.server.cli import create_cli
from pystrument_testing.ports import free_port
from pystrument_testing.services import serving


@pytest.fixture
def run(tmp_path, clean_server_env):
    def invoke(*args, env=None, code=0):
        r = CliRunner().invoke(create_cli(), ["--data-dir", str(tmp_path / "data"), *args], env=env)
        assert r.exit_code == code, (r.output, r.exception)
        return r.output

    return invoke


def test_projects_create_list_rotate(run):
    out = run("projects", "create", "shop", "--description", "the shop")
    key = out.split("project key: ")[1].strip()
    assert key.startswith("pk_")
    run("projects", "create", "shop", code=1)
    listed = json.loads(run("projects", "list", "--json"))
    assert [(p["name"], p["project_key"], p["description"]) for p in listed] == [("shop", key, "the shop")]
    out = run("projects", "rotate-key", "shop")
    new = out.rsplit(" ", 1)[1].strip()
    assert new != key and json.loads(run("projects", "list", "--json"))[0]["project_key"] == new
    assert "no project 'nope'" in run("projects", "rotate-key", "nope", code=1)


def test_projects_create_env_prints_the_sdk_settings_for_eval(run, tmp_path):
    out = run("projects", "create", "web", "--env", env={"PYSTRUMENT_SERVER_PORT": "8123"})
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines() if not line.startswith("#"))
    listed = json.loads(run("projects", "list", "--json"))
    assert exports == {"PYSTRUMENT_PROJECT_KEY": listed[0]["project_key"], "PYSTRUMENT_API_ENDPOINT": "http://127.0.0.1:8123"}
    assert f"in the store sqlite:///{tmp_path / 'data'}" in out  # says which store, as a shell comment
    # what eval would do with it: the shell sets exactly those variables
    shell = subprocess.run(["bash", "-c", f"eval {shlex.quote(out)}; echo $PYSTRUMENT_PROJECT_KEY $PYSTRUMENT_API_ENDPOINT"],
                           capture_output=True, text=True, check=True)
    assert shell.stdout.split() == [exports["PYSTRUMENT_PROJECT_KEY"], exports["PYSTRUMENT_API_ENDPOINT"]]
    # run again (the app restarted): the same project and key, said so
    again = run("projects", "create", "web", "--env", env={"PYSTRUMENT_SERVER_PORT": "8123"})
    assert again.splitlines()[2:] == out.splitlines()[2:] and again.startswith("# project exists, reused: web")
    assert len(json.loads(run("projects", "list", "--json"))) == 1
    refused = run("projects", "create", "web", code=1)  # without --env a name is created once
    assert "exists in the store" in refused and "projects list" in refused


def test_import_jsonl_and_gzip_with_a_summary(run, tmp_path, make_record):
    key = run("projects", "create", "imp").split("project key: ")[1].strip()
    recs = [make_record() for _ in range(5)]
    for r in recs:
        r["project_key"] = key
    bad = dict(recs[0], record_id="bad", duration_ms="x")
    plain = tmp_path / "records.jsonl"
    plain.write_text("\n".join(json.dumps(r) for r in recs[:3] + [bad]) + "\n\nnot json\n")
    zipped = tmp_path / "more.jsonl.gz"
    zipped.write_bytes(gzip.compress(("\n".join(json.dumps(r) for r in recs[2:]) + "\n").encode()))
    out = run("import", str(plain), str(zipped))
    assert "accepted 5, duplicate 1, rejected 2" in out
    assert "records.jsonl:4: duration_ms: Expected `float`, got `str`" in out and "records.jsonl:6:" in out
    assert json.loads(run("projects", "list", "--json"))[0]["record_count"] == 5
    # records without a key go to --project
    nokey = tmp_path / "nokey.jsonl"
    nokey.write_text(json.dumps(make_record()) + "\n")
    assert "rejected 1" in run("import", str(nokey), code=1)
    assert "accepted 1, duplicate 0, rejected 0" in run("import", str(nokey), "--project", "imp")


def test_check_config_precedence_flags_env_file(run, tmp_path):
    cfg = tmp_path / "server.yaml"
    cfg.write_text("server:\n  port: 7000\n  token: from-file\n  rate_limit_rps: 5\n")
    out = run("--config", str(cfg), "--store", "sqlite:///x.db", "check-config", env={"PYSTRUMENT_SERVER_PORT": "7100", "PYSTRUMENT_SERVER_RATE_LIMIT_RPS": "9"})
    lines = {line.split(" = ")[0]: line for line in out.splitlines() if " = " in line}
    assert lines["port"].startswith("port = 7100") and "PYSTRUMENT_SERVER_PORT" in lines["port"]
    assert lines["token"].startswith('token = "***"') and f"file {cfg}" in lines["token"]
    assert lines["store"].startswith('store = "sqlite:///x.db"') and "command line" in lines["store"]
    assert "(default)" in lines["host"]
    cfg.write_text('{"prot": 1}')
    bad = tmp_path / "bad.json"
    bad.write_text('{"prot": 1}')
    assert "unknown setting(s) prot" in run("--config", str(bad), "check-config", code=1)
    out = run("check-config", env={"PYSTRUMENT_SERVER_PORT": "many"}, code=1)
    assert "port='many' from environment variable PYSTRUMENT_SERVER_PORT" in out


def test_plugins_and_placeholders(run):
    out = run("plugins")
    assert "sqlite (pystrument-server" in out and "stores: sqlite" in out and "stores: mongodb" in out
    assert "[pystrument.stores:sqlite]" in out and "[pystrument.sinks:memory]" in out  # each plugin's entry points
    assert "the worker needs Redis" in run("worker", code=1)  # see tests/scale for the worker itself


def test_serve_refuses_public_address_without_token(run):
    out = run("serve", "--host", "0.0.0.0", code=1)
    assert "refusing to listen on 0.0.0.0 without a token" in out and "PYSTRUMENT_SERVER_TOKEN" in out


def test_serve_runs_uvicorn(tmp_path):
    port = free_port()
    exe = Path(sys.executable).parent / "pystrument-server"
    with serving([str(exe), "--data-dir", str(tmp_path), "serve", "--port", str(port)], log=tmp_path / "serve.log",
                 url=f"http://127.0.0.1:{port}/health", timeout=30, stop_timeout=15, stop_signal=signal.SIGINT):
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
        assert r.json()["data"]["store"] == "sqlite"
        assert (tmp_path / "pystrument.db").exists()
