"""``metric=cpu_calibrated``: each record's CPU time divided by its machine tag (the CI gate's calibration timed
beside it), so that a machine that ran the head slower for a while is not a regression, and a real one still is."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from pystrument.core.comparison import MACHINE_TAG, gate_lines, regressions
from pystrument.core.record import AppInfo, CallNode, Record
from pystrument.server.api.routes.projects import create_project
from pystrument.server.stats.compare import compare
from pystrument.server.stores.sqlite import SQLiteStore


def _records(rng, version: str, work_ms: float, machine: list[float] | None, name: str = "GET /orders",
             scales: float = 1.0) -> list[Record]:
    """40 requests of ``name`` doing ``work_ms`` of work each on a machine whose speed (the calibration's CPU time,
    1.0 = the base's) is ``machine[i]`` for the i-th request, the share ``scales`` of the work slowed by it; untagged
    when ``machine`` is None."""
    out = []
    for i in range(40):
        speed = machine[i] if machine else 1.0
        cpu = work_ms * (1 - scales + scales * speed) * float(rng.lognormal(0, 0.05))
        tags = {MACHINE_TAG: f"{1.5 * speed:.4f}"} if machine else {}
        out.append(Record(record_id=uuid.uuid4().hex, name=name, kind="request", method="GET", tags=tags,
                          started_at=dt.datetime.now(dt.timezone.utc), duration_ms=cpu * 1.1, cpu_ms=cpu,
                          app=AppInfo(version=version, environment="ci"),
                          call_tree=CallNode(function="orders", file="shop/app.py", line=1, time_ms=cpu, self_ms=cpu, is_app=True)))
    return out


@pytest.fixture
def store(tmp_path):
    store = SQLiteStore(f"sqlite:///{tmp_path / 'cal.db'}")
    yield store
    store.close()


def test_a_slower_machine_is_not_a_regression_and_a_slower_endpoint_is(store):
    project = create_project(store, "shop")["id"]
    rng = np.random.default_rng(7)
    steady = [1.0] * 40
    busy = [1.45 if i % 10 < 6 else 1.0 for i in range(40)]  # a busy neighbour for 60% of the head's run: the 0.50/0.73 ms seen here
    store.insert_records(project, _records(rng, "base", 10.0, steady))
    store.insert_records(project, _records(rng, "same-code", 10.0, busy))
    store.insert_records(project, _records(rng, "slower-code", 14.0, busy))

    raw = compare(store, project, "base", "same-code", metric="cpu")
    assert raw["metric"] == "cpu" and "machine" not in raw
    assert [r.name for r in regressions(raw)] == ["GET /orders"]  # the false alarm the calibration removes

    same = compare(store, project, "base", "same-code", metric="cpu_calibrated")
    assert same["metric"] == "cpu_calibrated" and not regressions(same)
    assert same["machine"]["base"]["p50"] == pytest.approx(1.5) and same["machine"]["head"]["p50"] == pytest.approx(1.5 * 1.45)
    orders = same["endpoints"][0]
    assert orders["head"]["p50"] == pytest.approx(orders["base"]["p50"], rel=0.05)  # in ms of the base's machine

    slower = compare(store, project, "base", "slower-code", metric="cpu_calibrated")
    assert [r.name for r in regressions(slower)] == ["GET /orders"]
    assert slower["endpoints"][0]["head"]["p50"] == pytest.approx(1.4 * slower["endpoints"][0]["base"]["p50"], rel=0.05)
    text = "\n".join(gate_lines(slower))
    assert "GET /orders: calibrated CPU time p50 " in text and "machine: the calibration workload took 1.500 -> 2.175 ms" in text
    assert "The machine ran slower for the head: " in text and "re-run both commits" in text, text  # it moved +45%
    assert "The machine ran" not in "\n".join(gate_lines(same | {"machine": {**same["machine"], "head": same["machine"]["base"]}}))


def test_without_tags_on_one_side_the_raw_cpu_time_is_compared_and_the_report_says_so(store):
    project = create_project(store, "shop")["id"]
    rng = np.random.default_rng(8)
    store.insert_records(project, _records(rng, "old-gate", 10.0, None))
    store.insert_records(project, _records(rng, "new-gate", 10.0, [1.0] * 40))
    result = compare(store, project, "old-gate", "new-gate", metric="cpu_calibrated")
    assert result["metric"] == "cpu" and result["machine"] is None
    assert result["endpoints"][0]["base"]["count"] == result["endpoints"][0]["head"]["count"] == 40
    assert any(line.startswith("machine: not calibrated") for line in gate_lines(result))



def test_function_self_times_are_calibrated_too(store):
    """A head run on a machine 35% faster hid a function that grew 40% (the gate acceptance test once failed so:
    the endpoint flagged, 'no function's self time grew'): the self times are scaled as the CPU time is."""
    project = create_project(store, "shop")["id"]
    rng = np.random.default_rng(9)
    store.insert_records(project, _records(rng, "base", 10.0, [1.0] * 40))
    store.insert_records(project, _records(rng, "more-work-faster-machine", 14.0, [0.65] * 40))

    raw = compare(store, project, "base", "more-work-faster-machine", metric="cpu")
    assert not [f for f in raw["functions"] if f["kind"] == "regression"]  # 14 ms x 0.65 < 10 ms: hidden

    calibrated = compare(store, project, "base", "more-work-faster-machine", metric="cpu_calibrated")
    (orders,) = [f for f in calibrated["functions"] if f["name"] == "orders"]
    assert orders["kind"] == "regression", orders
    assert orders["head"]["p50"] == pytest.approx(1.4 * orders["base"]["p50"], rel=0.05)
    assert "slower: orders (" in "\n".join(gate_lines(calibrated))
