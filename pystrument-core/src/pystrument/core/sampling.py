"""The sampling decision, and the overhead governor (``max_overhead_pct``, on by default).

The decision (``Client.sample``) is one ``random()`` call against the effective rate ``Sampler.rate``.
The governor runs on the background thread: over each window it compares the SDK's estimated cost with
the process's CPU time and lowers the effective rate when the share is above the budget, raising it
back (never above ``sampling_rate``) while the share stays under half of it. The cost is:

- the time measured in ``client.start``/``client.finish`` on the request threads;
- the profiler's cost inside sampled units: their thread CPU time times the share of a call-heavy
  thread's time the profiler hook and its samples take, measured once per process at the first tick
  (``StackSamplerCollector.calibrate``: the same workload with and without the hook);
- the background thread's own CPU time (building records, the sinks).

Windows start short (0.1 s, doubling to 1 s) so that a process starting at ``sampling_rate`` 1.0 under
load comes down to its budget within a few tenths of a second; one step may lower the rate fifty-fold.
Records carry the rate in effect when their unit started (``sample_rate``); ``stats()`` has it too.
"""

from __future__ import annotations

import time

DEFAULT_MAX_OVERHEAD_PCT = 2.5


class Sampler:
    FIRST_WINDOW = 0.1  # seconds of the first window; each next one is twice as long, up to WINDOW
    WINDOW = 1.0

    def __init__(self, rate: float, max_overhead_pct: float | None = DEFAULT_MAX_OVERHEAD_PCT) -> None:
        self.base_rate = rate
        self.rate = rate
        # 100% means no budget: every unit at ``rate``
        self.max_overhead = None if max_overhead_pct is None or max_overhead_pct >= 100 else max_overhead_pct / 100.0
        self.sdk_seconds = 0.0  # cost accumulated on request threads since the window started
        self.window = self.FIRST_WINDOW
        self._window_start = time.monotonic()
        self._cpu_start = time.process_time()
        self._bg_cpu_start: float | None = None
        self.last_overhead = 0.0

    @property
    def governed(self) -> bool:
        return self.max_overhead is not None

    def add_cost(self, seconds: float) -> None:
        # a float add without a lock: a lost update under a race only makes one window's estimate a bit low
        self.sdk_seconds += seconds

    def adjust(self, background_cpu: float) -> None:
        """Called by the background thread; ``background_cpu`` is its cumulative thread CPU time."""
        if self.max_overhead is None:
            return
        now = time.monotonic()
        if self._bg_cpu_start is None:  # the first tick (the first record): the first window starts now
            self._bg_cpu_start = background_cpu
            self._window_start, self._cpu_start, self.sdk_seconds = now, time.process_time(), 0.0
            return
        if now - self._window_start < self.window:
            return
        self.window = min(self.window * 2, self.WINDOW)
        cpu = time.process_time()
        process_cpu = cpu - self._cpu_start
        sdk, self.sdk_seconds = self.sdk_seconds, 0.0
        sdk += background_cpu - self._bg_cpu_start
        self._window_start, self._cpu_start, self._bg_cpu_start = now, cpu, background_cpu
        if process_cpu <= 0:
            return
        share = sdk / process_cpu
        self.last_overhead = share
        budget = self.max_overhead
        if share > budget:
            # aim a little under the budget; never below a thousandth of sampling_rate
            self.rate = max(self.rate * max(0.02, 0.8 * budget / share), self.base_rate / 1000.0)
        elif share < budget / 2:
            self.rate = min(self.base_rate, self.rate * 1.5)

    def seconds_until_next(self) -> float:
        return max(0.0, self._window_start + self.window - time.monotonic())
