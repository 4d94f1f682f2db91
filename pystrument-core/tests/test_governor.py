"""The overhead governor is on by default (continuous on every unit, detailed records at the rate it sets)
and brings a busy process down to its budget within a second (in a fresh interpreter, with only a sink
configured: the production default); its control law holds the budget when the work's cost jumps tenfold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import msgspec
import pytest
from core_helpers import spin
from pystrument.core.config import ConfigFields
from pystrument.core.sampling import DEFAULT_MAX_OVERHEAD_PCT, Sampler

SCRIPT = textwrap.dedent('''
    import json, sys, time
    from pystrument.core import Client
    from pystrument.core.memory_sink import records

    client = Client(sinks=["memory://gov"], flush_interval=0.2)
    assert client.config.max_overhead_pct == 3.0 and client.config.sampling_rate == 1.0
    assert client.config.profiling_mode == "both" and client.continuous is not None

    def handler():
        total = 0
        for i in range(3000):
            total += abs(i)  # small calls, as a framework's request makes
        return total

    rates, started = [], time.monotonic()
    while time.monotonic() - started < 2.0:
        unit = client.start("request", "GET /busy")
        handler()
        if unit is not None:
            client.finish(unit)
        # a server waits on its socket between requests (the GIL is released); a thread that never releases
        # it can starve the background thread's wake-up for seconds (seen in this loop without this line)
        time.sleep(0)
        rates.append((time.monotonic() - started, client.sampler.rate))
    client.flush(10)
    after_one_second = [rate for at, rate in rates if at > 1.0]
    kept = [r for r in records("gov") if r.kind == "request"]
    print(json.dumps({"max_after_1s": max(after_one_second), "units": len(rates), "records": len(kept),
                      "record_rates": sorted({r.sample_rate for r in kept}), "stats": client.stats()["effective_sampling_rate"]}))
''')


def test_the_default_budget_is_on():
    defaults = {f.name: f.default for f in msgspec.structs.fields(ConfigFields)}
    assert defaults["max_overhead_pct"] == DEFAULT_MAX_OVERHEAD_PCT == 3.0
    assert defaults["profiling_mode"] == "both" and defaults["sampling_rate"] == 1.0
    assert Sampler(1.0).governed and not Sampler(1.0, None).governed and not Sampler(1.0, 100).governed


def test_a_busy_process_comes_down_to_its_budget_within_a_second_and_records_say_the_rate():
    env = {k: v for k, v in os.environ.items() if k != "PYSTRUMENT_MAX_OVERHEAD_PCT"}
    env["PYSTRUMENT_LOAD_PLUGINS"] = "memory,pyinstrument,continuous"
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # every unit profiled costs far more than 3% of a loop that does nothing else: the rate must fall
    assert result["max_after_1s"] < 0.3, result
    assert result["records"] < result["units"] / 3, result
    assert min(result["record_rates"]) < 1.0 and result["stats"] < 1.0, result


class Workload:
    """A process in steady state, the SDK's costs as shares of its CPU: ``fixed`` (the continuous mode's,
    whatever the rate) and ``per_rate`` (what detailed profiling costs at rate 1.0; it scales with the
    rate). The model the control law assumes, with no noise: what the law must do on it is exact."""

    def __init__(self, fixed: float, per_rate: float) -> None:
        self.fixed, self.per_rate = fixed, per_rate

    def shares(self, rate: float) -> tuple[float, float]:
        return self.fixed, self.per_rate * rate


def run_windows(sampler: Sampler, workload: Workload, windows: int) -> list[float]:
    """The estimated total share of each window, the rate set by the governor after each."""
    out = []
    for _ in range(windows):
        fixed, variable = workload.shares(sampler.rate)
        out.append(fixed + variable)
        sampler.rate = sampler.next_rate(fixed, variable)
    return out


@pytest.mark.parametrize("jump", [10.0, 0.1])
@pytest.mark.parametrize("fixed", [0.0, 0.01, 0.02])
def test_the_control_law_holds_the_budget_when_the_cost_jumps_tenfold(jump, fixed):
    """Detailed profiling costing 60% of the CPU at rate 1.0 (a ~1 ms handler under pyinstrument) and the
    continuous mode's fixed share; then the work's cost per unit jumps tenfold (or falls tenfold) and the
    detailed part with it. Within WINDOWS windows of each change the share is within 1 point of the budget
    and stays there."""
    windows = 8
    sampler = Sampler(1.0, 3.0)
    budget = sampler.max_overhead
    workload = Workload(fixed, 0.6)
    before = run_windows(sampler, workload, 20)
    assert all(abs(share - budget) <= 0.01 for share in before[windows:]), before
    workload.per_rate *= jump
    after = run_windows(sampler, workload, 20)
    assert all(abs(share - budget) <= 0.01 for share in after[windows:]), after
    assert sampler.rate < 1.0 and sampler.rate >= sampler.floor


def test_the_rate_goes_back_up_when_profiling_gets_cheap_and_never_above_sampling_rate():
    sampler = Sampler(0.5, 3.0)
    run_windows(sampler, Workload(0.0, 0.6), 20)
    assert sampler.rate < 0.1
    shares = run_windows(sampler, Workload(0.0, 0.001), 30)  # detailed profiling now nearly free
    assert sampler.rate == 0.5 and shares[-1] < sampler.max_overhead


def test_continuous_alone_over_the_budget_puts_the_detailed_rate_at_its_floor():
    sampler = Sampler(1.0, 3.0)
    run_windows(sampler, Workload(0.05, 0.6), 20)
    assert sampler.rate == sampler.floor == 0.001


def test_a_window_without_detailed_units_raises_the_rate_step_by_step():
    sampler = Sampler(1.0, 3.0)
    sampler.rate = 0.01
    assert sampler.next_rate(0.0, 0.0) == pytest.approx(0.01 * Sampler.MAX_UP)  # at most MAX_UP a window
    sampler.rate = 0.5
    assert sampler.next_rate(0.0, 0.0) == 1.0


def test_the_fixed_cost_is_measured_from_the_continuous_sampling_thread_and_the_request_threads():
    """adjust() reads the continuous sampling thread's CPU as fixed cost, request-thread costs of units
    not profiled in detail as fixed too, and lowers the rate to its floor when those alone exceed the budget."""
    sampler = Sampler(1.0, 3.0)
    sampler.adjust(0.0, 10.0)  # the first tick starts the first window
    sampler.window = 0.0
    spin(0.05)  # process CPU for the window
    sampler.unit_cost, sampler.fixed_units = 1e-5, 1000  # 0.01 s on the request threads
    sampler.adjust(0.0, 10.0 + 0.01)
    assert sampler.last_fixed_overhead >= 0.2 and sampler.last_overhead == sampler.last_fixed_overhead
    assert sampler.rate == 1.0 / sampler.MAX_DOWN  # one step divides it by at most MAX_DOWN, toward the floor


def test_the_per_unit_cost_of_continuous_mode_is_measured_without_reaching_the_records():
    from core_helpers import memory_client
    from pystrument.core.memory_sink import records

    client, sink = memory_client(profiling_mode="both", sampling_rate=0.0)
    try:
        unit = client.start("request", "GET /real")
        client.finish(unit)
        cost = client._unit_cost(200)
        assert 0.0 < cost < 0.001  # CPU seconds per unit: microseconds, not milliseconds
        assert client.sampler.fixed_units == 1  # the real unit, not profiled in detail, counted as fixed cost
        client.flush(5)
        names = {r.name for r in records(sink)}
        assert names == {"GET /real"}  # the probe's units reach no window
    finally:
        client.close()
