"""Reading a version comparison (the server's ``GET /projects/{id}/compare`` answer): the CI gate's verdict and
its report. Shared by ``pystrument-server compare`` (both modes) and the pytest plugin (``pystrument-pytest``);
pure Python, nothing imported at SDK import.

The gate fails on an endpoint the server flags as a regression (two-sided Mann-Whitney U, Benjamini-Hochberg
``q < alpha``) whose median (p50) grew by at least ``min_change_pct`` percent and ``min_delta_ms`` milliseconds.
All are needed: with enough requests a 2% shift is significant yet not worth failing a build; a large shift of a
few noisy requests is not significant; and the Mann-Whitney test sees the spread of the requests within each run,
not how much two runs (two processes) of the same code differ, which the defaults below allow for. The median, not the mean: one request stalled by the machine (a GC pause, a busy CI neighbour)
moves the mean, rarely the median.

A machine that runs slower for a while (a busy neighbour on a shared CI host) makes every request cost more CPU time,
identical code included. The pytest gate therefore times a fixed workload during the run (``CALIBRATION`` records)
and tags each record with it (``MACHINE_TAG``); a comparison asked for ``calibrated`` divides each record's CPU time
by its tag, and says how fast the machine ran each version (``machine``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Two test runs of identical code are two processes: with the profiler on (it de-optimises the interpreter loop), the
# p50 CPU time of one endpoint moved by up to 15% from one process to the next here (sample shop, 6 processes:
# GET /orders 8.4-9.6 ms; GET /search 1.4-2.0 ms), beyond what the tests within one run can see. Hence 20% and 1 ms.
DEFAULT_MIN_CHANGE_PCT = 20.0
DEFAULT_MIN_DELTA_MS = 1.0
TOP_FUNCTIONS = 5

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2  # the exit codes of `pystrument-server compare`

# the gate's calibration (pystrument-pytest's gate/calibration.py): the records of its workload, and the tag that
# gives each record the CPU time of the calibration timed nearest before it ended
CALIBRATION = "pystrument-gate: calibration"
MACHINE_TAG = "pystrument.machine_ms"


def p50_change_pct(delta: dict[str, Any]) -> float:
    """The change of the median duration, in percent of the base median (computed from the figures shown)."""
    base, head = float(delta["base"]["p50"]), float(delta["head"]["p50"])
    if base <= 0:
        return 100.0 if head > 0 else 0.0
    return (head - base) / base * 100.0


@dataclass(frozen=True)
class Regression:
    """One endpoint that fails the gate, with the functions whose self time grew most in it (significant ones first)."""

    endpoint: dict[str, Any]
    functions: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return str(self.endpoint["name"])


def p50_delta_ms(delta: dict[str, Any]) -> float:
    return float(delta["head"]["p50"]) - float(delta["base"]["p50"])


@dataclass(frozen=True)
class Thresholds:
    """How much an endpoint's p50 must grow (besides being significant) to fail the gate."""

    min_change_pct: float = DEFAULT_MIN_CHANGE_PCT
    min_delta_ms: float = DEFAULT_MIN_DELTA_MS

    def __post_init__(self) -> None:
        if not self.min_change_pct >= 0 or not self.min_delta_ms >= 0:
            raise ValueError(f"thresholds must be >= 0: min_change_pct={self.min_change_pct!r} (a percentage of the base p50), "
                             f"min_delta_ms={self.min_delta_ms!r} (milliseconds)")

    def __str__(self) -> str:
        return f">= {self.min_change_pct:g}% and >= {self.min_delta_ms:g} ms"

    def exceeded(self, delta: dict[str, Any]) -> bool:
        return p50_change_pct(delta) >= self.min_change_pct and p50_delta_ms(delta) >= self.min_delta_ms


def regressions(result: dict[str, Any], thresholds: Thresholds | None = None, top: int = TOP_FUNCTIONS) -> list[Regression]:
    """The endpoints that fail the gate, worst first."""
    limits = thresholds or Thresholds()
    failing = [d for d in result["endpoints"] if d["kind"] == "regression" and d["name"] != CALIBRATION and limits.exceeded(d)]
    failing.sort(key=lambda d: -p50_change_pct(d))
    out = []
    for d in failing:
        # where: the functions whose self time grew most, the significant ones first (under load a function's sampled
        # self time is noisier than the endpoint's CPU time, so the top growth is shown even when not significant alone)
        slower = [f for f in result["functions"] if f.get("endpoint") == d["name"] and float(f["delta_ms"]) > 0]
        slower.sort(key=lambda f: (f["kind"] != "regression", -float(f["delta_ms"])))
        out.append(Regression(d, slower[:top]))
    return out


def confidence(delta: dict[str, Any]) -> str:
    q = float(delta.get("q_value", delta["p_value"]))
    bound = next((b for b in (0.001, 0.01, 0.05) if q < b), None)
    said = f"q < {bound:g}" if bound is not None else f"q = {q:.2g}"
    return f"{said} (Benjamini-Hochberg), effect {float(delta['effect_size']):+.2f} (rank-biserial)"


