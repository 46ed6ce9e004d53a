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

from storage.records import SpanBatch
from storage.store import StorageUnavailable, Store, trace_lock_key

_LOCK_TRACE = "SELECT pg_advisory_xact_lock(%s)"

_SELECT_SPANS = """
SELECT s.span_id, s.span, r.resource, sc.scope
FROM spans s
JOIN resources r ON r.project_id = s.project_id AND r.resource_hash = s.resource_hash
JOIN scopes sc ON sc.project_id = s.project_id AND sc.scope_hash = s.scope_hash
WHERE s.trace_id = %s AND s.project_id = %s
"""

# The deriver may hold a claimed row while it waits for the trace lock held here: skip it
# rather than wait (it derives the same spans again, to the same result).
_FORGET_DIRTY = """
DELETE FROM dirty_traces WHERE ctid IN (
    SELECT ctid FROM dirty_traces WHERE project_id = %s AND trace_id = %s
    FOR UPDATE SKIP LOCKED
)
"""

_UPSERT_RESOURCES = """
INSERT INTO resources (project_id, resource_hash, resource, schema_url, service_name)
SELECT %s, h, r, u, s FROM unnest(%s::bytea[], %s::bytea[], %s::text[], %s::text[]) AS t(h, r, u, s)
ON CONFLICT DO NOTHING
"""

_UPSERT_SCOPES = """
INSERT INTO scopes (project_id, scope_hash, scope, schema_url)
SELECT %s, h, s, u FROM unnest(%s::bytea[], %s::bytea[], %s::text[]) AS t(h, s, u)
ON CONFLICT DO NOTHING
"""

_REPLACE_SPANS = """
INSERT INTO spans (trace_id, project_id, span_id, parent_span_id, name, start_ns, end_ns,
                   resource_hash, scope_hash, span)
SELECT t.trace_id, %s, t.span_id, t.parent_span_id, t.name, t.start_ns, t.end_ns,
       t.resource_hash, t.scope_hash, t.span
FROM unnest(%s::bytea[], %s::bytea[], %s::bytea[], %s::text[], %s::int8[], %s::int8[],
            %s::bytea[], %s::bytea[], %s::bytea[])
     AS t(trace_id, span_id, parent_span_id, name, start_ns, end_ns,
          resource_hash, scope_hash, span)
ON CONFLICT (trace_id, project_id, span_id) DO UPDATE SET
    parent_span_id = EXCLUDED.parent_span_id,
    name = EXCLUDED.name,
    start_ns = EXCLUDED.start_ns,
    end_ns = EXCLUDED.end_ns,
    resource_hash = EXCLUDED.resource_hash,
    scope_hash = EXCLUDED.scope_hash,
    span = EXCLUDED.span
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
        await _write_batch(self._conn, self.project_id, batch)
        self.changed = True


async def _write_batch(
    conn: psycopg.AsyncConnection[Any], project_id: int, batch: SpanBatch
) -> None:
    resources = list(batch.resources.items())
    scopes = list(batch.scopes.items())
    await conn.execute(
        _UPSERT_RESOURCES,
        (
            project_id,
            [h for h, _ in resources],
            [r.resource for _, r in resources],
            [r.schema_url for _, r in resources],
            [r.service_name for _, r in resources],
        ),
    )
    await conn.execute(
        _UPSERT_SCOPES,
        (
            project_id,
            [h for h, _ in scopes],
            [s.scope for _, s in scopes],
            [s.schema_url for _, s in scopes],
        ),
    )
    await conn.execute(
        _REPLACE_SPANS,
        (
            project_id,
            batch.trace_ids,
            batch.span_ids,
            batch.parent_span_ids,
            batch.names,
            batch.start_ns,
            batch.end_ns,
            batch.resource_hashes,
            batch.scope_hashes,
            batch.spans,
        ),
    )


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
        await self.store._derive_traces(conn, project_id, [trace_id])
        await conn.execute(_FORGET_DIRTY, (project_id, trace_id))
