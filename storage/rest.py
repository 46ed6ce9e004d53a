"""Writes for the REST ingest: spans that the API made itself and may later replace.

A REST run is a span that changes as the run proceeds, so its writes differ from OTLP ingest
in one way: a changed span replaces the stored one (OTLP keeps the first copy). An edit reads
only the spans it changes (the run's span, a step's span), replaces them and marks the trace
dirty, under the trace's advisory lock, so concurrent edits of one run serialize. Deriving is
the derivers' job, as for OTLP: an edit costs the same at the thousandth step as at the first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from storage.codec import decode_block, span_ids_of
from storage.errors import RejectedData, StorageUnavailable, means_transient, means_unreachable
from storage.locks import lock_traces
from storage.records import SpanBatch
from storage.span_reader import PostgresSpanReader
from storage.span_writer import replace_spans
from storage.store import Store

_BLOCKS_STARTED_BY = """
SELECT s.span_ids, s.spans FROM spans s
WHERE s.trace_id = %s AND s.project_id = %s AND s.start_ns <= %s
"""


@dataclass(frozen=True, slots=True)
class EditableSpan:
    """A stored span with its resource and scope, all serialized as received."""

    span_id: bytes
    span: bytes
    resource: bytes
    scope: bytes


class TraceEdit:
    """Spans of one trace, open for replacement within one locked transaction."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        trace_id: bytes,
    ) -> None:
        self._conn = conn
        self.project_id = project_id
        self.trace_id = trace_id
        self.spans: dict[bytes, EditableSpan] = {}
        self.changed = False

    async def load(self, span_ids: Sequence[bytes]) -> dict[bytes, EditableSpan]:
        """These spans of the trace (the ones stored), as received."""
        wanted = [span_id for span_id in span_ids if span_id not in self.spans]
        if wanted:
            for stored in await PostgresSpanReader.spans_by_id(
                self._conn, self.project_id, self.trace_id, wanted
            ):
                self.spans[stored.span_id] = EditableSpan(
                    stored.span_id, stored.span, stored.resource, stored.scope
                )
        return {span_id: self.spans[span_id] for span_id in span_ids if span_id in self.spans}

    async def spans_started_by(self, start_ns: int, other_than: bytes) -> list[bytes]:
        """The serialized spans of the trace that started at or before ``start_ns`` (for an
        explicit step index, which depends on the steps before it)."""
        cursor = await self._conn.execute(
            _BLOCKS_STARTED_BY, (self.trace_id, self.project_id, start_ns)
        )
        spans: dict[bytes, bytes] = {}
        for span_ids, blob in await cursor.fetchall():
            for span_id, span in zip(
                span_ids_of(bytes(span_ids)), decode_block(bytes(blob)), strict=True
            ):
                if span_id != other_than:
                    spans.setdefault(span_id, span)
        return list(spans.values())

    async def replace(self, batch: SpanBatch) -> None:
        """Store the batch's spans (all of this trace), replacing stored ones with their ids,
        and mark the trace for derivation."""
        if any(trace_id != self.trace_id for trace_id in batch.trace_ids):
            raise ValueError("a trace edit only writes spans of its own trace")
        await replace_spans(self._conn, self.project_id, batch)
        self.changed = True


class RestSpanWriter:
    """Creates and edits the spans of REST runs; the derivers derive them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def after_commit(self) -> list[Callable[[], None]]:
        return self.store.after_commit

    async def create(self, project_id: int, batch: SpanBatch) -> None:
        """Write new spans through the ingest writer (which wakes the derivers)."""
        await self.store.write_spans(project_id, batch)

    @asynccontextmanager
    async def edit(self, project_id: int, trace_id: bytes) -> AsyncIterator[TraceEdit]:
        """A locked edit of the trace's spans. On a clean exit the replacements are committed;
        on an exception, nothing is."""
        try:
            async with self.store.pool.connection() as conn, conn.transaction():
                await lock_traces(conn, [(project_id, trace_id)])
                edit = TraceEdit(conn, project_id, trace_id)
                yield edit
        except PoolTimeout as exc:
            raise StorageUnavailable(str(exc)) from exc
        except psycopg.Error as exc:
            if means_unreachable(exc) or means_transient(exc):
                raise StorageUnavailable(str(exc)) from exc
            raise RejectedData(f"the database refused the run: {exc}") from exc
        if edit.changed:
            for callback in self.after_commit:
                callback()
