"""The ``sessions`` and ``users`` rollups always equal the sums over the runs carrying each
session id and user id:
whatever pieces the traces arrive in, with late spans, two derivers at once, re-derivation
and retention (a property test over the real writer, derivers and retention)."""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from mapping.version import MAPPING_VERSION
from receiver.ingest import prepare_request
from storage.database import apply_migrations
from storage.derived_rows import RUN_COLUMNS, RUN_INDEX, TraceRows
from storage.deriver import DeriveEngine, derive_all_pending
from storage.partitions import ensure_partitions
from storage.retention import Retention
from storage.session_rollup import SessionChanges, session_changes, updated_session
from storage.store import Store
from tests.otlp_helpers import make_request, make_span
from tests.support import PostgresServer

DAY_NS = 86_400 * 10**9
NOW_NS = time.time_ns()
SESSIONS = ["s1", "s2", "conversation/3"]


@pytest.fixture(scope="module")
def session_database(postgres: PostgresServer) -> Iterator[str]:
    database_url = postgres.create_database()
    apply_migrations(database_url)
    yield database_url


@st.composite
def traces(draw: st.DrawFn) -> list[Span]:
    """A turn: an agent span (sometimes with a sub-agent) naming a session and user on the
    agent span or only on a step, started up to 6 days ago."""
    trace_id = os.urandom(16)
    start = NOW_NS - draw(st.integers(0, 6 * 24)) * 3_600 * 10**9 - draw(st.integers(0, 10**12))
    session = draw(st.sampled_from([*SESSIONS, None]))
    context = {"session.id": session, "user.id": draw(st.sampled_from(["u1", "u2", "u/3", None]))}
    on_agent = draw(st.booleans())
    agent = make_span(
        trace_id,
        "invoke_agent a",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": draw(st.sampled_from(["alpha", "beta"])),
            "input.value": draw(st.sampled_from(["hello", "and then?", "bye"])),
            **({k: v for k, v in context.items() if v} if on_agent else {}),
        },
        start_ns=start,
        duration_ns=draw(st.integers(1, 10**11)),
    )
    if draw(st.booleans()):
        agent.status.code = Status.STATUS_CODE_ERROR
    spans = [agent]
    for index in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["llm", "agent"]))
        attributes: dict[str, Any] = (
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": draw(st.integers(0, 500)),
                "gen_ai.usage.output_tokens": draw(st.integers(0, 50)),
            }
            if kind == "llm"
            else {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"}
        )
        if not on_agent:
            attributes.update({k: v for k, v in context.items() if v})
        spans.append(
            make_span(
                trace_id,
                f"{kind} {index}",
                parent_span_id=agent.span_id,
                attributes=attributes,
                start_ns=start + draw(st.integers(0, 10**10)),
                duration_ns=draw(st.integers(1, 10**10)),
            )
        )
    return spans


def _expected(conn: psycopg.Connection[Any]) -> dict[tuple[int, str], dict[str, Any]]:
    """Every session row as the runs say it should be."""
    grouped: dict[tuple[int, str], list[tuple[Any, ...]]] = defaultdict(list)
    for row in conn.execute(
        "SELECT project_id, session_id, start_ns, end_ns, status, total_tokens, cost, agent_name,"
        " user_id, input, parent_span_id, trace_id, span_id, input_tokens, output_tokens FROM runs"
        " WHERE session_id IS NOT NULL"
    ):
        grouped[(row[0], row[1])].append(row)
    expected = {}
    for key, rows in grouped.items():
        by_start = sorted(rows, key=lambda r: (r[2], bytes(r[11]), bytes(r[12])))
        first = min(rows, key=lambda r: (r[10] is not None, r[2], bytes(r[11]), bytes(r[12])))
        costs = [r[6] for r in rows if r[6] is not None]
        expected[key] = {
            "run_count": len(rows),
            "failed_run_count": sum(r[4] == "FAILED" for r in rows),
            "first_ns": min(r[2] for r in rows),
            "last_ns": max(max(r[2], r[3] or r[2]) for r in rows),
            "total_tokens": sum(r[5] for r in rows),
            "cost": sum(costs) if costs else None,
            "agent_names": sorted({r[7] for r in rows}),
            "user_id": next((r[8] for r in by_start if r[8] is not None), None),
            "first_input": first[9],
            "running_count": sum(r[4] in ("PENDING", "RUNNING") for r in rows),
            "tokens": (sum(r[13] for r in rows), sum(r[14] for r in rows)),
            "first_run": (bytes(first[11]), bytes(first[12]), first[2], first[10] is not None),
        }
    return expected


