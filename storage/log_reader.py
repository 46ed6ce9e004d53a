"""The log reader: stored log records as they arrived, with their resource and scope.

A record stored twice (re-sent in another block) is read once: identical bytes under the same
resource and scope are one record. Records come in block arrival order, then block order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.codec import decode_block, span_ids_of
from storage.errors import StorageUnavailable
from storage.records import StoredLogRecord

NO_SPAN_ID = bytes(8)

_SELECT_TRACE_LOGS = """
SELECT l.block_id, l.time_ns, l.span_ids, l.records, r.resource, sc.scope
FROM log_records l
JOIN resources r ON r.project_id = l.project_id AND r.resource_id = l.resource_id
JOIN scopes sc ON sc.project_id = l.project_id AND sc.scope_id = l.scope_id
WHERE l.project_id = %s AND l.trace_id = %s
"""


def stored_log_records(
    rows: Iterable[Sequence[Any]], span_id: bytes | None = None
) -> list[StoredLogRecord]:
    """The records of ``(block_id, time_ns, span_ids, records, resource, scope)`` rows, each
    once, in block arrival order; only those of ``span_id`` when given."""
    seen: set[tuple[bytes, bytes, bytes]] = set()
    found: list[StoredLogRecord] = []
    for _block_id, time_ns, span_ids, blob, resource, scope in sorted(rows, key=lambda r: r[0]):
        ids = span_ids_of(bytes(span_ids))
        if span_id is not None and span_id not in ids:
            continue
        resource_bytes, scope_bytes = bytes(resource), bytes(scope)
        for record_span_id, record in zip(ids, decode_block(bytes(blob)), strict=True):
            if span_id is not None and record_span_id != span_id:
                continue
            key = (record, resource_bytes, scope_bytes)
            if key in seen:
                continue
            seen.add(key)
            found.append(
                StoredLogRecord(record, resource_bytes, scope_bytes, record_span_id, time_ns)
            )
    return found


class PostgresLogReader:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def trace_logs(
        self, project_id: int, trace_id: bytes, span_id: bytes | None = None
    ) -> list[StoredLogRecord]:
        """Every stored record of a trace (or of one of its spans)."""
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(_SELECT_TRACE_LOGS, (project_id, trace_id), binary=True)
                rows = await cursor.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return stored_log_records(rows, span_id)
