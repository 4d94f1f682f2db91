"""Footprint benchmark (issue 14): what monitoring one call costs a fresh process, in fresh virtualenvs.

Each scenario runs in its own virtualenv (``uv venv`` + ``uv pip install``: our distributions built as
wheels from this checkout and installed as a user installs them, others from PyPI), as a fresh ``python`` process doing the setup and one monitored
call against a local HTTP endpoint that answers 200 (so nobody waits on an unreachable server):

(i)   pyinstrument alone: ``Profiler().start()`` / ``stop()`` around the call;
(ii)  sentry-sdk: ``sentry_sdk.init(traces_sample_rate=1.0, profiles_sample_rate=1.0)`` + one transaction;
(iii) pystrument-core + pystrument-sink-http only: ``configure()`` + one ``@monitor_performance`` call;
(iv)  every pystrument distribution installed, same code as (iii).

Measured as a deployed process runs: from wheels, not editable installs (each editable distribution adds
its own ``src`` folder to ``sys.path``, so with all 15 of ours every import in the process searches 14
more folders: ~20 ms of the wall time of (iv) that no user pays), with bytecode compiled (``uv pip install
--compile-bytecode``, as pip does by default; one uncounted warm-up run per scenario;
``PYTHONDONTWRITEBYTECODE`` is dropped from the children's environment). Without caches every import
compiles its source, and the compiler's peak memory, not the module, is what max RSS reads
(``typing_extensions``: 7.6 MB peak from source, 0.7 MB from its cache).

Printed per scenario: modules in ``sys.modules`` at the end, max RSS of the child (``os.wait4``'s
rusage), wall time from spawn to exit; medians of ``--runs`` interleaved runs (default 7). Goal, printed
as OK/MISS: (iv) within 5% of (iii) in modules and RSS; (iii) and (iv) below (ii) in modules, RSS and
wall time. Then ``pystrument-run python -c "import flask"`` against ``python -c "import flask"`` in (iv).

    python bench/bench_footprint.py [--runs 7] [--keep]   (venvs under .nox/footprint/, reused with --keep)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".nox" / "footprint"

WORK = """
def work():
    total = 0
    for i in range(200_000):
        total += i * i
    return total
"""
COUNT = "\nimport sys, json\nprint(json.dumps({'modules': len(sys.modules)}))\n"

SCRIPTS = {
    "pyinstrument": WORK + """
from pyinstrument import Profiler
profiler = Profiler()
profiler.start()
work()
profiler.stop()
""" + COUNT,
    "sentry": WORK + """
import sentry_sdk
sentry_sdk.init(dsn="http://public@127.0.0.1:{port}/1", traces_sample_rate=1.0, profiles_sample_rate=1.0)
with sentry_sdk.start_transaction(name="work", op="task"):
    work()
""" + COUNT,
    "pystrument": WORK + """
from pystrument.core import configure, monitor_performance
configure(project_key="k", api_endpoint="http://127.0.0.1:{port}")
monitor_performance(work)()
""" + COUNT,
}


class Accept(BaseHTTPRequestHandler):
    """Answers every POST like a healthy ingest endpoint (pystrument's envelope; sentry ignores the body)."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"code": 0, "msg": "ok", "data": {}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        sys.exit("bench_footprint needs uv (pip install uv)")
    return found


def _distributions() -> list[str]:
    found = [p.parent for p in ROOT.glob("pystrument-*/**/pyproject.toml") if ".nox" not in p.parts and "node_modules" not in p.parts]
    return [str(p) for p in sorted(found, key=lambda p: (p.name != "pystrument-core", str(p)))]


def _venv(name: str, requirements: list[str], keep: bool) -> Path:
    path = VENVS / name
    python = path / "bin" / "python"
    if keep and python.exists():
        return python
    shutil.rmtree(path, ignore_errors=True)
    uv = _uv()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(path)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python), *requirements], check=True)
    return python


def _checkout(*paths: str) -> list[str]:
    """Our distributions at ``paths``, installed from wheels built from the checkout (not editable)."""
    return [str(ROOT / path) for path in paths]


