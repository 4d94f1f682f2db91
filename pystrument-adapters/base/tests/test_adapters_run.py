"""pystrument-run: uninstrumented apps started as subprocesses under real servers produce records.

Records are read back through ``standin-file://`` (tests/plugins/pystrument-standin-filesink), a
stand-in until the real file sink lands on another branch."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from pystrument.adapters.run import main

BIN = Path(sys.executable).parent
FLASK_APP = """
from flask import Flask
app = Flask(__name__)

@app.get("/users/<int:user_id>")
def user(user_id):
    return {"user": user_id}
"""
FASTAPI_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/items/{item_id}")
def item(item_id: int):
    return {"item": item_id}

@app.get("/ping")
async def ping():
    return {"pong": True}
"""
DJANGO_APP = """
import sys
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], SECRET_KEY="x", ROOT_URLCONF=__name__, MIDDLEWARE=[])

def order(request, order_id):
    return JsonResponse({"order": order_id})

urlpatterns = [path("orders/<int:order_id>/", order)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"""

BARE_WSGI_APP = """
def app(environ, start_response):
    if environ["PATH_INFO"] == "/fail":
        raise RuntimeError("bare wsgi failure")
    body = ("hello " + environ["PATH_INFO"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""
BARE_ASGI_APP = """
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = ("hello " + scope["path"]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
"""


def _require(tool: str) -> str:
    found = shutil.which(tool, path=str(BIN)) or shutil.which(tool)
    if found is None:
        pytest.fail(f"{tool} is not installed in the test environment (add it to TEST_DEPS in noxfile.py)")
    return found


def _run(tmp_path: Path, source: str, command: list[str], port_pattern: str) -> tuple[subprocess.Popen, int, Path]:
    (tmp_path / "app.py").write_text(textwrap.dedent(source))
    out = tmp_path / "records.jsonl"
    env = {**os.environ, "PYSTRUMENT_SINKS": f"standin-file://{out}", "PYSTRUMENT_FLUSH_INTERVAL": "0.1",
           "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen([_require("pystrument-run"), *command], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        lines.append(line)
        match = re.search(port_pattern, line)
        if match:
            return proc, int(match.group(1)), out
    proc.kill()
    raise AssertionError("server did not start:\n" + "".join(lines))


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        output, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
    return output


def test_flask_under_gunicorn(tmp_path, file_records):
    proc, port, out = _run(tmp_path, FLASK_APP, [_require("gunicorn"), "-w", "1", "-b", "127.0.0.1:0", "app:app"],
                           r"Listening at: http://127\.0\.0\.1:(\d+)")
    try:
        for i in range(3):
            response = httpx.get(f"http://127.0.0.1:{port}/users/{i}", timeout=10)
            assert response.json() == {"user": i}
        recs = file_records(out, 3)
    finally:
        output = _stop(proc)
    assert [r["name"] for r in recs[:3]] == ["GET /users/{user_id}"] * 3
    assert recs[0]["app"]["framework"] == "flask" and recs[0]["status_code"] == 200
    assert "Traceback" not in output and "pystrument: internal error" not in output, output


def test_fastapi_under_uvicorn(tmp_path, file_records):
    proc, port, out = _run(tmp_path, FASTAPI_APP, [_require("uvicorn"), "--port", "0", "app:app"],
                           r"running on http://127\.0\.0\.1:(\d+)")
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/items/5", timeout=10).json() == {"item": 5}
        assert httpx.get(f"http://127.0.0.1:{port}/ping", timeout=10).json() == {"pong": True}
        recs = file_records(out, 2)
    finally:
        output = _stop(proc)
    assert sorted(r["name"] for r in recs) == ["GET /items/{item_id}", "GET /ping"]
    assert {r["app"]["framework"] for r in recs} == {"fastapi"}
    assert "pystrument: internal error" not in output, output


def test_django_runserver(tmp_path, file_records):
    proc, port, out = _run(tmp_path, DJANGO_APP,
                           [sys.executable, "app.py", "runserver", "127.0.0.1:0", "--noreload", "--skip-checks"],
                           r"at http://127\.0\.0\.1:(\d+)/")
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/orders/9/", timeout=10).json() == {"order": 9}
        recs = file_records(out, 1)
    finally:
        output = _stop(proc)
    assert recs[0]["name"] == "GET /orders/{order_id}/" and recs[0]["app"]["framework"] == "django"
    assert "pystrument: internal error" not in output, output


@pytest.mark.parametrize("server", ["gunicorn", "waitress"])
def test_bare_wsgi_callable(tmp_path, server, file_records):
    if server == "gunicorn":
        command, pattern = [_require("gunicorn"), "-w", "1", "-b", "127.0.0.1:0", "app:app"], r"Listening at: http://127\.0\.0\.1:(\d+)"
    else:
        command, pattern = [_require("waitress-serve"), "--listen=127.0.0.1:0", "app:app"], r"Serving on http://127\.0\.0\.1:(\d+)"
    proc, port, out = _run(tmp_path, BARE_WSGI_APP, command, pattern)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/orders/1", timeout=10).text == "hello /orders/1"
        assert httpx.get(f"http://127.0.0.1:{port}/fail", timeout=10).status_code == 500
        recs = file_records(out, 2)
    finally:
        output = _stop(proc)
    by_path = {r["path"]: r for r in recs}
    assert set(by_path) == {"/orders/1", "/fail"}
    assert {r["name"] for r in recs} == {"GET [unmatched]"} and {r["app"]["framework"] for r in recs} == {"wsgi"}
    assert by_path["/orders/1"]["status_code"] == 200
    assert by_path["/fail"]["error"]["type"] == "RuntimeError" and by_path["/fail"]["error"]["message"] == "bare wsgi failure"
    assert "pystrument: internal error" not in output, output


def test_bare_asgi_app_under_uvicorn(tmp_path, file_records):
    proc, port, out = _run(tmp_path, BARE_ASGI_APP, [_require("uvicorn"), "--port", "0", "app:app"],
                           r"running on http://127\.0\.0\.1:(\d+)")
    try:
        for i in range(3):
            assert httpx.get(f"http://127.0.0.1:{port}/orders/{i}", timeout=10).text == f"hello /orders/{i}"
        recs = file_records(out, 3)
    finally:
        output = _stop(proc)
    assert sorted(r["path"] for r in recs) == ["/orders/0", "/orders/1", "/orders/2"]
    assert {r["name"] for r in recs} == {"GET [unmatched]"} and {r["app"]["framework"] for r in recs} == {"asgi"}
    assert {r["status_code"] for r in recs} == {200}
    assert "pystrument: internal error" not in output and "Traceback" not in output, output


def test_explicit_middleware_keeps_its_own_config_under_the_runner(tmp_path, file_records):
    own = tmp_path / "own.jsonl"
    source = FASTAPI_APP + f"""
from pystrument.adapters.fastapi import PerformanceMiddleware
app.add_middleware(PerformanceMiddleware, config={{"sinks": ["standin-file://{own}"], "flush_interval": 0.1, "app_name": "own"}})
"""
    proc, port, out = _run(tmp_path, source, [_require("uvicorn"), "--port", "0", "app:app"], r"running on http://127\.0\.0\.1:(\d+)")
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/items/1", timeout=10).status_code == 200
        recs = file_records(own, 1)
        time.sleep(0.5)
    finally:
        _stop(proc)
    assert [r["name"] for r in recs] == ["GET /items/{item_id}"] and recs[0]["app"]["name"] == "own"
    assert not out.exists() or out.read_text() == ""  # the runner's sink got nothing: profiled once


def test_an_existing_sitecustomize_still_runs(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    marker = tmp_path / "marker"
    (own / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    env = {**os.environ, "PYTHONPATH": str(own)}
    code = "import os; print(os.environ['PYSTRUMENT_RUN'])"
    out = subprocess.run([_require("pystrument-run"), sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "1", out.stderr
    assert marker.read_text() == "ran"  # the project's own sitecustomize ran after ours


def test_usage_and_unknown_command(capsys):
    assert main([]) == 2
    assert "usage: pystrument-run" in capsys.readouterr().err
    assert main(["no-such-command-xyz"]) == 127
    assert "command not found: 'no-such-command-xyz'" in capsys.readouterr().err