def measured(result: dict[str, Any]) -> str:
    """What the endpoints' figures are: "CPU time" (``metric`` cpu), "calibrated CPU time" or "duration"."""
    metric = result.get("metric")
    return {"cpu": "CPU time", "cpu_calibrated": "calibrated CPU time"}.get(str(metric), "duration")


MACHINE_MOVED_PCT = 10.0  # a calibration that moved this much between the versions gets a warning


def machine_line(result: dict[str, Any]) -> str | None:
    """How fast the machine ran each version, when the comparison was calibrated (or why it was not)."""
    if "machine" not in result:  # not asked for
        return None
    machine = result["machine"]
    if not machine:
        return ("machine: not calibrated (the records of one version carry no calibration: uploaded by an older gate or "
                "by other means); endpoints compared on their raw CPU time")
    b, h = machine["base"], machine["head"]
    moved = (h["p50"] / b["p50"] - 1) * 100 if b["p50"] else 0.0
    line = (f"machine: the calibration workload took {b['p50']:.3f} -> {h['p50']:.3f} ms of CPU time (p50, {moved:+.1f}%); "
            f"each record's CPU time is divided by the calibration timed beside it, in ms of the base's machine")
    if abs(moved) >= MACHINE_MOVED_PCT:
        line += (f". The machine ran {'slower' if moved > 0 else 'faster'} for the head: the division corrects code "
                 "that slows like the calibration, and may leave 15-20% either way on code that does not (a tight loop "
                 "slows less under a busy neighbour, code that allocates more: docs/ci-gate.md); re-run both "
                 "commits to confirm a change near the threshold")
    return line


def _durations(d: dict[str, Any]) -> str:
    b, h = d["base"], d["head"]
    return (f"p50 {b['p50']:.2f} -> {h['p50']:.2f} ms ({p50_change_pct(d):+.1f}%), mean {b['mean']:.2f} -> {h['mean']:.2f} ms "
            f"({d['change_pct']:+.1f}%), n={b['count']}/{h['count']}")


def _where(f: dict[str, Any]) -> str:
    return f" ({f['file']}:{f['line']})" if f.get("file") else ""


def gate_lines(result: dict[str, Any], thresholds: Thresholds | None = None) -> Iterator[str]:
    """The verdict in words: what got slower, by how much, how sure, and where (the top functions of the diff)."""
    limits = thresholds or Thresholds()
    found = regressions(result, limits)
    if not found:
        compared = sum(1 for d in result["endpoints"] if d["name"] != CALIBRATION)
        yield (f"PASS: no endpoint's {measured(result)} regressed significantly by {limits} (p50) from {result['base']} to {result['head']} "
               f"({compared} endpoint(s) compared)")
        yield from filter(None, [machine_line(result)])
        return
    yield (f"FAIL: {len(found)} endpoint(s) regressed from {result['base']} to {result['head']} by {limits} "
           f"(p50 of {measured(result)}):")
    for reg in found:
        d = reg.endpoint
        yield f"  {reg.name}: {measured(result)} {_durations(d)}"
        yield f"    confidence: {confidence(d)}"
        if not reg.functions:
            yield "    no function's self time grew: the time is spread (see the Compare page)"
        for f in reg.functions:
            sure = confidence(f) if f["kind"] == "regression" else f"not significant alone (p={float(f['p_value']):.2g})"
            yield (f"    slower: {f['name']}{_where(f)} self time {f['base']['mean']:.2f} -> {f['head']['mean']:.2f} ms per request "
                   f"({f['delta_ms']:+.2f} ms), {sure}")
    yield from filter(None, [machine_line(result)])
    if not result.get("complete", True):
        yield f"  (functions of {', '.join(result['skipped_endpoints'])} not compared: the server's compare time budget ran out)"


def detail_lines(result: dict[str, Any]) -> Iterator[str]:
    """Every significant change, endpoints then functions (the CLI's full listing)."""
    yield f"compare {result['base']} -> {result['head']} (Mann-Whitney U, flagged when the Benjamini-Hochberg q < {result['alpha']})"
    yield (f"{len(result['endpoints'])} endpoint(s) ({measured(result)}) and {result['functions_compared']} function(s) "
           "(self time per request) compared")
    for title, items in (("endpoints", result["endpoints"]), ("functions", result["functions"])):
        flagged = [d for d in items if d["significant"]]
        yield ""
        yield f"{title}:"
        if not flagged:
            yield "  no significant change"
        for d in flagged:
            where = f" [{d['endpoint']}]" if "endpoint" in d else ""
            yield (f"  {d['kind']:<11} {d['name']}{where}: {_durations(d)}, {d['delta_ms']:+.2f} ms mean, p={d['p_value']:.2g}, "
                   f"q={d['q_value']:.2g}, effect {d['effect_size']:+.2f}")
