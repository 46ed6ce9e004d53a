"""Retention deletes exactly the traces whose newest span ended before the horizon, with every
row derived from them, while ingest goes on."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import psycopg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from receiver.ingest import prepare_request
from storage.database import apply_migrations
from storage.retention import Retention
from storage.store import Store
from tests.otlp_helpers import make_request, make_span, random_trace_id
from tests.security.helpers import post_otlp, sample, scrape
from tests.security.spans import agent_run
from tests.support import PostgresServer, running_server, start_server, wait_derived

DAY_NS = 86_400 * 10**9
TRACE_TABLES = ("spans", "runs", "steps", "artifacts", "run_metrics", "dirty_traces")


def _rows_by_trace(database_url: str, table: str) -> dict[bytes, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"SELECT trace_id, count(*) FROM {table} GROUP BY trace_id").fetchall()
    return {bytes(trace_id): count for trace_id, count in rows}


def _trace_ids(database_url: str, table: str) -> set[bytes]:
    return set(_rows_by_trace(database_url, table))


def _old_run(now_ns: int) -> tuple[bytes, ExportTraceServiceRequest]:
    request, _ = agent_run("old-agent", start_ns=now_ns - 10 * DAY_NS)
    return request.resource_spans[0].scope_spans[0].spans[0].trace_id, request


def _mixed_trace(now_ns: int) -> tuple[bytes, ExportTraceServiceRequest]:
    """An old agent span with a step that ended just now: the trace is not old as a whole."""
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


def test_retention_deletes_whole_old_traces_in_batches(postgres: PostgresServer) -> None:
    """Small batches: the scan moves past traces that must stay and deletes the rest."""
    database_url = postgres.create_database()
    apply_migrations(database_url)
    now_ns = time.time_ns()
    old = [_old_run(now_ns) for _ in range(7)]
    mixed_id, mixed = _mixed_trace(now_ns)
    recent_request, _ = agent_run("recent-agent")
    recent_id = recent_request.resource_spans[0].scope_spans[0].spans[0].trace_id

    async def scenario() -> tuple[int, int]:
        store = await Store.open(database_url, max_size=2)
        try:
            for project_id in (1, 1):  # twice: re-delivery changes nothing
                for _, request in [*old, (mixed_id, mixed), (recent_id, recent_request)]:
                    await store.write_spans(project_id, prepare_request(request).batch)
            await store.derive_all_pending()
            done = await Retention(store.pool, batch_traces=2).delete_before(now_ns - 7 * DAY_NS)
            await store.derive_all_pending()
            return done.traces, done.batches
        finally:
            await store.close()

    before = {table: _trace_ids(database_url, table) for table in TRACE_TABLES[:5]}
    assert before["spans"] == set()
    traces, batches = asyncio.run(scenario())
    assert (traces, batches) == (7, 4)
    old_ids = {trace_id for trace_id, _ in old}
    for table in TRACE_TABLES:
        assert not _trace_ids(database_url, table) & old_ids, table
    assert _rows_by_trace(database_url, "spans") == {mixed_id: 2, recent_id: 2}
    assert _trace_ids(database_url, "runs") == {mixed_id, recent_id}
    assert _trace_ids(database_url, "steps") == {mixed_id, recent_id}


def test_retention_runs_in_the_server_while_ingest_goes_on(postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    now_ns = time.time_ns()
    old = [_old_run(now_ns) for _ in range(40)]
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
        late_old = [_old_run(time.time_ns()) for _ in range(5)]
        for _, request in late_old:
            assert post_otlp(server.http_url, request, {}).status_code == 200
        old_ids |= {trace_id for trace_id, _ in late_old}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and old_ids & _trace_ids(database_url, "spans"):
            time.sleep(0.2)
        while time.monotonic() < deadline and len(sent) < 20:
            time.sleep(0.1)  # and ingest goes on after the deletions
        stop.set()
        sender.join(30)
        wait_derived(database_url)
        deleted = sample(scrape(server.http_url), "agentguide_retention_deleted_traces_total")
        summary = httpx.get(server.http_url + "/v1/runs", params={"agent": "old-agent"}).json()
    finally:
        stop.set()
        sender.join(30)
        server.stop()

    assert not failures
    assert len(sent) >= 20
    for table in TRACE_TABLES:
        assert not _trace_ids(database_url, table) & old_ids, table
    assert deleted == len(old_ids)
    assert summary["items"] == []
    spans = _rows_by_trace(database_url, "spans")
    assert spans[mixed_id] == 2
    assert all(spans.get(trace_id) == 2 for trace_id in sent)
    runs = _trace_ids(database_url, "runs")
    steps = _trace_ids(database_url, "steps")
    assert set(sent) | {mixed_id} <= runs
    assert set(sent) | {mixed_id} <= steps
    assert "retention deleted" in server.log()
