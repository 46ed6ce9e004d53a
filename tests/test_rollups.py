"""The rollups always equal the sums over the derived rows: whatever traces arrive, in whatever
pieces and order, with late spans, re-derivation and retention (a property test over the real
span writer, deriver and retention on a real PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from mapping.version import MAPPING_VERSION
from receiver.ingest import prepare_request
from storage.database import apply_migrations
from storage.deriver import DeriveEngine, derive_all_pending
from storage.partitions import ensure_partitions
from storage.retention import Retention
from storage.store import Store
from tests.otlp_helpers import make_request, make_span
from tests.rollup_checks import assert_rollups_match_rows
from tests.support import PostgresServer

DAY_NS = 86_400 * 10**9
NOW_NS = time.time_ns()


@pytest.fixture(scope="module")
def rollup_database(postgres: PostgresServer) -> Iterator[str]:
    database_url = postgres.create_database()
    apply_migrations(database_url)
    yield database_url


@st.composite
def traces(draw: st.DrawFn) -> list[Span]:
    """One trace: an agent span (sometimes missing: a placeholder run) over tool, LLM and
    sub-agent spans, started up to 12 days ago."""
    trace_id = os.urandom(16)
    start = NOW_NS - draw(st.integers(0, 12 * 24)) * 3_600 * 10**9 - draw(st.integers(0, 10**12))
    agent_name = draw(st.sampled_from(["alpha", "beta", "gamma"]))
    agent = make_span(
        trace_id,
        f"invoke_agent {agent_name}",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent_name},
        start_ns=start,
        duration_ns=draw(st.integers(1, 10**11)),
    )
    if draw(st.booleans()):
        agent.status.code = Status.STATUS_CODE_ERROR
        agent.status.message = draw(st.sampled_from(["boom", "timeout after 5s", "gave up"]))
    spans = [agent]
    parents = [agent.span_id]
    for index in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["tool", "llm", "llm", "agent"]))
        parent = draw(st.sampled_from(parents))
        step_start = start + draw(st.integers(0, 10**10))
        if kind == "tool":
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": draw(st.sampled_from(["search", "fetch", "pay"])),
            }
        elif kind == "llm":
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": draw(st.sampled_from(["gpt-4o-mini", "mystery-model"])),
                "gen_ai.usage.input_tokens": draw(st.integers(0, 5000)),
                "gen_ai.usage.output_tokens": draw(st.integers(0, 500)),
            }
        else:
            attributes = {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": draw(st.sampled_from(["helper", "alpha"])),
            }
        span = make_span(
            trace_id,
            f"{kind} {index}",
            parent_span_id=parent,
            attributes=attributes,
            start_ns=step_start,
            duration_ns=draw(st.integers(1, 10**10)),
        )
        if draw(st.integers(0, 4)) == 0:
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = "failed"
        spans.append(span)
        parents.append(span.span_id)
    return spans


async def _write(store: Store, spans: list[Span]) -> None:
    if spans:
        await store.write_spans(1, prepare_request(make_request(spans)).batch)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(traces(), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_rollups_equal_the_rows(
    rollup_database: str, batch: list[list[Span]], rng: random.Random
) -> None:
    async def scenario() -> None:
        store = await Store.open(rollup_database, max_size=3)
        engine = DeriveEngine(store.pool, batch_traces=rng.choice([1, 3, 200]))
        try:
            spans = [span for trace in batch for span in trace]
            rng.shuffle(spans)
            # First a part, derived; then the rest arrives late (agent spans among it), twice.
            cut = rng.randint(0, len(spans))
            await _write(store, spans[:cut])
            async with store.pool.connection() as conn:
                await ensure_partitions(conn)
            await derive_all_pending(engine)
            assert_rollups_match_rows(rollup_database)
            for _ in range(2):
                await _write(store, spans[cut:])
            await derive_all_pending(engine)
            assert_rollups_match_rows(rollup_database)
            # Derived again from scratch by another deriver (no cache): nothing moves twice.
            await store.queue.enqueue_rederive(mapping_version=MAPPING_VERSION)
            await derive_all_pending(DeriveEngine(store.pool))
            assert_rollups_match_rows(rollup_database)
            # Retention drops the days before the horizon and re-derives what straddles it.
            await Retention(store.pool).delete_before(NOW_NS - rng.randint(3, 10) * DAY_NS)
            await derive_all_pending(engine)
            assert_rollups_match_rows(rollup_database)
        finally:
            await store.close()

    asyncio.run(scenario())
