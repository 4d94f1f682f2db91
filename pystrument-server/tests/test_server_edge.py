"""The edge of ingest, through HTTP on the real server: every number bounded (a bad record refused alone, its
field named, the good ones of its batch stored), cardinality limits (trees folded, endpoints and versions per
project refused beyond the limit) and reads bounded (/functions paged, merged flame graphs capped)."""

from __future__ import annotations

import gzip
import json
import os
import sys
import uuid
from pathlib import Path

import httpx
import msgspec
import pytest
from pystrument_testing.ports import free_port
from pystrument_testing.services import serving

from .test_server_api import envelope


def post_batch(api, project, body: bytes | str, gz: bool = False):
    data = body.encode() if isinstance(body, str) else body
    headers = {"X-Project-Key": project["project_key"], "Content-Type": "application/json"}
    if gz:
        data = gzip.compress(data, 1)
        headers["Content-Encoding"] = "gzip"
    return api.post("/api/v1/performance/batch", content=data, headers=headers)


def stored(api, record_id: str) -> bool:
    r = api.get(f"/api/v1/records/{record_id}")
    assert r.status_code in (200, 404), r.text
    return r.status_code == 200


def _set(rec: dict, path: str, value: str) -> str:
    """The record as JSON text with the value at ``path`` (dotted, ``children[i]`` steps) replaced by raw JSON text."""
    marker = f"__RAW_{uuid.uuid4().hex}__"
    node: dict = rec
    parts = path.split(".")
    for part in parts[:-1]:
        name, _, index = part.partition("[")
        node = node.setdefault(name, {}) if not index else node[name][int(index.rstrip("]"))]
    node[parts[-1]] = marker
    return json.dumps(rec).replace(f'"{marker}"', value)


def _two_huge_self(rec: dict) -> str:
    rec["call_tree"]["children"].append({"function": "again", "file": "app.py", "line": 30, "time_ms": 1.0, "self_ms": 1.0})
    rec["call_tree"]["children"][0]["self_ms"] = "__A__"
    rec["call_tree"]["children"][1]["self_ms"] = "__B__"
    return json.dumps(rec).replace('"__A__"', "1e308").replace('"__B__"', "1e308")


# (what the bad record holds, its JSON text from a good record, the field the error must name)
BAD_NUMBERS = [
    ("duration_ms 1e308", lambda r: _set(r, "duration_ms", "1e308"), "duration_ms"),
    ("two self_ms 1e308 in one tree", _two_huge_self, "call_tree.children[0].self_ms"),
    ("cpu_ms 1e308", lambda r: _set(r, "cpu_ms", "1e308"), "cpu_ms"),
    ("nested self_ms 1e308", lambda r: _set(r, "call_tree.children[0].children", '[{"function":"a"},{"function":"b","self_ms":1e308}]')
     , "call_tree.children[0].children[1].self_ms"),
    ("nested time_ms 1e308", lambda r: _set(r, "call_tree.children[0].time_ms", "1e308"), "call_tree.children[0].time_ms"),
    ("duration_ms 1e400 (infinite as a float)", lambda r: _set(r, "duration_ms", "1e400"), "duration_ms"),
    ("duration_ms NaN", lambda r: _set(r, "duration_ms", "NaN"), None),
    ("duration_ms Infinity", lambda r: _set(r, "duration_ms", "Infinity"), None),
    ("duration_ms negative", lambda r: _set(r, "duration_ms", "-1"), "duration_ms"),
    ("self_ms negative", lambda r: _set(r, "call_tree.self_ms", "-0.5"), "call_tree.self_ms"),
    ("samples huge int", lambda r: _set(r, "call_tree.samples", "1" + "0" * 30), "call_tree.samples"),
    ("pruned huge int", lambda r: _set(r, "call_tree.children[0].pruned", str(2**63)), "call_tree.children[0].pruned"),
    ("sample_count negative", lambda r: _set(r, "sample_count", "-3"), "sample_count"),
    ("line negative", lambda r: _set(r, "call_tree.line", "-5"), "call_tree.line"),
    ("line huge", lambda r: _set(r, "call_tree.line", str(2**40)), "call_tree.line"),
    ("status_code 1000", lambda r: _set(r, "status_code", "1000"), "status_code"),
    ("status_code negative", lambda r: _set(r, "status_code", "-200"), "status_code"),
    ("sample_rate 2", lambda r: _set(r, "sample_rate", "2"), "sample_rate"),
    ("interval_ms 1e9", lambda r: _set(r, "interval_ms", "1e9"), "interval_ms"),
    ("schema_version 0", lambda r: _set(r, "schema_version", "0"), "schema_version"),
    ("app.pid huge", lambda r: _set(r, "app.pid", str(2**64)), "app.pid"),
    ("started_at year 1900", lambda r: _set(r, "started_at", '"1900-01-01T00:00:00Z"'), "started_at"),
]


