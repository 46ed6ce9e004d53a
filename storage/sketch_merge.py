"""Merging many stored sketches (``storage.sketch``) at once with numpy, for the dashboards.

Apart from ``storage.sketch`` so that the derive workers, which only add to sketches, do not
load numpy (about 10 MB of resident memory a process).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from storage.sketch import ZERO_BUCKET, value_of

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


def stored_sketch(name: str) -> str:
    """SQL for both arrays of sketch ``name`` (``{name}_keys``, ``{name}_counts``), as
    ``stored_elements`` selects them."""
    return f"{stored_elements(name + '_keys')}, {stored_elements(name + '_counts')}"


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
