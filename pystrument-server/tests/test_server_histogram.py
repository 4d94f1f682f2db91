"""The duration histogram answers 0 for time below its lowest bin, never the bin's invented middle (0.005 ms)."""

from __future__ import annotations

import numpy as np
import pytest
from pystrument.server.stats import histogram


def test_no_self_time_gives_percentiles_of_zero():
    hist = histogram.of([0.0] * 50)
    assert histogram.percentiles(hist, [50, 95]) == [0.0, 0.0]
    assert histogram.percentiles_matrix(hist[None, :], [50, 95], np.array([0.0])).tolist() == [[0.0, 0.0]]


def test_mostly_zero_with_a_tail_gives_zero_median_and_the_tail_at_p95():
    hist = histogram.of([0.0] * 90 + [5.0] * 10)
    p50, p95 = histogram.percentiles(hist, [50, 95], max_value=5.0)
    assert p50 == 0.0
    assert p95 == pytest.approx(5.0, rel=0.04)
    assert histogram.percentiles_matrix(hist[None, :], [50, 95], np.array([5.0]))[0].tolist() == [p50, p95]
