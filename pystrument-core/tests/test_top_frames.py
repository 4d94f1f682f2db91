"""Records of the decorator and the collector start at the user's frames, never at the SDK's."""

from __future__ import annotations

import os
import uuid

from core_helpers import spin
from pystrument.core import PerformanceCollector, monitor_performance
from pystrument.core.memory_sink import records

OURS = f"{os.sep}pystrument{os.sep}"


def tops(record):
    tree = record.call_tree
    return [tree, *tree.children]


def test_decorator_and_collector_records_start_at_the_users_frames():
    sink = uuid.uuid4().hex
    config = {"sinks": [f"memory://{sink}"], "sampling_rate": 1.0, "async_send": False}

    @monitor_performance(config=config)
    def job():
        spin(0.01)

    for _ in range(3):
        job()
    collector = PerformanceCollector(config)
    for _ in range(3):
        with collector.collect("block"):
            spin(0.01)
    found = records(sink)
    assert len(found) == 6
    sampled = [r for r in found if r.sample_count]
    assert len(sampled) >= 4, [(r.name, r.sample_count) for r in found]  # 10 ms at a 1 ms interval
    for record in sampled:
        ours = [(n.function, n.file) for n in tops(record) if OURS in n.file]
        assert not ours, (record.name, ours)
