"""The span writer: commits raw spans and marks their traces for derivation, in one statement.

A batch is one SQL statement in autocommit: resources and scopes (stored once, by content
hash), the spans (zstd-compressed, a thread doing the compression so the event loop goes on),
and a dirty mark per trace carrying the start times of the spans written, so the deriver reads
only the partitions that hold them. Re-delivered spans are kept as first stored; spans the
REST API owns are replaced instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.codec import compress_spans
from storage.errors import (
    RejectedData,
    StorageUnavailable,
    means_transient,
    means_unreachable,
)
from storage.records import SpanBatch

logger = logging.getLogger(__name__)

# Below this many spans, compressing on the event loop costs less than a thread hand-off.
_THREAD_MIN_SPANS = 64


class SpanWriter(Protocol):
    """Where ingest puts spans. Returns once they are committed (ack means durable)."""

    async def write_spans(self, project_id: int, batch: SpanBatch) -> None: ...


def content_id(content_hash: bytes) -> int:
    """The 64-bit key of a resource or scope: the first 8 bytes of its content hash."""
    return int.from_bytes(content_hash[:8], "big", signed=True)


_WRITE_RESOURCES_AND_SCOPES = """
resources_written AS (
    INSERT INTO resources (project_id, resource_id, resource, schema_url)
    SELECT %(project_id)b, i, r, u
    FROM unnest(%(resource_ids)b::int8[], %(resources)b::bytea[], %(resource_schema_urls)b::text[])
         AS t(i, r, u)
    ON CONFLICT DO NOTHING
), scopes_written AS (
    INSERT INTO scopes (project_id, scope_id, scope, schema_url)
    SELECT %(project_id)b, i, s, u
    FROM unnest(%(scope_ids)b::int8[], %(scopes)b::bytea[], %(scope_schema_urls)b::text[])
         AS t(i, s, u)
    ON CONFLICT DO NOTHING
)"""

_INSERT_SPANS = """
INSERT INTO spans (trace_id, project_id, span_id, start_ns, resource_id, scope_id, span)
SELECT t.trace_id, %(project_id)b, t.span_id, t.start_ns, t.resource_id, t.scope_id, t.span
FROM unnest(%(trace_ids)b::bytea[], %(span_ids)b::bytea[], %(start_ns)b::int8[],
            %(span_resource_ids)b::int8[], %(span_scope_ids)b::int8[], %(spans)b::bytea[])
     AS t(trace_id, span_id, start_ns, resource_id, scope_id, span)
"""

_MARK_DIRTY = """
INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns, spans)
SELECT t, %(project_id)b, f, l, n
FROM unnest(%(dirty_trace_ids)b::bytea[], %(dirty_from_ns)b::int8[], %(dirty_to_ns)b::int8[],
            %(dirty_spans)b::int4[])
     AS d(t, f, l, n)
