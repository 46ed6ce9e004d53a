"""Retention forgets log records by their time and scores with their run."""

from __future__ import annotations

import asyncio
import os
import time

import psycopg
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from receiver.ingest import prepare_request
from receiver.log_ingest import prepare_logs
from storage.database import apply_migrations
from storage.deriver import DeriveEngine, derive_all_pending
from storage.partitions import ensure_partitions
from storage.retention import Retention
from storage.store import Store
from tests.logs.helpers import logs_request
from tests.logs.scenario import event_scenario
from tests.otlp_helpers import make_request
from tests.support import PostgresServer

DAY_NS = 86_400 * 10**9


def _shifted(trace_id: bytes, start_ns: int) -> tuple[list[Span], list]:  # type: ignore[type-arg]
    scenario = event_scenario(trace_id)
    shift = start_ns - scenario.spans[0].start_time_unix_nano
    for span in scenario.spans:
        span.start_time_unix_nano += shift
        span.end_time_unix_nano += shift
    for record in scenario.records:
        record.time_unix_nano += shift
        record.observed_time_unix_nano += shift
    return scenario.spans, scenario.records


def _count(database_url: str, query: str, trace_id: bytes) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query, (trace_id,)).fetchone()
    return int(row[0]) if row else 0


def test_old_log_records_and_scores_go_recent_ones_stay(postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    apply_migrations(database_url)
    now_ns = time.time_ns()
    old_id, recent_id = os.urandom(16), os.urandom(16)
    traces = [_shifted(old_id, now_ns - 10 * DAY_NS), _shifted(recent_id, now_ns - DAY_NS)]

    async def scenario() -> int:
        store = await Store.open(database_url, max_size=2)
        try:
            async with store.pool.connection() as conn:
                await ensure_partitions(conn)
            for spans, records in traces:
                await store.write_spans(1, prepare_request(make_request(spans)).batch)
                await store.write_logs(1, prepare_logs(logs_request(records)).batch)
            engine = DeriveEngine(store.pool)
            await derive_all_pending(engine)
            done = await Retention(store.pool).delete_before(now_ns - 7 * DAY_NS)
            await derive_all_pending(engine)
            return done.log_blocks
        finally:
            await store.close()

    logs = "SELECT count(*) FROM log_records WHERE trace_id = %s"
    scores = "SELECT count(*) FROM scores WHERE trace_id = %s"
    deleted = asyncio.run(scenario())
    assert deleted >= 1
    assert _count(database_url, logs, old_id) == 0
    assert _count(database_url, scores, old_id) == 0
    assert _count(database_url, logs, recent_id) >= 1
    assert _count(database_url, scores, recent_id) == 2