def _stored(conn: psycopg.Connection[Any]) -> dict[tuple[int, str], dict[str, Any]]:
    return {
        (row[0], row[1]): {
            "run_count": row[2],
            "failed_run_count": row[3],
            "first_ns": row[4],
            "last_ns": row[5],
            "total_tokens": row[6],
            "cost": row[7],
            "agent_names": list(row[8]),
            "user_id": row[9],
            "first_input": row[10],
            "running_count": row[11],
            "tokens": (row[12], row[13]),
            "first_run": (bytes(row[14]), bytes(row[15]), row[16], row[17]),
        }
        for row in conn.execute(
            "SELECT project_id, session_id, run_count, failed_run_count, first_ns, last_ns,"
            " total_tokens, cost, agent_names, user_id, first_input, running_count,"
            " input_tokens, output_tokens, first_trace_id, first_span_id, first_start_ns,"
            " first_nested FROM sessions"
        )
    }


def _expected_users(conn: psycopg.Connection[Any]) -> dict[tuple[int, str], dict[str, Any]]:
    grouped: dict[tuple[int, str], list[tuple[Any, ...]]] = defaultdict(list)
    for row in conn.execute(
        "SELECT project_id, user_id, start_ns, status, input_tokens, output_tokens,"
        " total_tokens, cost, agent_name FROM runs WHERE user_id IS NOT NULL"
    ):
        grouped[(row[0], row[1])].append(row)
    expected = {}
    for key, rows in grouped.items():
        costs = [r[7] for r in rows if r[7] is not None]
        agents: dict[str, int] = defaultdict(int)
        for r in rows:
            agents[r[8]] += 1
        expected[key] = {
            "runs": len(rows),
            "failed": sum(r[3] == "FAILED" for r in rows),
            "tokens": (sum(r[4] for r in rows), sum(r[5] for r in rows), sum(r[6] for r in rows)),
            "cost": sum(costs) if costs else None,
            "first_ns": min(r[2] for r in rows),
            "last_ns": max(r[2] for r in rows),
            "agents": dict(agents),
        }
    return expected


def _stored_users(conn: psycopg.Connection[Any]) -> dict[tuple[int, str], dict[str, Any]]:
    agents: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    for project, user, agent, runs in conn.execute(
        "SELECT project_id, user_id, agent_name, run_count FROM user_agents"
    ):
        agents[(project, user)][agent] = runs
    return {
        (row[0], row[1]): {
            "runs": row[2],
            "failed": row[3],
            "tokens": (row[4], row[5], row[6]),
            "cost": row[7] if row[8] else None,
            "first_ns": row[9],
            "last_ns": row[10],
            "agents": agents[(row[0], row[1])],
        }
        for row in conn.execute(
            "SELECT project_id, user_id, run_count, failed_run_count, input_tokens,"
            " output_tokens, total_tokens, cost, priced_run_count, first_ns, last_ns FROM users"
        )
    }


def _same(stored: dict[Any, dict[str, Any]], expected: dict[Any, dict[str, Any]]) -> None:
    """Equal, costs up to the rounding of sums taken in another order."""
    assert stored.keys() == expected.keys()
    for key, want in expected.items():
        got = dict(stored[key])
        cost, want_cost = got.pop("cost"), want["cost"]
        assert got == {k: v for k, v in want.items() if k != "cost"}, key
        assert (cost is None) == (want_cost is None), key
        if cost is not None:
            assert math.isclose(cost, want_cost, rel_tol=1e-9, abs_tol=1e-12), key


def assert_sessions_match_runs(database_url: str) -> None:
    """The sessions and the users as the runs say they should be."""
    with psycopg.connect(database_url) as conn:
        _same(_stored(conn), _expected(conn))
        _same(_stored_users(conn), _expected_users(conn))
        stray = conn.execute(
            "SELECT count(*) FROM user_agents a WHERE NOT EXISTS (SELECT 1 FROM users u"
            " WHERE u.project_id = a.project_id AND u.user_id = a.user_id)"
        ).fetchone()
        assert stray == (0,)


