"""Continuous mode (issue #16): one sampling thread, every unit, per-endpoint aggregates (docs/continuous.md).

Nothing is imported here: the record builder needs only ``tree``, and a host that profiles in detail only
must not import asyncio through us (``collector`` and ``sampler`` load with the ``continuous`` profiler).
"""
