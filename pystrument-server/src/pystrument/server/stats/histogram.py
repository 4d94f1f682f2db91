"""A fixed log-scale histogram of durations: mergeable by addition, percentiles within ~4%.

Bin 0 holds values below ``LOW`` ms; bin ``i`` (1..N-1) holds ``[LOW*R**(i-1), LOW*R**i)``, with
``PER_DECADE`` bins per decade (R = 10**(1/32), a bin is 7.5% wide); the last bin also holds
everything above. Percentiles answer the geometric middle of the bin they fall in, clamped to the
observed maximum, so they are within half a bin (~3.7%) of an exact percentile. Bin 0 answers 0:
a function with no self time (or less than ``LOW``) shows 0, not an invented 0.005 ms.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable

import numpy as np
from pystrument.core.histogram_bins import BINS as BINS  # BINS .. bin_of re-exported: server code reads them here
from pystrument.core.histogram_bins import DECADES as DECADES
from pystrument.core.histogram_bins import LOG_R as _LOG_R
from pystrument.core.histogram_bins import LOW as LOW
from pystrument.core.histogram_bins import PER_DECADE as PER_DECADE
from pystrument.core.histogram_bins import bin_of as bin_of

DTYPE = np.int64

def bins_of(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        idx = np.floor(np.log(np.maximum(values, LOW) / LOW) / _LOG_R).astype(np.int64) + 1
    idx[~(values > LOW)] = 0
    out: np.ndarray = np.minimum(idx, BINS - 1)
    return out


def empty() -> np.ndarray:
    return np.zeros(BINS, dtype=DTYPE)


def of(values: Iterable[float]) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    return np.bincount(bins_of(arr), minlength=BINS).astype(DTYPE) if arr.size else empty()


def to_sparse(hist: np.ndarray) -> dict[str, int]:
    nz = np.nonzero(hist)[0]
    return {str(int(i)): int(hist[i]) for i in nz}


def from_sparse(data: dict[str, int] | None) -> np.ndarray:
    hist = empty()
    for k, v in (data or {}).items():
        hist[int(k)] += int(v)
    return hist


def _mid(i: int) -> float:
    if i == 0:
        return 0.0
    return LOW * math.exp((i - 0.5) * _LOG_R)


def percentiles(hist: np.ndarray, qs: Iterable[float], max_value: float | None = None) -> list[float]:
    total = int(hist.sum())
    out: list[float] = []
    if total == 0:
        return [0.0 for _ in qs]
    cum = np.cumsum(hist)
    for q in qs:
        rank = max(1, math.ceil(q / 100.0 * total))
        i = int(np.searchsorted(cum, rank))
        value = _mid(i)
        if max_value is not None:
            value = min(value, max_value)
        out.append(round(value, 3))
    return out


# Sparse binary form (what the SQLite store keeps): packed (uint16 bin, int32 count) entries.
ENTRY = np.dtype([("bin", "<u2"), ("n", "<i4")])


_ENTRY = struct.Struct("<Hi")  # one ENTRY, for the small histograms merged at ingest (struct beats numpy there)


def pack(bins: dict[int, int]) -> bytes:
    flat = [x for item in bins.items() for x in item]
    return struct.pack(f"<{'Hi' * len(bins)}", *flat)


def unpack(data: bytes | None) -> dict[int, int]:
    return dict(_ENTRY.iter_unpack(data)) if data else {}


def merge_packed(data: bytes | None, bins: dict[int, int]) -> bytes:
    if not data:
        return pack(bins)
    merged = dict(_ENTRY.iter_unpack(data))
    get = merged.get
    for i, n in bins.items():
        merged[i] = get(i, 0) + n
    return pack(merged)


def dense_from_packed(data: bytes | None) -> np.ndarray:
    hist = empty()
    if data:
        arr = np.frombuffer(data, dtype=ENTRY)
        np.add.at(hist, arr["bin"].astype(np.int64), arr["n"])
    return hist


_MIDS = np.array([0.0] + [LOW * math.exp((i - 0.5) * _LOG_R) for i in range(1, BINS)])


def percentiles_matrix(hists: np.ndarray, qs: Iterable[float], max_values: np.ndarray) -> np.ndarray:
    """``percentiles`` for many histograms at once (rows of ``hists``): a ``rows x len(qs)`` array."""
    qs = list(qs)
    out = np.zeros((hists.shape[0], len(qs)))
    if hists.shape[0] == 0:
        return out
    cum = np.cumsum(hists, axis=1)
    total = cum[:, -1]
    for j, q in enumerate(qs):
        rank = np.maximum(1, np.ceil(q / 100.0 * total))
        idx = np.minimum((cum < rank[:, None]).sum(axis=1), BINS - 1)
        out[:, j] = np.where(total > 0, np.minimum(_MIDS[idx], max_values), 0.0)
    return np.round(out, 3)
