"""Collectors: how samples of a unit of work are taken. One interface, chosen by name (``Config.collector``)."""

from .base import Collector

__all__ = ["Collector"]
