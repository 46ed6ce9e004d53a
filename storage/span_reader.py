"""The span reader: stored spans as they arrived, with their resource and scope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.codec import decompress_span
from storage.errors import StorageUnavailable
from storage.records import StoredSpan


class SpanReader(Protocol):
    async def get_trace(self, project_id: int, trace_id: bytes) -> list[StoredSpan]: ...


_RANGE_OF_TRACE = """
SELECT spans_from_ns, spans_to_ns FROM traces WHERE trace_id = %s AND project_id = %s
"""

_SELECT_TRACE = """
SELECT s.span_id, s.span, s.resource_id, r.resource, r.schema_url, s.scope_id, sc.scope,
       sc.schema_url, s.start_ns
FROM spans s
JOIN resources r ON r.project_id = s.project_id AND r.resource_id = s.resource_id
JOIN scopes sc ON sc.project_id = s.project_id AND sc.scope_id = s.scope_id
WHERE s.trace_id = %s AND s.project_id = %s
ORDER BY s.start_ns, s.span_id
"""

# A trace's spans within the start times its registry entry gives (one partition, usually).
_SELECT_DERIVED_TRACE = """
SELECT s.span_id, s.span, s.resource_id, r.resource, r.schema_url, s.scope_id, sc.scope,
       sc.schema_url, s.start_ns
FROM spans s
JOIN resources r ON r.project_id = s.project_id AND r.resource_id = s.resource_id
JOIN scopes sc ON sc.project_id = s.project_id AND sc.scope_id = s.scope_id
WHERE s.trace_id = %s AND s.project_id = %s
  AND s.start_ns BETWEEN (SELECT spans_from_ns FROM traces WHERE trace_id = %s AND project_id = %s)
                     AND (SELECT spans_to_ns FROM traces WHERE trace_id = %s AND project_id = %s)
  AND (%s::bytea[] IS NULL OR s.span_id = ANY(%s::bytea[]))
"""

_SELECT_SPANS = """
SELECT s.span_id, s.span, s.resource_id, r.resource, r.schema_url, s.scope_id, sc.scope,
       sc.schema_url, s.start_ns
FROM spans s
JOIN resources r ON r.project_id = s.project_id AND r.resource_id = s.resource_id
JOIN scopes sc ON sc.project_id = s.project_id AND sc.scope_id = s.scope_id
WHERE s.trace_id = %s AND s.project_id = %s AND s.span_id = ANY(%s)
"""


def _stored(row: tuple[Any, ...]) -> StoredSpan:
    span_id, span, resource_id, resource, r_url, scope_id, scope, s_url, start_ns = row
    return StoredSpan(
        span=decompress_span(bytes(span)),
        resource_hash=int(resource_id).to_bytes(8, "big", signed=True),
        resource=bytes(resource),
        resource_schema_url=r_url,
        scope_hash=int(scope_id).to_bytes(8, "big", signed=True),
        scope=bytes(scope),
        scope_schema_url=s_url,
        span_id=bytes(span_id),
        start_ns=start_ns,
    )


class PostgresSpanReader:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def get_trace(self, project_id: int, trace_id: bytes) -> list[StoredSpan]:
        """Every stored span of a trace with its resource and scope, by start time."""
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(_SELECT_TRACE, (trace_id, project_id), binary=True)
                rows = await cursor.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return [_stored(row) for row in rows]

    async def derived_trace_spans(
        self, project_id: int, trace_id: bytes, span_ids: Sequence[bytes] | None = None
    ) -> list[StoredSpan]:
        """The spans of a derived trace (all, or those of ``span_ids``), found through the
        trace's registry entry; none when the trace was never derived."""
        ids = None if span_ids is None else list(span_ids)
        t, p = trace_id, project_id
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(
                    _SELECT_DERIVED_TRACE, (t, p, t, p, t, p, ids, ids), binary=True
                )
                rows = await cursor.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return [_stored(row) for row in rows]

    @staticmethod
    async def spans_by_id(
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        trace_id: bytes,
        span_ids: Sequence[bytes],
    ) -> list[StoredSpan]:
        """Some spans of one trace, within the caller's transaction."""
        cursor = await conn.execute(
            _SELECT_SPANS, (trace_id, project_id, list(span_ids)), binary=True
        )
        return [_stored(row) for row in await cursor.fetchall()]
