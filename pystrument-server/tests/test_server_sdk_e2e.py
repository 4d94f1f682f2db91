"""End to end with real SDK records: pystrument.core profiles real code (memory sink), the records go to a
real server over HTTP and, written as JSON Lines, through ``pystrument-server import``; both are queryable.
(The Flask adapter and the HTTP/file sinks are built in other distributions; their end-to-end tests live there.)"""

from __future__ import annotations

import gzip
import time

import msgspec
from click.testing import CliRunner
from pystrument.core import monitor_performance
from pystrument.core.memory_sink import clear, records
from pystrument.server.cli import create_cli


def _busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def checkout() -> None:
    _busy(15)


def _profiled_records(n: int):
    clear("e2e")
    fn = monitor_performance(name="POST /checkout", sinks=["memory://e2e"], async_send=False, app_name="shop", app_version="3.1",
                             environment="staging", profiler_interval=0.001)(checkout)
    for _ in range(n):
        fn()
    return list(records("e2e"))


def test_sdk_records_over_http_and_through_import(start_server, tmp_path):
    recs = _profiled_records(5)
    assert len(recs) == 5 and all(r.call_tree is not None for r in recs)
    server = start_server()
    with server.client() as c:
        project = c.post("/api/v1/projects", json={"name": "sdk"}).json()["data"]
        body = msgspec.json.encode({"records": recs[:3]})
        r = c.post("/api/v1/performance/batch", content=gzip.compress(body),
                   headers={"X-Project-Key": project["project_key"], "Content-Encoding": "gzip"})
        assert r.json()["data"] == {"accepted": 3, "duplicates": 0, "rejected": []}
    server.__exit__(None, None, None)

    jsonl = tmp_path / "records.jsonl.gz"
    jsonl.write_bytes(gzip.compress(b"\n".join(msgspec.json.encode(r) for r in recs) + b"\n"))
    out = CliRunner().invoke(create_cli(), ["--store", server.settings.store, "import", str(jsonl), "--project", "sdk"])
    assert out.exit_code == 0 and "accepted 2, duplicate 3, rejected 0" in out.output, out.output

    again = start_server(store=server.settings.store)
    with again.client() as c:
        page = c.get(f"/api/v1/projects/{project['id']}/records").json()["data"]
        assert page["total"] == 5 and {i["name"] for i in page["items"]} == {"POST /checkout"}
        stats = c.get(f"/api/v1/projects/{project['id']}/endpoints").json()["data"]["items"][0]
        assert stats["count"] == 5 and stats["versions"] == ["3.1"] and stats["p50"] >= 14
        functions = c.get(f"/api/v1/projects/{project['id']}/functions").json()["data"]["items"]
        assert any(f["function"] in ("_busy", "checkout") and f["is_app"] for f in functions[:3]), functions[:3]
        one = c.get(f"/api/v1/records/{recs[0].record_id}").json()["data"]
        assert one["call_tree"] is not None and one["app"]["environment"] == "staging"
