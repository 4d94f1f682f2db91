"""The sampling decision, and the optional overhead governor (``max_overhead_pct``).

The decision (``Client.sample``) is one ``random()`` call against the effective rate ``Sampler.rate``. With ``max_overhead_pct`` set, the
background thread compares the SDK's own measured cost (time spent starting and stopping units, the
profiler's samples at their calibrated cost, and the background thread's CPU time) with the process's
CPU time over each window, and lowers the effective rate when the share is too high, raising it back
(never above ``sampling_rate``) when it falls.
"""

from __future__ import annotations

import threading
import time


class Sampler:
    WINDOW = 1.0  # seconds between adjustments

    def __init__(self, rate: float, max_overhead_pct: float | None = None) -> None:
        self.base_rate = rate
        self.rate = rate
        self.max_overhead = None if max_overhead_pct is None else max_overhead_pct / 100.0
        self.sdk_seconds = 0.0  # accumulated cost measured on request threads
        self.samples = 0
        self._lock = threading.Lock()
        self._window_start = time.monotonic()
        self._cpu_start = time.process_time()
        self._bg_cpu_start = 0.0
        self.last_overhead = 0.0

    def add_cost(self, seconds: float, samples: int) -> None:
        if self.max_overhead is not None:
            self.sdk_seconds += seconds
            self.samples += samples

    def adjust(self, background_cpu: float, seconds_per_sample: float) -> None:
        """Called by the background thread; ``background_cpu`` is its cumulative thread CPU time."""
        if self.max_overhead is None:
            return
        now = time.monotonic()
        if now - self._window_start < self.WINDOW:
            return
        cpu = time.process_time()
        process_cpu = cpu - self._cpu_start
        sdk = self.sdk_seconds + self.samples * seconds_per_sample + (background_cpu - self._bg_cpu_start)
        self.sdk_seconds = 0.0
        self.samples = 0
        self._window_start, self._cpu_start, self._bg_cpu_start = now, cpu, background_cpu
        if process_cpu <= 0:
            return
        share = sdk / process_cpu
        self.last_overhead = share
        if share > self.max_overhead:
            self.rate = max(self.rate * max(0.1, self.max_overhead / share), self.base_rate / 1000.0)
        elif share < self.max_overhead / 2:
            self.rate = min(self.base_rate, self.rate * 1.5)
