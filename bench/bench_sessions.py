"""Long sessions: the time to derive one more turn of a session that already holds N runs.

For each size, a fresh database gets N one-run traces of one session (and one user), derived;
then 30 more turns arrive one by one, each derived on its own, and the median and p90 time of
deriving one turn is printed. The session row is updated from the batch's runs and its stored
row (storage/session_rollup.py), so the figure should not grow with N; when each session was
recomputed from all its runs, it did.

    python bench/bench_sessions.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python bench/bench_sessions.py --runs 100 5000 20000

Without --database-url (or AGENTGUIDE_TEST_DATABASE_URL) an embedded PostgreSQL is used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg
from opentelemetry.proto.trace.v1.trace_pb2 import Span

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from receiver.ingest import prepare_request  # noqa: E402
from storage.database import apply_migrations  # noqa: E402
from storage.deriver import DeriveEngine, derive_all_pending  # noqa: E402
from storage.partitions import ensure_partitions  # noqa: E402
from storage.store import Store  # noqa: E402
from tests.otlp_helpers import make_request, make_span  # noqa: E402
from tests.support import PostgresServer  # noqa: E402

TURNS_TIMED = 30
WRITE_BATCH = 1_000


def turn(index: int, first_ns: int) -> Span:
    """A one-span trace: the session's ``index``-th turn, a second after the one before."""
    return make_span(
        os.urandom(16),
        "invoke_agent assistant",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "assistant",
            "session.id": "a-long-conversation",
            "user.id": "someone",
            "input.value": f"turn {index}",
        },
        start_ns=first_ns + index * 10**9,
        duration_ns=10**8,
    )


async def measure(database_url: str, runs: int) -> list[float]:
    """Milliseconds to derive each of the turns after the first ``runs``."""
    first_ns = time.time_ns() - (runs + TURNS_TIMED + 60) * 10**9
    store = await Store.open(database_url, max_size=4)
    try:
        async with store.pool.connection() as conn:
            await ensure_partitions(conn)
        for start in range(0, runs, WRITE_BATCH):
            spans = [turn(i, first_ns) for i in range(start, min(runs, start + WRITE_BATCH))]
            await store.write_spans(1, prepare_request(make_request(spans)).batch)
        engine = DeriveEngine(store.pool)
        await derive_all_pending(engine)
        timings = []
        for index in range(runs, runs + TURNS_TIMED):
            await store.write_spans(1, prepare_request(make_request([turn(index, first_ns)])).batch)
            started = time.perf_counter()
            await derive_all_pending(engine)
            timings.append((time.perf_counter() - started) * 1000)
        return timings
    finally:
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL to create the bench databases in")
    parser.add_argument("--runs", type=int, nargs="+", default=[100, 5_000, 20_000])
    args = parser.parse_args()
    if args.database_url:
        os.environ["AGENTGUIDE_TEST_DATABASE_URL"] = args.database_url
    postgres = PostgresServer()
    try:
        for runs in args.runs:
            database_url = postgres.create_database()
            apply_migrations(database_url)
            timings = sorted(asyncio.run(measure(database_url, runs)))
            with psycopg.connect(database_url) as conn:
                row = conn.execute("SELECT run_count FROM sessions").fetchone()
            postgres.drop_database(database_url)
            print(
                f"a session of {runs:>6,} runs: one more turn derived in"
                f" median {statistics.median(timings):.1f} ms,"
                f" p90 {timings[int(len(timings) * 0.9)]:.1f} ms"
                f" (the session row counts {row[0] if row else 0:,} runs)"
            )
    finally:
        postgres.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
