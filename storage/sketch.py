"""A mergeable log-scale histogram for durations and counts kept in rollups.

Each positive value v falls in bucket ``ceil(log(v) / log(GAMMA))``; a bucket is reported as
the value that sits in the middle of its bounds in relative terms, so every quantile read
from a histogram is within ``RELATIVE_ERROR`` (1%) of a value of the data at that rank
(the DDSketch construction). Zero and negative values (clock skew) share one bucket and read
as 0. Histograms are sparse: sorted bucket indexes with their counts, merged by adding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

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


# PostgreSQL's binary form of a one-dimensional array (array_send) is a 20-byte header (number
# of dimensions, has-nulls flag, element type, length and lower bound), then each element as its
# byte length and its value, big-endian; an empty array is a 12-byte header alone. The queries
# cut the header off (``stored_elements``), so that many arrays join into one buffer.
_ARRAY_HEADER = 20
_STORED_KEY = np.dtype([("length", ">i4"), ("value", ">i2")])
_STORED_COUNT = np.dtype([("length", ">i4"), ("value", ">i8")])
_KEY_OFFSET = -ZERO_BUCKET  # makes every smallint key a non-negative 16-bit number


def stored_elements(column: str) -> str:
    """SQL for the elements of a histogram's array column in binary form, as
    ``merged_quantiles`` reads them."""
    return f"substr(array_send({column}), {_ARRAY_HEADER + 1})"


def _stored_values(
    elements: Sequence[bytes], record: np.dtype
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The values of many arrays' elements, one array after another, and each one's size."""
    sizes = np.fromiter(map(len, elements), np.int64, len(elements))
    records = np.frombuffer(b"".join(elements), dtype=record)
    if (sizes % record.itemsize).any() or (records["length"] != record["value"].itemsize).any():
        raise ValueError("not the elements of one-dimensional arrays without nulls")
    return records["value"].astype(np.int64), sizes // record.itemsize


def merged_quantiles(
    groups: Sequence[int], keys: Sequence[bytes], counts: Sequence[bytes], qs: Sequence[float]
) -> dict[int, list[float]]:
    """Merge the stored histograms of each group and read quantiles ``qs`` of each: the same
    values ``quantiles`` gives for the histograms added with ``add_into``. Histogram i belongs
    to ``groups[i]``; its ``*_keys`` and ``*_counts`` arrays come as ``stored_elements``
    selects them. Groups whose merged histogram is empty are left out."""
    key_values, sizes = _stored_values(keys, _STORED_KEY)
    count_values, count_sizes = _stored_values(counts, _STORED_COUNT)
    if not np.array_equal(sizes, count_sizes):
        raise ValueError("a histogram has not as many counts as keys")
    if not key_values.size:
        return {}
    # One sortable number per (group, bucket): equal ones are added up, in bucket order per group.
    cells = np.repeat(np.asarray(groups, np.int64), sizes) << 16 | (key_values + _KEY_OFFSET)
    order = np.argsort(cells, kind="stable")
    cells = cells[order]
    firsts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
    merged = np.add.reduceat(count_values[order], firsts)
    cells = cells[firsts]
    kept = merged > 0
    cells, merged = cells[kept], merged[kept]
    if not cells.size:
        return {}
    group_of = cells >> 16
    group_firsts = np.flatnonzero(np.r_[True, group_of[1:] != group_of[:-1]])
    totals = np.add.reduceat(merged, group_firsts)
    seen = np.cumsum(merged)
    before = seen[group_firsts] - merged[group_firsts]
    answers: dict[int, list[float]] = {int(group): [] for group in group_of[group_firsts]}
    for q in qs:
        ranks = np.maximum(1, np.ceil(q * totals)).astype(np.int64)
        at = np.searchsorted(seen, before + ranks, side="left")
        for values, bucket in zip(
            answers.values(), (cells[at] & 0xFFFF) - _KEY_OFFSET, strict=True
        ):
            values.append(value_of(int(bucket)))
    return answers
