"""The span store: the one place that writes spans and derived rows to PostgreSQL.

Ingest commits the raw spans and marks their traces dirty in one transaction; the deriver
later maps all of a dirty trace's stored spans again and recomputes its runs, steps, artifacts
and metrics, under a per-trace advisory lock. Derived state is therefore a function
of the stored spans alone, whatever the arrival order, batching, duplicates or receiver.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mapping import derive_trace, span_facts
from mapping.model import DerivedTrace, SpanFacts
from storage.errors import StorageUnavailable
from storage.facts_cache import FactsCache
from storage.records import SpanBatch, StoredSpan

logger = logging.getLogger(__name__)

DEFAULT_PROJECT_ID = 1
_PARSED_CACHE_SIZE = 10_000


# One statement writes a whole batch: in autocommit it is one round trip and one transaction.
_WRITE_RESOURCES_AND_SCOPES = """
resources_written AS (
    INSERT INTO resources (project_id, resource_hash, resource, schema_url, service_name)
    SELECT %(project_id)b, h, r, u, s
    FROM unnest(%(resource_hashes)b::bytea[], %(resources)b::bytea[],
                %(resource_schema_urls)b::text[], %(service_names)b::text[]) AS t(h, r, u, s)
    ON CONFLICT DO NOTHING
), scopes_written AS (
    INSERT INTO scopes (project_id, scope_hash, scope, schema_url)
    SELECT %(project_id)b, h, s, u
    FROM unnest(%(scope_hashes)b::bytea[], %(scopes)b::bytea[], %(scope_schema_urls)b::text[])
         AS t(h, s, u)
    ON CONFLICT DO NOTHING
)"""

_INSERT_SPANS = """
INSERT INTO spans (trace_id, project_id, span_id, parent_span_id, name, start_ns, end_ns,
                   resource_hash, scope_hash, span)
SELECT t.trace_id, %(project_id)b, t.span_id, t.parent_span_id, t.name, t.start_ns, t.end_ns,
       t.resource_hash, t.scope_hash, t.span
FROM unnest(%(trace_ids)b::bytea[], %(span_ids)b::bytea[], %(parent_span_ids)b::bytea[],
            %(names)b::text[], %(start_ns)b::int8[], %(end_ns)b::int8[],
            %(span_resource_hashes)b::bytea[], %(span_scope_hashes)b::bytea[],
            %(spans)b::bytea[])
     AS t(trace_id, span_id, parent_span_id, name, start_ns, end_ns,
          resource_hash, scope_hash, span)
"""

# Spans are written once: re-delivery keeps the stored copy. Spans the REST API owns are
# replaced instead.
_KEEP_STORED = "ON CONFLICT DO NOTHING"
_REPLACE_STORED = """
ON CONFLICT (trace_id, project_id, span_id) DO UPDATE SET
    parent_span_id = EXCLUDED.parent_span_id, name = EXCLUDED.name,
    start_ns = EXCLUDED.start_ns, end_ns = EXCLUDED.end_ns,
    resource_hash = EXCLUDED.resource_hash, scope_hash = EXCLUDED.scope_hash,
    span = EXCLUDED.span
"""

_WRITE_SPANS_AND_MARK_DIRTY = (
    "WITH "
    + _WRITE_RESOURCES_AND_SCOPES
    + ", spans_written AS ("
    + _INSERT_SPANS
    + _KEEP_STORED
    + """)
