"""Continuous samples -> a call tree: the contract's shape (root "[root]", samples, time_ms = samples x interval)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from ..calltree import KIDS, ROOT, SELF, SELF_N, _new, to_call_nodes
from ..record import CallNode
from ..unit import Unit
from .frames import Stack, frame_of


def tree_of(stacks: Mapping[Stack, int], interval_ms: float, max_nodes: int) -> tuple[CallNode, bool]:
    """The merged tree of ``stacks`` (stack, leaf first -> sample count); returns (tree, pruned)."""
    weight = interval_ms / 1000.0  # the tree is built in seconds, converted to ms
    root = _new(frame_of(ROOT))
    nodes = 1
    for stack, count in stacks.items():
        node = root
        for code in reversed(stack):
            kids = node[KIDS]
            child = kids.get(code)
            if child is None:
                child = kids[code] = _new(frame_of(code))
                nodes += 1
            node = child
        node[SELF] += count * weight
        node[SELF_N] += count
    return to_call_nodes(root, nodes, max_nodes)


def unit_tree(unit: Unit, interval_ms: float, max_nodes: int) -> tuple[CallNode | None, bool, int]:
    """A tail-kept unit's own continuous samples as its call tree: (tree, truncated, sample count)."""
    samples = unit.cont
    if not samples:
        return None, False, 0
    tree, pruned = tree_of(Counter(samples), interval_ms, max_nodes)
    return tree, pruned, len(samples)
