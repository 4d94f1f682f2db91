"""Fixtures of the pystrument-ai tests: profiling through the real SDK. The stand-in provider
(``provider_stand_in``) comes from tests/fixtures/pystrument_services.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


@pytest.fixture
def profile():
    """``profile(func, *args, capture_source=False, **decorator_settings) -> Record``: run ``func`` (sync or
    async) once under ``pystrument.core.monitor_performance`` with a private ``memory://`` sink."""
    import asyncio
    import gc
    import inspect

    from pystrument.core import monitor_performance
    from pystrument.core.memory_sink import clear, records

    names: list[str] = []

    def run(func, *args, capture_source: bool = False, **settings: Any):
        name = f"ai-{uuid.uuid4().hex[:8]}"
        names.append(name)
        wrapped = monitor_performance(sinks=[f"memory://{name}"], async_send=False, sampling_rate=1.0,
                                      project_key="test", capture_source=capture_source, **settings)(func)
        # the planted apps allocate thousands of objects: one of them may start a full collection of the
        # whole test process's heap (hundreds of MB after the rest of the suite), hundreds of ms that land in
        # the app's frames and shrink the planted bottleneck's share (CI, stop 26: N+1 at 10.7% of 840 ms,
        # 60-85% in any other run). The record should show the app, not pytest's heap: freeze it meanwhile.
        gc.collect()
        gc.freeze()
        try:
            if inspect.iscoroutinefunction(func):
                asyncio.run(wrapped(*args))
            else:
                wrapped(*args)
        finally:
            gc.unfreeze()
        got = records(name)
        assert len(got) == 1, f"expected one record, got {len(got)}"
        return got[0]

    yield run
    for name in names:
        clear(name)
