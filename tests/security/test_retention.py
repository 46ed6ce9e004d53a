"""Retention drops whole days: the day partitions of spans, runs and steps and the rollup
buckets of those days, while ingest goes on; spans of days without a partition of their own
are deleted row by row, and a trace straddling the horizon is derived again from what is left.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from receiver.ingest import prepare_request
from storage.database import apply_migrations
from storage.deriver import DeriveEngine, derive_all_pending
from storage.partitions import day_of, ensure_partitions, list_partitions, partition_name
from storage.retention import Retention
from storage.store import Store
from tests.otlp_helpers import make_request, make_span, random_trace_id
from tests.rollup_checks import assert_rollups_match_rows
from tests.security.helpers import post_otlp, sample, scrape
from tests.security.spans import agent_run
from tests.support import PostgresServer, running_server, start_server, wait_derived

DAY_NS = 86_400 * 10**9
TRACE_TABLES = ("spans", "runs", "steps", "traces", "dirty_traces")


def _rows_by_trace(database_url: str, table: str) -> dict[bytes, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"SELECT trace_id, count(*) FROM {table} GROUP BY trace_id").fetchall()
    return {bytes(trace_id): count for trace_id, count in rows}


def _trace_ids(database_url: str, table: str) -> set[bytes]:
    return set(_rows_by_trace(database_url, table))


def _old_run(start_ns: int) -> tuple[bytes, ExportTraceServiceRequest]:
    request, _ = agent_run("old-agent", start_ns=start_ns)
    return request.resource_spans[0].scope_spans[0].spans[0].trace_id, request


def _mixed_trace(now_ns: int) -> tuple[bytes, ExportTraceServiceRequest]:
    """An old agent span with a step that started just now: the trace straddles the horizon."""
    trace_id = random_trace_id()
    agent = make_span(
        trace_id,
        "invoke_agent mixed",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "mixed"},
        start_ns=now_ns - 10 * DAY_NS,
        duration_ns=1_000_000_000,
    )
    recent = make_span(
        trace_id,
        "execute_tool late",
        parent_span_id=agent.span_id,
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "late"},
        start_ns=now_ns - 1_000_000_000,
    )
    return trace_id, make_request([agent, recent])


def test_retention_drops_old_days_and_keeps_rollups_equal(postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    apply_migrations(database_url)
    now_ns = time.time_ns()
    old = [_old_run(now_ns - 10 * DAY_NS) for _ in range(7)]
    ancient = [_old_run(now_ns - 900 * DAY_NS) for _ in range(3)]  # no partition: the default
    mixed_id, mixed = _mixed_trace(now_ns)
    recent_request, _ = agent_run("recent-agent")
    recent_id = recent_request.resource_spans[0].scope_spans[0].spans[0].trace_id
    old_day = day_of(now_ns - 10 * DAY_NS)

    async def scenario() -> tuple[list[str], int, int]:
        store = await Store.open(database_url, max_size=2)
        engine = DeriveEngine(store.pool)
        try:
            for _ in range(2):  # twice: re-delivery changes nothing
                for _, request in [*old, *ancient, (mixed_id, mixed), (recent_id, recent_request)]:
                    await store.write_spans(1, prepare_request(request).batch)
            async with store.pool.connection() as conn:
                created = await ensure_partitions(conn)
                partitions = await list_partitions(conn)
            assert old_day in partitions.days["spans"], "a day found in the default got one"
            await derive_all_pending(engine)
            done = await Retention(store.pool).delete_before(now_ns - 7 * DAY_NS)
            await derive_all_pending(engine)
            return created, done.days, done.default_rows
        finally:
            await store.close()

    before_runs = _trace_ids(database_url, "runs")
    assert before_runs == set()
    created, days, default_rows = asyncio.run(scenario())
    assert partition_name("spans", old_day) in created
    assert days >= 1
    assert default_rows == len(ancient) * 2  # the spans of the ancient runs, once each
    gone = {trace_id for trace_id, _ in [*old, *ancient]}
    for table in TRACE_TABLES:
        assert not _trace_ids(database_url, table) & gone, table
    with psycopg.connect(database_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname = %s", (partition_name("spans", old_day),)
        ).fetchone()
    assert left == (0,), "the old day's partition is dropped, not emptied"
    assert _rows_by_trace(database_url, "spans") == {mixed_id: 1, recent_id: 2}
    assert _trace_ids(database_url, "runs") == {mixed_id, recent_id}
    (late_run,) = [
        row
        for row in psycopg.connect(database_url).execute(
            "SELECT status, orphan_span_count FROM runs WHERE trace_id = %s", (mixed_id,)
        )
    ]
    assert late_run == ("RUNNING", 1), "the straddling trace is derived from what is left"
    assert_rollups_match_rows(database_url)


def test_retention_runs_in_the_server_while_ingest_goes_on(postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    now_ns = time.time_ns()
    old = [_old_run(now_ns - 10 * DAY_NS) for _ in range(40)]
    mixed_id, mixed = _mixed_trace(now_ns)
    with running_server(database_url) as server:
        for _, request in [*old, (mixed_id, mixed)]:
            assert post_otlp(server.http_url, request, {}).status_code == 200
        wait_derived(database_url)
    old_ids = {trace_id for trace_id, _ in old}
    assert old_ids <= _trace_ids(database_url, "runs")
    assert old_ids <= _trace_ids(database_url, "steps")

    sent: list[bytes] = []
    failures: list[int] = []
    stop = threading.Event()

    def keep_sending(base_url: str) -> None:
        while not stop.is_set():
            request, _ = agent_run("live-agent")
            response = post_otlp(base_url, request, {})
            if response.status_code != 200:
                failures.append(response.status_code)
            sent.append(request.resource_spans[0].scope_spans[0].spans[0].trace_id)
            time.sleep(0.02)

    server = start_server(database_url, "--retention-days", "7", "--retention-interval", "0.5")
    sender = threading.Thread(target=keep_sending, args=(server.http_url,))
    sender.start()
    try:
        # Old traces that arrive while retention runs go at a later pass.
        late_old = [_old_run(time.time_ns() - 10 * DAY_NS) for _ in range(5)]
        for _, request in late_old:
            assert post_otlp(server.http_url, request, {}).status_code == 200
        old_ids |= {trace_id for trace_id, _ in late_old}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and old_ids & _trace_ids(database_url, "spans"):
            time.sleep(0.2)
        while time.monotonic() < deadline and len(sent) < 20:
            time.sleep(0.1)  # and ingest goes on after the deletions
        stop.set()
        sender.join(30)
        wait_derived(database_url)
        dropped = sample(scrape(server.http_url), "agentguide_retention_dropped_days_total")
        undated = sample(
            scrape(server.http_url), "agentguide_retention_deleted_undated_spans_total"
        )
        summary = httpx.get(server.http_url + "/v1/runs", params={"agent": "old-agent"}).json()
    finally:
        stop.set()
        sender.join(30)
        server.stop()

    assert not failures
    assert len(sent) >= 20
    for table in TRACE_TABLES:
        assert not _trace_ids(database_url, table) & old_ids, table
    assert dropped + undated > 0
    assert summary["items"] == []
    spans = _rows_by_trace(database_url, "spans")
    assert spans[mixed_id] == 1
    assert all(spans.get(trace_id) == 2 for trace_id in sent)
    runs = _trace_ids(database_url, "runs")
    steps = _trace_ids(database_url, "steps")
    assert set(sent) | {mixed_id} <= runs
    assert set(sent) <= steps
    assert "retention dropped" in server.log()
    assert_rollups_match_rows(database_url)