"""

WRITE_SPANS_AND_MARK_DIRTY = (
    "WITH "
    + _WRITE_RESOURCES_AND_SCOPES
    + ", spans_written AS ("
    + _INSERT_SPANS
    + "ON CONFLICT DO NOTHING)"
    + _MARK_DIRTY
)

REPLACE_SPANS_AND_MARK_DIRTY = (
    "WITH "
    + _WRITE_RESOURCES_AND_SCOPES
    + ", spans_written AS ("
    + _INSERT_SPANS
    + """ON CONFLICT (trace_id, project_id, span_id, start_ns) DO UPDATE SET
    resource_id = EXCLUDED.resource_id, scope_id = EXCLUDED.scope_id, span = EXCLUDED.span)"""
    + _MARK_DIRTY
)


def batch_params(project_id: int, batch: SpanBatch, stored_spans: list[bytes]) -> dict[str, Any]:
    """The statement parameters of a batch whose spans are already in their stored form."""
    resources = list(batch.resources.items())
    scopes = list(batch.scopes.items())
    ranges: dict[bytes, list[int]] = {}  # trace id: [first start, last start, spans]
    for trace_id, start in zip(batch.trace_ids, batch.start_ns, strict=True):
        seen = ranges.get(trace_id)
        if seen is None:
            ranges[trace_id] = [start, start, 1]
            continue
        seen[2] += 1
        if start < seen[0]:
            seen[0] = start
        elif start > seen[1]:
            seen[1] = start
    dirty = sorted(ranges.items())
    return {
        "project_id": project_id,
        "resource_ids": [content_id(h) for h, _ in resources],
        "resources": [r.resource for _, r in resources],
        "resource_schema_urls": [r.schema_url for _, r in resources],
        "scope_ids": [content_id(h) for h, _ in scopes],
        "scopes": [s.scope for _, s in scopes],
        "scope_schema_urls": [s.schema_url for _, s in scopes],
        "trace_ids": batch.trace_ids,
        "span_ids": batch.span_ids,
        "start_ns": batch.start_ns,
        "span_resource_ids": [content_id(h) for h in batch.resource_hashes],
        "span_scope_ids": [content_id(h) for h in batch.scope_hashes],
        "spans": stored_spans,
        "dirty_trace_ids": [trace_id for trace_id, _ in dirty],
        "dirty_from_ns": [span_range[0] for _, span_range in dirty],
        "dirty_to_ns": [span_range[1] for _, span_range in dirty],
        "dirty_spans": [span_range[2] for _, span_range in dirty],
    }


async def stored_form(spans: list[bytes]) -> list[bytes]:
    if len(spans) < _THREAD_MIN_SPANS:
        return compress_spans(spans)
    return await asyncio.to_thread(compress_spans, spans)


def _refuses_the_data(exc: psycopg.Error) -> bool:
    """Whether the database refused the request's data itself (retrying cannot help)."""
    if means_unreachable(exc) or means_transient(exc):
        return False
    return isinstance(
        exc, (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.ProgramLimitExceeded)
    )


def _field_of(exc: psycopg.Error) -> str | None:
    diag = exc.diag
    return diag.column_name or diag.table_name or None


class PostgresSpanWriter:
    """The span writer over a connection pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.after_commit: list[Callable[[], None]] = []

    async def write_spans(self, project_id: int, batch: SpanBatch) -> None:
        """Commit the spans (idempotently: known spans are kept as they are) and mark their
        traces for derivation. Raises StorageUnavailable when the sender should retry, and
        RejectedData when the database refuses the data itself."""
        if not len(batch):
            return
        params = batch_params(project_id, batch, await stored_form(batch.spans))
        for attempt in (1, 2):
            try:
                async with self.pool.connection() as conn:
                    await conn.execute(WRITE_SPANS_AND_MARK_DIRTY, params)
                break
            except PoolTimeout as exc:
                raise StorageUnavailable("no database connection available: " + str(exc)) from exc
            except psycopg.Error as exc:
                if _refuses_the_data(exc):
                    raise RejectedData(
                        f"the database refused the spans: {exc.diag.message_primary or exc}",
                        _field_of(exc),
                    ) from exc
                # A pooled connection that died with the server, a partition attached under
                # us: the write is idempotent, so one more try is safe; then the sender retries.
                if attempt == 2:
                    raise StorageUnavailable(str(exc)) from exc
                logger.warning("span write failed, retrying once: %s", exc)
        for callback in self.after_commit:
            callback()


async def replace_spans(
    conn: psycopg.AsyncConnection[Any], project_id: int, batch: SpanBatch
) -> None:
    """Store the batch's spans, replacing stored ones with the same ids, and mark their traces
    dirty; within the caller's transaction (the REST API's edits)."""
    if len(batch):
        params = batch_params(project_id, batch, compress_spans(batch.spans))
        await conn.execute(REPLACE_SPANS_AND_MARK_DIRTY, params)
