"""The sampling decision, and the overhead governor (``max_overhead_pct``, on by default: 3%).

The decision (``Client.sample``, or ``Client.start_sampled`` in continuous mode) is one ``random()`` call
against the effective rate ``Sampler.rate``. The governor runs on the background thread: over each window
it estimates the SDK's whole cost as a share of the process's CPU time and sets the detailed rate so that
the share comes to the budget. The cost has two parts:

- **fixed**, paid whatever the detailed rate: the continuous mode's sampling thread (its own
  ``time.thread_time``) and its per-unit work in ``client.start``/``client.finish`` on units not profiled
  in detail: their count (``fixed_units``, one integer add each) times the CPU time one such unit costs,
  measured once per process on the background thread (``Client._unit_cost``); and the background
  thread's CPU time rolling the continuous window and building its aggregate records, spread over the
  window it covers (``add_roll_cost``: every ``continuous_flush_interval`` the work for all of that
  interval's requests is done at once; charged to the governor's window it fell in, it swung that
  window's share by several points and the rate to its floor for one window); Not timed per unit: a
  thread's wall time inside start/finish includes waits for the GIL, which on a busy server with several
  threads made the estimate tenfold too high, and its CPU clock costs a system call;
- **variable**, in proportion to the detailed rate: ``client.start``/``client.finish`` of units profiled
  in detail, the profiler's cost inside them (their thread CPU time times the share of a call-heavy
  thread's time the profiler hook and its samples take, measured once per process at the first tick:
  ``StackSamplerCollector.calibrate``), and the background thread's CPU time (building records, sinks).

Control law (``next_rate``): the variable part is taken to scale with the rate, so the rate that brings
the whole share to the target (``TARGET`` x budget) is ``rate x (target - fixed) / variable``; a step
goes ``GAIN`` of the way there (in log terms: a window's random share of sampled units must not swing
the rate) and moves at most ``MAX_UP`` up or ``MAX_DOWN`` down. The rate stays within
[``sampling_rate``/1000, ``sampling_rate``]. When the fixed part alone is over the target (continuous mode
costs more than the budget on this workload) the detailed rate goes to its floor.

Windows start short (0.1 s, doubling to 1 s) so that a process starting at ``sampling_rate`` 1.0 under
load comes down to its budget within a few tenths of a second. A window also waits for
``MIN_DETAILED_UNITS`` units profiled in detail to end (at most ``MAX_WINDOW`` seconds): a unit profiled in
detail costs its CPU time times the hook's share in one lump, so on a slow handler (10 ms, a few units
profiled a second) a 1 s window's share swings by a point or more with one unit more or less. Records carry the rate in effect when
their unit started (``sample_rate``); ``stats()`` has it too (``effective_sampling_rate``), with the
last window's measured share (``measured_overhead``) and its fixed part (``measured_fixed_overhead``).
"""

from __future__ import annotations

import time

DEFAULT_MAX_OVERHEAD_PCT = 3.0


