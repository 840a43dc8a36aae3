"""The one way the benchmarks read a percentile off their samples: nearest rank."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(samples: Iterable[float], share: float) -> float:
    """The smallest sample that at least `share` (0 < share ≤ 1) of them do not exceed (nearest
    rank: the p99 of 100 samples is the 99th smallest, of 1,000 the 990th); NaN for none."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    rank = math.ceil(share * len(ordered) - 1e-9)  # 1-based; 0.99 * 100 may be 99.000…01
    return ordered[max(rank, 1) - 1]
