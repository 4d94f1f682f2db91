"""CI gate calibration benchmark (``nox -s bench``): identical commits of the sample shop (tests/gate_sample) through
``pytest --pystrument`` against a real server, each pair of neighbouring versions compared twice, side by side in
one run: on raw CPU time (``metric=cpu``) and relative to the machine (``metric=cpu_calibrated``, the gate's default).

Printed per pair: the machine's own change (the calibration's p50, head/base) and each endpoint's p50 ratio
head/base, raw and calibrated. On identical code every ratio should be 1.0; the gate fails an endpoint at +20%.
Target: no calibrated ratio beyond 1.20 (the raw ones show what the machine did to them). Exits non-zero when the
target is missed. ``--disturb`` makes the machine move on purpose: a neighbour process streaming through 400 MB of
memory runs beside every other version's test run (the caches and the memory bus are shared between the cores).
Usage: python bench/bench_gate_calibration.py [--versions N] [--disturb] (default 10 versions: 9 pairs)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "pystrument-pytest" / "tests"), str(ROOT / "tests" / "fixtures")]

from gate_harness import TOKEN, SampleRepo, run_gate  # noqa: E402
from pystrument.core.compare_client import CompareClient  # noqa: E402
from pystrument_server_process import ServerProcess, new_project  # noqa: E402

LIMIT = 1.20
NEIGHBOUR = "import numpy as np\na = np.ones(50_000_000)\nwhile True:\n    a.sum()\n"  # a busy neighbour: memory-bound


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--disturb", action="store_true", help="a memory-bound neighbour beside every other version's run")
    args, _ = parser.parse_known_args()  # nox -s bench passes its arguments to every bench script
    tmp = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    server = ServerProcess(tmp / "server", {"token": TOKEN}).start()
    worst_raw = worst_cal = 1.0
    try:
        with server.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            new_project(client, "shop")
        repo = SampleRepo(tmp / "repo")
        versions = []
        for i in range(args.versions):
            version = repo.commit(f"identical, run {i}") if i else repo.git("rev-parse", "HEAD")
            neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR]) if args.disturb and i % 2 else None
            try:
                result = run_gate(repo, server.url, "shop", TOKEN)
            finally:
                if neighbour is not None:
                    neighbour.kill()
                    neighbour.wait()
            print(f"version {i + 1}/{args.versions}: gate exit {result.exit_code}{' (neighbour busy)' if neighbour else ''}", flush=True)
            versions.append(version)
        api = CompareClient(server.url, TOKEN)
        project = api.project("shop")["id"]
        print(f"\n{'pair':>4}  {'machine':>7}  endpoint p50 head/base: raw -> calibrated")
        for n, (base, head) in enumerate(zip(versions, versions[1:], strict=False), 1):
            raw = api.compare(project, base, head, environment="ci", metric="cpu")
            cal = api.compare(project, base, head, environment="ci", metric="cpu_calibrated")
            machine = cal["machine"]["head"]["p50"] / cal["machine"]["base"]["p50"]
            relative = {d["name"]: d["head"]["p50"] / d["base"]["p50"] for d in cal["endpoints"]}
            cells = []
            for d in raw["endpoints"]:
                if d["name"].startswith("GET "):
                    r = d["head"]["p50"] / d["base"]["p50"]
                    worst_raw = max(worst_raw, r, 1 / r)
                    worst_cal = max(worst_cal, relative[d["name"]], 1 / relative[d["name"]])
                    cells.append(f"{d['name']} {r:.2f} -> {relative[d['name']]:.2f}")
            print(f"{n:>4}  {machine:>7.2f}  " + " | ".join(cells), flush=True)
    finally:
        server.stop()
    ok = worst_cal <= LIMIT
    print(f"\nworst ratio (either way): raw {worst_raw:.2f}, calibrated {worst_cal:.2f} (target <= {LIMIT:.2f}: "
          f"{'OK' if ok else 'MISS'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
