"""Security and limits through real HTTP: bearer token, read-only token, loopback rule, rate limit, body size, CORS."""

from __future__ import annotations

import gzip
import json

import pytest
from pystrument.server.settings import ServerSettings, SettingsError


@pytest.fixture
def secured(start_server):
    return start_server(token="s3cret", read_token="viewer", rate_limit_rps=1, rate_limit_burst=3, max_body_bytes=4096,
                        cors_origins="http://localhost:3000,https://performance-monitor.yourdomain.com")


def test_bearer_token_guards_everything_but_ingest_and_health(secured, make_record):
    with secured.client() as c:
        r = c.get("/api/v1/projects")
        assert r.status_code == 401 and r.json()["code"] == 10002 and "Bearer" in r.json()["msg"]
        r = c.get("/api/v1/projects", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["code"] == 10002
        assert c.get("/health").json()["code"] == 0
        auth = {"Authorization": "Bearer s3cret"}
        project = c.post("/api/v1/projects", json={"name": "sec"}, headers=auth).json()["data"]
        # ingestion needs the project key, not the token
        r = c.post("/api/v1/performance/collect", json=make_record(), headers={"X-Project-Key": project["project_key"]})
        assert r.status_code == 200 and r.json()["code"] == 0
        # the read-only token reads but may not write
        viewer = {"Authorization": "Bearer viewer"}
        assert c.get("/api/v1/projects", headers=viewer).json()["data"]["total"] == 1
        r = c.post("/api/v1/projects", json={"name": "nope"}, headers=viewer)
        assert r.status_code == 403 and r.json()["code"] == 10003


def test_rate_limit_per_project_key(secured, make_record):
    with secured.client() as c:
        project = c.post("/api/v1/projects", json={"name": "rl"}, headers={"Authorization": "Bearer s3cret"}).json()["data"]
        codes = [c.post("/api/v1/performance/collect", json=make_record(), headers={"X-Project-Key": project["project_key"]})
                 for _ in range(5)]
        assert [r.status_code for r in codes[:3]] == [200, 200, 200]
        limited = [r for r in codes if r.status_code == 429]
        assert limited and limited[0].json()["code"] == 10004 and int(limited[0].headers["Retry-After"]) >= 1


def test_body_size_limit_plain_and_gzip(secured, make_record):
    with secured.client() as c:
        project = c.post("/api/v1/projects", json={"name": "big"}, headers={"Authorization": "Bearer s3cret"}).json()["data"]
        key = {"X-Project-Key": project["project_key"]}
        big = [make_record() for _ in range(30)]
        r = c.post("/api/v1/performance/batch", json=big, headers=key)
        assert r.status_code == 413 and r.json()["code"] == 10001 and "split the batch" in r.json()["msg"]
        bomb = gzip.compress(json.dumps({"records": big * 20}).encode())
        assert len(bomb) < 4096
        r = c.post("/api/v1/performance/batch", content=bomb, headers={**key, "Content-Encoding": "gzip"})
        assert r.status_code == 413 and r.json()["code"] == 10001


def test_cors_from_settings(secured):
    with secured.client() as c:
        r = c.options("/api/v1/projects", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://localhost:3000" and r.json()["code"] == 0
        r = c.options("/api/v1/projects", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
        assert r.status_code == 400 and r.json()["code"] == 10003 and "Disallowed CORS origin" in r.json()["msg"]
        r = c.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_refuses_to_listen_beyond_loopback_without_token():
    with pytest.raises(SettingsError, match="PYSTRUMENT_SERVER_TOKEN"):
        ServerSettings(host="0.0.0.0").check_listen()
    ServerSettings(host="0.0.0.0", token="t").check_listen()
    ServerSettings(host="127.0.0.1").check_listen()
    ServerSettings(host="::1").check_listen()
