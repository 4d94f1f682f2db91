"""A new user's first hour (issue 19): the commands of docs/first-app.md, read out of the doc itself (the
fenced blocks after a ``<!-- first-app: NAME -->`` marker), run as written in bash from a stand-in for a
clone, take a Flask and a FastAPI app to their endpoints on the server, each in at most 3 commands.

The stand-in clone: ``dist/`` holds the wheels the setup block's ``nox -s dist`` builds (built here with
``uv build`` for the distributions the two apps need: the suite must not write the checkout's dist/, and
the UI's build is not what this test is about: tests/test_wheels.py checks the server's wheel);
``examples/`` is the repository's; ``.nox/demo/bin/pystrument-server`` is the suite's CLI, where the README's
quick start (``nox -s demo``) puts it, and that server runs on the clone's ``.pystrument/`` store as the demo
does. Each app's own virtualenv is made by the doc's commands (uv, offline from the cache the suite's venv
filled). Differences from a user's shell, all through the environment: the server's port
(``PYSTRUMENT_SERVER_PORT``, which ``projects create --env`` prints in the endpoint) and the apps' ports
(``FLASK_RUN_PORT``; uvicorn's ``--port 8001`` replaced) are free ones, and ``UV_OFFLINE``. Nothing of the
suite's ``PYSTRUMENT_*`` reaches the app: it runs under the SDK's defaults (the overhead governor on)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pystrument_testing.ports import free_port, wait_port
from pystrument_testing.services import serving

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "first-app.md"
WHEELS = ["pystrument-core", "pystrument-sinks/http", "pystrument-adapters/base", "pystrument-adapters/wsgi",
          "pystrument-adapters/flask", "pystrument-adapters/asgi", "pystrument-adapters/fastapi"]
APPS = {
    "flask": {"project": "my-flask-app", "paths": {"GET /books": "/books", "GET /books/{book_id}": "/books/7"}},
    "fastapi": {"project": "my-fastapi-app", "paths": {"GET /items": "/items", "GET /items/{item_id}": "/items/7"}},
}


def doc_blocks() -> dict[str, list[str]]:
    """Each marked block's command lines."""
    found = re.findall(r"<!-- first-app: (\w+) -->\n```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    return {name: [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")] for name, body in found}


def api(base: str, path: str) -> object:
    with urllib.request.urlopen(base + "/api/v1" + path, timeout=30) as response:
        body = json.loads(response.read())
    assert body["code"] == 0, body
    return body["data"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory):
    """The stand-in clone with the quick start's server running on its store; yields (folder, env, server URL)."""
    blocks = doc_blocks()
    assert blocks.get("setup") == ["nox -s dist"], "this fixture stands for the setup block's `nox -s dist`: update both together"
    root = tmp_path_factory.mktemp("clone")
    for folder in WHEELS:
        done = subprocess.run([sys.executable, "-m", "uv", "build", "--wheel", "--offline", "--quiet", "--out-dir", str(root / "dist"),
                               str(ROOT / folder)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    shutil.copytree(ROOT / "examples", root / "examples")
    (root / ".nox/demo/bin").mkdir(parents=True)
    (root / ".nox/demo/bin/pystrument-server").symlink_to(Path(sys.executable).parent / "pystrument-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSTRUMENT", "PERFORMANCE_MONITOR", "VIRTUAL_ENV", "FLASK_", "UVICORN_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", UV_OFFLINE="1", UV_PYTHON=sys.executable,
               PYSTRUMENT_SERVER_PORT=str(port), UV_NO_PROGRESS="1")
    # the quick start's server: the demo serves .pystrument/ of the clone
    with serving([str(root / ".nox/demo/bin/pystrument-server"), "--data-dir", str(root / ".pystrument"), "serve"],
                 log=root / "server.log", port=port, timeout=60, stop_timeout=30, cwd=root, env=env):
        yield root, env, f"http://127.0.0.1:{port}"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("framework", sorted(APPS))
def test_the_docs_commands_take_an_app_to_its_endpoints(clone, framework: str) -> None:
    root, env, base = clone
    app = APPS[framework]
    commands = doc_blocks()[framework]
    assert 1 <= len(commands) <= 3, f"docs/first-app.md's {framework} block has {len(commands)} commands: at most 3"
    *setup, run = commands
    for line in setup:
        done = subprocess.run(["bash", "-c", line], cwd=root, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        assert "error" not in done.stderr.lower(), done.stderr
    app_port = free_port()
    if framework == "fastapi":
        assert "--port 8001" in run
        run = run.replace("--port 8001", f"--port {app_port}")
    log = root / f"{framework}.log"
    with running(run, root, {**env, "FLASK_RUN_PORT": str(app_port)}, log, app_port):
        project = next(p for p in api(base, "/projects")["items"] if p["name"] == app["project"])
        # requests until each route has a record: under the overhead governor a busy loop is profiled at a few
        # percent (measured: 36 of 600), so the routes not seen yet get requests back to back, checked every second
        seen: dict[str, int] = {}
        deadline = time.monotonic() + 120
        while set(seen) != set(app["paths"]) and time.monotonic() < deadline:
            until = time.monotonic() + 1.0
            while time.monotonic() < until:
                for name, path in app["paths"].items():
                    if name not in seen:
                        with urllib.request.urlopen(f"http://127.0.0.1:{app_port}{path}", timeout=30) as response:
                            assert response.status == 200
            seen = {e["endpoint"]: e["count"] for e in api(base, f"/projects/{project['id']}/endpoints")["items"]}
        assert set(seen) == set(app["paths"]), f"endpoints on the server: {seen}\n{log.read_text()[-3000:]}"
        assert all(count >= 1 for count in seen.values())
        records = api(base, f"/projects/{project['id']}/records?page_size=5")
        assert records["total"] >= 2 and {r["name"] for r in records["items"]} <= set(app["paths"])
    output = log.read_text()
    assert "Traceback" not in output and "pystrument" not in output.lower(), output  # the SDK said nothing: nothing went wrong
    # the same commands again (the app stopped and started again): no error, the same project
    for line in setup:
        done = subprocess.run(["bash", "-c", line], cwd=root, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"again: {line}\n{done.stdout}\n{done.stderr}"
    with running(run, root, {**env, "FLASK_RUN_PORT": str(app_port)}, log, app_port):
        with urllib.request.urlopen(f"http://127.0.0.1:{app_port}{next(iter(app['paths'].values()))}", timeout=30) as response:
            assert response.status == 200
    assert [p["id"] for p in api(base, "/projects")["items"] if p["name"] == app["project"]] == [project["id"]]


@contextlib.contextmanager
def running(line: str, root: Path, env: dict[str, str], log: Path, port: int) -> Iterator[None]:
    """The doc's last command (it runs the app until stopped), in its own process group, stopped by Ctrl-C."""
    with log.open("w") as out:
        proc = subprocess.Popen(["bash", "-c", line], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_port(port, timeout=90, proc=proc, log=log)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