INSERT INTO dirty_traces (trace_id, project_id)
SELECT t, %(project_id)b FROM unnest(%(dirty_trace_ids)b::bytea[]) AS t
"""
)

_REPLACE_SPANS = "WITH " + _WRITE_RESOURCES_AND_SCOPES + _INSERT_SPANS + _REPLACE_STORED

_CLAIM_DIRTY = """
DELETE FROM dirty_traces d
USING (SELECT ctid FROM dirty_traces ORDER BY marked_at LIMIT %s FOR UPDATE SKIP LOCKED) claimed
WHERE d.ctid = claimed.ctid
RETURNING d.project_id, d.trace_id
"""

_CLAIM_TRACES_WAITING = """
DELETE FROM dirty_traces WHERE project_id = %s AND trace_id = ANY(%s)
"""

_CLAIM_TRACES_UNLESS_CLAIMED = """
DELETE FROM dirty_traces WHERE ctid IN (
    SELECT ctid FROM dirty_traces WHERE project_id = %s AND trace_id = ANY(%s)
    FOR UPDATE SKIP LOCKED
)
"""

_LOCK_TRACES = """
SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM unnest(%s::int8[]) AS k ORDER BY k) AS keys
"""

_SELECT_SPAN_VERSIONS = """
SELECT trace_id, span_id, xmin::text FROM spans WHERE project_id = %b AND trace_id = ANY(%b)
"""

_SELECT_SPANS_BY_KEY = """
SELECT s.trace_id, s.span_id, s.xmin::text, s.span, s.resource_hash, s.scope_hash
FROM unnest(%b::bytea[], %b::bytea[]) AS k(trace_id, span_id)
JOIN spans s ON s.trace_id = k.trace_id AND s.project_id = %b AND s.span_id = k.span_id
"""

_SELECT_RESOURCES = """
SELECT resource_hash, resource FROM resources WHERE project_id = %b AND resource_hash = ANY(%b)
"""

_SELECT_SCOPES = """
SELECT scope_hash, scope FROM scopes WHERE project_id = %b AND scope_hash = ANY(%b)
"""

_DERIVED_TABLES = ("runs", "steps", "artifacts", "run_metrics")

# The columns of each derived table with their types, for binary COPY.
_RUN_COLUMNS = (
    ("trace_id", "bytea"), ("project_id", "int4"), ("id", "text"), ("span_id", "bytea"),
    ("parent_run_id", "text"), ("name", "text"), ("agent_name", "text"), ("agent_id", "text"),
    ("agent_version", "text"), ("agent_description", "text"), ("status", "text"),
    ("input", "text"), ("input_truncated", "bool"), ("output", "text"),
    ("output_truncated", "bool"), ("error_type", "text"), ("error_message", "text"),
    ("start_ns", "int8"), ("end_ns", "int8"), ("duration_ms", "float8"), ("models", "text[]"),
    ("input_tokens", "int8"), ("output_tokens", "int8"), ("total_tokens", "int8"),
    ("step_count", "int4"), ("tool_call_count", "int4"), ("llm_call_count", "int4"),
    ("failed_step_count", "int4"), ("orphan_span_count", "int4"), ("session_id", "text"),
    ("user_id", "text"), ("service_name", "text"), ("handoff_from_agent", "text"),
)  # fmt: skip
_STEP_COLUMNS = (
    ("trace_id", "bytea"), ("project_id", "int4"), ("id", "text"), ("run_id", "text"),
    ("span_id", "bytea"), ("step_index", "int4"), ("kind", "text"), ("name", "text"),
    ("tool_name", "text"), ("model", "text"), ("status", "text"), ("input", "text"),
    ("input_truncated", "bool"), ("output", "text"), ("output_truncated", "bool"),
    ("error_type", "text"), ("error_message", "text"), ("start_ns", "int8"),
    ("end_ns", "int8"), ("duration_ms", "float8"), ("input_tokens", "int8"),
    ("output_tokens", "int8"), ("total_tokens", "int8"), ("parent_step_id", "text"),
    ("child_run_id", "text"),
)  # fmt: skip
_ARTIFACT_COLUMNS = (
    ("trace_id", "bytea"), ("project_id", "int4"), ("id", "text"), ("run_id", "text"),
    ("step_id", "text"), ("span_id", "bytea"), ("type", "text"), ("name", "text"),
    ("content", "text"), ("url", "text"), ("time_ns", "int8"), ("truncated", "bool"),
)  # fmt: skip
_METRIC_COLUMNS = (
    ("trace_id", "bytea"), ("project_id", "int4"), ("run_id", "text"), ("name", "text"),
    ("value", "float8"), ("tags", "jsonb"), ("seq", "int4"),
)  # fmt: skip

_UPSERT_AGENTS = """
INSERT INTO agents (project_id, name, agent_id, version, description, first_seen_ns, last_seen_ns)
SELECT %s, n, i, v, d, f, l
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::int8[], %s::int8[])
     AS t(n, i, v, d, f, l)
