"""The span writer: commits raw spans and marks their traces for derivation, in one statement.

A batch is one SQL statement in autocommit: resources and scopes (stored once, by content
hash), the spans as blocks (the spans of one trace under one resource and scope, compressed
together by ``storage.codec``, a thread doing the compression so the event loop goes on), and
a dirty mark per trace carrying the blocks' dates, so the deriver reads only the partitions
that hold them. A block re-delivered as it was is stored once (its content hash is in its
key); readers take each span from the earliest block holding it. Spans the REST API owns are
replaced instead: each is a block of its own, deleted when a new version is written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.codec import encode_block
from storage.errors import (
    RejectedData,
    StorageUnavailable,
    means_transient,
    means_unreachable,
)
from storage.partitions import NS_PER_DAY
from storage.records import LogBatch, SpanBatch

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

_INSERT_BLOCKS = """
INSERT INTO spans (trace_id, project_id, content_hash, start_ns, resource_id, scope_id,
                   span_count, span_ids, spans)
SELECT t.trace_id, %(project_id)b, t.content_hash, t.start_ns, t.resource_id, t.scope_id,
       t.span_count, t.span_ids, t.spans
FROM unnest(%(block_trace_ids)b::bytea[], %(block_hashes)b::int8[], %(block_starts)b::int8[],
            %(block_resource_ids)b::int8[], %(block_scope_ids)b::int8[],
            %(block_span_counts)b::int4[], %(block_span_ids)b::bytea[], %(blocks)b::bytea[])
     AS t(trace_id, content_hash, start_ns, resource_id, scope_id, span_count, span_ids, spans)
ON CONFLICT DO NOTHING
"""

_MARK_DIRTY = """
INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns, spans)
SELECT t, %(project_id)b, f, l, n
FROM unnest(%(dirty_trace_ids)b::bytea[], %(dirty_from_ns)b::int8[], %(dirty_to_ns)b::int8[],
            %(dirty_spans)b::int4[])
     AS d(t, f, l, n)
"""

WRITE_SPANS_AND_MARK_DIRTY = (
    "WITH " + _WRITE_RESOURCES_AND_SCOPES + ", spans_written AS (" + _INSERT_BLOCKS + ")"
    + _MARK_DIRTY
)  # fmt: skip

# The REST API's spans, each a block of its own: the new version replaces the stored one.
_DELETE_REPLACED = """
DELETE FROM spans s USING unnest(%(block_trace_ids)b::bytea[], %(block_span_ids)b::bytea[])
     AS r(trace_id, span_id)
WHERE s.trace_id = r.trace_id AND s.project_id = %(project_id)b AND s.span_count = 1
  AND s.span_ids = r.span_id
"""


@dataclass(slots=True)
class Block:
    trace_id: bytes
    resource_hash: bytes
    scope_hash: bytes
    start_ns: int
    span_ids: list[bytes]
    spans: list[bytes]


def blocks_of(batch: SpanBatch, *, one_span_each: bool = False) -> list[Block]:
    """The batch's spans grouped into blocks: per trace, resource, scope and day (so a span is
    kept, and dropped by retention, with the spans of its own day), in batch order."""
    blocks: dict[tuple[bytes | int, ...], Block] = {}
    ordered: list[Block] = []
    for trace_id, span_id, start, resource, scope, span in zip(
        batch.trace_ids, batch.span_ids, batch.start_ns, batch.resource_hashes,
        batch.scope_hashes, batch.spans, strict=True,
    ):  # fmt: skip
        day = start // NS_PER_DAY
        key = (
            (trace_id, resource, scope, span_id)
            if one_span_each
            else (trace_id, resource, scope, day)
        )
        block = blocks.get(key)
        if block is None:
            block = blocks[key] = Block(trace_id, resource, scope, start, [], [])
            ordered.append(block)
        elif start < block.start_ns:
            block.start_ns = start
        block.span_ids.append(span_id)
        block.spans.append(span)
    return ordered


def encode_blocks(blocks: list[Block]) -> list[tuple[bytes, int]]:
    return [encode_block(block.spans) for block in blocks]


def resource_and_scope_params(batch: SpanBatch | LogBatch) -> dict[str, Any]:
    """The parameters that store a batch's resources and scopes (of spans or log records)."""
    resources = list(batch.resources.items())
    scopes = list(batch.scopes.items())
    return {
        "resource_ids": [content_id(h) for h, _ in resources],
        "resources": [r.resource for _, r in resources],
        "resource_schema_urls": [r.schema_url for _, r in resources],
        "scope_ids": [content_id(h) for h, _ in scopes],
        "scopes": [s.scope for _, s in scopes],
        "scope_schema_urls": [s.schema_url for _, s in scopes],
    }


def batch_params(
    project_id: int, batch: SpanBatch, blocks: list[Block], encoded: list[tuple[bytes, int]]
) -> dict[str, Any]:
    """The statement parameters of a batch whose blocks are encoded."""
    ranges: dict[bytes, list[int]] = {}  # trace id: [first block date, last, spans]
    for block in blocks:
        seen = ranges.get(block.trace_id)
        if seen is None:
            ranges[block.trace_id] = [block.start_ns, block.start_ns, len(block.spans)]
            continue
        seen[0] = min(seen[0], block.start_ns)
        seen[1] = max(seen[1], block.start_ns)
        seen[2] += len(block.spans)
    dirty = sorted(ranges.items())
    return {
        "project_id": project_id,
        **resource_and_scope_params(batch),
        "block_trace_ids": [b.trace_id for b in blocks],
        "block_hashes": [content_hash for _, content_hash in encoded],
        "block_starts": [b.start_ns for b in blocks],
        "block_resource_ids": [content_id(b.resource_hash) for b in blocks],
        "block_scope_ids": [content_id(b.scope_hash) for b in blocks],
        "block_span_counts": [len(b.spans) for b in blocks],
        "block_span_ids": [b"".join(b.span_ids) for b in blocks],
        "blocks": [stored for stored, _ in encoded],
        "dirty_trace_ids": [trace_id for trace_id, _ in dirty],
        "dirty_from_ns": [span_range[0] for _, span_range in dirty],
        "dirty_to_ns": [span_range[1] for _, span_range in dirty],
        "dirty_spans": [span_range[2] for _, span_range in dirty],
    }


async def encoded_form(batch: SpanBatch, blocks: list[Block]) -> list[tuple[bytes, int]]:
    if len(batch) < _THREAD_MIN_SPANS:
        return encode_blocks(blocks)
    return await asyncio.to_thread(encode_blocks, blocks)


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
        blocks = blocks_of(batch)
        params = batch_params(project_id, batch, blocks, await encoded_form(batch, blocks))
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
    """Store the batch's spans, each a block of its own replacing the stored block of the same
    span, and mark their traces dirty; within the caller's transaction (the REST API's edits)."""
    if not len(batch):
        return
    blocks = blocks_of(batch, one_span_each=True)
    params = batch_params(project_id, batch, blocks, encode_blocks(blocks))
    await conn.execute(_DELETE_REPLACED, params)
    await conn.execute(WRITE_SPANS_AND_MARK_DIRTY, params)
