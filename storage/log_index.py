"""Which stored log records belong to which spans of the traces a deriver batch derives.

A span's log blocks (the ids of the blocks holding records of that span) are part of what its
mapping depends on: the deriver's cached facts of a span are reused only while they are the
same, and the records of the spans it maps again are read with them (events sent as log
records are their span's events: ``mapping.log_events``). Reading the index takes no record
bytes; the records are read only for the spans being mapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from mapping.wire import readable
from storage.codec import decode_block, span_ids_of

NO_SPAN_ID = bytes(8)

_SELECT_INDEX = """
SELECT trace_id, block_id, span_ids FROM log_records
WHERE project_id = %s AND trace_id = ANY(%s)
"""
_SELECT_BLOCKS = """
SELECT trace_id, block_id, span_ids, records FROM log_records
WHERE project_id = %s AND trace_id = ANY(%s) AND block_id = ANY(%s)
"""

SpanKey = tuple[bytes, bytes]  # (trace id, span id)


class LogIndex:
    def __init__(self, blocks: dict[SpanKey, tuple[int, ...]]) -> None:
        self._blocks = blocks

    @classmethod
    async def read(
        cls, conn: psycopg.AsyncConnection[Any], project_id: int, trace_ids: Sequence[bytes]
    ) -> LogIndex:
        cursor = await conn.execute(_SELECT_INDEX, (project_id, list(trace_ids)), binary=True)
        found: dict[SpanKey, set[int]] = {}
        for trace_id, block_id, span_ids in await cursor.fetchall():
            trace = bytes(trace_id)
            for span_id in span_ids_of(bytes(span_ids)):
                if span_id != NO_SPAN_ID:
                    found.setdefault((trace, span_id), set()).add(int(block_id))
        return cls({key: tuple(sorted(ids)) for key, ids in found.items()})

    def blocks_of(self, trace_id: bytes, span_id: bytes) -> tuple[int, ...]:
        return self._blocks.get((trace_id, span_id), ())

    async def records(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, spans: Sequence[SpanKey]
    ) -> dict[SpanKey, list[LogRecord]]:
        """The records of these spans, each distinct record once (a record re-sent in another
        block is the same bytes), parsed as readable records."""
        wanted = {key for key in spans if key in self._blocks}
        if not wanted:
            return {}
        block_ids = sorted({b for key in wanted for b in self._blocks[key]})
        trace_ids = sorted({trace_id for trace_id, _ in wanted})
        cursor = await conn.execute(_SELECT_BLOCKS, (project_id, trace_ids, block_ids), binary=True)
        raw: dict[SpanKey, dict[bytes, None]] = {}
        for trace_id, _block_id, span_ids, blob in sorted(
            await cursor.fetchall(), key=lambda row: row[1]
        ):
            trace = bytes(trace_id)
            for span_id, record in zip(
                span_ids_of(bytes(span_ids)), decode_block(bytes(blob)), strict=True
            ):
                if (trace, span_id) in wanted:
                    raw.setdefault((trace, span_id), {})[record] = None
        return {
            key: [readable(LogRecord, record) for record in records] for key, records in raw.items()
        }
