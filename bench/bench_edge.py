"""Edge benchmark (``nox -s bench``): the peak memory of a real server process (``pystrument-server serve``, SQLite)
fed the records of issue 15 that used to blow it up, and how long its reads of them take.

1. one record of 440,000 distinct function names (about 1.2 MB gzipped): ingest, then ``GET /functions``
   (what the dashboard reads) and ``GET /flamegraph``;
2. one record of 600,000 identical nodes: ingest, then ``GET /flamegraph`` and ``GET /functions``.

Peak RSS per phase is the server's ``VmHWM``, reset before each phase (``/proc/PID/clear_refs``), printed beside
the RSS of the idle server. Target: every phase's peak under 600 MB (the address space of the server is capped at
3 GB as in the issue's measurements, so a runaway shows as an error, not as a swapping machine). Exits 1 when missed.
Usage: python bench/bench_edge.py
"""

from __future__ import annotations

import gzip
import json
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import bench_server
import httpx

TARGET_MB = 600
CAP_BYTES = 3 * 1024**3


def wide_record(n: int, same: bool) -> bytes:
    tree = {"function": "root", "time_ms": 1000, "self_ms": 1000, "children": [{"function": "f" if same else f"f{i}"} for i in range(n)]}
    return json.dumps([{"record_id": uuid.uuid4().hex, "name": "GET /wide", "started_at": "2026-01-01T00:00:00Z", "duration_ms": 1000,
                        "app": {"version": "1.0"}, "call_tree": tree}], separators=(",", ":")).encode()


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


class Server(bench_server.Server):
    """bench_server's server, on a SQLite file of its own, under the address-space cap."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, f"sqlite:///{folder / 'edge.db'}", preexec_fn=_cap)

    def status_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"{field} not in /proc/{self.proc.pid}/status")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # VmHWM := current RSS



def phase(server: Server, label: str, call) -> tuple[str, float, float, float, str]:
    server.reset_peak()
    t0 = time.perf_counter()
    r = call()
    elapsed = time.perf_counter() - t0
    outcome = f"{r.status_code} code={r.json().get('code')}"
    return label, elapsed, server.status_mb("VmHWM"), server.status_mb("VmRSS"), outcome


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            with httpx.Client(base_url=server.url, timeout=600) as c:
                project = c.post("/api/v1/projects", json={"name": "edge"}).json()["data"]
                pid, headers = project["id"], {"X-Project-Key": project["project_key"], "Content-Type": "application/json",
                                               "Content-Encoding": "gzip"}
                idle = server.status_mb("VmRSS")
                wide = gzip.compress(wide_record(440_000, same=False), 6)
                same = gzip.compress(wide_record(600_000, same=True), 6)
                print(f"idle server RSS {idle:.0f} MB; 440k-function record {len(wide) / 1e6:.2f} MB gzipped, "
                      f"600k-node record {len(same) / 1e6:.2f} MB gzipped")
                rows.append(phase(server, "ingest 440k distinct functions", lambda: c.post("/api/v1/performance/batch", content=wide, headers=headers)))
                rows.append(phase(server, "GET /functions after it", lambda: c.get(f"/api/v1/projects/{pid}/functions")))
                rows.append(phase(server, "GET /flamegraph after it", lambda: c.get(f"/api/v1/projects/{pid}/flamegraph")))
                rows.append(phase(server, "ingest 600k identical nodes", lambda: c.post("/api/v1/performance/batch", content=same, headers=headers)))
                rows.append(phase(server, "GET /flamegraph after it", lambda: c.get(f"/api/v1/projects/{pid}/flamegraph")))
                rows.append(phase(server, "GET /functions after it", lambda: c.get(f"/api/v1/projects/{pid}/functions")))
        finally:
            server.stop()
    print(f"{'phase':34} {'seconds':>8} {'peak RSS MB':>12} {'RSS after MB':>13}  answer")
    for label, elapsed, peak, after, outcome in rows:
        print(f"{label:34} {elapsed:8.2f} {peak:12.0f} {after:13.0f}  {outcome}")
    worst = max(r[2] for r in rows)
    ok = worst < TARGET_MB and all(r[4].startswith("200") for r in rows)
    print(f"worst peak {worst:.0f} MB (target < {TARGET_MB} MB): {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
