"""The overhead governor is on by default and brings a busy process down to its budget within a second
(in a fresh interpreter, with only a sink configured: the production default)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import msgspec
from pystrument.core.config import ConfigFields
from pystrument.core.sampling import DEFAULT_MAX_OVERHEAD_PCT, Sampler

SCRIPT = textwrap.dedent('''
    import json, sys, time
    from pystrument.core import Client
    from pystrument.core.memory_sink import records

    client = Client(sinks=["memory://gov"], flush_interval=0.2)
    assert client.config.max_overhead_pct == 2.5 and client.config.sampling_rate == 1.0

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
    kept = records("gov")
    print(json.dumps({"max_after_1s": max(after_one_second), "units": len(rates), "records": len(kept),
                      "record_rates": sorted({r.sample_rate for r in kept}), "stats": client.stats()["effective_sampling_rate"]}))
''')


def test_the_default_budget_is_on():
    defaults = {f.name: f.default for f in msgspec.structs.fields(ConfigFields)}
    assert defaults["max_overhead_pct"] == DEFAULT_MAX_OVERHEAD_PCT == 2.5
    assert Sampler(1.0).governed and not Sampler(1.0, None).governed and not Sampler(1.0, 100).governed


def test_a_busy_process_comes_down_to_its_budget_within_a_second_and_records_say_the_rate():
    env = {k: v for k, v in os.environ.items() if k != "PYSTRUMENT_MAX_OVERHEAD_PCT"}
    env["PYSTRUMENT_LOAD_PLUGINS"] = "memory,pyinstrument"
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # every unit profiled costs far more than 2.5% of a loop that does nothing else: the rate must fall
    assert result["max_after_1s"] < 0.3, result
    assert result["records"] < result["units"] / 3, result
    assert min(result["record_rates"]) < 1.0 and result["stats"] < 1.0, result
