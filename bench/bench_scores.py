"""Scores benchmark: the runs list's ``score`` filter and the per-score aggregates, over many runs.

Derives one real run, copies its row into ``--runs`` runs (one every 6 s back from now, new
trace ids) with SQL, gives every run a score ``common`` (a random value) and 30 of them a score
``rare``, then times ``Queries.list_runs`` with each kind of score filter in both orders, and
``ScoreReader.aggregates`` / ``means`` over the last day and over everything.

    python bench/bench_scores.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python bench/bench_scores.py --database-url ... --runs 1000000

The database (``--database-name``, default agentguide_bench_scores) is dropped and re-created.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from receiver.ingest import prepare_request  # noqa: E402
from storage.database import apply_migrations  # noqa: E402
from storage.deriver import DeriveEngine, derive_all_pending  # noqa: E402
from storage.partitions import ensure_partitions  # noqa: E402
from storage.queries import Queries  # noqa: E402
from storage.query_records import RunFilters, ScoreFilter, TimeWindow  # noqa: E402
from storage.scores import ScoreReader  # noqa: E402
from storage.store import Store  # noqa: E402
from tests.security.spans import agent_run  # noqa: E402
from tests.support import with_database  # noqa: E402

DAY_NS = 86_400 * 10**9
REPEATS = 5

_COPY_SCORES = (
    "INSERT INTO scores (project_id, trace_id, run_span_id, span_id, run_start_ns, name, value,"
    " source, observed_ns) SELECT 1, trace_id, span_id, span_id, start_ns, %s, random(), 'api',"
    " start_ns FROM runs"
)


async def _load(database_url: str, runs: int) -> None:
    store = await Store.open(database_url, max_size=2)
    try:
        request, _ = agent_run("bench-agent")
        await store.write_spans(1, prepare_request(request).batch)
        async with store.pool.connection() as conn:
            await ensure_partitions(conn)
        await derive_all_pending(DeriveEngine(store.pool))
        async with store.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'runs' ORDER BY ordinal_position"
            )
            columns = [row[0] for row in await cursor.fetchall()]
            copied = {
                "trace_id": "gen_random_bytes(16)",
                "start_ns": "r.start_ns - g * 6000000000",
                "end_ns": "r.end_ns - g * 6000000000",
            }
            select = ", ".join(copied.get(column, column) for column in columns)
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
            await conn.execute(
                f"INSERT INTO runs ({', '.join(columns)}) SELECT {select}"
                " FROM runs r, generate_series(1, %s) g",
                (runs,),
            )
            await conn.execute(_COPY_SCORES + " WHERE true", ("common",))
            await conn.execute(_COPY_SCORES + " ORDER BY random() LIMIT 30", ("rare",))
            await conn.execute("VACUUM ANALYZE")
    finally:
        await store.close()


async def _timed(label: str, call: Callable[[], Awaitable[Any]]) -> None:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    print(f"{label:<44} p50 {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms")


async def _measure(database_url: str) -> None:
    store = await Store.open(database_url, max_size=2)
    try:
        queries, reader = Queries(store.pool, 1), ScoreReader(store.pool, 1)
        for label, score in (
            ("no score filter", None),
            ("score=common", ScoreFilter("common")),
            ("score=common&score_min=0.99", ScoreFilter("common", min=0.99)),
            ("score=rare", ScoreFilter("rare")),
            ("score=absent", ScoreFilter("absent")),
        ):
            for by_cost in (False, True):

                async def page(score: ScoreFilter | None = score, by_cost: bool = by_cost) -> None:
                    await queries.list_runs(
                        RunFilters(score=score), after=None, limit=50, by_cost=by_cost
                    )

                await _timed(f"runs {label} ({'cost' if by_cost else 'start'})", page)
        now = time.time_ns()
        day = TimeWindow(now - DAY_NS, now)
        await _timed("summary scores, last day", lambda: reader.aggregates(window=day, agent=None))
        await _timed(
            "summary scores, last day, agent",
            lambda: reader.aggregates(window=day, agent="bench-agent"),
        )
        await _timed(
            "summary scores, everything", lambda: reader.aggregates(window=TimeWindow(), agent=None)
        )
        hour = 3_600 * 10**9
        await _timed(
            "timeseries scores, last day by hour",
            lambda: reader.means(agent=None, first_ns=now - DAY_NS, bucket_ns=hour, buckets=24),
        )
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--database-name", default="agentguide_bench_scores")
    parser.add_argument("--runs", type=int, default=300_000)
    args = parser.parse_args()
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database_name}"')
        conn.execute(f'CREATE DATABASE "{args.database_name}"')
    database_url = with_database(args.database_url, args.database_name)
    apply_migrations(database_url)
    asyncio.run(_load(database_url, args.runs))
    print(f"{args.runs + 1} runs, each with a score 'common', 30 with a score 'rare'")
    asyncio.run(_measure(database_url))


if __name__ == "__main__":
    main()
