"""The machine's speed during the run: a fixed workload timed between the requests and tests, and each record tagged
with it, so that the server can compare CPU times as if both versions had run on the same machine.

A shared CI machine runs slower for a while when a neighbour is busy, and every request then costs more CPU time,
identical code included: a CI run here read ``GET /orders`` +28% on an identical commit, and on this 2-core VM the
same plain-Python loop takes 0.50 or 0.73 ms depending on the moment, in stretches of a few hundred milliseconds.
So the gate times ``workload`` as a unit of its own (kind ``function``, named ``CALIBRATION``, profiled like the
app's requests) at most once per ``EVERY_S``, and tags every record with the mean CPU time of the newest ``WINDOW``
calibrations before it ended (``MACHINE_TAG``; a mean, so that the tag's own noise adds little to the record's). The
server's comparison (``metric=cpu_calibrated``) divides each record's CPU time by it (pystrument-server's compare.py).

The workload runs on the thread that started the gate, when a unit ends (the client calls ``Calibrator`` then) and
never inside a request: only when the units still open on the thread are the gate's test functions, whose clocks
are then moved on by the calibration's own wall and CPU time, so that no other record counts it. About 1.5 ms of CPU
time every 25 ms under the profiler: some 6% added to a gated run.
"""

from __future__ import annotations

import time
from collections import deque
from threading import get_ident

from pystrument.core.client import Client
from pystrument.core.comparison import CALIBRATION, MACHINE_TAG
from pystrument.core.unit import Unit

EVERY_S = 0.025
WINDOW = 8  # the machine figure is the mean of the newest WINDOW calibrations (some 200 ms)
ROUNDS = 300


def workload(rounds: int = ROUNDS) -> int:
    """Plain Python of the two kinds web handlers run, half each: a call-free arithmetic loop (the interpreter alone),
    and string formatting, dict look-ups, calls and a sort (the profiler's hook fires on each call). A busy machine
    slows the two differently (code that allocates and calls more than a tight loop): a mix follows either kind
    better than one kind follows the other. About 1.5 ms of CPU time under the profiler on the machine this was
    written on."""
    total = 0
    for i in range(rounds * 6):
        total = (total + i * 7) % 1_000_003
    table: dict[str, int] = {}
    for i in range(rounds):
        key = f"k{i % 40}"
        table[key] = table.get(key, 0) + i
        total += len(key) * (i % 7)
    ranked = sorted(table.items(), key=_second)
    return total + sum(v for _, v in ranked)


def _second(item: tuple[str, int]) -> int:
    return item[1]


class Calibrator:
    """``client.unit_ending``: times ``workload`` as a unit of ``client`` at most once per ``every_s`` (on the thread
    that made it, outside every unit but those in ``hosts``: the test functions'), and tags each ending unit with the
    mean of the newest calibrations' CPU times."""

    def __init__(self, client: Client, every_s: float = EVERY_S) -> None:
        self.client = client
        self.every_s = every_s
        self.thread = get_ident()
        self.hosts: set[Unit] = set()
        self.runs = 0
        self.machine_ms: float | None = None  # the mean CPU time of the newest WINDOW calibrations
        self._window: deque[float] = deque(maxlen=WINDOW)
        self._last = float("-inf")
        self._running: Unit | None = None

    def __call__(self, unit: Unit) -> None:
        if unit is self._running:  # the calibration's own unit: the machine's figure moves
            self._window.append(unit.cpu_ms)
            self.machine_ms = sum(self._window) / len(self._window)
        elif self._running is None:
            self.calibrate()
        if self.machine_ms is not None:
            unit.tags = {**unit.tags, MACHINE_TAG: f"{self.machine_ms:.4f}"}

    def calibrate(self) -> None:
        """Time the workload now if it is due and this thread runs no request."""
        if get_ident() != self.thread or time.perf_counter() - self._last < self.every_s:
            return
        around = self.client.open_units()
        if not self.hosts.issuperset(around):  # inside a request (or a unit of the tests' own): not here
            return
        t0, cpu0 = time.perf_counter(), time.thread_time()
        unit = self.client.start_sampled("function", CALIBRATION, tags={"runner": "pystrument-gate"})
        self._running = unit
        try:
            workload()
        finally:
            if unit is not None:
                self.client.finish(unit)  # calls back here: machine_ms
                self.runs += 1
            self._running = None
            self._last = time.perf_counter()
            for host in around:  # the test functions' own figures leave the calibration out
                host.t0 += self._last - t0
                host.cpu0 += time.thread_time() - cpu0
