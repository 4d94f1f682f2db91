"""End to end on real processes: a Flask app with the flask adapter under waitress, the HTTP sink, and
the pystrument server under uvicorn; then the same records through the file sink and ``import``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from pystrument_testing.ports import free_port, wait_http
from pystrument_testing.services import serving

pytest.importorskip("pystrument.server")
pytest.importorskip("pystrument.adapters.flask")

APP = textwrap.dedent('''
    import sys
    from flask import Flask, jsonify
    from waitress import serve
    from pystrument.adapters.flask import PerformanceMiddleware

    app = Flask(__name__)

    def load_user(user_id):
        total = 0
        for i in range(20000):
            total += i % (user_id + 1)
        return {"id": user_id, "total": total}

    @app.get("/users/<int:user_id>")
    def user(user_id):
        return jsonify(load_user(user_id))

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    config = {"app_name": "e2e-flask", "app_version": sys.argv[2], "flush_interval": 0.2, "sinks": sys.argv[3].split(","),
              "max_overhead_pct": None, "profiling_mode": "detailed"}  # every request in detail, whatever it costs: the test counts them
    if sys.argv[4]:
        config["api_endpoint"] = sys.argv[4]
        config["project_key"] = sys.argv[5]
    app.wsgi_app = PerformanceMiddleware(app.wsgi_app, config)
    serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=4, _quiet=True)
''')


@pytest.fixture
def server(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serving([sys.executable, "-m", "pystrument.server", "--data-dir", str(tmp_path / "data"), "serve", "--port", str(port)],
                 log=tmp_path / "server.log", url=f"{base}/api/v1/health", timeout=60, stop_timeout=20):
        yield base, tmp_path / "data"


def api(base: str, method: str, path: str, **kwargs):
    body = httpx.request(method, f"{base}/api/v1{path}", timeout=30, **kwargs).json()
    assert body["code"] == 0, body
    return body["data"]


def run_app(tmp_path: Path, version: str, sinks: str, endpoint: str = "", key: str = "") -> None:
    script = tmp_path / "flask_app.py"
    script.write_text(APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(script), str(port), version, sinks, endpoint, key],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 60, interval=0.2)  # an excluded path: not recorded
        for i in range(20):
            assert httpx.get(f"http://127.0.0.1:{port}/users/{i}", timeout=10).json()["id"] == i
        assert httpx.get(f"http://127.0.0.1:{port}/boom", timeout=10).status_code == 500
    finally:
        # right after the last response (the 500): the SDK ends the open units and delivers before
        # SIGTERM's default action, so every record, the failed request's included, arrives
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -15, (proc.returncode, err)  # killed by SIGTERM, as without pystrument
    assert "internal error" not in err and "Exception ignored" not in err, err


def test_flask_app_through_http_sink_to_server(server, tmp_path):
    base, _ = server
    project = api(base, "POST", "/projects", json={"name": "e2e"})
    run_app(tmp_path, "2.0", "", f"{base}/api/v1/performance/collect", project["project_key"])  # the original URL form (./performance/collect)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = api(base, "GET", f"/projects/{project['id']}/records", params={"page_size": 100})
        if page["total"] >= 21:
            break
        time.sleep(0.3)
    names = sorted({item["name"] for item in page["items"]})
    assert page["total"] == 21 and names == ["GET /boom", "GET /users/{user_id}"], page["items"]
    failed = [item for item in page["items"] if item["name"] == "GET /boom"][0]
    assert failed["status_code"] == 500 and failed["error"]["type"] == "RuntimeError"
    full = api(base, "GET", f"/records/{failed['record_id']}")
    assert full["app"]["version"] == "2.0" and full["app"]["framework"] == "flask"
    endpoints = api(base, "GET", f"/projects/{project['id']}/endpoints")["items"]
    users = [e for e in endpoints if e["endpoint"] == "GET /users/{user_id}"][0]
    assert users["count"] == 20 and users["p95"] >= users["p50"] > 0


def test_flask_app_through_file_sink_and_import(server, tmp_path):
    base, data_dir = server
    project = api(base, "POST", "/projects", json={"name": "e2e-file"})
    out = tmp_path / "records.jsonl"
    run_app(tmp_path, "3.0", f"file://{out}")
    lines = out.read_text().splitlines()
    assert len(lines) == 21 and all(json.loads(line)["app"]["version"] == "3.0" for line in lines)
    imported = subprocess.run([sys.executable, "-m", "pystrument.server", "--data-dir", str(data_dir), "import",
                               "--project", project["id"], str(out)], capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr + imported.stdout
    page = api(base, "GET", f"/projects/{project['id']}/records", params={"page_size": 1})
    assert page["total"] == 21
