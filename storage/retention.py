"""Retention by partition: the days that ended before a horizon are dropped whole.

A day goes as a unit, in one transaction: its partitions of ``spans``, ``runs``, ``steps`` and
``run_search`` (runs, steps and search rows by their run's start, spans by their own start), and the
rollup buckets of that day (rollups are keyed by run start, so they hold exactly the runs of
the partitions dropped). Dropping is cheap whatever the day held: no row is deleted one by
one. A trace whose spans straddle the horizon keeps its newer spans: its registry version is
bumped (every deriver's cached copy of it is stale) and it is derived again from what is left.
Rows in the default partitions (days without a partition of their own) are deleted row by
row, their traces marked for derivation. Sessions that had runs on the day are recomputed
from the runs left, or deleted when none is; the users of the day's runs lose them.

Scores (not partitioned) go with their run: those whose run started before the first day kept
are deleted row by row (index ``scores_by_age``), whatever their source. Log records (not
partitioned) are deleted row by row by their time, their traces marked for derivation.

Resources, scopes and agents stay: they are shared by content hash or name, small, and an
ingest may be about to reference one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage import partitions
from storage.errors import StorageUnavailable
from storage.locks import lock_partition_changes
from storage.session_rollup import recompute_sessions
from storage.user_rollup import apply_user_deltas, runs_leaving

# DETACH waits for the queries reading a partition; it must not queue every new query behind it
# for long (a lock request blocks the ones after it), so it gives up and the next pass retries.
LOCK_TIMEOUT = "5s"

_STRADDLING = """
WITH straddling AS (
    UPDATE traces SET derive_version = derive_version + 1
    WHERE spans_from_ns < %(end)s AND spans_to_ns >= %(end)s
    RETURNING trace_id, project_id, spans_to_ns
)
INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns)
SELECT trace_id, project_id, %(end)s, spans_to_ns FROM straddling
"""
# Traces wholly within the day go with it (one straddling several dropped days was marked when
# the first went, and its deriver removes its entry once no span is left).
_FORGET_TRACES = "DELETE FROM traces WHERE spans_from_ns >= %s AND spans_to_ns < %s"
_DROP_ROLLUPS = "DELETE FROM {} WHERE bucket_ns >= %s AND bucket_ns < %s"
# sessions that had runs on a dropped day: recomputed from the runs left (or deleted)
_SESSIONS_BEFORE = (
    "SELECT project_id, array_agg(session_id) FROM sessions WHERE first_ns < %s GROUP BY 1"
)
_ROLLUP_TABLES = ("rollup_runs", "rollup_tools", "rollup_models", "rollup_errors")
# Rows of the day that wait in a default partition (a partition of one table was missing).
_DROP_DEFAULT_ROWS = "DELETE FROM {} WHERE {} >= %s AND {} < %s"

_DEFAULT_OLD_SPANS = """
WITH gone AS (
    DELETE FROM spans_default WHERE start_ns < %s
    RETURNING trace_id, project_id, start_ns, span_count
), marked AS (
    INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns)
    SELECT trace_id, project_id, min(start_ns), max(start_ns) FROM gone GROUP BY 1, 2
)
SELECT coalesce(sum(span_count), 0) FROM gone
"""

# Log records go by their own time, row by row (a trace's records are a handful of blocks); a
# trace that loses records is derived again from what is left.
_OLD_LOG_RECORDS = """
WITH gone AS (
    DELETE FROM log_records WHERE time_ns < %(horizon)s
    RETURNING trace_id, project_id, time_ns
), marked AS (
    INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns, spans)
    SELECT trace_id, project_id, min(time_ns), max(time_ns), 0 FROM gone
    WHERE trace_id <> %(no_trace)s
    GROUP BY 1, 2
)
SELECT count(*) FROM gone
"""


_FORGET_SCORES = "DELETE FROM scores WHERE run_start_ns < %s"


async def forget_scores(conn: psycopg.AsyncConnection[Any], before_ns: int) -> int:
    """Delete the scores of the runs that started before ``before_ns``; how many went."""
    cursor = await conn.execute(_FORGET_SCORES, (before_ns,))
    return max(cursor.rowcount, 0)


@dataclass(slots=True)
class RetentionPass:
    """What one pass dropped."""

    days: int = 0  # day partitions dropped (of every table)
    partitions: int = 0
    straddling_traces: int = 0
    default_rows: int = 0
    scores: int = 0  # scores of the runs dropped
    log_blocks: int = 0  # blocks of log records deleted


class Retention:
    """Drops the day partitions that ended before a horizon."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def delete_before(self, horizon_ns: int) -> RetentionPass:
        """Drop every day that ended at or before ``horizon_ns``, oldest first.

        Raises StorageUnavailable when the database cannot be reached; what was dropped by
        then stays dropped, and the next pass goes on.
        """
        done = RetentionPass()
        first_kept_day = partitions.day_of(horizon_ns)
        try:
            async with self.pool.connection() as conn:
                existing = await partitions.list_partitions(conn)
                for day in sorted(d for d in existing.all_days() if d < first_kept_day):
                    dropped, straddling = await self._drop_day(conn, day)
                    done.days += 1
                    done.partitions += dropped
                    done.straddling_traces += straddling
                cursor = await conn.execute(
                    _DEFAULT_OLD_SPANS, (first_kept_day * partitions.NS_PER_DAY,)
                )
                row = await cursor.fetchone()
                done.default_rows = int(row[0]) if row else 0
                horizon = first_kept_day * partitions.NS_PER_DAY
                done.scores = await forget_scores(conn, horizon)
                cursor = await conn.execute(
                    _OLD_LOG_RECORDS, {"horizon": horizon, "no_trace": bytes(16)}
                )
                row = await cursor.fetchone()
                done.log_blocks = int(row[0]) if row else 0
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return done

    @staticmethod
    async def _drop_day(conn: psycopg.AsyncConnection[Any], day: int) -> tuple[int, int]:
        start, end = partitions.day_bounds(day)
        async with conn.transaction():
            await conn.execute("SELECT set_config('lock_timeout', %s, true)", (LOCK_TIMEOUT,))
            await lock_partition_changes(conn)
            dropped = 0
            existing = await partitions.list_partitions(conn)
            leaving = await runs_leaving(conn, start, end)
            for table in partitions.PARTITIONED_TABLES:
                if day not in existing.days.get(table, ()):
                    continue
                name = partitions.partition_name(table, day)
                await conn.execute(
                    sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                        sql.Identifier(table), sql.Identifier(name)
                    )
                )
                await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                dropped += 1
            for table, column in partitions.PARTITIONED_TABLES.items():
                await conn.execute(
                    sql.SQL(_DROP_DEFAULT_ROWS).format(
                        sql.Identifier(f"{table}_default"),
                        sql.Identifier(column),
                        sql.Identifier(column),
                    ),
                    (start, end),
                )
            cursor = await conn.execute(_STRADDLING, {"end": end})
            straddling = cursor.rowcount
            await conn.execute(_FORGET_TRACES, (start, end))
            for table in _ROLLUP_TABLES:
                await conn.execute(
                    sql.SQL(_DROP_ROLLUPS).format(sql.Identifier(table)), (start, end)
                )
            cursor = await conn.execute(_SESSIONS_BEFORE, (end,))
            for project_id, session_ids in await cursor.fetchall():
                await recompute_sessions(conn, project_id, session_ids)
            for project_id, deltas in sorted(leaving.items()):
                await apply_user_deltas(conn, project_id, deltas)
        return dropped, straddling
