"""agentguide_hist_merge (migration 0014): merging two stored sketches in PostgreSQL."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.database import apply_migrations
from tests.support import PostgresServer

_SKETCH = st.dictionaries(st.integers(-32000, 32767), st.integers(-5, 5).filter(bool), max_size=12)


@pytest.fixture(scope="module")
def merge_database(postgres: PostgresServer) -> str:
    url = postgres.create_database()
    apply_migrations(url)
    return url


def _merge(conn: psycopg.Connection[Any], a: dict[int, int], b: dict[int, int]) -> Any:
    keys_a, keys_b = sorted(a), sorted(b)
    return conn.execute(
        "SELECT keys, counts FROM agentguide_hist_merge("
        "%s::int2[], %s::int8[], %s::int2[], %s::int8[])",
        (keys_a, [a[k] for k in keys_a], keys_b, [b[k] for k in keys_b]),
    ).fetchone()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_SKETCH, _SKETCH)
def test_the_merge_adds_counts_by_bucket_and_drops_zeros(
    merge_database: str, a: dict[int, int], b: dict[int, int]
) -> None:
    expected = Counter(a)
    expected.update(b)
    kept = sorted((k, c) for k, c in expected.items() if c != 0)
    with psycopg.connect(merge_database) as conn:
        keys, counts = _merge(conn, a, b)
    assert list(zip(keys, counts, strict=True)) == kept


def test_keys_out_of_order_are_merged_all_the_same(merge_database: str) -> None:
    with psycopg.connect(merge_database) as conn:
        merged = conn.execute(
            "SELECT keys, counts FROM agentguide_hist_merge("
            "'{5,1,3}'::int2[], '{1,1,1}'::int8[], '{3,2}'::int2[], '{-1,4}'::int8[])"
        ).fetchone()
    assert merged == ([1, 2, 5], [1, 4, 1])
