"""The sampling thread's clock (continuous/sampler.py): which targets it charges."""

from __future__ import annotations

import time

from pystrument.core.continuous.sampler import SamplerThread


class _Collector:
    """Stands for a continuous client: the thread runs while one is registered."""

    def drain(self, charged_until: float) -> None:
        pass


def test_the_targets_that_fall_while_the_sampling_thread_works_are_skipped():
    """Its own work holds the GIL: the thread it took it from waits, and charging those targets would give our cost to
    the unit that waited (the units that release the GIL often, in I/O). At a 1 ms interval and 4 ms of work per
    wake-up, most targets fall in the work; none of them is handed to ``sample``."""
    sampler = SamplerThread(0.001)
    collector = _Collector()
    sampler.collectors.add(collector)
    charged: list[float] = []
    busy: list[tuple[float, float]] = []

    def sample(targets: list[float], woke: float) -> None:
        charged.extend(targets)
        time.sleep(0.004)
        busy.append((woke, time.perf_counter()))

    sampler.sample = sample  # type: ignore[method-assign]
    sampler.ensure_running()
    time.sleep(0.3)
    sampler.stop()
    assert len(busy) >= 20 and sampler.own_samples > len(busy), (len(busy), sampler.own_samples)
    inside = [t for t in charged if any(start < t < end for start, end in busy)]
    assert not inside, f"{len(inside)} of {len(charged)} targets charged fell in the thread's own work"
    assert charged == sorted(charged) and len(charged) >= len(busy)
