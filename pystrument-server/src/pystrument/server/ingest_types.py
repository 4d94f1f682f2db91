"""The types ingest decodes into: pystrument.core's Record and CallNode, as structs the cyclic GC does not track.

A batch of 100 records of ~10 KB holds some 14,000 call-tree nodes; as plain ``CallNode`` structs (and a
``children`` list each) they are all GC-tracked, and while a few batches are in flight every collection walks
them again: measured, that doubled the CPU per record of decoding. Here the nodes are untracked
(``gc=False``) and their children are tuples (untracked once they hold only untracked nodes). JSON trees
cannot form reference cycles, so nothing is left for the collector to find. Same fields, same validation
and error paths, same JSON values when encoded (the redefined ``call_tree`` key comes first: stores read
their summaries by key); they are instances of ``Record`` and ``CallNode``.
"""

from __future__ import annotations

from pystrument.core.record import CallNode, Record


class IngestNode(CallNode, gc=False):
    children: tuple[IngestNode, ...] = ()


class IngestRecord(Record, gc=False):
    call_tree: IngestNode | None = None