async def _write(store: Store, spans: list[Span]) -> None:
    if spans:
        await store.write_spans(1, prepare_request(make_request(spans)).batch)


async def _derive_concurrently(store: Store, batch_traces: int) -> None:
    """Two derivers, each its shard of the traces, at once."""
    engines = [DeriveEngine(store.pool, shard=(i, 2), batch_traces=batch_traces) for i in range(2)]
    await asyncio.gather(*(derive_all_pending(engine) for engine in engines))


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(traces(), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_sessions_equal_the_runs(
    session_database: str, batch: list[list[Span]], rng: random.Random
) -> None:
    async def scenario() -> None:
        store = await Store.open(session_database, max_size=4)
        try:
            spans = [span for trace in batch for span in trace]
            rng.shuffle(spans)
            cut = rng.randint(0, len(spans))
            await _write(store, spans[:cut])
            async with store.pool.connection() as conn:
                await ensure_partitions(conn)
            await _derive_concurrently(store, rng.choice([1, 2, 200]))
            assert_sessions_match_runs(session_database)
            await _write(store, spans[cut:])  # the rest arrives late
            await _derive_concurrently(store, rng.choice([1, 2, 200]))
            assert_sessions_match_runs(session_database)
            await store.queue.enqueue_rederive(mapping_version=MAPPING_VERSION)
            await derive_all_pending(DeriveEngine(store.pool))
            assert_sessions_match_runs(session_database)
            await Retention(store.pool).delete_before(NOW_NS - rng.randint(1, 5) * DAY_NS)
            await derive_all_pending(DeriveEngine(store.pool))
            assert_sessions_match_runs(session_database)
        finally:
            await store.close()

    asyncio.run(scenario())


def _run_in(
    session: str | None, status: str = "SUCCESS", *, start: int = 1, user: str | None = None
) -> tuple[Any, ...]:
    row: list[Any] = [None] * len(RUN_COLUMNS)
    row[RUN_INDEX["trace_id"]] = b"t" * 16
    row[RUN_INDEX["span_id"]] = b"s" * 8
    row[RUN_INDEX["session_id"]] = session
    row[RUN_INDEX["status"]] = status
    row[RUN_INDEX["start_ns"]] = start
    row[RUN_INDEX["user_id"]] = user
    row[RUN_INDEX["agent_name"]] = "a"
    for tokens in ("input_tokens", "output_tokens", "total_tokens"):
        row[RUN_INDEX[tokens]] = 0
    return tuple(row)


def _changed(row: tuple[Any, ...], **values: Any) -> tuple[Any, ...]:
    changed = list(row)
    for name, value in values.items():
        changed[RUN_INDEX[name]] = value
    return tuple(changed)


def test_what_a_batch_does_to_each_session() -> None:
    """A run that left a session (gone, or moved) makes it recomputed and maybe empty; a run
    that changed in place without moving what orders the runs keeps it incremental."""
    before = TraceRows(
        runs={
            b"moved": _run_in("a"),
            b"gone": _run_in("b"),
            b"kept": _run_in("c"),
            b"later": _run_in("f", start=5, user="u"),
        }
    )
    after = TraceRows(
        runs={
            b"moved": _run_in("d"),
            b"kept": _run_in("c", "FAILED"),
            b"new": _run_in("e"),
            b"later": _run_in("f", start=7, user="u"),
        }
    )
    changes = session_changes([(before, after), (TraceRows(), after)])
    assert sorted(changes) == ["a", "b", "c", "d", "e", "f"]
    assert {s for s, c in changes.items() if c.recompute} == {"a", "b", "f"}  # f: start moved
    assert {s for s, c in changes.items() if c.may_empty} == {"a", "b"}
    assert len(changes["c"].changed) == 1 and len(changes["c"].added) == 1  # and a new trace
    assert changes["d"].added and changes["e"].added


def _stored_row(**values: Any) -> dict[str, Any]:
    row = {
        "user_id": "u", "run_count": 1, "failed_run_count": 0, "running_count": 0,
        "first_ns": 10, "last_ns": 20, "input_tokens": 0, "output_tokens": 0,
        "total_tokens": 0, "cost": None, "agent_names": ["a"], "first_input": "hi",
        "first_trace_id": b"t" * 16, "first_span_id": b"s" * 8, "first_start_ns": 10,
        "first_nested": False,
    }  # fmt: skip
    row.update(values)
    return row


def test_a_session_is_updated_from_its_row_only_when_that_is_exact() -> None:
    later = _changed(_run_in("s", start=30, user="u"), span_id=b"x" * 8, agent_name="b")
    row = updated_session(_stored_row(), SessionChanges(added=[later]))
    assert row is not None
    assert (row["run_count"], row["first_ns"], row["last_ns"]) == (2, 10, 30)
    assert row["agent_names"] == ["a", "b"] and row["first_input"] == "hi"
    # a top-level run before the first one becomes the first run
    earlier = _changed(_run_in("s", start=5), span_id=b"y" * 8, input="before")
    row = updated_session(_stored_row(), SessionChanges(added=[earlier]))
    assert row is not None and row["first_input"] == "before" and row["first_start_ns"] == 5
    assert row["user_id"] == "u"  # the earlier run names no user
    # another user, named by a run that may come before the one naming the session's user
    other = _changed(_run_in("s", start=15, user="v"), span_id=b"z" * 8)
    assert updated_session(_stored_row(), SessionChanges(added=[other])) is None
    # ... or after every run: the user stays
    other = _changed(other, start_ns=25)
    row = updated_session(_stored_row(), SessionChanges(added=[other]))
    assert row is not None and row["user_id"] == "u"
    # a row whose first run is unknown (before migration 0017) is recomputed
    assert updated_session(_stored_row(first_start_ns=None), SessionChanges([later])) is None
    # costs: a first priced run prices the session; an unpriced one leaves it unknown
    priced = _changed(later, cost=0.25)
    row = updated_session(_stored_row(), SessionChanges(added=[priced]))
    assert row is not None and row["cost"] == 0.25
    row = updated_session(_stored_row(), SessionChanges(added=[later]))
    assert row is not None and row["cost"] is None


BACKFILL_MARKER = "-- Backfill from the runs already stored"


def test_the_migration_backfills_what_is_stored(session_database: str) -> None:
    """Migration 0007 fills the tables from the runs stored before it: emptied, they come back
    equal to the runs (these, and what the property test above left)."""
    from storage.database import migrations_dir

    async def store_turns() -> None:
        store = await Store.open(session_database, max_size=2)
        try:
            spans = [
                make_span(
                    os.urandom(16),
                    "invoke_agent a",
                    attributes={
                        "gen_ai.operation.name": "invoke_agent",
                        "gen_ai.agent.name": agent,
                        "session.id": "backfilled",
                        "user.id": "someone",
                        "input.value": f"turn {index}",
                    },
                    start_ns=NOW_NS - (10 - index) * 10**9,
                    duration_ns=10**8,
                )
                for index, agent in enumerate(["alpha", "beta", "alpha"])
            ]
            await _write(store, spans)
            async with store.pool.connection() as conn:
                await ensure_partitions(conn)
            await derive_all_pending(DeriveEngine(store.pool))
        finally:
            await store.close()

    asyncio.run(store_turns())

    sql_text = (migrations_dir() / "0007_sessions.sql").read_text()
    backfill = "\n".join(
        line
        for line in sql_text[sql_text.index(BACKFILL_MARKER) :].splitlines()
        if not line.startswith("--")
    )
    with psycopg.connect(session_database) as conn:
        runs = conn.execute("SELECT count(*) FROM runs WHERE session_id IS NOT NULL").fetchone()
        assert runs is not None and runs[0] > 0
        conn.execute("TRUNCATE sessions, users, user_agents")
        first_runs = (migrations_dir() / "0017_session_first_run.sql").read_text()
        first_runs = first_runs[first_runs.index(BACKFILL_MARKER) :]
        for statement in [*backfill.split(";"), first_runs]:
            if statement.strip():
                conn.execute(statement)
    assert_sessions_match_runs(session_database)
