"""Writes for the REST ingest: spans that the API made itself and may later replace.

A REST run is a span that changes as the run proceeds, so its writes differ from OTLP ingest
in two ways: a changed span replaces the stored one (OTLP keeps the first copy), and the trace
is derived before the write is answered, so the client reads its own write. Each edit reads,
replaces and derives under the trace's advisory lock (the deriver's lock), so concurrent
edits of one run serialize and derived state always matches the stored spans.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from storage.errors import StorageUnavailable
from storage.records import SpanBatch
from storage.store import Store, trace_lock_key

_LOCK_TRACE = "SELECT pg_advisory_xact_lock(%s)"

_SELECT_SPANS = """
SELECT s.span_id, s.span, r.resource, sc.scope
FROM spans s
JOIN resources r ON r.project_id = s.project_id AND r.resource_hash = s.resource_hash
JOIN scopes sc ON sc.project_id = s.project_id AND sc.scope_hash = s.scope_hash
WHERE s.trace_id = %s AND s.project_id = %s
"""


@dataclass(frozen=True, slots=True)
class EditableSpan:
    """A stored span with its resource and scope, all serialized as received."""

    span_id: bytes
    span: bytes
    resource: bytes
    scope: bytes


class TraceEdit:
    """The spans of one trace, open for replacement within one locked transaction."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        trace_id: bytes,
        spans: dict[bytes, EditableSpan],
    ) -> None:
        self._conn = conn
        self.project_id = project_id
        self.trace_id = trace_id
        self.spans = spans
        self.changed = False

    async def replace(self, batch: SpanBatch) -> None:
        """Store the batch's spans (all of this trace), replacing stored ones with their ids."""
        if any(trace_id != self.trace_id for trace_id in batch.trace_ids):
            raise ValueError("a trace edit only writes spans of its own trace")
        await Store.replace_spans(self._conn, self.project_id, batch)
        self.changed = True


class RestSpanWriter:
    """Creates and edits the spans of REST runs, deriving each trace before returning."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, project_id: int, batch: SpanBatch) -> None:
        """Write new spans through the ingest writer, then derive their traces at once."""
        await self.store.write_spans(project_id, batch)
        for trace_id in sorted(set(batch.trace_ids)):
            async with self._locked(project_id, trace_id) as conn:
                await self._derive(conn, project_id, trace_id)

    @asynccontextmanager
    async def edit(self, project_id: int, trace_id: bytes) -> AsyncIterator[TraceEdit]:
        """The trace's spans for read-modify-write. On a clean exit the replacements are
        committed together with the trace's new derived rows; on an exception, nothing is."""
        async with self._locked(project_id, trace_id) as conn:
            cursor = await conn.execute(_SELECT_SPANS, (trace_id, project_id))
            spans = {
                bytes(span_id): EditableSpan(
                    bytes(span_id), bytes(span), bytes(resource), bytes(scope)
                )
                for span_id, span, resource, scope in await cursor.fetchall()
            }
            edit = TraceEdit(conn, project_id, trace_id, spans)
            yield edit
            if edit.changed:
                await self._derive(conn, project_id, trace_id)

    @asynccontextmanager
    async def _locked(
        self, project_id: int, trace_id: bytes
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            async with self.store.pool.connection() as conn, conn.transaction():
                await conn.execute(_LOCK_TRACE, (trace_lock_key(project_id, trace_id),))
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def _derive(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, trace_id: bytes
    ) -> None:
        # The store's own per-trace derivation, so REST and OTLP traces derive identically.
        await self.store.derive_traces_in(conn, project_id, [trace_id])
