"""Compaction of sealed day partitions (storage/compaction.py): the B-tree indexes of past days'
partitions are rebuilt and the partitions vacuumed, once; today's are left alone; a partition
written to enough since is compacted again; leftovers of an unfinished REINDEX CONCURRENTLY
are dropped; a partition dropped meanwhile is skipped."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import psycopg
import pytest

from agentguide.cli import main
from agentguide.compaction_job import CompactionJob
from receiver.ingest import prepare_request
from storage.compaction import (
    _COMPACTION_LOCK,
    CompactionPass,
    compact_database,
    compact_partitions,
    due_partitions,
)
from storage.database import apply_migrations
from storage.deriver import DeriveEngine, derive_all_pending
from storage.partitions import PARTITIONED_TABLES, day_of, ensure_partitions, partition_name
from storage.store import Store
from tests.otlp_helpers import make_request, make_span, random_span_id, random_trace_id
from tests.support import PostgresServer, free_port

DAY_NS = 86_400 * 10**9
WORDS = [f"{a}{b}{c}" for a in "bcdfg" for b in "aeiou" for c in ("lt", "rn", "sk", "mp")]
PAST_DAYS = (3, 2)  # days back: over more than an hour ago, whatever the time of day


def _run_request(rng: random.Random, start_ns: int) -> Any:
    """One run: an agent span with an input and an output, over a chat and a tool call."""
    trace_id, root_id = random_trace_id(), random_span_id()

    def prose() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))

    spans = [
        make_span(
            trace_id,
            "invoke_agent helper",
            span_id=root_id,
            start_ns=start_ns,
            duration_ns=3_000_000_000,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": rng.choice(["helper", "planner"]),
                "input.value": prose(),
                "output.value": prose(),
                "session.id": f"session-{rng.randint(1, 20)}",
            },
        ),
        make_span(
            trace_id,
            "chat small-model",
            parent_span_id=root_id,
            start_ns=start_ns + 10_000_000,
            duration_ns=1_000_000_000,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "small-model",
                "gen_ai.usage.input_tokens": rng.randint(10, 900),
            },
        ),
        make_span(
            trace_id,
            "execute_tool lookup",
            parent_span_id=root_id,
            start_ns=start_ns + 1_100_000_000,
            duration_ns=500_000_000,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": rng.choice(["lookup", "search", "send"]),
                "gen_ai.tool.call.result": prose(),
            },
        ),
    ]
    return make_request(spans, service_name="compaction-test")


async def _flush_statistics(store: Store) -> None:
    """Make each pool connection's table statistics visible to other sessions now (they are
    otherwise sent at most once a second, or after 10 s idle)."""
    async with store.pool.connection() as first, store.pool.connection() as second:
        for conn in (first, second):
            await conn.execute("SELECT pg_stat_force_next_flush()")


def _load(postgres: PostgresServer, runs_per_day: int = 60) -> str:
    """A migrated database with runs on days PAST_DAYS back and today."""
    database_url = postgres.create_database()
    apply_migrations(database_url)
    rng = random.Random(17)
    now_ns = time.time_ns()
    today_start = day_of(now_ns) * DAY_NS

    async def load() -> None:
        store = await Store.open(database_url, max_size=2)
        try:
            async with store.pool.connection() as conn:
                await ensure_partitions(conn, [day_of(now_ns) - back for back in PAST_DAYS])
            starts = [
                today_start - back * DAY_NS + rng.randrange(DAY_NS - 10 * 10**9)
                for back in PAST_DAYS
                for _ in range(runs_per_day)
            ]
            # today's runs started in the last minutes (before now, whatever the time of day)
            starts += [now_ns - rng.randrange(10, 60) * 10**9 for _ in range(runs_per_day // 4)]
            for start_ns in starts:
                await store.write_spans(1, prepare_request(_run_request(rng, start_ns)).batch)
            await derive_all_pending(DeriveEngine(store.pool))
            await _flush_statistics(store)
        finally:
            await store.close()

    asyncio.run(load())
    return database_url


def _partition(table: str, back: int) -> str:
    return partition_name(table, day_of(time.time_ns()) - back)


Index = tuple[str, str, int, int, list[str] | None]


def _indexes(database_url: str) -> dict[str, Index]:
    """Each index of every day partition: its partition, access method, file node, size and
    storage options."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT i.relname, t.relname, am.amname, pg_relation_filenode(i.oid),"
            " pg_relation_size(i.oid), i.reloptions"
            " FROM pg_inherits JOIN pg_class p ON p.oid = pg_inherits.inhparent"
            " JOIN pg_class t ON t.oid = pg_inherits.inhrelid"
            " JOIN pg_index x ON x.indrelid = t.oid JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_am am ON am.oid = i.relam WHERE p.relname = ANY(%s)",
            (list(PARTITIONED_TABLES),),
        ).fetchall()
    return {row[0]: (row[1], row[2], int(row[3]), int(row[4]), row[5]) for row in rows}


