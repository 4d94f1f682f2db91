"""Continuous mode (issue #16): one sampling thread, every unit, per-endpoint aggregates (docs/continuous.md)."""

from .collector import ContinuousCollector
from .sampler import SamplerThread, sampler_thread, stop_sampler

__all__ = ["ContinuousCollector", "SamplerThread", "sampler_thread", "stop_sampler"]
