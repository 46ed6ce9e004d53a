"""A mergeable log-scale histogram for durations and counts kept in rollups.

Each positive value v falls in bucket ``ceil(log(v) / log(GAMMA))``; a bucket is reported as
the value that sits in the middle of its bounds in relative terms, so every quantile read
from a histogram is within ``RELATIVE_ERROR`` (1%) of a value of the data at that rank
(the DDSketch construction). Zero and negative values (clock skew) share one bucket and read
as 0. Histograms are sparse: sorted bucket indexes with their counts, merged by adding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

RELATIVE_ERROR = 0.01
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(GAMMA)
ZERO_BUCKET = -32768  # values <= 0
_MIN_VALUE = GAMMA ** (-32000)  # keeps every index inside smallint
_MAX_INDEX = 32767


def bucket_of(value: float) -> int:
    """The bucket index of a value."""
    if not value > 0:  # also NaN
        return ZERO_BUCKET
    if value < _MIN_VALUE:
        value = _MIN_VALUE
    return min(_MAX_INDEX, math.ceil(math.log(value) / _LOG_GAMMA))


def value_of(bucket: int) -> float:
    """The representative value of a bucket: within RELATIVE_ERROR of every value in it."""
    if bucket == ZERO_BUCKET:
        return 0.0
    return 2 * GAMMA**bucket / (GAMMA + 1)


def histogram(values: Iterable[float]) -> dict[int, int]:
    """Counts by bucket index."""
    counts: dict[int, int] = {}
    for value in values:
        bucket = bucket_of(value)
        counts[bucket] = counts.get(bucket, 0) + 1
    return counts


def add_into(total: dict[int, int], other: Mapping[int, int], sign: int = 1) -> None:
    """Add (or with ``sign`` -1, subtract) ``other`` into ``total``; empty buckets go."""
    for bucket, count in other.items():
        merged = total.get(bucket, 0) + sign * count
        if merged:
            total[bucket] = merged
        else:
            total.pop(bucket, None)


def as_arrays(counts: Mapping[int, int]) -> tuple[list[int], list[int]]:
    """Sorted bucket indexes and their counts, as stored."""
    keys = sorted(counts)
    return keys, [counts[key] for key in keys]


def quantiles(counts: Mapping[int, int], qs: Iterable[float]) -> list[float | None]:
    """The values at quantiles ``qs`` (0..1) of a histogram, by nearest rank; None when empty."""
    qs = list(qs)
    total = sum(count for count in counts.values() if count > 0)
    if total <= 0:
        return [None for _ in qs]
    ordered = sorted((bucket, count) for bucket, count in counts.items() if count > 0)
    answers: list[float | None] = []
    for q in qs:
        rank = max(1, math.ceil(q * total))
        seen = 0
        for bucket, count in ordered:
            seen += count
            if seen >= rank:
                answers.append(value_of(bucket))
                break
    return answers
