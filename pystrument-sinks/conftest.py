"""Fixtures shared by the sink tests (services on loopback come from tests/fixtures/pystrument_services.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pystrument.core.record import AppInfo, CallNode, ErrorInfo, Record


def _tree(size: int) -> CallNode:
    """A call tree whose JSON is about ``size`` bytes (about 110 bytes a frame)."""
    frames = max(1, size // 110)
    leaves = [CallNode(function=f"handler_step_{i}", file=f"/app/service/module_{i % 17}.py", line=10 + i,
                       time_ms=0.5, self_ms=0.5, is_app=True) for i in range(frames - 1)]
    return CallNode(function="view", file="/app/service/views.py", line=1, time_ms=0.5 * len(leaves) + 1,
                    self_ms=1.0, is_app=True, children=leaves)


@pytest.fixture
def make_record():
    """``make_record(name="GET /x", duration_ms=5.0, failed=False, size=2000, project_key="")`` -> a Record."""

    def make(name: str = "GET /items/{item_id}", duration_ms: float = 5.0, failed: bool = False, size: int = 2000,
             project_key: str = "", version: str = "1.0.0") -> Record:
        return Record(
            record_id=uuid.uuid4().hex, project_key=project_key, kind="request", name=name, method="GET",
            path="/items/1", status_code=500 if failed else 200,
            started_at=dt.datetime.now(dt.timezone.utc), duration_ms=duration_ms, cpu_ms=duration_ms / 2,
            app=AppInfo(name="shop", version=version, environment="test", host="h", pid=1, python="3.11"),
            error=ErrorInfo(type="ValueError", message="boom") if failed else None,
            call_tree=_tree(size), sample_count=5, interval_ms=1.0,
        )

    return make