ORDER BY n
ON CONFLICT (project_id, name) DO UPDATE SET
    agent_id = coalesce(EXCLUDED.agent_id, agents.agent_id),
    version = coalesce(EXCLUDED.version, agents.version),
    description = coalesce(EXCLUDED.description, agents.description),
    first_seen_ns = least(agents.first_seen_ns, EXCLUDED.first_seen_ns),
    last_seen_ns = greatest(agents.last_seen_ns, EXCLUDED.last_seen_ns)
"""

_SELECT_TRACE = """
SELECT s.span, s.resource_hash, r.resource, r.schema_url, s.scope_hash, sc.scope, sc.schema_url
FROM spans s
JOIN resources r ON r.project_id = s.project_id AND r.resource_hash = s.resource_hash
JOIN scopes sc ON sc.project_id = s.project_id AND sc.scope_hash = s.scope_hash
WHERE s.trace_id = %s AND s.project_id = %s
ORDER BY s.start_ns, s.span_id
"""


def _batch_params(project_id: int, batch: SpanBatch) -> dict[str, Any]:
    resources = list(batch.resources.items())
    scopes = list(batch.scopes.items())
    return {
        "project_id": project_id,
        "resource_hashes": [h for h, _ in resources],
        "resources": [r.resource for _, r in resources],
        "resource_schema_urls": [r.schema_url for _, r in resources],
        "service_names": [r.service_name for _, r in resources],
        "scope_hashes": [h for h, _ in scopes],
        "scopes": [s.scope for _, s in scopes],
        "scope_schema_urls": [s.schema_url for _, s in scopes],
        "trace_ids": batch.trace_ids,
        "span_ids": batch.span_ids,
        "parent_span_ids": batch.parent_span_ids,
        "names": batch.names,
        "start_ns": batch.start_ns,
        "end_ns": batch.end_ns,
        "span_resource_hashes": batch.resource_hashes,
        "span_scope_hashes": batch.scope_hashes,
        "spans": batch.spans,
    }


def trace_lock_key(project_id: int, trace_id: bytes) -> int:
    """A signed 64-bit advisory lock key for one trace of one project."""
    key = int.from_bytes(trace_id[:8], "big") ^ (project_id * 0x9E3779B97F4A7C15)
    key &= 0xFFFFFFFFFFFFFFFF
    return key - (1 << 64) if key >= 1 << 63 else key


def _duration_ms(start_ns: int, end_ns: int | None) -> float | None:
    return None if end_ns is None else (end_ns - start_ns) / 1e6


def _storable(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL: display copies get U+FFFD (the raw span keeps it)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def _derived_rows(project_id: int, derived: DerivedTrace) -> dict[str, list[tuple[Any, ...]]]:
    trace_id = bytes.fromhex(derived.trace_id)
    runs = [
        (
            trace_id, project_id, r.id, bytes.fromhex(r.span_id), r.parent_run_id, r.name,
            r.agent_name, r.agent_id, r.agent_version, r.agent_description, r.status, r.input,
            r.input_truncated, r.output, r.output_truncated, r.error_type, r.error_message,
            r.start_ns, r.end_ns, _duration_ms(r.start_ns, r.end_ns), r.models, r.input_tokens,
            r.output_tokens, r.total_tokens, r.step_count, r.tool_call_count, r.llm_call_count,
            r.failed_step_count, r.orphan_span_count, r.session_id, r.user_id, r.service_name,
            r.handoff_from_agent,
        )
        for r in derived.runs
    ]  # fmt: skip
    steps = [
        (
            trace_id, project_id, s.id, s.run_id, bytes.fromhex(s.span_id), s.index, s.kind,
            s.name, s.tool_name, s.model, s.status, s.input, s.input_truncated, s.output,
            s.output_truncated, s.error_type, s.error_message, s.start_ns, s.end_ns,
            _duration_ms(s.start_ns, s.end_ns), s.input_tokens, s.output_tokens, s.total_tokens,
            s.parent_step_id, s.child_run_id,
        )
        for s in derived.steps
    ]  # fmt: skip
    artifacts = [
        (
            trace_id, project_id, a.id, a.run_id, a.step_id, bytes.fromhex(a.span_id), a.type,
            a.name, a.content, a.url, a.time_ns, a.truncated,
        )
        for a in derived.artifacts
    ]  # fmt: skip
    metrics = [
        (trace_id, project_id, m.run_id, m.name, m.value, Jsonb(m.tags), seq)
        for seq, m in enumerate(derived.metrics)
    ]
    return {"runs": runs, "steps": steps, "artifacts": artifacts, "run_metrics": metrics}


_COLUMNS_BY_TABLE = {
    "runs": _RUN_COLUMNS,
    "steps": _STEP_COLUMNS,
    "artifacts": _ARTIFACT_COLUMNS,
    "run_metrics": _METRIC_COLUMNS,
}


class Store:
    """Span writer, span reader and deriver over one PostgreSQL connection pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.after_commit: list[Callable[[], None]] = []
        self._resources: dict[tuple[int, bytes], Resource] = {}
        self._scopes: dict[tuple[int, bytes], InstrumentationScope] = {}
        self._facts = FactsCache()
        # Seconds spent mapping spans and deriving runs from them (no I/O), for the metrics.
        self.mapping_s = 0.0

    @classmethod
    async def open(
        cls, database_url: str, *, min_size: int = 1, max_size: int = 8, timeout_s: float = 5.0
    ) -> Store:
        pool = AsyncConnectionPool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            open=False,
            # Autocommit: a single statement is its own transaction (one round trip); work of
            # several statements opens an explicit transaction.
            kwargs={"connect_timeout": max(1, int(timeout_s)), "autocommit": True},
            name="agentguide",
            # psycopg_pool doubles its reconnect delay for as long as this lasts; a short
            # attempt makes the next request start again from a 1 s delay after an outage.
            reconnect_timeout=10.0,
        )
        await pool.open(wait=False)
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers."""
        try:
            async with self.pool.connection() as conn:
                await conn.execute("SELECT 1")
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def write_spans(self, project_id: int, batch: SpanBatch) -> None:
        """Commit the spans (idempotently: known spans are kept as they are) and mark their
        traces for derivation. Returns only once committed; raises StorageUnavailable when the
        outcome is a failure the sender should retry."""
        if not len(batch):
            return
        params = _batch_params(project_id, batch)
        params["dirty_trace_ids"] = sorted(set(batch.trace_ids))
        for attempt in (1, 2):
            try:
                async with self.pool.connection() as conn:
                    await conn.execute(_WRITE_SPANS_AND_MARK_DIRTY, params)
                break
            except PoolTimeout as exc:
                raise StorageUnavailable("no database connection available: " + str(exc)) from exc
            except psycopg.OperationalError as exc:
                # A pooled connection may have died with the server; the write is idempotent,
                # so one more try on a fresh connection is safe.
                if attempt == 2:
                    raise StorageUnavailable(str(exc)) from exc
                logger.warning("span write failed, retrying once: %s", exc)
        for callback in self.after_commit:
            callback()

    @staticmethod
    async def replace_spans(
        conn: psycopg.AsyncConnection[Any], project_id: int, batch: SpanBatch
    ) -> None:
        """Write a batch in the caller's transaction, replacing the stored spans with the same
        ids (for spans the API owns; OTLP spans are never replaced)."""
        await conn.execute(_REPLACE_SPANS, _batch_params(project_id, batch))

    async def get_trace(self, project_id: int, trace_id: bytes) -> list[StoredSpan]:
        """Every stored span of a trace with its resource and scope, by start time."""
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(_SELECT_TRACE, (trace_id, project_id))
                rows = await cursor.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return [StoredSpan(*row) for row in rows]

    async def derive_pending(self, max_traces: int = 200) -> int:
        """Derive the runs and steps of up to ``max_traces`` dirty traces; the count claimed."""
        async with self.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(_CLAIM_DIRTY, (max_traces,))
            claimed = {
                (project_id, bytes(trace_id)) for project_id, trace_id in await cursor.fetchall()
            }
            if not claimed:
                return 0
            await conn.execute(_LOCK_TRACES, ([trace_lock_key(p, t) for p, t in claimed],))
            by_project: dict[int, list[bytes]] = defaultdict(list)
            for project_id, trace_id in sorted(claimed):
                by_project[project_id].append(trace_id)
            for project_id, trace_ids in by_project.items():
                await self._derive_traces(conn, project_id, trace_ids)
        return len(claimed)

    async def derive_traces(self, project_id: int, trace_ids: Sequence[bytes]) -> None:
        """Derive these traces now, so that a caller reads its own writes.

        Unlike ``derive_pending`` this waits for a deriver that is working on them: its claim
        on their dirty rows blocks ours until it commits, and the advisory lock then orders us
        after it, so what we derive includes every span committed before this call.
        """
        unique = sorted(set(trace_ids))
        if not unique:
            return
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(_CLAIM_TRACES_WAITING, (project_id, unique))
            await self.derive_traces_in(conn, project_id, unique)

    async def derive_traces_in(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, trace_ids: Sequence[bytes]
    ) -> None:
        """Derive these traces within the caller's transaction, which may already hold their
        locks. A deriver's claim is skipped, not waited for: that deriver may be waiting for
        our lock, and derives the same spans again once it has it."""
        unique = sorted(set(trace_ids))
        await conn.execute(_CLAIM_TRACES_UNLESS_CLAIMED, (project_id, unique))
        await conn.execute(_LOCK_TRACES, ([trace_lock_key(project_id, t) for t in unique],))
        await self._derive_traces(conn, project_id, unique)

    async def derive_all_pending(self) -> int:
        """Derive until no trace is dirty; the number of traces derived."""
        total = 0
        while claimed := await self.derive_pending():
            total += claimed
        return total

    async def _derive_traces(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, trace_ids: Sequence[bytes]
    ) -> None:
        facts_by_trace, failed = await self._trace_facts(conn, project_id, trace_ids)
        derived: list[DerivedTrace] = []
        started = time.perf_counter()
        for trace_id, facts_list in facts_by_trace.items():
            if trace_id in failed:
                continue
            try:
                derived.append(derive_trace(facts_list))
            except Exception:
                logger.exception("cannot derive the runs of trace %s", trace_id.hex())
                failed.add(trace_id)
        self.mapping_s += time.perf_counter() - started
        try:
            async with conn.transaction():
                await self._replace_derived(conn, project_id, derived)
        except (psycopg.DataError, psycopg.IntegrityError):
            logger.warning("writing derived rows failed; writing trace by trace")
            for trace in derived:
                try:
                    async with conn.transaction():
                        await self._replace_derived(conn, project_id, [trace])
                except (psycopg.DataError, psycopg.IntegrityError):
                    logger.exception("cannot store the runs of trace %s", trace.trace_id)
        gone = [t for t in trace_ids if t not in facts_by_trace and t not in failed]
        if gone:  # every span of these traces was deleted: so go their runs
            await self._delete_derived(conn, project_id, gone)

    async def _replace_derived(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, derived: Sequence[DerivedTrace]
    ) -> None:
        await self._delete_derived(
            conn, project_id, [bytes.fromhex(trace.trace_id) for trace in derived]
        )
        rows_by_table: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for trace in derived:
            for table, table_rows in _derived_rows(project_id, trace).items():
                rows_by_table[table].extend(table_rows)
        for table, table_rows in rows_by_table.items():
            if table_rows:
                await self._copy_rows(conn, table, _COLUMNS_BY_TABLE[table], table_rows)
        await self._upsert_agents(conn, project_id, derived)

    @staticmethod
    async def _delete_derived(
        conn: psycopg.AsyncConnection[Any], project_id: int, trace_ids: Sequence[bytes]
    ) -> None:
        for table in _DERIVED_TABLES:
            await conn.execute(
                sql.SQL("DELETE FROM {} WHERE project_id = %s AND trace_id = ANY(%s)").format(
                    sql.Identifier(table)
                ),
                (project_id, list(trace_ids)),
            )

    async def _trace_facts(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, trace_ids: Sequence[bytes]
    ) -> tuple[dict[bytes, list[SpanFacts]], set[bytes]]:
        """The facts of every stored span of the traces, mapping only spans not seen before;
        and the traces with a span that cannot be mapped."""
        cursor = await conn.execute(
            _SELECT_SPAN_VERSIONS, (project_id, list(trace_ids)), binary=True
        )
        facts_by_trace: dict[bytes, list[SpanFacts]] = defaultdict(list)
        missing: list[tuple[bytes, bytes]] = []
        for trace_id, span_id, version in await cursor.fetchall():
            facts = self._facts.get(project_id, trace_id, span_id, version)
            if facts is None:
                missing.append((trace_id, span_id))
            else:
                facts_by_trace[trace_id].append(facts)
        failed: set[bytes] = set()
        if not missing:
            return facts_by_trace, failed
        cursor = await conn.execute(
            _SELECT_SPANS_BY_KEY,
            ([t for t, _ in missing], [s for _, s in missing], project_id),
            binary=True,
        )
        rows = await cursor.fetchall()
        resources = await self._parsed(
            conn, _SELECT_RESOURCES, project_id, {row[4] for row in rows}, Resource,
            self._resources,
        )  # fmt: skip
        scopes = await self._parsed(
            conn, _SELECT_SCOPES, project_id, {row[5] for row in rows}, InstrumentationScope,
            self._scopes,
        )  # fmt: skip
        started = time.perf_counter()
        for trace_id, span_id, version, span_bytes, resource_hash, scope_hash in rows:
            if trace_id in failed:
                continue
            try:
                span = Span.FromString(span_bytes)
                facts = span_facts(span, resources[resource_hash], scopes[scope_hash])
            except Exception:
                logger.exception(
                    "cannot map a span of trace %s; its runs are not derived", trace_id.hex()
                )
                failed.add(trace_id)
                continue
            self._facts.put(project_id, trace_id, span_id, version, facts)
            facts_by_trace[trace_id].append(facts)
        self.mapping_s += time.perf_counter() - started
        return facts_by_trace, failed

    @staticmethod
    async def _parsed(
        conn: psycopg.AsyncConnection[Any],
        query: str,
        project_id: int,
        hashes: set[bytes],
        message_type: Any,
        cache: dict[tuple[int, bytes], Any],
    ) -> dict[bytes, Any]:
        """Resources or scopes by content hash, parsed once and kept (they never change)."""
        found = {h: cache[(project_id, h)] for h in hashes if (project_id, h) in cache}
        missing = [h for h in hashes if h not in found]
        if missing:
            cursor = await conn.execute(query, (project_id, missing), binary=True)
            for content_hash, payload in await cursor.fetchall():
                parsed = message_type.FromString(payload)
                if len(cache) >= _PARSED_CACHE_SIZE:
                    cache.clear()
                cache[(project_id, content_hash)] = parsed
                found[content_hash] = parsed
        return found

    @staticmethod
    async def _copy_rows(
        conn: psycopg.AsyncConnection[Any],
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(table),
            sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns),
        )
        async with conn.cursor().copy(statement) as copy:
            copy.set_types([type_name for _, type_name in columns])
            for row in rows:
                await copy.write_row(
                    [
                        (value.replace("\x00", "\ufffd") if "\x00" in value else value)
                        if type(value) is str
                        else (_storable(value) if type(value) is list else value)
                        for value in row
                    ]
                )

    @staticmethod
    async def _upsert_agents(
        conn: psycopg.AsyncConnection[Any], project_id: int, derived: Sequence[DerivedTrace]
    ) -> None:
        seen: dict[str, Any] = {}
        for trace in derived:
            for agent in trace.agents:
                known = seen.get(agent.name)
                if known is None:
                    seen[agent.name] = agent
                else:
                    known.first_seen_ns = min(known.first_seen_ns, agent.first_seen_ns)
                    known.last_seen_ns = max(known.last_seen_ns, agent.last_seen_ns)
        if not seen:
            return
        agents = sorted(seen.values(), key=lambda a: a.name)
        await conn.execute(
            _UPSERT_AGENTS,
            (
                project_id,
                [a.name for a in agents],
                [a.agent_id for a in agents],
                [a.version for a in agents],
                [a.description for a in agents],
                [a.first_seen_ns for a in agents],
                [a.last_seen_ns for a in agents],
            ),
        )