_QUERIES = (
    "SELECT trace_id, span_id FROM runs ORDER BY project_id, start_ns DESC, trace_id DESC,"
    " span_id DESC",
    "SELECT trace_id, span_id, start_ns FROM runs WHERE project_id = 1 AND session_id ="
    " 'session-3' ORDER BY start_ns",
    "SELECT trace_id, span_id FROM steps WHERE project_id = 1 AND tool_name = 'lookup'"
    " ORDER BY run_start_ns DESC, trace_id DESC, run_span_id DESC, span_id",
    "SELECT trace_id, span_id FROM run_search WHERE words @@ search_word_query('bal')"
    " ORDER BY 1, 2",
    "SELECT trace_id, span_id FROM run_search WHERE words @@ search_word_query('gump')"
    " ORDER BY 1, 2",
    "SELECT trace_id, span_id FROM run_search WHERE attributes @>"
    ' \'{"gen_ai.agent.name": ["planner"]}\' ORDER BY 1, 2',
    "SELECT trace_id, sum(span_count) FROM spans WHERE trace_id IN"
    " (SELECT trace_id FROM runs ORDER BY start_ns LIMIT 20) GROUP BY 1 ORDER BY 1",
)


def _answers(database_url: str) -> list[list[tuple[Any, ...]]]:
    """The queries' answers, read through the indexes."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SET enable_seqscan = off")
        return [conn.execute(query).fetchall() for query in _QUERIES]


def _compact(database_url: str) -> CompactionPass:
    return asyncio.run(compact_database(database_url))


def _past_partitions() -> set[str]:
    return {_partition(table, back) for table in PARTITIONED_TABLES for back in PAST_DAYS}


def test_past_days_are_compacted_and_today_is_not(postgres: PostgresServer) -> None:
    database_url = _load(postgres)
    before, answers = _indexes(database_url), _answers(database_url)
    assert all(answers), "every query finds something"

    done = _compact(database_url)

    assert {partition.name for partition in done.compacted} == _past_partitions()
    assert not (done.vanished or done.failed or done.leftovers_dropped or done.locked_out)
    after = _indexes(database_url)
    assert set(after) == set(before)
    methods = {method for _, method, _, _, _ in before.values()}
    assert methods == {"btree", "gin"}
    for index, (table, method, node, size, options) in before.items():
        if table in _past_partitions() and method == "btree":
            assert after[index][2] != node, f"{index} was rebuilt"
            assert after[index][3] <= size, f"{index} is not larger"
            assert after[index][4] == ["fillfactor=100"], f"{index} fills its pages"
        else:
            # GIN indexes are not rebuilt (the VACUUM merges their pending lists into them)
            assert after[index][2] == node, f"{index} of {table} was left alone"
            assert after[index][4] == options
    assert _answers(database_url) == answers
    with psycopg.connect(database_url) as conn:
        recorded = conn.execute("SELECT name, rows_then FROM partition_compactions").fetchall()
    assert {name for name, _ in recorded} == _past_partitions()
    assert dict(recorded)[_partition("runs", 2)] == 60


def test_a_second_pass_does_nothing(postgres: PostgresServer) -> None:
    database_url = _load(postgres)
    _compact(database_url)
    indexes = _indexes(database_url)

    again = _compact(database_url)

    assert again.compacted == [] and again.failed == [] and not again.locked_out
    assert _indexes(database_url) == indexes


def _add_runs(conn: psycopg.Connection[Any], partition: str, rows: int) -> None:
    """Copies of a partition's runs under new trace ids, inserted into it; their statistics
    made visible to other sessions at commit."""
    with conn.transaction():
        conn.execute(
            f"CREATE TEMP TABLE copies ON COMMIT DROP AS SELECT * FROM {partition} LIMIT {rows}"
        )
        conn.execute("UPDATE copies SET trace_id = decode(md5(random()::text), 'hex')")
        conn.execute(f"INSERT INTO {partition} SELECT * FROM copies")
        conn.execute("SELECT pg_stat_force_next_flush()")


def test_enough_new_rows_compact_a_partition_again(postgres: PostgresServer) -> None:
    database_url = _load(postgres)
    _compact(database_url)
    written, few = _partition("runs", 2), _partition("runs", 3)
    with psycopg.connect(database_url) as conn:
        _add_runs(conn, written, 7)  # more than a tenth of its 60 rows
        _add_runs(conn, few, 6)  # a tenth: not enough

    again = _compact(database_url)

    assert [partition.name for partition in again.compacted] == [written]
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT rows_then FROM partition_compactions WHERE name = %s", (written,)
        ).fetchone()
    assert row == (67,)
    assert _compact(database_url).compacted == []


def _invalid_indexes(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid"
        ).fetchall()
    return {name for (name,) in rows}


def test_leftovers_of_an_unfinished_reindex_are_dropped(postgres: PostgresServer) -> None:
    database_url = _load(postgres)
    partition = _partition("run_search", 2)
    with (
        psycopg.connect(database_url) as writer,
        psycopg.connect(database_url, autocommit=True) as conn,
    ):
        # A REINDEX CONCURRENTLY that fails after building its new indexes (here: it gives up
        # waiting for a transaction that writes to the table) leaves them behind, invalid.
        writer.execute(f"LOCK TABLE {partition} IN ROW EXCLUSIVE MODE")
        conn.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            conn.execute(f"REINDEX TABLE CONCURRENTLY {partition}")
        writer.rollback()
    leftovers = _invalid_indexes(database_url)
    assert len(leftovers) == 5  # four indexes and the TOAST table's
    assert all(name.endswith("_ccnew") for name in leftovers)

    done = _compact(database_url)

    assert {name.split(".")[-1] for name in leftovers} == set(done.leftovers_dropped)
    assert _invalid_indexes(database_url) == set()
    assert partition in {compacted.name for compacted in done.compacted}


def test_a_partition_dropped_before_its_turn_is_skipped(postgres: PostgresServer) -> None:
    database_url = _load(postgres)
    dropped = _partition("steps", 3)

    async def scenario() -> CompactionPass:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            due = await due_partitions(conn, now_ns=time.time_ns())
            assert dropped in {partition.name for partition in due}
            async with await psycopg.AsyncConnection.connect(database_url) as other:
                await other.execute(f"ALTER TABLE steps DETACH PARTITION {dropped}")
                await other.execute(f"DROP TABLE {dropped}")
                await other.commit()
            return await compact_partitions(conn, due)

    done = asyncio.run(scenario())

    assert done.vanished == [dropped]
    assert {partition.name for partition in done.compacted} == _past_partitions() - {dropped}
    assert done.failed == []


def test_days_retention_drops_soon_are_left_alone(postgres: PostgresServer) -> None:
    database_url = _load(postgres, runs_per_day=5)
    horizon = (day_of(time.time_ns()) - 2) * DAY_NS  # the end of the day 3 days back

    async def due(drop_horizon_ns: int | None) -> set[str]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            found = await due_partitions(
                conn, now_ns=time.time_ns(), drop_horizon_ns=drop_horizon_ns
            )
        return {partition.name for partition in found}

    assert asyncio.run(due(None)) == _past_partitions()
    assert asyncio.run(due(horizon)) == {_partition(table, 2) for table in PARTITIONED_TABLES}


def test_one_process_compacts_at_a_time(postgres: PostgresServer) -> None:
    database_url = _load(postgres, runs_per_day=5)
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (_COMPACTION_LOCK,))
        done = _compact(database_url)
    assert done.locked_out and done.compacted == []
    assert len(_compact(database_url).compacted) == len(_past_partitions())


def test_the_command_prints_what_it_did(
    postgres: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    database_url = _load(postgres, runs_per_day=5)

    assert main(["compact", "--database-url", database_url]) == 0
    first = capsys.readouterr().out
    assert main(["compact", "--database-url", database_url]) == 0
    second = capsys.readouterr().out

    for name in _past_partitions():
        assert f"{name} " in first
    assert f"{len(_past_partitions())} partition(s) compacted: " in first
    assert "nothing to compact" in second


def test_the_job_pauses_while_the_database_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = CompactionJob(f"postgresql://nobody@127.0.0.1:{free_port()}/none", 0, 600)
    with caplog.at_level(logging.WARNING, logger="agentguide.compaction"):
        assert asyncio.run(job.run_once()) is None
    assert "compaction paused, the database is unavailable" in caplog.text
