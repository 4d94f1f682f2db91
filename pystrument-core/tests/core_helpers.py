"""Helpers shared by the core tests."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

from pystrument.core import Client, hookimpl, plugins
from pystrument.core.calltree import CallNode
from pystrument_testing.call_trees import functions, walk  # noqa: F401  (re-exported to the core tests)


def memory_client(**settings) -> tuple[Client, str]:
    """A client delivering to its own memory sink; returns (client, sink name). Detailed mode unless the
    test asks for another (the default, ``both``, would add continuous aggregates to the records counted)."""
    name = uuid.uuid4().hex
    settings.setdefault("flush_interval", 0.05)
    settings.setdefault("profiling_mode", "detailed")
    return Client(sinks=[f"memory://{name}"], **settings), name


@contextlib.contextmanager
def sink_plugin(**classes: Any) -> Iterator[dict[str, Any]]:
    """Test sink classes registered by URL scheme (``sink_plugin(failing=FailingSink)``) while the block runs;
    yields URL -> the sink made for it (one per URL: a second client of the same URL gets the same sink)."""
    created: dict[str, Any] = {}

    class Plugin:
        @hookimpl
        def register_sinks(self, register):
            for scheme, cls in classes.items():
                register(scheme, lambda url, config, cls=cls: created.setdefault(url, cls(url, config)))

    undo = plugins.register(Plugin(), name="test-sinks-" + "-".join(classes))
    try:
        yield created
    finally:
        undo()


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def make_marker(name: str, is_async: bool = False):
    """A distinct function named ``name`` that busy-waits (so samples land in it).

    The async one alternates busy work with ``await asyncio.sleep(0)`` so that tasks interleave."""
    ns: dict = {"spin": spin, "asyncio": __import__("asyncio")}
    if is_async:
        src = f"async def {name}(seconds, rounds):\n    for _ in range(rounds):\n        spin(seconds)\n        await asyncio.sleep(0)\n"
    else:
        src = f"def {name}(seconds):\n    spin(seconds)\n"
    exec(compile(src, f"/app/markers/{name}.py", "exec"), ns)
    return ns[name]


def check_sums(node: CallNode, tol: float = 1e-6) -> None:
    """Every node's total is its self time plus its children's totals."""
    total = node.self_ms + sum(c.time_ms for c in node.children)
    assert abs(total - node.time_ms) <= tol * max(1.0, node.time_ms), (node.function, node.time_ms, total)
    for child in node.children:
        check_sums(child, tol)


def count_nodes(node: CallNode) -> int:
    return 1 + sum(count_nodes(c) for c in node.children)
