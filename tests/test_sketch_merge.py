"""Merging stored histograms by group from their binary form (``sketch_merge.merged_quantiles``, how
the timeseries and the tools read their percentiles) gives exactly what adding them up as dicts
and reading ``sketch.quantiles`` gives, for arrays as a real PostgreSQL sends them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import sketch, sketch_merge
from tests.support import PostgresServer

# Few keys, so that histograms share buckets; and the two ends of smallint.
KEYS = st.one_of(st.integers(-40, 40), st.sampled_from([sketch.ZERO_BUCKET, 32767]))
# Zero and negative counts too: the merge skips them as adding dicts and quantiles do.
HISTOGRAM = st.dictionaries(KEYS, st.integers(-3, 40), max_size=30)


@pytest.fixture(scope="module")
def conn(postgres: PostgresServer) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(postgres.admin_url, autocommit=True) as connection:
        yield connection


def stored(conn: psycopg.Connection[Any], histogram: dict[int, int]) -> tuple[bytes, bytes]:
    """The histogram's keys and counts as rollup columns, in PostgreSQL's binary form."""
    keys, counts = sketch.as_arrays(histogram)
    cursor = conn.cursor(binary=True)
    cursor.execute(
        f"SELECT {sketch_merge.stored_elements('%s::int2[]')},"
        f" {sketch_merge.stored_elements('%s::int8[]')}",
        (keys, counts),
    )
    row = cursor.fetchone()
    assert row is not None
    return row[0], row[1]


def added_up(
    histograms: list[tuple[int, dict[int, int]]], qs: list[float]
) -> dict[int, list[float]]:
    by_group: dict[int, dict[int, int]] = {}
    for group, histogram in histograms:
        merged = by_group.setdefault(group, {})
        for key, count in histogram.items():
            if count:
                merged[key] = merged.get(key, 0) + count
    answer = {group: sketch.quantiles(merged, qs) for group, merged in by_group.items()}
    return {group: values for group, values in answer.items() if None not in values}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    histograms=st.lists(st.tuples(st.integers(0, 6), HISTOGRAM), max_size=25),
    qs=st.lists(st.sampled_from([0.0, 0.01, 0.5, 0.95, 0.99, 1.0]), min_size=1, max_size=3),
)
def test_merged_quantiles_equal_adding_up_dicts(
    conn: psycopg.Connection[Any], histograms: list[tuple[int, dict[int, int]]], qs: list[float]
) -> None:
    rows = [(group, *stored(conn, histogram)) for group, histogram in histograms]
    groups = [group for group, _, _ in rows]
    keys = [key_bytes for _, key_bytes, _ in rows]
    counts = [count_bytes for _, _, count_bytes in rows]
    assert sketch_merge.merged_quantiles(groups, keys, counts, qs) == added_up(histograms, qs)


def test_merged_quantiles_refuses_arrays_with_nulls(conn: psycopg.Connection[Any]) -> None:
    cursor = conn.cursor(binary=True)
    keys = sketch_merge.stored_elements("'{1,NULL}'::int2[]")
    counts = sketch_merge.stored_elements("'{1,2}'::int8[]")
    cursor.execute(f"SELECT {keys}, {counts}")
    row = cursor.fetchone()
    assert row is not None
    with pytest.raises(ValueError):
        sketch_merge.merged_quantiles([0], [row[0]], [row[1]], [0.95])