def measure(command: list[str], env: dict[str, str]) -> tuple[int, float, float]:
    """(modules, max RSS in MB, wall seconds) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out = proc.stdout.read()  # type: ignore[union-attr]
    err = proc.stderr.read()  # type: ignore[union-attr]
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{command} failed ({proc.returncode}):\n{err}")
    modules = json.loads(out.strip().splitlines()[-1])["modules"]
    return modules, usage.ru_maxrss / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="reuse the virtualenvs of an earlier run")
    args, _unknown = parser.parse_known_args()  # nox -s bench passes its posargs to every script

    print("bench_footprint: building virtualenvs under", VENVS, flush=True)
    pyinstrument = f"pyinstrument=={version('pyinstrument')}"
    pythons = {
        "(i) pyinstrument alone": _venv("pyinstrument", [pyinstrument], args.keep),
        "(ii) sentry-sdk": _venv("sentry", ["sentry-sdk", pyinstrument], args.keep),
        "(iii) pystrument core + http sink": _venv("core-http", _checkout("pystrument-core", "pystrument-sinks/http"), args.keep),
        "(iv) every pystrument distribution": _venv("all", _distributions(), args.keep),
    }
    scripts = dict(zip(pythons, ["pyinstrument", "sentry", "pystrument", "pystrument"], strict=True))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYSTRUMENT_", "PYTHONPATH", "SENTRY_", "PYTHONDONTWRITEBYTECODE"))}
    env["PYINSTRUMENT_IGNORE_OVERHEAD_WARNING"] = "1"

    all_python = pythons["(iv) every pystrument distribution"]
    runner = str(all_python.parent / "pystrument-run")
    flask_code = "import flask, sys, json; print(json.dumps({'modules': len(sys.modules)}))"
    flask_commands = {
        "python -c 'import flask'": [str(all_python), "-c", flask_code],
        "pystrument-run python -c 'import flask'": [runner, str(all_python), "-c", flask_code],
    }
    flask_env = {**env, "PYSTRUMENT_API_ENDPOINT": f"http://127.0.0.1:{port}", "PYSTRUMENT_PROJECT_KEY": "k"}

    results: dict[str, list[tuple[int, float, float]]] = {name: [] for name in [*pythons, *flask_commands]}
    for name, python in pythons.items():  # warm-up, not counted: the first run of a fresh install reads cold files
        measure([str(python), "-c", SCRIPTS[scripts[name]].replace("{port}", str(port))], env)
    for command in flask_commands.values():
        measure(command, flask_env)
    for _ in range(args.runs):  # interleaved: drift on a shared machine hits every scenario alike
        for name, python in pythons.items():
            code = SCRIPTS[scripts[name]].replace("{port}", str(port))
            results[name].append(measure([str(python), "-c", code], env))
        for name, command in flask_commands.items():
            results[name].append(measure(command, flask_env))
    server.shutdown()

    med = {name: tuple(statistics.median(run[i] for run in runs) for i in range(3)) for name, runs in results.items()}
    print(f"\nfootprint: medians of {args.runs} interleaved runs (fresh process each, one monitored call)")
    print(f"{'scenario':42} {'modules':>8} {'max RSS MB':>11} {'wall s':>8}")
    for name, (modules, rss, wall) in med.items():
        print(f"{name:42} {modules:8.0f} {rss:11.1f} {wall:8.3f}")

    core, every, sentry = (med[k] for k in ("(iii) pystrument core + http sink", "(iv) every pystrument distribution", "(ii) sentry-sdk"))
    verdict = lambda ok: "OK  " if ok else "MISS"  # noqa: E731
    print("\ngoals:")
    for i, what in ((0, "modules"), (1, "RSS")):
        ratio = every[i] / core[i]
        print(f"  {verdict(ratio <= 1.05)} (iv)/(iii) {what}: {ratio:.3f} (target <= 1.05)")
    for label, scenario in (("(iii)", core), ("(iv)", every)):
        for i, what in ((0, "modules"), (1, "RSS"), (2, "wall")):
            ratio = scenario[i] / sentry[i]
            print(f"  {verdict(ratio < 1.0)} {label}/(ii) {what}: {ratio:.3f} (target < 1)")
    plain, run = med["python -c 'import flask'"], med["pystrument-run python -c 'import flask'"]
    print(f"\npystrument-run python -c 'import flask' vs python -c 'import flask': modules {run[0]:.0f} vs {plain[0]:.0f} "
          f"(+{run[0] - plain[0]:.0f}), wall {run[2]:.3f} s vs {plain[2]:.3f} s ({run[2] / plain[2]:.2f}x)")
    if not args.keep:
        shutil.rmtree(VENVS, ignore_errors=True)


if __name__ == "__main__":
    main()
