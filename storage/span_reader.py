"""The span reader: stored spans as they arrived, with their resource and scope.

Spans are stored in blocks (``storage.codec``); a span re-delivered in another block is read
from the earliest block holding it (the first copy stored wins, as ingest promises).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.codec import decode_block, span_ids_of
from storage.errors import StorageUnavailable
from storage.records import StoredSpan


class SpanReader(Protocol):
    async def get_trace(self, project_id: int, trace_id: bytes) -> list[StoredSpan]: ...


_BLOCK_COLUMNS = """
SELECT s.block_id, s.start_ns, s.span_ids, s.spans, s.resource_id, r.resource, r.schema_url,
       s.scope_id, sc.scope, sc.schema_url
FROM spans s
JOIN resources r ON r.project_id = s.project_id AND r.resource_id = s.resource_id
JOIN scopes sc ON sc.project_id = s.project_id AND sc.scope_id = s.scope_id
"""

_SELECT_TRACE = _BLOCK_COLUMNS + "WHERE s.trace_id = %s AND s.project_id = %s"

# A derived trace's blocks within the dates its registry entry gives (one partition, usually).
_SELECT_DERIVED_TRACE = (
    _BLOCK_COLUMNS
    + """WHERE s.trace_id = %s AND s.project_id = %s
  AND s.start_ns BETWEEN (SELECT spans_from_ns FROM traces WHERE trace_id = %s AND project_id = %s)
                     AND (SELECT spans_to_ns FROM traces WHERE trace_id = %s AND project_id = %s)
"""
)

# The same, within start times read from that entry beforehand (pruned when planned).
_SELECT_TRACE_WITHIN = _SELECT_TRACE + " AND s.start_ns BETWEEN %s AND %s"

# Blocks of one span (the REST API's spans are blocks of their own).
_SELECT_SINGLE_SPAN_BLOCKS = (
    _BLOCK_COLUMNS
    + "WHERE s.trace_id = %s AND s.project_id = %s AND s.span_count = 1 AND s.span_ids = ANY(%s)"
)


def stored_spans(
    rows: Iterable[tuple[Any, ...]], wanted: set[bytes] | None = None
) -> list[StoredSpan]:
    """The spans of block rows, each once (from the earliest block holding it), in block date
    then arrival order; only those of ``wanted`` when given."""
    found: dict[bytes, StoredSpan] = {}
    for (
        _block_id, start_ns, span_ids, blob, resource_id, resource, r_url, scope_id, scope, s_url,
    ) in sorted(rows, key=lambda row: row[0]):  # fmt: skip
        ids = span_ids_of(bytes(span_ids))
        if wanted is not None and wanted.isdisjoint(ids):
            continue
        if all(span_id in found for span_id in ids):
            continue
        for span_id, span in zip(ids, decode_block(bytes(blob)), strict=True):
            if span_id in found or (wanted is not None and span_id not in wanted):
                continue
            found[span_id] = StoredSpan(
                span=span,
                resource_hash=int(resource_id).to_bytes(8, "big", signed=True),
                resource=bytes(resource),
                resource_schema_url=r_url,
                scope_hash=int(scope_id).to_bytes(8, "big", signed=True),
                scope=bytes(scope),
                scope_schema_url=s_url,
                span_id=span_id,
                start_ns=start_ns,
            )
    return sorted(found.values(), key=lambda stored: stored.start_ns)


class PostgresSpanReader:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def _rows(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(query, params, binary=True)
                return await cursor.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def get_trace(self, project_id: int, trace_id: bytes) -> list[StoredSpan]:
        """Every stored span of a trace with its resource and scope."""
        return stored_spans(await self._rows(_SELECT_TRACE, (trace_id, project_id)))

    async def derived_trace_spans(
        self,
        project_id: int,
        trace_id: bytes,
        span_ids: Sequence[bytes] | None = None,
        within: tuple[int, int] | None = None,
    ) -> list[StoredSpan]:
        """The spans of a derived trace (all, or those of ``span_ids``), found through the
        trace's registry entry, or within the start times ``within`` read from it by the
        caller; none when the trace was never derived."""
        t, p = trace_id, project_id
        if within is not None:
            rows = await self._rows(_SELECT_TRACE_WITHIN, (t, p, *within))
        else:
            rows = await self._rows(_SELECT_DERIVED_TRACE, (t, p, t, p, t, p))
        return stored_spans(rows, None if span_ids is None else set(span_ids))

    @staticmethod
    async def spans_by_id(
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        trace_id: bytes,
        span_ids: Sequence[bytes],
    ) -> list[StoredSpan]:
        """Spans of one trace that are blocks of their own (the REST API's), within the
        caller's transaction."""
        cursor = await conn.execute(
            _SELECT_SINGLE_SPAN_BLOCKS, (trace_id, project_id, list(span_ids)), binary=True
        )
        return stored_spans(await cursor.fetchall())
