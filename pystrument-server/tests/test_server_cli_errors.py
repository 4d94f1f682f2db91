"""Errors a user can cause from the CLI get one line saying what is wrong and how to fix it (no traceback),
and every command that touches a store names it (issue #19: "Stores", "Errors")."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from pystrument.server.cli import create_cli


@pytest.fixture
def cli(clean_server_env):
    def invoke(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(create_cli(), list(args))
        assert result.exit_code == code, (result.output, result.exception)
        if code:  # a ClickException: one clean line, no traceback
            assert isinstance(result.exception, SystemExit), result.exception
            assert "Traceback" not in result.output and result.output.startswith("Error: ")
        return result.output

    return invoke


@pytest.mark.parametrize("where", ["under-a-file", "missing-root", "forbidden"])
def test_unusable_sqlite_folder_is_one_line_with_the_fix(cli, tmp_path, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    data_dir = {"under-a-file": blocker / "data",  # FileExistsError / NotADirectoryError
                "missing-root": "/proc/pystrument-no-such-folder/data",  # FileNotFoundError, even for root
                "forbidden": "/sys/pystrument-test/data"}[where]  # PermissionError, even for root
    out = cli("--data-dir", str(data_dir), "projects", "list", code=1)
    assert "cannot use the SQLite store" in out and "--data-dir DIR" in out and "--store sqlite:///" in out
    reason = {"under-a-file": "is a file where a folder is needed", "missing-root": "does not exist",
              "forbidden": "may not write to"}[where]
    assert reason in out


def test_sqlite_store_that_is_a_folder(cli, tmp_path):
    (tmp_path / "db").mkdir()
    out = cli("--store", f"sqlite:///{tmp_path / 'db'}", "projects", "create", "x", code=1)
    assert f"{tmp_path / 'db'} is a folder, not a database file" in out


def test_unusable_store_from_the_installed_command_prints_no_traceback(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = subprocess.run([sys.executable, "-m", "pystrument.server", "--data-dir", str(blocker / "data"), "serve"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("Error: cannot use the SQLite store") and len(done.stderr.strip().splitlines()) == 1


def test_worker_without_the_redis_extra_says_what_to_install(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "rq", None)  # as if RQ were not installed: `import rq` raises ImportError
    out = cli("--redis", "redis://127.0.0.1:6379/15", "worker", "--burst", code=1)
    assert "needs RQ, which are not installed" in out and "pip install 'pystrument-server[redis]'" in out


@pytest.mark.parametrize("command", [["demo", "--no-serve", "--requests", "10"], ["serve"]])
def test_busy_port_is_reported_at_once_with_the_fix(cli, tmp_path, command):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        out = cli("--data-dir", str(tmp_path / "data"), command[0], "--port", str(port), *command[1:], code=1)
        elapsed = time.monotonic() - started
    assert f"port {port} on 127.0.0.1 is busy" in out and f"--port {port + 1}" in out
    assert elapsed < 20  # not the 30 s wait for a server that never starts (generous: the machine may be loaded)


def test_every_store_command_names_the_store(cli, tmp_path):
    data = tmp_path / "data"
    url = f"sqlite:///{data.resolve() / 'pystrument.db'}"
    out = cli("--data-dir", str(data), "projects", "create", "shop")
    assert f"in the store {url}" in out and f"pystrument-server --data-dir {data.resolve()} serve" in out
    assert f"store {url}:" in cli("--data-dir", str(data), "projects", "list")
    assert f"store {url}:" in cli("--data-dir", str(data), "projects", "rotate-key", "shop")
    # versions without records: exit 2 (a typo must not pass a CI gate), the message naming the store it looked in
    assert f"store {url}" in cli("--data-dir", str(data), "compare", "--project", "shop", "--base", "1", "--head", "2", code=2)


def test_store_label_hides_passwords():
    from pystrument.server.settings import ServerSettings

    assert ServerSettings(store="mongodb://app:s3cret@db1:27017/pystrument").store_label() == "mongodb://***@db1:27017/pystrument"


def test_invalid_key_hint_names_the_servers_store(api, live, project):
    r = api.post("/api/v1/performance/collect", json={}, headers={"X-Project-Key": "pk_not_a_key"})
    body = r.json()
    assert r.status_code == 401 and body["code"] == 20003
    assert f"this server's store ({live.settings.store_label()})" in body["msg"]
    assert "pystrument-server --store " in body["msg"] and "projects list" in body["msg"]


def test_invalid_key_hint_on_a_server_with_a_token_names_only_the_kind_of_store(start_server, tmp_path):
    server = start_server("sqlite", token="t" * 32)
    with server.client() as client:
        r = client.post("/api/v1/performance/collect", json={}, headers={"X-Project-Key": "pk_not_a_key"})
    msg = r.json()["msg"]
    assert r.status_code == 401 and "this server's sqlite store" in msg and "check-config" in msg
    assert str(tmp_path) not in msg


def test_demo_without_its_plugin_says_how_to_install_it(tmp_path):
    """The demo is the plugin pystrument-demo; a server without it answers `demo` with the install line."""
    env = {**os.environ, "PYSTRUMENT_DISABLED_PLUGINS": "demo"}
    out = subprocess.run([sys.executable, "-m", "pystrument.server", "--data-dir", str(tmp_path), "demo", "--port", "1"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "pip install 'pystrument-server[demo]'" in out.stderr
    shown = subprocess.run([sys.executable, "-m", "pystrument.server", "demo", "--help"], capture_output=True, text=True, timeout=60)
    assert "--requests" in shown.stdout, "with the plugin installed, the demo command is the plugin's"
