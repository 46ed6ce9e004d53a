"""The nearest-runs search over pgvector (embedded PostgreSQL): exact for a small agent, through
the HNSW index for a big one, exact among the newest when the index finds too few; never
another agent's runs. Vectors are made here, so the answer is known."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import psycopg
import pytest

from storage.database import apply_migrations
from storage.run_embeddings import (
    SimilarRunQueries,
    ensure_vector_schema,
    queue_missing,
    vector_literal,
)
from storage.store import Store
from tests.support import PostgresServer

DIMENSION = 384
BIG, OTHER = "big-agent", "other-agent"


def unit(*weights: tuple[int, float]) -> list[float]:
    vector = [0.0] * DIMENSION
    for index, weight in weights:
        vector[index] = weight
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def run_key(n: int) -> tuple[bytes, bytes, int]:
    return n.to_bytes(16, "big"), n.to_bytes(8, "big"), 1_000_000 + n


@pytest.fixture(scope="module")
def database_url(embedded_postgres: PostgresServer) -> Iterator[str]:
    url = embedded_postgres.create_database()
    apply_migrations(url)

    async def schema() -> None:
        store = await Store.open(url, max_size=1)
        try:
            async with store.pool.connection() as conn:
                await ensure_vector_schema(conn, DIMENSION)
        finally:
            await store.close()

    asyncio.run(schema())
    vectors: list[tuple[int, str, list[float]]] = [(0, BIG, unit((0, 1.0)))]  # the target
    vectors += [(k, BIG, unit((0, 1.0), (1, 0.1 * k))) for k in range(1, 6)]  # nearest first
    vectors += [(100 + j, BIG, unit((2 + j, 1.0), (0, 0.05))) for j in range(55)]
    vectors += [(500 + j, OTHER, unit((0, 1.0), (3, 0.01 * (j + 1)))) for j in range(5)]
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        for n, agent, vector in vectors:
            trace_id, span_id, start_ns = run_key(n)
            cursor.execute(
                "INSERT INTO runs (trace_id, project_id, span_id, start_ns, name, agent_name,"
                " status, mapping_version) VALUES (%s, 1, %s, %s, 'run', %s, 'SUCCESS', 1)",
                (trace_id, span_id, start_ns, agent),
            )
            cursor.execute(
                "INSERT INTO run_embeddings (project_id, trace_id, span_id, start_ns, agent_name,"
                " model_id, embedding) VALUES (1, %s, %s, %s, %s, 'm', %s::vector)",
                (trace_id, span_id, start_ns, agent, vector_literal(vector)),
            )
    yield url


def search(url: str, limit: int, exact_max_runs: int) -> tuple[str, list[int]]:
    async def run() -> tuple[str, list[int]]:
        store = await Store.open(url, max_size=1)
        try:
            queries = SimilarRunQueries(store.pool, 1, exact_max_runs=exact_max_runs)
            trace_id, span_id, _ = run_key(0)
            found = await queries.nearest(trace_id, span_id, limit)
        finally:
            await store.close()
        numbers = [int(row.run.span_id, 16) for row in found.rows]
        return found.method, numbers

    return asyncio.run(run())


def test_a_small_agent_is_searched_exactly(database_url: str) -> None:
    method, numbers = search(database_url, 5, exact_max_runs=5000)
    assert method == "exact"
    assert numbers == [1, 2, 3, 4, 5]


def test_a_big_agent_is_searched_through_the_index(database_url: str) -> None:
    method, numbers = search(database_url, 5, exact_max_runs=10)
    assert method == "approximate"
    assert numbers == [1, 2, 3, 4, 5]


def test_when_the_index_finds_too_few_the_newest_runs_are_searched_exactly(
    database_url: str,
) -> None:
    method, numbers = search(database_url, 100, exact_max_runs=10)
    assert method == "newest"
    assert len(numbers) == 60  # every other run of the agent, none of the other agent's
    assert numbers[:5] == [1, 2, 3, 4, 5]
    assert all(n < 500 for n in numbers)


def test_runs_without_an_embedding_of_the_model_are_queued_newest_first(
    database_url: str,
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert queue_missing(conn, "m", 0, 100) == 0  # every run has one
        trace_id, span_id, _ = run_key(3)
        conn.execute("DELETE FROM run_embeddings WHERE span_id = %s", (span_id,))
        assert queue_missing(conn, "m", 0, 100) == 1
        assert queue_missing(conn, "m", 0, 100) == 0  # already queued
        queued = conn.execute("SELECT trace_id FROM embed_queue").fetchall()
        assert [bytes(row[0]) for row in queued] == [trace_id]
        conn.execute("DELETE FROM embed_queue")
        # another model: every run is missing; the newest come first, at most the limit
        assert queue_missing(conn, "another-model", run_key(500)[2], 100) == 5
        conn.execute("DELETE FROM embed_queue")
        assert queue_missing(conn, "another-model", 0, 10) == 10
        newest = conn.execute("SELECT min(start_ns) FROM embed_queue").fetchone()
        assert newest == (run_key(150)[2],)  # other-agent's 500..504, then big's 154..150
        conn.execute("DELETE FROM embed_queue")
