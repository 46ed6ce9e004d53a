"""Retention forgets a run's scores with the run: every source, the run's and its steps'."""

from __future__ import annotations

import asyncio
import time

import psycopg

from receiver.ingest import prepare_request
from storage.database import apply_migrations
from storage.deriver import DeriveEngine, derive_all_pending
from storage.partitions import ensure_partitions
from storage.retention import Retention
from storage.scores import NewScore, ScoreReader, ScoreTarget, ScoreWriter
from storage.store import Store
from tests.security.spans import agent_run
from tests.support import PostgresServer

DAY_NS = 86_400 * 10**9


def test_scores_of_dropped_runs_go_and_the_others_stay(postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    apply_migrations(database_url)
    now_ns = time.time_ns()
    old, _ = agent_run("old-agent", start_ns=now_ns - 10 * DAY_NS)
    recent, _ = agent_run("recent-agent")

    async def scenario() -> tuple[int, dict[str, list[str]]]:
        store = await Store.open(database_url, max_size=2)
        try:
            for request in (old, recent):
                await store.write_spans(1, prepare_request(request).batch)
            async with store.pool.connection() as conn:
                await ensure_partitions(conn)
            await derive_all_pending(DeriveEngine(store.pool))
            targets = {}
            async with store.pool.connection() as conn:
                cursor = await conn.execute(
                    "SELECT agent_name, trace_id, span_id, start_ns FROM runs"
                )
                for agent, trace_id, span_id, start_ns in await cursor.fetchall():
                    targets[agent] = ScoreTarget(trace_id, span_id, span_id, start_ns)
                    await conn.execute(
                        "INSERT INTO scores (project_id, trace_id, run_span_id, span_id,"
                        " run_start_ns, name, value, source, observed_ns)"
                        " VALUES (1, %s, %s, %s, %s, 'from-event', 1, 'event', %s)",
                        (trace_id, span_id, span_id, start_ns, now_ns),
                    )
            writer = ScoreWriter(store.pool, 1)
            for target in targets.values():
                await writer.add(target, [NewScore("posted", now_ns, value=0.5)])
            done = await Retention(store.pool).delete_before(now_ns - 7 * DAY_NS)
            reader = ScoreReader(store.pool, 1)
            left = {
                agent: [
                    row.name for row in await reader.of_run(t.trace_id, t.run_span_id, limit=10)
                ]
                for agent, t in targets.items()
            }
            return done.scores, left
        finally:
            await store.close()

    forgotten, left = asyncio.run(scenario())
    assert forgotten == 2
    assert left == {"old-agent": [], "recent-agent": ["from-event", "posted"]}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM scores").fetchone() == (2,)
