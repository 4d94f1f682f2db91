"""What held on main before issue 15 and must keep holding, each against a real server under the attack
fixture (status, peak RSS < 512 MB, healthy after): gzip bombs, deep JSON, 50 MB names, 100,000 tiny records
in one batch, tokens, path traversal and export file names."""

from __future__ import annotations

import json
import re
import time

import pytest
from attack_harness import KEY, assert_attack_survived
from attack_payloads import deep_tree, gzip_bomb
from pystrument_server_process import make_record

GIB = 1024**3


@pytest.mark.parametrize("size_gib", [10, 5])
def test_gzip_bomb_is_refused_at_the_body_limit(attack_server, figures, size_gib):
    """10 GiB of zeros: about 10.5 MB gzipped, past the raw limit; 5 GiB: 5 MB gzipped, stopped while gunzipping."""
    bomb = gzip_bomb(size_gib * GIB)
    with attack_server.client() as c:
        r = c.post("/api/v1/performance/batch", content=bomb,
                   headers={KEY: attack_server.project_key, "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == 10001 and "max_body_bytes" in r.json()["msg"], r.text[:300]
    assert_attack_survived(attack_server, figures, status=r.status_code, gzipped_mb=round(len(bomb) / 2**20, 1))


def test_deep_json_is_refused_with_422(attack_server, figures):
    rec = json.dumps({**make_record(), "call_tree": None}).replace('"call_tree": null', '"call_tree": ' + deep_tree(100_000))
    with attack_server.client() as c:
        r = c.post("/api/v1/performance/collect", content=rec, headers={KEY: attack_server.project_key})
    assert r.status_code == 422 and r.json()["code"] == 20004 and "deep" in r.json()["msg"], r.text[:300]
    assert_attack_survived(attack_server, figures, status=r.status_code, body_mb=round(len(rec) / 2**20, 1))


def test_fifty_megabyte_name_is_refused_with_413(attack_server, figures):
    body = json.dumps(make_record(name="GET /" + "n" * (50 * 2**20))).encode()
    with attack_server.client() as c:
        r = c.post("/api/v1/performance/collect", content=body, headers={KEY: attack_server.project_key})
    assert r.status_code == 413 and r.json()["code"] == 10001, r.text[:300]
    assert_attack_survived(attack_server, figures, status=r.status_code)


def test_hundred_thousand_tiny_records_in_one_batch_are_all_stored(attack_server, figures):
    stamp = "2026-01-01T00:00:00Z"
    records = [{"record_id": f"tiny-{i}", "name": "GET /t", "started_at": stamp, "duration_ms": 1} for i in range(100_000)]
    body = json.dumps({"records": records}, separators=(",", ":")).encode()
    started = time.perf_counter()
    with attack_server.client(timeout=300) as c:
        r = c.post("/api/v1/performance/batch", content=body, headers={KEY: attack_server.project_key, "Content-Type": "application/json"})
        seconds = round(time.perf_counter() - started, 1)
        assert r.status_code == 200 and r.json()["data"]["accepted"] == 100_000, r.text[:300]
        attack_server.acknowledged.update(rec["record_id"] for rec in records)  # assert_healthy checks them
    assert_attack_survived(attack_server, figures, status=r.status_code, body_mb=round(len(body) / 2**20, 1), seconds=seconds)


@pytest.mark.attack_settings(read_token="attack-read-token-77b1")
def test_tokens_are_required(attack_server, figures):
    statuses = set()
    with attack_server.client() as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": attack_server.token},
                        {"Authorization": f"Bearer {attack_server.project_key}"}, {KEY: attack_server.project_key},
                        {"Authorization": "Bearer " + "x" * 100_000}):
            r = c.get(f"/api/v1/projects/{attack_server.project_id}/records", headers=headers)
            assert r.status_code in (400, 401), (headers.keys(), r.status_code, r.text[:200])  # 400: header too large for h11
            if r.status_code == 401:
                assert r.json()["code"] == 10002 and attack_server.project_key not in r.text
            statuses.add(r.status_code)
        r = c.delete(f"/api/v1/projects/{attack_server.project_id}", headers={"Authorization": "Bearer attack-read-token-77b1"})
        assert r.status_code == 403 and r.json()["code"] == 10003, r.text
        statuses.add(r.status_code)
    assert_attack_survived(attack_server, figures, status=sorted(statuses))


TRAVERSALS = ["../../../../etc/passwd", "..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/%2e%2e/etc/passwd", "....//....//etc/passwd",
              "..\\..\\..\\etc\\passwd", "%252e%252e%252fetc%252fpasswd"]


def test_no_path_traversal_and_clean_export_file_names(attack_server, figures):
    rec = make_record(name='GET /<script>x</script>/../../etc/passwd"\r\nX-Injected: 1')
    r = attack_server.ingest([rec])
    assert r.status_code == 200
    rid = rec["record_id"]
    statuses = set()
    with attack_server.client() as c:
        for bad in TRAVERSALS:
            for url in (f"/api/v1/records/{rid}/export?format={bad}", f"/api/v1/records/{bad}/export?format=json", f"/docs/{bad}",
                        f"/{bad}", f"/assets/{bad}"):
                r = c.get(url, headers=attack_server.auth)
                statuses.add(r.status_code)
                assert r.status_code < 500 and "root:x:0:0" not in r.text and "def create_app" not in r.text, (url, r.status_code)
        for fmt in ("json", "speedscope", "html"):
            r = c.get(f"/api/v1/records/{rid}/export", params={"format": fmt}, headers=attack_server.auth)
            assert r.status_code == 200, r.text[:200]
            match = re.fullmatch(r'attachment; filename="([^"]+)"', r.headers["content-disposition"])
            assert match, r.headers["content-disposition"]
            name = match.group(1)
            assert "/" not in name and "\\" not in name and "\r" not in name and "\n" not in name and "x-injected" not in r.headers, name
    assert_attack_survived(attack_server, figures, status=sorted(statuses))
