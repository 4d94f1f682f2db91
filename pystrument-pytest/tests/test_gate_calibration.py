"""The gate's calibration (gate/calibration.py) in one process: the workload runs between requests, never inside
one; every record carries the machine tag; a test function's own figures leave the calibration out."""

from __future__ import annotations

import time

import pytest
from pystrument.core import configure
from pystrument.core.comparison import CALIBRATION, MACHINE_TAG
from pystrument.core.memory_sink import clear, records
from pystrument.gate.calibration import Calibrator


def _busy(ms: float) -> None:
    end = time.thread_time() + ms / 1000.0
    while time.thread_time() < end:
        pass


@pytest.fixture
def client():
    clear("calibration")
    client = configure(project_key="k", sinks=["memory://calibration"], async_send=False, sampling_rate=1.0, max_overhead_pct=100,
                       profiling_mode="detailed", min_duration_ms=0.0, strict=True)
    yield client
    client.close(timeout=5.0)
    clear("calibration")


def _traffic(client, calibrator: Calibrator | None, name: str) -> None:
    """A test function (a host unit) making 10 requests of 2 ms of CPU each."""
    test = client.start("function", name)
    if calibrator:
        calibrator.hosts.add(test)
    for _ in range(10):
        request = client.start("request", "GET /orders")
        _busy(2.0)
        client.finish(request)
    if calibrator:
        calibrator.hosts.discard(test)
    client.finish(test)


def test_calibrates_between_requests_tags_every_record_and_leaves_the_test_function_out(client):
    _traffic(client, None, "uncalibrated")
    calibrator = Calibrator(client, every_s=0.0)  # due after every unit
    client.unit_ending = calibrator
    nested = []
    real_calibrate = calibrator.calibrate

    def watched() -> None:
        nested.append([u.name for u in client.open_units()])
        real_calibrate()

    calibrator.calibrate = watched  # type: ignore[method-assign]
    _traffic(client, calibrator, "calibrated")
    client.flush(5.0)

    got = records("calibration")
    requests = [r for r in got if r.name == "GET /orders" and MACHINE_TAG in r.tags]
    calibrations = [r for r in got if r.name == CALIBRATION]
    assert len(requests) == 10 and calibrator.runs == len(calibrations) == 11  # after each request, and after the test
    tagged = [r for r in got if float(r.tags.get(MACHINE_TAG, 0)) > 0]
    assert len(tagged) == len(got) - 11 == 10 + 11 + 1  # all but the uncalibrated twin's: requests, calibrations, the test
    assert nested == [["calibrated"]] * 10 + [[]]  # after each request inside the test, never inside one
    # the test function's CPU time leaves the ten calibrations inside it out: about the uncalibrated twin's
    own = {r.name: r.cpu_ms for r in got if r.kind == "function" and r.name != CALIBRATION}
    inside = sum(r.cpu_ms for r in calibrations[:10])
    assert own["calibrated"] < own["uncalibrated"] + 0.5 * inside, (own, inside)


def test_not_due_not_calibrated_and_other_threads_only_tagged(client):
    calibrator = Calibrator(client, every_s=3600.0)
    client.unit_ending = calibrator
    calibrator.calibrate()  # the first one is due at once
    assert calibrator.runs == 1
    for _ in range(3):
        client.finish(client.start("request", "GET /items/{item_id}"))
    assert calibrator.runs == 1 and calibrator.machine_ms
    client.flush(5.0)
    assert [r.tags[MACHINE_TAG] for r in records("calibration") if r.name == "GET /items/{item_id}"] == [f"{calibrator.machine_ms:.4f}"] * 3