@pytest.mark.parametrize("label,bad_text,field", BAD_NUMBERS, ids=[b[0] for b in BAD_NUMBERS])
def test_a_bad_number_is_refused_alone_with_its_field_named(api, project, make_record, label, bad_text, field):
    good, bad = make_record(), make_record()
    body = '{"records": [' + json.dumps(good) + "," + bad_text(bad) + "]}"
    r = post_batch(api, project, body)
    assert r.status_code == 200, r.text
    data = envelope(r)
    assert data["accepted"] == 1 and len(data["rejected"]) == 1, data
    rejected = data["rejected"][0]
    assert rejected["index"] == 1 and rejected["code"] == 20004
    if field is None:  # not JSON at all (NaN, Infinity): the record is named, the position given
        assert rejected["error"].startswith("records[1]") and "JSON" in rejected["error"], rejected
    else:
        assert rejected["error"].startswith(f"records[1].{field}: "), rejected
        assert rejected["record_id"] == bad["record_id"]
    assert stored(api, good["record_id"]) and not stored(api, bad["record_id"])
    # alone: 422 naming the field, nothing stored
    again = make_record()
    r = api.post("/api/v1/performance/collect", content=bad_text(again).encode(),
                 headers={"X-Project-Key": project["project_key"], "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == 20004, r.text
    if field is not None:
        assert f"{field}: " in r.json()["msg"], r.json()
    assert not stored(api, again["record_id"])


def test_the_largest_accepted_numbers_still_sum_to_finite_roll_ups(api, project, make_record):
    """Numbers at their bounds, summed by every roll-up (buckets, functions, histograms) and read back."""
    recs = []
    for _ in range(3):
        rec = make_record(name="GET /edge-max", duration=1e10)
        rec["cpu_ms"] = 1e10
        rec["call_tree"]["children"] = [{"function": "same", "file": "x.py", "line": 2**31 - 1, "time_ms": 1e10, "self_ms": 1e10,
                                         "samples": 2**40, "pruned": 0} for _ in range(50)]
        recs.append(rec)
    data = envelope(post_batch(api, project, json.dumps({"records": recs})))
    assert data["accepted"] == 3 and data["rejected"] == []
    funcs = envelope(api.get(f"/api/v1/projects/{project['id']}/functions", params={"endpoint": "GET /edge-max"}))
    same = next(i for i in funcs["items"] if i["function"] == "same")
    assert same["self_ms_total"] == pytest.approx(3 * 50 * 1e10) and same["calls_in"] == 3
    eps = envelope(api.get(f"/api/v1/projects/{project['id']}/endpoints"))["items"]
    assert next(e for e in eps if e["endpoint"] == "GET /edge-max")["max"] == pytest.approx(1e10)
    flame = envelope(api.get(f"/api/v1/projects/{project['id']}/flamegraph", params={"endpoint": "GET /edge-max"}))
    assert flame["records"] == 3 and flame["root"]["time_ms"] == pytest.approx(3e10)


def _flat(n: int, name=lambda i: f"f{i}") -> str:
    """A record of one root with ``n`` leaf children, as compact JSON (the children carry no times: the smallest text)."""
    tree = {"function": "root", "time_ms": 1000, "self_ms": 1000, "children": [{"function": name(i)} for i in range(n)]}
    return json.dumps({"record_id": uuid.uuid4().hex, "name": "GET /wide", "started_at": "2026-01-01T00:00:00Z", "duration_ms": 1000,
                       "app": {"version": "1.0"}, "call_tree": tree}, separators=(",", ":"))


def _walk(node: dict):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(n.get("children", []))


def test_a_record_of_440000_distinct_functions_is_folded_and_accepted(start_server, make_record):
    server = start_server()
    s = server.settings
    with server.client() as c:
        project = envelope(c.post("/api/v1/projects", json={"name": "wide"}))
        text = _flat(440_000)
        good = make_record()
        r = post_batch(c, project, '{"records": [' + text + "," + json.dumps(good) + "]}", gz=True)
        data = envelope(r)
        assert data["accepted"] == 2 and data["rejected"] == []
        assert [f["index"] for f in data["folded"]] == [0] and "max_functions_per_record" in data["folded"][0]["message"]
        record_id = json.loads(text)["record_id"]
        rec = envelope(c.get(f"/api/v1/records/{record_id}"))
        assert rec["truncated"] is True
        nodes = list(_walk(rec["call_tree"]))
        real = {(n["function"], n.get("file", ""), n.get("line", 0)) for n in nodes if not n.get("pruned")}
        assert len(nodes) <= s.max_nodes_per_record and len(real) <= s.max_functions_per_record
        other = [n for n in nodes if n.get("pruned")]
        assert len(other) == 1 and other[0]["function"] == "[other]" and other[0]["pruned"] == 440_000 - (len(real) - 1)
        assert rec["call_tree"]["time_ms"] == 1000 and rec["duration_ms"] == 1000
        page = envelope(c.get(f"/api/v1/projects/{project['id']}/functions", params={"endpoint": "GET /wide", "limit": 100}))
        assert len(page["items"]) == 100 and page["total"] == len(real)


def test_folding_keeps_the_heaviest_frames_and_every_time(start_server):
    server = start_server(max_nodes_per_record=100, max_functions_per_record=30)
    with server.client() as c:
        project = envelope(c.post("/api/v1/projects", json={"name": "fold"}))
        # root -> 40 distinct middles (time 40-i) -> 20 leaves each of 10 functions
        middles = []
        for i in range(40):
            leaves = [{"function": f"leaf{j % 10}", "file": "l.py", "line": j % 10, "time_ms": (40 - i) / 40, "self_ms": (40 - i) / 40,
                       "samples": 1} for j in range(20)]
            t = sum(x["time_ms"] for x in leaves)
            middles.append({"function": f"mid{i}", "file": "m.py", "line": i, "time_ms": t + 1, "self_ms": 1, "children": leaves, "samples": 21})
        total = sum(m["time_ms"] for m in middles)
        rec = {"record_id": uuid.uuid4().hex, "name": "GET /fold", "started_at": "2026-01-01T00:00:00Z", "duration_ms": total,
               "call_tree": {"function": "root", "time_ms": total, "self_ms": 0, "children": middles, "samples": 840}}
        r = c.post("/api/v1/performance/collect", json=rec, headers={"X-Project-Key": project["project_key"]})
        assert "max_nodes_per_record=100" in envelope(r)["folded"]
        tree = envelope(c.get(f"/api/v1/records/{rec['record_id']}"))["call_tree"]
        nodes = list(_walk(tree))
        assert len(nodes) <= 100
        assert len({n["function"] for n in nodes if not n.get("pruned")}) <= 30
        for n in nodes:  # every node's time is still its self time plus its children's
            assert n.get("time_ms", 0) == pytest.approx(n.get("self_ms", 0) + sum(k.get("time_ms", 0) for k in n.get("children", [])))
        assert sum(n.get("self_ms", 0) for n in nodes) == pytest.approx(total)
        assert sum(n.get("pruned", 0) for n in nodes) + sum(1 for n in nodes if not n.get("pruned")) == 1 + 40 + 40 * 20
        kept_mids = [n["function"] for n in tree["children"] if not n.get("pruned")]
        assert kept_mids == [f"mid{i}" for i in range(len(kept_mids))]  # the heaviest ones
        assert tree.get("samples") == 840 and sum(n.get("samples", 0) for n in tree["children"]) == 840


def test_a_record_of_600000_identical_nodes_is_folded_and_its_flame_graph_answers(start_server):
    server = start_server()
    with server.client() as c:
        project = envelope(c.post("/api/v1/projects", json={"name": "same"}))
        text = _flat(600_000, name=lambda i: "f")
        data = envelope(post_batch(c, project, "[" + text + "]", gz=True))
        assert data["accepted"] == 1 and data["folded"][0]["index"] == 0
        flame = envelope(c.get(f"/api/v1/projects/{project['id']}/flamegraph", params={"endpoint": "GET /wide"}))
        assert flame["records"] == 1 and flame["root"]["time_ms"] == 1000
        funcs = envelope(c.get(f"/api/v1/projects/{project['id']}/functions"))
        assert funcs["total"] == 2 and {i["function"] for i in funcs["items"]} == {"root", "f"}


def test_merged_flame_graph_is_capped(start_server):
    server = start_server(flame_max_nodes=1000)
    with server.client() as c:
        project = envelope(c.post("/api/v1/projects", json={"name": "flamecap"}))
        recs = []
        for k in range(5):
            kids = [{"function": f"r{k}f{i}", "time_ms": 1.0, "self_ms": 1.0} for i in range(500)]
            recs.append({"record_id": uuid.uuid4().hex, "name": "GET /cap", "started_at": "2026-01-01T00:00:00Z", "duration_ms": 500,
                         "call_tree": {"function": "root", "time_ms": 500, "self_ms": 0, "children": kids}})
        assert envelope(post_batch(c, project, json.dumps(recs)))["accepted"] == 5
        flame = envelope(c.get(f"/api/v1/projects/{project['id']}/flamegraph", params={"endpoint": "GET /cap", "limit_nodes": 20000}))
        root = flame["root"]
        assert root["time_ms"] == pytest.approx(2500)
        top = root["children"][0]
        assert top["function"] == "root" and len(list(_walk(root))) <= 1000 + 2
        other = [n for n in top["children"] if n["function"] == "[other]"]
        assert len(other) == 1 and other[0]["time_ms"] == pytest.approx(2500 - (len(top["children"]) - 1))


def test_functions_are_paged(api, project, make_record):
    recs = [make_record(name="GET /paged", duration=10 + i, extra_fn=f"fn{i:02d}") for i in range(30)]
    assert envelope(post_batch(api, project, json.dumps({"records": recs})))["accepted"] == 30
    pid = project["id"]
    full = envelope(api.get(f"/api/v1/projects/{pid}/functions", params={"limit": 1000}))
    assert full["total"] == 32 and len(full["items"]) == 32  # view, helper, fn00-fn29
    pages = []
    for offset in range(0, 32, 10):
        page = envelope(api.get(f"/api/v1/projects/{pid}/functions", params={"limit": 10, "offset": offset}))
        assert page["total"] == 32 and page["offset"] == offset and page["limit"] == 10
        pages += page["items"]
    assert pages == full["items"]
    totals = [i["self_ms_total"] for i in pages]
    assert totals == sorted(totals, reverse=True)
    assert sum(i["self_share"] for i in pages) == pytest.approx(1.0, abs=1e-4)
    r = api.get(f"/api/v1/projects/{pid}/functions", params={"offset": -1})
    assert r.status_code == 400 and "offset" in r.json()["msg"]


@pytest.mark.parametrize("kind", ["sqlite", "mongodb"])
def test_endpoints_and_versions_beyond_the_limit_are_refused(start_server, make_record, kind):
    server = start_server(kind, max_endpoints_per_project=3, max_versions_per_project=2)
    with server.client() as c:
        project = envelope(c.post("/api/v1/projects", json={"name": "card"}))
        first = [make_record(name=f"GET /e{i}", version="1.0") for i in range(3)]
        assert envelope(post_batch(c, project, json.dumps(first)))["accepted"] == 3
        known, new = make_record(name="GET /e1", version="1.0"), make_record(name="GET /e3", version="1.0")
        data = envelope(post_batch(c, project, json.dumps([known, new])))
        assert data["accepted"] == 1 and [x["index"] for x in data["rejected"]] == [1]
        msg = data["rejected"][0]["error"]
        assert msg.startswith("records[1].name: endpoint 'GET /e3' is new") and "max_endpoints_per_project=3" in msg
        assert "PYSTRUMENT_SERVER_MAX_ENDPOINTS_PER_PROJECT" in msg and data["rejected"][0]["code"] == 20004
        assert stored(c, known["record_id"]) and not stored(c, new["record_id"])
        # versions: a second is accepted, a third refused, known ones still accepted
        assert envelope(post_batch(c, project, json.dumps([make_record(name="GET /e0", version="2.0")])))["accepted"] == 1
        r = c.post("/api/v1/performance/collect", json=make_record(name="GET /e0", version="3.0"), headers={"X-Project-Key": project["project_key"]})
        assert r.status_code == 422 and r.json()["code"] == 20004
        assert "app.version: version '3.0' is new" in r.json()["msg"] and "max_versions_per_project=2" in r.json()["msg"]
        assert "DELETE /api/v1/projects/{project_id}/versions/{version}" in r.json()["msg"]
        assert envelope(post_batch(c, project, json.dumps([make_record(name="GET /e2", version="2.0")])))["accepted"] == 1
        # a version deleted frees its place
        assert envelope(c.delete(f"/api/v1/projects/{project['id']}/versions/2.0"))["deleted"] == 2
        r = c.post("/api/v1/performance/collect", json=make_record(name="GET /e0", version="3.0"), headers={"X-Project-Key": project["project_key"]})
        assert r.status_code == 200, r.text
        # another project has its own count
        other = envelope(c.post("/api/v1/projects", json={"name": "card2"}))
        assert envelope(post_batch(c, other, json.dumps([make_record(name="GET /x", version="9")])))["accepted"] == 1


def _status_mb(pid: int, field: str) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc (VmHWM)")
def test_server_memory_stays_bounded_by_the_limits_for_440000_functions(tmp_path):
    """A memory property of a real `pystrument-server serve` process: ingesting the 440k-function record and reading
    /functions and /flamegraph after it grow its peak RSS by less than 350 MB (before the limits: 2.3 GB for /functions)."""
    port = free_port()
    exe = Path(sys.executable).parent / "pystrument-server"
    env = {**os.environ, "PYSTRUMENT_SERVER_RATE_LIMIT_RPS": "0"}
    url = f"http://127.0.0.1:{port}"
    with serving([str(exe), "--data-dir", str(tmp_path), "serve", "--port", str(port)], log=tmp_path / "serve.log", url=url + "/health",
                 timeout=60, stop_timeout=20, env=env) as proc:
        with httpx.Client(base_url=url, timeout=300) as c:
            project = envelope(c.post("/api/v1/projects", json={"name": "mem"}))
            idle = _status_mb(proc.pid, "VmRSS")
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
            assert envelope(post_batch(c, project, "[" + _flat(440_000) + "]", gz=True))["accepted"] == 1
            assert len(envelope(c.get(f"/api/v1/projects/{project['id']}/functions"))["items"]) == 50
            assert envelope(c.get(f"/api/v1/projects/{project['id']}/flamegraph"))["records"] == 1
            peak = _status_mb(proc.pid, "VmHWM")
        assert peak - idle < 350, f"peak RSS {peak:.0f} MB, idle {idle:.0f} MB"


def test_cli_import_applies_the_limits(tmp_path, make_record, monkeypatch):
    """`pystrument-server import` goes through the same limits as HTTP ingest: a new endpoint beyond the limit is
    refused with its file and line, a too-wide tree is folded."""
    from click.testing import CliRunner
    from pystrument.server.cli import create_cli

    monkeypatch.chdir(tmp_path)
    env = {"PYSTRUMENT_SERVER_MAX_ENDPOINTS_PER_PROJECT": "2", "PYSTRUMENT_SERVER_MAX_NODES_PER_RECORD": "50"}

    def run(*args, code=0):
        r = CliRunner().invoke(create_cli(), ["--data-dir", str(tmp_path / "data"), *args], env=env)
        assert r.exit_code == code, (r.output, r.exception)
        return r.output

    run("projects", "create", "imp")
    recs = [make_record(name=f"GET /e{i}") for i in range(3)]
    wide = dict(json.loads(_flat(500)), name="GET /e0")
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [*recs, wide]) + "\n")
    out = run("import", str(path), "--project", "imp")
    assert "accepted 3, duplicate 0, rejected 1" in out
    assert "r.jsonl:3: name: endpoint 'GET /e2' is new" in out and "max_endpoints_per_project=2" in out
    from pystrument.server.settings import ServerSettings
    from pystrument.server.stores.sqlite import SQLiteStore

    store = SQLiteStore(ServerSettings(data_dir=str(tmp_path / "data")).store_url())
    try:
        found = store.get_record(wide["record_id"])
        assert found is not None and found[1].truncated and sum(1 for _ in _walk(msgspec.to_builtins(found[1].call_tree))) <= 50
    finally:
        store.close()


