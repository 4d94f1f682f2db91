"""Hostile JSON inside records against a real server: numbers of a million digits, strings of megabytes,
nesting a million levels deep outside the call tree. Each gets a clear 4xx (or is stored when it is valid
and within the limits), the server stays under 512 MB and healthy."""

from __future__ import annotations

import json

import pytest
from attack_harness import KEY, assert_attack_survived
from pystrument_server_process import make_record


def _post(server, body: bytes):
    with server.client() as c:
        return c.post("/api/v1/performance/collect", content=body, headers={KEY: server.project_key, "Content-Type": "application/json"})


@pytest.mark.parametrize("number", ["1" + "0" * 1_000_000, "1e999999", "-" + "9" * 1_000_000 + ".5"])
def test_oversized_numbers_are_refused_with_422(attack_server, figures, number):
    body = json.dumps(make_record()).replace('"duration_ms": 12.5', '"duration_ms": ' + number).encode()
    assert number.encode() in body
    r = _post(attack_server, body)
    assert r.status_code == 422 and r.json()["code"] == 20004 and "duration_ms" in r.json()["msg"], r.text[:300]
    assert_attack_survived(attack_server, figures, status=r.status_code, digits=len(number))


def test_huge_integer_in_an_int_field_is_refused_with_422(attack_server, figures):
    body = json.dumps(make_record()).replace('"status_code": 200', '"status_code": ' + "7" * 500_000).encode()
    r = _post(attack_server, body)
    assert r.status_code == 422 and r.json()["code"] == 20004 and "status_code" in r.json()["msg"], r.text[:300]
    assert_attack_survived(attack_server, figures, status=r.status_code)


def test_megabyte_strings_within_the_limit_are_stored_or_refused_clearly(attack_server, figures):
    rec = make_record(tags={"t" * 1_000_000: "v" * 4_000_000}, error={"type": "E" * 2_000_000, "message": "m"})
    r = _post(attack_server, json.dumps(rec).encode())
    assert r.status_code in (200, 422), r.text[:300]
    if r.status_code == 200:
        attack_server.acknowledged.add(rec["record_id"])
    else:
        assert r.json()["code"] == 20004 and len(r.json()["msg"]) < 2000, r.text[:300]  # the message names the field, not echoes it
    assert_attack_survived(attack_server, figures, status=r.status_code)


@pytest.mark.parametrize("where", ["tags", "app", "batch"])
def test_deeply_nested_json_outside_the_tree_is_refused(attack_server, figures, where):
    deep = "[" * 1_000_000 + "]" * 1_000_000
    if where == "batch":
        good = make_record()
        body = ('{"records":[' + json.dumps(good) + "," + deep + "]}").encode()
        with attack_server.client() as c:
            r = c.post("/api/v1/performance/batch", content=body, headers={KEY: attack_server.project_key, "Content-Type": "application/json"})
        assert r.status_code == 200 and r.json()["data"]["accepted"] == 1 and len(r.json()["data"]["rejected"]) == 1, r.text[:300]
        attack_server.acknowledged.add(good["record_id"])
    else:
        body = json.dumps(make_record(**{where: None})).replace(f'"{where}": null', f'"{where}": ' + deep).encode()
        r = _post(attack_server, body)
        assert r.status_code == 422 and r.json()["code"] == 20004, r.text[:300]
    assert_attack_survived(attack_server, figures, status=r.status_code)
