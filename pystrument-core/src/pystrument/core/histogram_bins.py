"""The duration histogram's bin scheme, shared by the SDK (continuous aggregates) and the server.

Bin 0 holds values below ``LOW`` ms; bin ``i`` (1..BINS-1) holds ``[LOW*R**(i-1), LOW*R**i)`` with
``PER_DECADE`` bins per decade (R = 10**(1/32), a bin is 7.5% wide); the last bin also holds everything
above. Pure Python, so the SDK needs no numpy; the server's histogram.py builds its arrays on it.
"""

from __future__ import annotations

import math

LOW = 0.01  # ms
PER_DECADE = 32
DECADES = 8  # 0.01 ms .. 1,000,000 ms (16 minutes)
BINS = PER_DECADE * DECADES + 1
LOG_R = math.log(10) / PER_DECADE


def bin_of(value_ms: float) -> int:
    """The bin index of a duration in ms (NaN and values <= LOW go to bin 0)."""
    if not value_ms > LOW:  # also NaN
        return 0
    i = int(math.log(value_ms / LOW) / LOG_R) + 1
    return i if i < BINS else BINS - 1