def test_endpoints_stream_from_the_store_in_tables_that_never_split_an_endpoint(api, live, project, make_record):
    """/endpoints reads the roll-ups as a stream ordered by endpoint (Store.endpoint_tables); cut into tables of a
    few rows, the statistics are the same as from the whole table at once."""
    from pystrument.server.stats import summary as stats
    from pystrument.server.stores.base import Filters

    recs = [make_record(name=f"GET /s{i % 7}", duration=5 + i, version=f"v{i % 3}", environment=f"env{i % 2}") for i in range(60)]
    assert envelope(post_batch(api, project, json.dumps(recs)))["accepted"] == 60
    store = live.app.state.ctx.store
    tables = list(store.endpoint_tables(project["id"], Filters(), rows=4))
    assert len(tables) > 1
    seen: list[str] = []
    for t in tables:
        names = list(dict.fromkeys(t.endpoint.tolist()))
        assert not set(names) & set(seen), "an endpoint was split between two tables"
        seen += names
    assert seen == sorted(f"GET /s{i}" for i in range(7))
    whole = store.bucket_table(project["id"], Filters(), 86400)
    expected = stats._endpoint_items(whole)
    expected.sort(key=lambda i: (-i["p95"], i["endpoint"]))
    streamed = [item for t in tables for item in stats._endpoint_items(t)]
    streamed.sort(key=lambda i: (-i["p95"], i["endpoint"]))
    assert streamed == expected
    answered = envelope(api.get(f"/api/v1/projects/{project['id']}/endpoints"))["items"]
    assert all(item.pop("budget_breaches") == [] for item in answered)  # the API's own field (no budgets here)
    assert answered == expected and sum(i["count"] for i in answered) == 60
