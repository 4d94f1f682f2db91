"""Version comparison benchmark (``nox -s bench``): memory and time of ``compare()`` at 3 sizes, side by side.

Data: one endpoint, 2 versions x N records (N = 500, 1,000, 2,000). Each record's call tree has 150 calls drawn
from a pool of 500 functions (so all 500 appear in every version) plus 10 functions of its own (high cardinality,
as with generated code or lambdas: 2 x 2,000 x 10 = 40,000 more distinct keys at N = 2,000). One pool function,
fn_7, runs in every request, 3x heavier than the others, and 30% slower in the head version: the comparison must
flag it (printed under "regressions"). The pre-bounded comparison built a dense records x distinct-keys matrix per
version: at N = 2,000 that is 2,000 x 40,500 x 8 bytes = 648 MB per version before the test copied it.

Each comparison runs in a fresh child process (so its peak is its own): printed are its time, its peak RSS
(VmHWM, the whole process: interpreter, numpy and the store included) and the growth during the comparison.
Targets: peak RSS <= 300 MB at N = 2,000, memory growing at most linearly in N (growth at 2,000 <= 4 x 1.25
the growth at 500), and fn_7 flagged at every size. Exits non-zero when a target is missed. Usage: python bench/bench_compare.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PEAK_TARGET_MB = 300.0
SIZES = (500, 1000, 2000)
POOL = [(f"fn_{i}", f"/srv/app/mod_{i % 23}.py", 10 + i) for i in range(500)]
ENDPOINT = "GET /api/orders/{id}"


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def child(db: str, base: str, head: str) -> None:
    """Run one comparison; print its figures as JSON."""
    from pystrument.server.settings import ServerSettings
    from pystrument.server.stats.compare import Budget, compare
    from pystrument.server.stores.sqlite import SQLiteStore

    settings = ServerSettings()
    store = SQLiteStore(f"sqlite:///{db}")
    project = store.get_project_by_name("bench")
    before = _status_mb("VmRSS")
    started = time.perf_counter()
    result = compare(store, project["id"], base, head, limit=settings.sample_limit, budget=Budget.from_settings(settings))
    seconds = time.perf_counter() - started
    slowed = [f["name"] for f in result["functions"] if f["kind"] == "regression"]
    print(json.dumps({"seconds": seconds, "peak_mb": _status_mb("VmHWM"), "before_mb": before, "functions_compared": result["functions_compared"],
                      "folded": result["functions_folded"], "complete": result["complete"], "regressions": slowed[:3]}))


def _record(rng: random.Random, version: str, n: int, slow: bool):
    from pystrument.core.record import AppInfo, CallNode, Record

    root = CallNode(function="view", file="/srv/app/views.py", line=1, is_app=True, self_ms=rng.uniform(0.1, 1.0))
    children = []
    for f, file, line in [POOL[7], *rng.sample(POOL[:7] + POOL[8:], 149)]:  # fn_7 runs in every request
        ms = rng.lognormvariate(-1.0, 0.6) * (3.0 if f == "fn_7" else 1.0) * (1.3 if slow and f == "fn_7" else 1.0)
        children.append(CallNode(function=f, file=file, line=line, is_app=True, self_ms=ms, time_ms=ms))
    for j in range(10):
        ms = rng.uniform(0.01, 0.2)
        children.append(CallNode(function=f"<lambda_{version}_{n}_{j}>", file="/srv/app/gen.py", line=j, self_ms=ms, time_ms=ms))
    root.children = children
    root.time_ms = root.self_ms + sum(c.time_ms for c in children)
    return Record(record_id=uuid.uuid4().hex, name=ENDPOINT, kind="request", method="GET",
                  started_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=n), duration_ms=root.time_ms,
                  app=AppInfo(version=version, environment="bench"), call_tree=root)


def build(db: Path, sizes: tuple[int, ...]) -> None:
    from pystrument.server.api.routes.projects import create_project
    from pystrument.server.stores.sqlite import SQLiteStore

    store = SQLiteStore(f"sqlite:///{db}")
    project = create_project(store, "bench")
    rng = random.Random(7)
    for size in sizes:
        for side in ("base", "head"):
            version = f"{side}-{size}"
            for start in range(0, size, 250):
                store.insert_records(project["id"], [_record(rng, version, n, side == "head") for n in range(start, min(size, start + 250))])
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="sizes 100, 200, 400 (a smoke run; targets not judged)")
    parser.add_argument("--child", nargs=3, metavar=("DB", "BASE", "HEAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    sizes = (100, 200, 400) if args.quick else SIZES
    with tempfile.TemporaryDirectory(prefix="pystrument-bench-compare-") as tmp:
        db = Path(tmp) / "compare.db"
        started = time.perf_counter()
        build(db, sizes)
        print(f"compare: built {2 * sum(sizes):,} records (150 of 500 pool functions + 10 own each) in {time.perf_counter() - started:.0f} s")
        rows = []
        for size in sizes:
            out = subprocess.run([sys.executable, __file__, "--child", str(db), f"base-{size}", f"head-{size}"], capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr)
                return 1
            rows.append((size, json.loads(out.stdout)))
    print(f"{'records/version':>15} {'time s':>7} {'peak RSS MB':>11} {'growth MB':>9} {'MB/1k rec':>9} {'compared':>8} {'folded':>7}  regressions")
    for size, r in rows:
        growth = r["peak_mb"] - r["before_mb"]
        print(f"{size:>15,} {r['seconds']:>7.2f} {r['peak_mb']:>11.0f} {growth:>9.1f} {growth / size * 1000:>9.1f} {r['functions_compared']:>8} "
              f"{r['folded']:>7}  {', '.join(r['regressions']) or '-'}")
    if args.quick:
        print("quick run: targets not judged")
        return 0
    peak = rows[-1][1]["peak_mb"]
    growth = [r["peak_mb"] - r["before_mb"] for _, r in rows]
    linear_limit = max(growth[0], 1.0) * (sizes[-1] / sizes[0]) * 1.25
    ok_peak, ok_linear = peak <= PEAK_TARGET_MB, growth[-1] <= linear_limit
    ok_found = all("fn_7" in r["regressions"] for _, r in rows)
    print(f"peak RSS at {sizes[-1]:,} records/version: {peak:.0f} MB (target <= {PEAK_TARGET_MB:.0f} MB)  {'OK' if ok_peak else 'MISS'}")
    print(f"growth {growth[0]:.1f} -> {growth[-1]:.1f} MB for {sizes[-1] // sizes[0]}x the records (at most linear: <= {linear_limit:.1f})  "
          f"{'OK' if ok_linear else 'MISS'}")
    print(f"the slowed fn_7 flagged as a regression at every size  {'OK' if ok_found else 'MISS'}")
    return 0 if ok_peak and ok_linear and ok_found else 1


if __name__ == "__main__":
    sys.exit(main())
