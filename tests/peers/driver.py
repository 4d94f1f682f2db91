"""Run other projects' own test suites without and with pystrument, and compare them test by test.

    python tests/peers/driver.py                  # every suite in suites.SUITES
    python tests/peers/driver.py starlette        # some of them, by name

For each suite: the project's source distribution is fetched with pip's source download
(``pip download --no-binary :all: --no-deps NAME==VERSION``, kept in the cache folder), unpacked fresh,
and its test requirements are installed into a venv of its own (uv) with our distributions, editable
from this checkout. The suite runs once without pystrument and once with it (``peer_outcomes`` records
each test's outcome in both runs); the check fails if a test fails only with pystrument, if pystrument
reported an internal error during the run with it, or if the suite's own check (e.g. one record per
request) finds a problem. ``nox -s peers`` (and ``nox -s tests``) run this.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

import tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from suites import SUITES, Peer, RunResult  # noqa: E402

PLUGINS = HERE / "plugins"
BAD = {"failed", "error"}
IGNORED = "Exception ignored"
RUN_TIMEOUT = 900


def log(message: str) -> None:
    print(f"[peers] {message}", flush=True)


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def our_distributions() -> dict[str, Path]:
    """Our distributions by project name -> folder."""
    found: dict[str, Path] = {}
    for pyproject in ROOT.glob("pystrument-*/**/pyproject.toml"):
        if ".nox" in pyproject.parts or "node_modules" in pyproject.parts:
            continue
        found[tomllib.loads(pyproject.read_text())["project"]["name"]] = pyproject.parent
    return found


def with_local_dependencies(names: tuple[str, ...]) -> list[Path]:
    """The folders of ``names`` and of every first-party distribution they depend on (none of ours is
    fetched from an index)."""
    local = our_distributions()
    wanted: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in local:
            raise SystemExit(f"peers: {name!r} is not one of our distributions ({', '.join(sorted(local))})")
        wanted.append(name)
        project = tomllib.loads((local[name] / "pyproject.toml").read_text())["project"]
        for requirement in project.get("dependencies", []):
            dep = requirement.split(";")[0].split("[")[0].strip()
            for stop in "<>=!~ ":
                dep = dep.split(stop)[0]
            if dep in local:
                todo.append(dep)
    return [local[n] for n in sorted(wanted)]


def make_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([*uv(), "venv", "--quiet", "--seed", "--python", sys.executable, str(venv)], check=True)
    return python


def fetch(peer: Peer, python: Path, cache: Path) -> Path:
    """The sdist of ``peer`` in the cache, downloaded with pip's source download if not there yet."""
    sdists = cache / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    stem = f"{peer.dist}-{peer.version}".lower().replace("_", "-")

    def cached() -> list[Path]:
        return [p for p in sdists.iterdir() if p.name.lower().replace("_", "-").startswith(stem + ".tar")]

    if not cached():
        log(f"{peer.name}: pip download --no-binary :all: --no-deps {peer.dist}=={peer.version}")
        subprocess.run([str(python), "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                        f"{peer.dist}=={peer.version}", "-d", str(sdists)], check=True)
    found = cached()
    if not found:
        raise SystemExit(f"peers: pip downloaded no {stem}.tar.* into {sdists}")
    return found[0]


def unpack(sdist: Path, into: Path) -> Path:
    """A fresh copy of the sdist's files (a previous run's leftovers never reach the next one)."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def install(peer: Peer, python: Path, source: Path) -> None:
    args: list[str] = []
    for folder in with_local_dependencies(peer.ours):
        args += ["-e", str(folder)]
    for spec in peer.install:
        args.append(str(source / spec) if spec.startswith(".") else spec)
    subprocess.run([*uv(), "pip", "install", "--quiet", "--python", str(python), *args], check=True)


def run(peer: Peer, python: Path, source: Path, work: Path, mode: str) -> RunResult:
    outcomes_file = work / f"{peer.name}-{mode}.json"
    outcomes_file.unlink(missing_ok=True)
    records_file = work / f"{peer.name}-records.jsonl"
    records_file.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSTRUMENT_", "PERFORMANCE_MONITOR_", "PYTEST_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update({"PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}", "PYTHONPATH": str(PLUGINS),
                "PEERS_MODE": mode, "PEERS_OUTCOMES": str(outcomes_file), "PYTHONDONTWRITEBYTECODE": "1"})
    command = [str(python), "-m", "pytest", "-p", "peer_outcomes", "-q", "--no-header", "-p", "no:cacheprovider"]
    if peer.script:
        command = [str(python), str(PLUGINS / peer.script)]
    if mode == "with":
        env.update({k: v.format(records=records_file) for k, v in peer.env_with.items()})
        command += [] if peer.script else [a for p in peer.plugins for a in ("-p", p)]
        if peer.runner:
            command = [str(python.parent / "pystrument-run"), "python", *command[1:]]
    command += list(peer.pytest_args)
    log(f"{peer.name} {mode} pystrument: {' '.join(command[:1] + command[1:])}")
    started = time.monotonic()
    done = subprocess.run(command, cwd=source / peer.workdir, env=env, timeout=RUN_TIMEOUT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - started
    (work / f"{peer.name}-{mode}.log").write_text(done.stdout)
    tail = "\n".join(done.stdout.splitlines()[-15:])
    if not outcomes_file.exists():
        raise SystemExit(f"peers: {peer.name} ({mode} pystrument) wrote no outcomes; exit {done.returncode}:\n{done.stdout[-4000:]}")
    data = json.loads(outcomes_file.read_text())
    return RunResult(mode=mode, outcomes=data["outcomes"], internal_errors=data["internal_errors"], notes=data["notes"],
                     seconds=seconds, output=done.stdout, tail=tail, records_file=records_file, returncode=done.returncode)


def compare(without: dict[str, str], with_: dict[str, str]) -> tuple[list[str], list[str]]:
    """(problems, remarks): a test that fails or errors only with pystrument, or that ran only without
    it, is a problem; a test that fails only without pystrument, or is skipped in one run only, is a remark."""
    problems: list[str] = []
    remarks: list[str] = []
    for nodeid, before in sorted(without.items()):
        after = with_.get(nodeid)
        if after is None:
            problems.append(f"{nodeid}: {before} without pystrument, did not run with it")
        elif after in BAD and before not in BAD:
            problems.append(f"{nodeid}: {before} without pystrument, {after} with it")
        elif before in BAD and after not in BAD:
            remarks.append(f"{nodeid}: {before} without pystrument, {after} with it (fails without: flaky?)")
        elif before != after:
            remarks.append(f"{nodeid}: {before} without pystrument, {after} with it")
    for nodeid, after in sorted(with_.items()):
        if nodeid not in without:
            (problems if after in BAD else remarks).append(f"{nodeid}: ran only with pystrument ({after})")
    return problems, remarks


def process_problems(without: RunResult, with_: RunResult) -> list[str]:
    """The process itself must end as it does without pystrument: same exit code, and no more
    "Exception ignored" reports (errors Python prints and swallows, e.g. in a hook left on at exit)."""
    problems: list[str] = []
    if with_.returncode != without.returncode:
        problems.append(f"exit code {with_.returncode} with pystrument, {without.returncode} without")
    ignored = [i for i, line in enumerate(with_.output.splitlines()) if line.startswith(IGNORED)]
    if len(ignored) > without.output.count(IGNORED):
        lines = with_.output.splitlines()
        first = "\n".join(lines[ignored[0]:ignored[0] + 12])
        problems.append(f"{len(ignored)} 'Exception ignored' report(s) with pystrument, "
                        f"{without.output.count(IGNORED)} without; the first:\n{first}")
    return problems


def summary(outcomes: dict[str, str]) -> str:
    counts = Counter(outcomes.values())
    return f"{len(outcomes)} tests: " + ", ".join(f"{counts[k]} {k}" for k in sorted(counts))


def check_peer(peer: Peer, cache: Path) -> tuple[list[str], dict[str, object]]:
    started = time.monotonic()
    python = make_venv(cache / "venvs" / peer.name)
    sdist = fetch(peer, python, cache)
    source = unpack(sdist, cache / "src" / peer.name)
    install(peer, python, source)
    work = cache / "runs"
    work.mkdir(parents=True, exist_ok=True)
    without = run(peer, python, source, work, "without")
    with_ = run(peer, python, source, work, "with")
    problems, remarks = compare(without.outcomes, with_.outcomes)
    problems += process_problems(without, with_)
    for error in with_.internal_errors:
        problems.append(f"pystrument internal error during {error['test']} in {error['where']}: {error['error']}")
    if peer.check is not None:
        problems += peer.check(with_)
    if not without.outcomes:
        problems.append("no test ran without pystrument: the suite's command or requirements are wrong")
    broken = [n for n, o in without.outcomes.items() if n.endswith("::<collection>")]
    if broken:
        problems.append(f"collection errors without pystrument (the suite's requirements are wrong): {broken}")
    report = {"suite": peer.name, "version": f"{peer.dist}=={peer.version}", "subset": peer.subset,
              "without": summary(without.outcomes), "with": summary(with_.outcomes), "notes": with_.notes,
              "seconds_without": round(without.seconds, 1), "seconds_with": round(with_.seconds, 1),
              "seconds_total": round(time.monotonic() - started, 1), "problems": problems, "remarks": remarks}
    log(f"{peer.name} ({peer.dist}=={peer.version}{', ' + peer.subset if peer.subset else ''})")
    log(f"  without pystrument: {report['without']} in {report['seconds_without']} s")
    log(f"  with pystrument:    {report['with']} in {report['seconds_with']} s  {with_.notes or ''}")
    for remark in remarks:
        log(f"  remark: {remark}")
    for problem in problems:
        log(f"  PROBLEM: {problem}")
    if problems:
        log(f"  last lines with pystrument (all of it: {cache / 'runs' / (peer.name + '-with.log')}):\n{with_.tail}")
    return problems, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"suites to run (default: all of {', '.join(p.name for p in SUITES)})")
    parser.add_argument("--cache", type=Path, default=ROOT / ".nox" / "peers-cache", help="sdists, sources, venvs, outcomes")
    args = parser.parse_args(argv)
    unknown = set(args.names) - {p.name for p in SUITES}
    if unknown:
        parser.error(f"unknown suite(s) {sorted(unknown)}; known: {[p.name for p in SUITES]}")
    selected = [p for p in SUITES if not args.names or p.name in args.names]
    started = time.monotonic()
    failed: list[str] = []
    reports = []
    for peer in selected:
        problems, report = check_peer(peer, args.cache.resolve())
        reports.append(report)
        if problems:
            failed.append(peer.name)
    (args.cache / "report.json").write_text(json.dumps(reports, indent=1))
    log(f"peer step: {len(selected)} suite(s) in {time.monotonic() - started:.0f} s; report in {args.cache / 'report.json'}")
    if failed:
        log(f"FAILED: {', '.join(failed)} (a test fails only with pystrument, or pystrument reported an internal error)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