class Sampler:
    FIRST_WINDOW = 0.1  # seconds of the first window; each next one is twice as long, up to WINDOW
    WINDOW = 1.0
    MIN_DETAILED_UNITS = 5  # a window (beyond WINDOW seconds) lasts until this many units profiled in detail ended,
    MAX_WINDOW = 3.0  # ... or this many seconds
    TARGET = 0.9  # the share aimed at, as a fraction of the budget (room for the noise of one window)
    GAIN = 0.7  # the fraction (in log terms) of the way to the computed rate one step goes
    MAX_UP = 3.0  # per window
    MAX_DOWN = 50.0  # per window
    MIN_PROCESS_CPU = 0.005  # seconds of process CPU in a window below which the share says nothing

    def __init__(self, rate: float, max_overhead_pct: float | None = DEFAULT_MAX_OVERHEAD_PCT) -> None:
        self.base_rate = rate
        self.rate = rate
        # 100% means no budget: every unit at ``rate``
        self.max_overhead = None if max_overhead_pct is None or max_overhead_pct >= 100 else max_overhead_pct / 100.0
        self.sdk_seconds = 0.0  # variable cost on request threads since the window started
        self.fixed_units = 0  # units not profiled in detail since the window started
        self.detailed_units = 0  # units profiled in detail that ended since the window started
        self.roll_seconds = 0.0  # background-thread CPU rolling the continuous window, since the window started
        self.roll_rate = 0.0  # the last roll's CPU per second of the continuous window it covered
        self.unit_cost = 0.0  # CPU seconds one of them costs on its thread (measured once by the client)
        self.window = self.FIRST_WINDOW
        self._window_start = time.monotonic()
        self._cpu_start = time.process_time()
        self._bg_cpu_start: float | None = None
        self._fixed_cpu_start = 0.0
        self.last_overhead = 0.0
        self.last_fixed_overhead = 0.0
        self.windows = 0  # windows the governor has measured (stats: governor_windows)

    @property
    def governed(self) -> bool:
        return self.max_overhead is not None

    @property
    def floor(self) -> float:
        return self.base_rate / 1000.0

    def add_cost(self, seconds: float) -> None:
        """Cost of a unit profiled in detail (on its own thread)."""
        # a float add without a lock: a lost update under a race only makes one window's estimate a bit low
        self.sdk_seconds += seconds

    def add_roll_cost(self, seconds: float, covered: float) -> None:
        """The background thread spent ``seconds`` of CPU rolling a continuous window ``covered`` seconds long."""
        self.roll_seconds += seconds
        if covered > 0:
            self.roll_rate = seconds / covered

    def adjust(self, background_cpu: float, fixed_cpu: float = 0.0) -> None:
        """Called by the background thread: ``background_cpu`` is its cumulative thread CPU time,
        ``fixed_cpu`` the continuous sampling thread's (cumulative, 0 without continuous mode)."""
        if self.max_overhead is None:
            return
        now = time.monotonic()
        if self._bg_cpu_start is None:  # the first tick (the first record): the first window starts now
            self._bg_cpu_start, self._fixed_cpu_start = background_cpu, fixed_cpu
            self._window_start, self._cpu_start = now, time.process_time()
            self.sdk_seconds, self.fixed_units, self.detailed_units, self.roll_seconds = 0.0, 0, 0, 0.0
            return
        elapsed = now - self._window_start
        if elapsed < self.window:
            return
        if self.detailed_units < self.MIN_DETAILED_UNITS and elapsed < self.MAX_WINDOW and self.window >= self.WINDOW:
            return
        self.detailed_units = 0
        self.window = min(self.window * 2, self.WINDOW)
        cpu = time.process_time()
        process_cpu = cpu - self._cpu_start
        variable, self.sdk_seconds = self.sdk_seconds, 0.0
        units, self.fixed_units = self.fixed_units, 0
        fixed = units * self.unit_cost + self.roll_rate * elapsed
        variable -= self.roll_seconds  # in the background thread's CPU, counted (spread) in fixed instead
        self.roll_seconds = 0.0
        variable += background_cpu - self._bg_cpu_start
        # a new sampling thread (after a fork, or after the last continuous client closed) starts from 0
        fixed += max(0.0, fixed_cpu - self._fixed_cpu_start)
        self._window_start, self._cpu_start = now, cpu
        self._bg_cpu_start, self._fixed_cpu_start = background_cpu, fixed_cpu
        if process_cpu < self.MIN_PROCESS_CPU:  # an idle window: nothing to learn from
            return
        self.windows += 1
        self.last_overhead = (fixed + variable) / process_cpu
        self.last_fixed_overhead = fixed / process_cpu
        self.rate = self.next_rate(fixed / process_cpu, variable / process_cpu)

    def next_rate(self, fixed_share: float, variable_share: float) -> float:
        """The control law: the rate for the next window, given the last window's fixed and variable
        shares of the process's CPU time at the current rate."""
        assert self.max_overhead is not None
        rate, floor = self.rate, self.floor
        room = self.TARGET * self.max_overhead - fixed_share
        if room <= 0:
            wanted = floor
        elif variable_share <= 0 or rate <= 0:  # nothing profiled in detail this window: try more
            wanted = max(rate, floor) * self.MAX_UP
        else:
            wanted = rate * (room / variable_share) ** self.GAIN
        wanted = min(max(wanted, rate / self.MAX_DOWN), max(rate, floor) * self.MAX_UP)
        return min(max(wanted, floor), self.base_rate)

    def seconds_until_next(self) -> float:
        left = self._window_start + self.window - time.monotonic()
        return left if left > 0 else 0.1  # a window waiting for units profiled in detail: looked at again soon
