"""Retention: delete whole traces whose newest span ended before a horizon, in small batches.

A trace goes as a unit: its spans and every row derived from it (runs, steps, artifacts,
metrics) in one transaction, under the trace's advisory lock (the deriver's), so no reader
ever sees half a run. Ingest takes no such lock and is never paused: a span arriving for a
trace being deleted is either deleted with it (it ended before the horizon too) or survives
and gets the trace derived again from what is left.

Resources and scopes stay: they are shared by content hash across traces, small, and an
ingest may be about to reference one that no stored span uses yet; deleting them safely
would need ingest to take a lock. Agents stay too (the registry of names seen); with no
runs left they drop out of ``GET /v1/agents``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.errors import StorageUnavailable
from storage.store import trace_lock_key

DEFAULT_BATCH_TRACES = 500
_SCAN_ROWS_PER_TRACE = 4

# Spans in end-time order (index spans_end_ns); a keyset cursor moves past the traces that
# must stay because a newer span of theirs is still within the horizon.
_SCAN_OLD_SPANS = """
SELECT end_ns, trace_id, project_id FROM spans
WHERE end_ns < %(horizon)s
  AND (end_ns, trace_id, project_id) > (%(end_ns)s, %(trace_id)s, %(project_id)s)
ORDER BY end_ns, trace_id, project_id
LIMIT %(limit)s
"""

_LOCK_TRACES = """
SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM unnest(%s::int8[]) AS k ORDER BY k) AS keys
"""

_WHOLLY_OLD = """
SELECT c.project_id, c.trace_id FROM unnest(%s::int4[], %s::bytea[]) AS c(project_id, trace_id)
WHERE NOT EXISTS (
    SELECT 1 FROM spans s
    WHERE s.trace_id = c.trace_id AND s.project_id = c.project_id AND s.end_ns >= %s
)
"""

_DELETE_OLD_SPANS = """
DELETE FROM spans s USING unnest(%s::int4[], %s::bytea[]) AS c(project_id, trace_id)
WHERE s.trace_id = c.trace_id AND s.project_id = c.project_id AND s.end_ns < %s
"""

_DELETE_TRACE_ROWS = """
DELETE FROM {table} t USING unnest(%s::int4[], %s::bytea[]) AS c(project_id, trace_id)
WHERE t.trace_id = c.trace_id AND t.project_id = c.project_id
"""

_DERIVED_TABLES = ("runs", "steps", "artifacts", "run_metrics")

# A deriver that has claimed a trace's dirty row waits for our lock while holding that row:
# skip it (the deriver then finds no spans and derives nothing) rather than deadlock on it.
_DELETE_DIRTY = """
DELETE FROM dirty_traces WHERE ctid IN (
    SELECT d.ctid
    FROM dirty_traces d
    JOIN unnest(%s::int4[], %s::bytea[]) AS c(project_id, trace_id)
      ON d.trace_id = c.trace_id AND d.project_id = c.project_id
    FOR UPDATE OF d SKIP LOCKED
)
"""

# A span committed after the checks above (it ended after the horizon) survives the delete:
# derive its trace again from what is left.
_MARK_SURVIVORS = """
INSERT INTO dirty_traces (trace_id, project_id)
SELECT DISTINCT s.trace_id, s.project_id
FROM spans s JOIN unnest(%s::int4[], %s::bytea[]) AS c(project_id, trace_id)
  ON s.trace_id = c.trace_id AND s.project_id = c.project_id
"""


@dataclass(slots=True)
class RetentionPass:
    """What one pass over the store deleted."""

    traces: int = 0
    spans: int = 0
    batches: int = 0


@dataclass(slots=True)
class _Cursor:
    end_ns: int = -(1 << 63)
    trace_id: bytes = b""
    project_id: int = -(1 << 31)


class Retention:
    """Deletes the traces that ended before a horizon, ``batch_traces`` per transaction."""

    def __init__(
        self, pool: AsyncConnectionPool, *, batch_traces: int = DEFAULT_BATCH_TRACES
    ) -> None:
        self.pool = pool
        self.batch_traces = batch_traces

    async def delete_before(self, horizon_ns: int) -> RetentionPass:
        """Delete every trace whose newest span ended before ``horizon_ns``.

        Raises StorageUnavailable when the database cannot be reached; what was deleted by
        then stays deleted, and the next pass goes on from the start.
        """
        done = RetentionPass()
        cursor = _Cursor()
        try:
            while True:
                candidates, cursor, exhausted = await self._candidates(horizon_ns, cursor)
                if candidates:
                    traces, spans = await self._delete(horizon_ns, candidates)
                    done.traces += traces
                    done.spans += spans
                    done.batches += 1
                if exhausted:
                    return done
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def _candidates(
        self, horizon_ns: int, cursor: _Cursor
    ) -> tuple[list[tuple[int, bytes]], _Cursor, bool]:
        """Up to ``batch_traces`` traces with a span that ended before the horizon, after the
        cursor; the cursor after them; and whether the scan reached the horizon."""
        limit = self.batch_traces * _SCAN_ROWS_PER_TRACE
        async with self.pool.connection() as conn:
            result = await conn.execute(
                _SCAN_OLD_SPANS,
                {
                    "horizon": horizon_ns,
                    "end_ns": cursor.end_ns,
                    "trace_id": cursor.trace_id,
                    "project_id": cursor.project_id,
                    "limit": limit,
                },
            )
            rows = await result.fetchall()
        found: dict[tuple[int, bytes], None] = {}
        last = cursor
        for end_ns, trace_id, project_id in rows:
            key = (project_id, bytes(trace_id))
            if key not in found and len(found) == self.batch_traces:
                return list(found), last, False
            found[key] = None
            last = _Cursor(end_ns, bytes(trace_id), project_id)
        return list(found), last, len(rows) < limit

    async def _delete(
        self, horizon_ns: int, candidates: list[tuple[int, bytes]]
    ) -> tuple[int, int]:
        """Delete the candidates whose every span ended before the horizon; (traces, spans)."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                _LOCK_TRACES, ([trace_lock_key(p, t) for p, t in sorted(candidates)],)
            )
            result = await conn.execute(
                _WHOLLY_OLD,
                ([p for p, _ in candidates], [t for _, t in candidates], horizon_ns),
            )
            expired = await result.fetchall()
            if not expired:
                return 0, 0
            keys = ([p for p, _ in expired], [bytes(t) for _, t in expired])
            deleted = await conn.execute(_DELETE_OLD_SPANS, (*keys, horizon_ns))
            spans = deleted.rowcount
            for table in _DERIVED_TABLES:
                await self._delete_rows(conn, table, keys)
            await conn.execute(_DELETE_DIRTY, keys)
            await conn.execute(_MARK_SURVIVORS, keys)
        return len(expired), spans

    @staticmethod
    async def _delete_rows(
        conn: psycopg.AsyncConnection[Any], table: str, keys: tuple[list[int], list[bytes]]
    ) -> None:
        await conn.execute(sql.SQL(_DELETE_TRACE_ROWS).format(table=sql.Identifier(table)), keys)
