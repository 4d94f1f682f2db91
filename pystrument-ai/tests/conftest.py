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
    import inspect

    from pystrument.core import monitor_performance
    from pystrument.core.memory_sink import clear, records

    names: list[str] = []

    def run(func, *args, capture_source: bool = False, **settings: Any):
        name = f"ai-{uuid.uuid4().hex[:8]}"
        names.append(name)
        wrapped = monitor_performance(sinks=[f"memory://{name}"], async_send=False, sampling_rate=1.0,
                                      project_key="test", capture_source=capture_source, **settings)(func)
        if inspect.iscoroutinefunction(func):
            asyncio.run(wrapped(*args))
        else:
            wrapped(*args)
        got = records(name)
        assert len(got) == 1, f"expected one record, got {len(got)}"
        return got[0]

    yield run
    for name in names:
        clear(name)
