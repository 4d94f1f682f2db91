"""Security against a real server process: AI keys never appear in a response or a log line; a project key
cannot read; every non-ingest endpoint of the OpenAPI document needs the token; CORS refuses unknown
origins; no path traversal through export, the docs and UI files, or ``import``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from pystrument_testing.http_servers import LoopbackHTTPServer

TOKEN, READ_TOKEN = "tok-full-5d1c0e", "tok-read-9a7b2f"
OPENAI_KEY = "sk-PLANTED-openai-7f3e9c1d2b4a6e8f0a1b2c3d"
CUSTOM_KEY = "sk-PLANTED-custom-0c9d8e7f6a5b4c3d2e1f0a9b"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUBLIC = {("GET", "/health"), ("POST", "/api/v1/performance/collect"), ("POST", "/api/v1/performance/batch")}


class _EchoingAI(BaseHTTPRequestHandler):
    """An OpenAI-compatible stand-in (no real AI service can run here) that, like real services, quotes the
    key it was given in its error answers: the worst case for a leak."""

    seen: list[str] = []

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        auth = self.headers.get("authorization", "")
        _EchoingAI.seen.append(auth)
        key = auth.removeprefix("Bearer ")
        status = 401 if "openai" in key else 500
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}. Header was {auth}", "type": "invalid_request_error",
                                     "code": "invalid_api_key"}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def echoing_ai_standin():
    with LoopbackHTTPServer(_EchoingAI) as httpd:
        _EchoingAI.seen.clear()
        yield f"{httpd.url}/v1"


@pytest.fixture
def secured(server_process, echoing_ai_standin, project_in, record):
    ai = {"retries": 0, "timeout": 5, "openai": {"api_key": OPENAI_KEY, "base_url": echoing_ai_standin},
          "custom": {"base_url": echoing_ai_standin, "model": "m"}}
    server = server_process(token=TOKEN, read_token=READ_TOKEN, cors_origins="http://localhost:3000", ai=json.dumps(ai),
                            env={"PYSTRUMENT_AI_CUSTOM_API_KEY": CUSTOM_KEY, "PYSTRUMENT_AI_RETRIES": "0"})
    client = server.client()
    project = project_in(client, headers=AUTH)
    rec = record(name='GET /<script>alert(1)</script>/../../etc/passwd"\r\nX-Injected: 1')
    r = client.post("/api/v1/performance/collect", json=rec, headers={"X-Project-Key": project["project_key"]})
    assert r.status_code == 200, r.text
    yield server, client, project, rec
    client.close()


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def test_every_endpoint_but_ingest_and_health_needs_the_token(secured, figures):
    server, c, project, rec = secured
    doc = c.get("/api/v1/openapi.json").json()
    ids = {"project_id": project["id"], "record_id": rec["record_id"], "analysis_id": "none", "version": "1.0"}
    checked = 0
    for path, item in doc["paths"].items():
        for method in item:
            url = _fill(path, ids)
            if (method.upper(), path) in PUBLIC:
                continue
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {project['project_key']}"},
                            {"X-Project-Key": project["project_key"]}, {"Authorization": TOKEN}):
                r = c.request(method.upper(), url, headers=headers, params={"base": "1.0", "head": "1.0"})
                assert r.status_code == 401 and r.json()["code"] == 10002, (method, url, headers, r.status_code, r.text[:200])
                assert project["project_key"] not in r.text and rec["record_id"] not in r.text
            if method == "get":
                r = c.get(url, headers={"Authorization": f"Bearer {READ_TOKEN}"}, params={"base": "1.0", "head": "1.0"})
                assert r.status_code != 401, (url, r.text[:200])
            checked += 1
    assert checked >= 20, checked
    # with the token, reads work; the read-only token may not write
    assert c.get(f"/api/v1/records/{rec['record_id']}", headers=AUTH).status_code == 200
    r = c.delete(f"/api/v1/projects/{project['id']}", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert r.status_code == 403 and r.json()["code"] == 10003
    figures(operations_checked=checked, header_variants_refused=5)


def test_a_project_key_cannot_read(secured):
    server, c, project, rec = secured
    key = project["project_key"]
    for path in (f"/api/v1/projects/{project['id']}/records", f"/api/v1/records/{rec['record_id']}", "/api/v1/projects",
                 f"/api/v1/records/{rec['record_id']}/export?format=json"):
        for headers in ({"X-Project-Key": key}, {"Authorization": f"Bearer {key}"}):
            r = c.get(path, headers=headers)
            assert r.status_code == 401 and rec["record_id"] not in r.text and "call_tree" not in r.text, (path, r.text[:200])
    # ingestion endpoints answer about ingestion only: no stored data comes back through them
    r = c.post("/api/v1/performance/collect", json={**rec}, headers={"X-Project-Key": key})
    assert r.status_code == 200 and r.json()["data"] == {"record_id": rec["record_id"], "duplicate": True}
    r = c.get("/api/v1/performance/batch", headers={"X-Project-Key": key})
    assert r.status_code == 405 and r.json()["code"] == 10001


def test_cors_refuses_unknown_origins(secured, server_process):
    server, c, project, rec = secured
    ok = c.options("/api/v1/projects", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://localhost:3000"
    for origin in ("http://evil.example", "null", "http://localhost:3000.evil.example", "http://localhost:3001", "https://localhost:3000"):
        pre = c.options("/api/v1/projects", headers={"Origin": origin, "Access-Control-Request-Method": "DELETE",
                                                     "Access-Control-Request-Headers": "authorization"})
        assert pre.status_code == 400 and "access-control-allow-origin" not in pre.headers, (origin, pre.headers)
        r = c.get("/api/v1/projects", headers={"Origin": origin, **AUTH})
        assert "access-control-allow-origin" not in r.headers, origin  # without it the browser withholds the answer
    # no cors_origins set: no origin is allowed
    plain = server_process()
    with plain.client() as p:
        r = p.options("/api/v1/projects", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in r.headers
        r = p.get("/api/v1/projects", headers={"Origin": "http://localhost:3000"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


TRAVERSALS = ["../../../../etc/passwd", "..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/%2e%2e/etc/passwd", "....//....//etc/passwd",
              "/etc/passwd", "..\\..\\..\\etc\\passwd", "%252e%252e%252fetc%252fpasswd"]
SECRET_MARKERS = ("root:x:0:0", "root:*:0:0", "def create_app", "PYSTRUMENT_SERVER_TOKEN")


def test_no_path_traversal_through_export_docs_or_ui(secured, figures):
    server, c, project, rec = secured
    rid = rec["record_id"]
    tried = 0
    for bad in TRAVERSALS:
        for url in (f"/api/v1/records/{rid}/export?format={bad}", f"/api/v1/records/{bad}/export?format=json", f"/api/v1/records/{bad}",
                    f"/docs/{bad}", f"/{bad}", f"/assets/{bad}", "/docs/../pystrument/server/app.py", "/static/../app.py"):
            r = c.get(url, headers=AUTH)
            tried += 1
            assert r.status_code < 500, (url, r.status_code)
            assert not any(m in r.text for m in SECRET_MARKERS), (url, r.text[:200])
            if r.url.path.startswith("/api/"):  # (httpx resolves literal dot segments before sending)
                assert r.status_code in (400, 404) and r.json()["code"] == 10001, (url, r.status_code, r.text[:200])
    # the export's file name is built from the record name: no path, quote or header injection survives
    for fmt in ("json", "speedscope", "html", "pyisession"):
        r = c.get(f"/api/v1/records/{rid}/export", params={"format": fmt}, headers=AUTH)
        assert r.status_code == 200
        disposition = r.headers["content-disposition"]
        name = re.fullmatch(r'attachment; filename="([^"]+)"', disposition).group(1)
        assert "/" not in name and "\\" not in name and ".." not in name.split(".")[0] and "\r" not in name and "\n" not in name, name
        assert "x-injected" not in r.headers
        if fmt == "html":  # the record name is in the page, but cannot close its script element (stored XSS)
            assert "<script>alert(1)</script>" not in r.text and "\\u003cscript>alert(1)\\u003c/script>" in r.text
    figures(traversal_requests=tried, served_outside_roots=0)


def test_import_of_a_system_file_reads_nothing_out(secured, tmp_path):
    server, c, project, rec = secured
    cli = [sys.executable, "-c", "from pystrument.server.cli import main; main()", "--data-dir", str(tmp_path / "import-data")]
    rel = Path("../" * 10 + "etc/passwd")
    out = subprocess.run([*cli, "import", str(rel)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "root:x:0:0" not in text and "/bin/" not in text, text[-2000:]
    if Path("/etc/passwd").exists():
        assert "rejected" in text and "not valid JSON" in text, text[-2000:]
    out = subprocess.run([*cli, "import", "--project", "../../etc/passwd", str(rel)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode != 0 and "no project" in out.stdout + out.stderr and "root:x" not in out.stdout + out.stderr


def test_ai_keys_never_appear_in_responses_or_logs(secured, figures):
    server, c, project, rec = secured
    seen: list[str] = []

    def get(path: str, **kw):
        r = c.get(path, headers=AUTH, **kw)
        seen.append(json.dumps(dict(r.headers)) + r.text)
        return r

    providers = get("/api/v1/analysis/providers").json()["data"]["items"]
    by_name = {p["name"]: p for p in providers}
    assert by_name["openai"]["configured"] and by_name["custom"]["configured"], providers
    ids = []
    for provider in ("openai", "custom"):
        r = c.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"provider": provider}, headers=AUTH)
        seen.append(r.text)
        assert r.status_code == 202, r.text
        ids.append(r.json()["data"]["analysis_id"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = [get(f"/api/v1/analysis/{i}").json()["data"]["status"] for i in ids]
        if all(s in ("done", "failed") for s in states):
            break
        time.sleep(0.3)
    assert all(s in ("done", "failed") for s in states), states
    analyses = get(f"/api/v1/records/{rec['record_id']}/analyses").json()["data"]["items"]
    assert {a["provider"] for a in analyses} >= {"openai", "custom"}
    assert all(a["status"] == "failed" and a["error"] for a in analyses if a["provider"] != "rules"), analyses
    for path in ("/api/v1/projects", f"/api/v1/projects/{project['id']}", f"/api/v1/records/{rec['record_id']}", "/health",
                 "/api/v1/openapi.json", "/docs", "/nope", "/api/v1/nope"):
        get(path)
    r = c.put(f"/api/v1/projects/{project['id']}", json={"settings": {"note": "x"}}, headers=AUTH)
    seen.append(r.text)
    # the keys did reach the AI service (else this test would prove nothing) ...
    assert f"Bearer {OPENAI_KEY}" in _EchoingAI.seen and f"Bearer {CUSTOM_KEY}" in _EchoingAI.seen, _EchoingAI.seen
    # ... and its answers quoting them were received, yet no response and no log line holds them
    check = subprocess.run([sys.executable, "-c", "from pystrument.server.cli import main; main()", "check-config"], capture_output=True,
                           text=True, env={"PYSTRUMENT_SERVER_AI": json.dumps({"openai": {"api_key": OPENAI_KEY}}), "PATH": "/usr/bin:/bin"},
                           timeout=120)
    seen.append(check.stdout + check.stderr)
    log = server.log()
    assert log.strip(), "the server wrote no log: nothing was checked"
    for key in (OPENAI_KEY, CUSTOM_KEY):
        middle = key[10:30]
        leaks = [s[:300] for s in seen if middle in s]
        assert not leaks, f"AI key in a response: {leaks[0]}"
        lines = [line for line in log.splitlines() if middle in line]
        assert not lines, f"AI key in the server log: {lines[0][:300]}"
    figures(responses_checked=len(seen), log_lines_checked=len(log.splitlines()), key_sightings=0,
            ai_requests_with_key=sum(k in " ".join(_EchoingAI.seen) for k in (OPENAI_KEY, CUSTOM_KEY)))
