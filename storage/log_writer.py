"""The log writer: commits log records and marks their traces for derivation, in one statement.

Like ``storage.span_writer``: resources and scopes once by content hash, the records as blocks
(the records of one trace, resource, scope and day in one request, compressed together by
``storage.codec``), and a dirty mark per trace with a trace id (a trace's events are part of
its derivation). A block re-delivered as it was is stored once; a record re-sent in another
block is stored twice but read once (``storage.log_reader`` drops identical records).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.codec import encode_block
from storage.errors import RejectedData, StorageUnavailable
from storage.partitions import NS_PER_DAY
from storage.records import LogBatch
from storage.span_writer import (
    _WRITE_RESOURCES_AND_SCOPES,
    _field_of,
    _refuses_the_data,
    content_id,
    resource_and_scope_params,
)

logger = logging.getLogger(__name__)

NO_TRACE_ID = bytes(16)
_THREAD_MIN_RECORDS = 64

_INSERT_BLOCKS = """
INSERT INTO log_records (project_id, trace_id, content_hash, time_ns, resource_id, scope_id,
                         record_count, span_ids, records)
SELECT %(project_id)b, t.trace_id, t.content_hash, t.time_ns, t.resource_id, t.scope_id,
       t.record_count, t.span_ids, t.records
FROM unnest(%(block_trace_ids)b::bytea[], %(block_hashes)b::int8[], %(block_times)b::int8[],
            %(block_resource_ids)b::int8[], %(block_scope_ids)b::int8[],
            %(block_counts)b::int4[], %(block_span_ids)b::bytea[], %(blocks)b::bytea[])
     AS t(trace_id, content_hash, time_ns, resource_id, scope_id, record_count, span_ids,
          records)
ON CONFLICT DO NOTHING
"""

# A log record changes no span's start range: the mark carries the records' times, which only
# widen the span partitions the deriver reads (it reads the trace's records by trace id).
_MARK_DIRTY = """
INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns, spans)
SELECT t, %(project_id)b, f, l, 0
FROM unnest(%(dirty_trace_ids)b::bytea[], %(dirty_from_ns)b::int8[], %(dirty_to_ns)b::int8[])
     AS d(t, f, l)
"""

WRITE_LOGS_AND_MARK_DIRTY = (
    "WITH " + _WRITE_RESOURCES_AND_SCOPES + ", logs_written AS (" + _INSERT_BLOCKS + ")"
    + _MARK_DIRTY
)  # fmt: skip


@dataclass(slots=True)
class LogBlock:
    trace_id: bytes
    resource_hash: bytes
    scope_hash: bytes
    time_ns: int
    span_ids: list[bytes]
    records: list[bytes]


def log_blocks_of(batch: LogBatch) -> list[LogBlock]:
    """The batch's records grouped per trace, resource, scope and day, in batch order."""
    blocks: dict[tuple[bytes | int, ...], LogBlock] = {}
    ordered: list[LogBlock] = []
    for trace_id, span_id, at, resource, scope, record in zip(
        batch.trace_ids, batch.span_ids, batch.time_ns, batch.resource_hashes,
        batch.scope_hashes, batch.records, strict=True,
    ):  # fmt: skip
        key = (trace_id, resource, scope, at // NS_PER_DAY)
        block = blocks.get(key)
        if block is None:
            block = blocks[key] = LogBlock(trace_id, resource, scope, at, [], [])
            ordered.append(block)
        elif at < block.time_ns:
            block.time_ns = at
        block.span_ids.append(span_id)
        block.records.append(record)
    return ordered


def _encode(blocks: list[LogBlock]) -> list[tuple[bytes, int]]:
    return [encode_block(block.records) for block in blocks]


def log_batch_params(
    project_id: int, batch: LogBatch, blocks: list[LogBlock], encoded: list[tuple[bytes, int]]
) -> dict[str, Any]:
    ranges: dict[bytes, list[int]] = {}
    for block in blocks:
        if block.trace_id == NO_TRACE_ID:
            continue
        seen = ranges.setdefault(block.trace_id, [block.time_ns, block.time_ns])
        seen[0] = min(seen[0], block.time_ns)
        seen[1] = max(seen[1], block.time_ns)
    dirty = sorted(ranges.items())
    return {
        "project_id": project_id,
        **resource_and_scope_params(batch),
        "block_trace_ids": [b.trace_id for b in blocks],
        "block_hashes": [content_hash for _, content_hash in encoded],
        "block_times": [b.time_ns for b in blocks],
        "block_resource_ids": [content_id(b.resource_hash) for b in blocks],
        "block_scope_ids": [content_id(b.scope_hash) for b in blocks],
        "block_counts": [len(b.records) for b in blocks],
        "block_span_ids": [b"".join(b.span_ids) for b in blocks],
        "blocks": [stored for stored, _ in encoded],
        "dirty_trace_ids": [trace_id for trace_id, _ in dirty],
        "dirty_from_ns": [r[0] for _, r in dirty],
        "dirty_to_ns": [r[1] for _, r in dirty],
    }


class PostgresLogWriter:
    """The log writer over a connection pool."""

    def __init__(self, pool: AsyncConnectionPool, after_commit: list[Callable[[], None]]) -> None:
        self.pool = pool
        self.after_commit = after_commit

    async def write_logs(self, project_id: int, batch: LogBatch) -> None:
        """Commit the records and mark their traces for derivation. Raises StorageUnavailable
        when the sender should retry, and RejectedData when the database refuses the data."""
        if not len(batch):
            return
        blocks = log_blocks_of(batch)
        if len(batch) < _THREAD_MIN_RECORDS:
            encoded = _encode(blocks)
        else:
            encoded = await asyncio.to_thread(_encode, blocks)
        params = log_batch_params(project_id, batch, blocks, encoded)
        for attempt in (1, 2):
            try:
                async with self.pool.connection() as conn:
                    await conn.execute(WRITE_LOGS_AND_MARK_DIRTY, params)
                break
            except PoolTimeout as exc:
                raise StorageUnavailable("no database connection available: " + str(exc)) from exc
            except psycopg.Error as exc:
                if _refuses_the_data(exc):
                    raise RejectedData(
                        f"the database refused the log records: {exc.diag.message_primary or exc}",
                        _field_of(exc),
                    ) from exc
                if attempt == 2:
                    raise StorageUnavailable(str(exc)) from exc
                logger.warning("log write failed, retrying once: %s", exc)
        for callback in self.after_commit:
            callback()
