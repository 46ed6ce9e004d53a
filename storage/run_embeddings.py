"""Run embeddings for "similar runs": the queue the deriver fills, the pgvector table the
embedding worker fills, and the nearest-runs query.

**Where pgvector is missing.** The embeddings table needs the ``vector`` extension, which the
embedded PostgreSQL ships and many servers do not. It is created at run time
(``ensure_vector_schema``), never by a migration: without the extension (or without the right
to create it) the feature says why and everything else works.

**Queue.** Embedding a run takes tens of milliseconds of CPU, far more than deriving it, so
it never happens in the derivation transaction. ``EmbeddingQueue`` (a ``DerivedExtension``)
only inserts one ``embed_queue`` row per finished run whose derived row changed (and per run
that disappeared), in the batch's transaction. The embedding worker
(``agentguide/embed_worker.py``, a process of its own at low priority) takes the oldest rows,
embeds the runs, writes the vectors and deletes the rows it did, unless they were queued again
meanwhile. When it has nothing to do it queues recent finished runs that have no embedding of
its model (``queue_missing``): runs derived before the feature was on, or by another model.

**Nearest runs.** Cosine distance (``<=>``) to the vectors of the same agent and model. An
agent with at most ``EXACT_MAX_RUNS`` embedded runs is searched exactly (every distance
computed). A bigger one through pgvector's HNSW index (``hnsw.ef_search`` =
``HNSW_EF_SEARCH``; other agents' runs are filtered out as the walk meets them): approximate,
and its cost does not grow with the store. When the walk finds fewer than asked (the agent is
a small part of the store), the search is exact among the agent's ``SEARCH_DEPTH`` most
recently started runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mapping.failure_signature import StepOutcome
from storage.derived_extensions import TraceChange
from storage.derived_rows import RUN_INDEX
from storage.errors import StorageUnavailable
from storage.queries import RUN_SELECT
from storage.query_records import RunRow

logger = logging.getLogger(__name__)

FINISHED = ("SUCCESS", "FAILED", "CANCELLED")
EXACT_MAX_RUNS = 5_000  # an agent with at most this many embedded runs is searched exactly
HNSW_EF_SEARCH = 100  # candidates the HNSW index walks per search (pgvector's default is 40)
SEARCH_DEPTH = 20_000  # when the index finds too few: exact among the agent's newest runs
MAX_STEPS_READ = 20_000  # steps read for one run's text (its sequence is elided anyway)
STEP_ERROR_CHARS = 300
_SCHEMA_LOCK = 0x6167_7665_6374  # "agvect": one process creates the extension at a time

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS run_embeddings (
    project_id   integer NOT NULL,
    trace_id     bytea NOT NULL,
    span_id      bytea NOT NULL,
    start_ns     bigint NOT NULL,
    agent_name   text NOT NULL,
    model_id     text NOT NULL,
    embedding    vector({dimension}) NOT NULL,
    embedded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, trace_id, span_id)
)
"""
_CREATE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS run_embeddings_agent"
    " ON run_embeddings (project_id, agent_name, model_id, start_ns DESC)",
    "CREATE INDEX IF NOT EXISTS run_embeddings_start ON run_embeddings (start_ns)",
    "CREATE INDEX IF NOT EXISTS run_embeddings_hnsw"
    " ON run_embeddings USING hnsw (embedding vector_cosine_ops)",
)


class VectorUnavailable(RuntimeError):
    """This PostgreSQL cannot hold run embeddings; the message says why and what to do."""


def _reason(available: bool, error: str | None) -> str:
    if not available:
        return (
            "Similar runs are off: this PostgreSQL has no pgvector extension ('vector'). Use a "
            "PostgreSQL with pgvector installed (the embedded PostgreSQL that `agentguide "
            "serve` starts without --database-url has it)."
        )
    return (
        "Similar runs are off: this PostgreSQL has pgvector but it could not be enabled "
        f"({error}). Ask a database administrator to run CREATE EXTENSION vector in this "
        "database."
    )


async def vector_table_exists(conn: psycopg.AsyncConnection[Any]) -> bool:
    cursor = await conn.execute("SELECT to_regclass('run_embeddings') IS NOT NULL")
    row = await cursor.fetchone()
    return bool(row and row[0])


async def ensure_vector_schema(conn: psycopg.AsyncConnection[Any], dimension: int) -> None:
    """Create the ``vector`` extension and the embeddings table when missing. Raises
    ``VectorUnavailable`` when this PostgreSQL cannot. The connection must be in autocommit."""
    if await vector_table_exists(conn):
        return
    cursor = await conn.execute(
        "SELECT count(*) > 0 FROM pg_available_extensions WHERE name = 'vector'"
    )
    row = await cursor.fetchone()
    if not (row and row[0]):
        raise VectorUnavailable(_reason(False, None))
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            await conn.execute(_CREATE_TABLE.format(dimension=int(dimension)))
            for statement in _CREATE_INDEXES:
                await conn.execute(statement)
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        raise VectorUnavailable(_reason(True, str(exc).strip().splitlines()[0])) from exc


# --- the queue, filled by the deriver ---

_ENQUEUE = """
INSERT INTO embed_queue (project_id, trace_id, span_id, start_ns)
SELECT * FROM unnest(%s::int4[], %s::bytea[], %s::bytea[], %s::int8[])
ON CONFLICT (project_id, trace_id, span_id)
DO UPDATE SET start_ns = EXCLUDED.start_ns, queued_at = clock_timestamp()
"""


def runs_to_embed(change: TraceChange) -> list[tuple[bytes, int]]:
    """(span id, start) of the trace's runs whose embedding must be computed or dropped:
    finished runs whose row changed, and runs that are gone."""
    status_at, start_at = RUN_INDEX["status"], RUN_INDEX["start_ns"]
    wanted = []
    for span_id, row in change.new_rows.runs.items():
        if row[status_at] in FINISHED and change.old_rows.runs.get(span_id) != row:
            wanted.append((span_id, row[start_at]))
    for span_id, row in change.old_rows.runs.items():
        if span_id not in change.new_rows.runs:
            wanted.append((span_id, row[start_at]))
    return wanted


class EmbeddingQueue:
    """A ``DerivedExtension``: queues the runs whose embedding must be (re)computed."""

    name = "embed_queue"

    async def apply(
        self, conn: psycopg.AsyncConnection[Any], changes: Sequence[TraceChange]
    ) -> None:
        keys = sorted(
            (change.project_id, change.trace_id, span_id, start_ns)
            for change in changes
            for span_id, start_ns in runs_to_embed(change)
        )
        if keys:
            await conn.execute(_ENQUEUE, [list(column) for column in zip(*keys, strict=True)])


# --- the embedding worker's side (a plain process: synchronous) ---


@dataclass(frozen=True, slots=True)
class QueuedRun:
    project_id: int
    trace_id: bytes
    span_id: bytes
    start_ns: int
    queued_at: Any


@dataclass(frozen=True, slots=True)
class RunForEmbedding:
    """What a run's embedding is made of (``agentguide.embeddings.RunText``'s fields)."""

    key: QueuedRun
    agent_name: str
    status: str
    input: str | None
    error_type: str | None
    error_message: str | None
    steps: list[StepOutcome]


_NEXT_QUEUED = """
SELECT project_id, trace_id, span_id, start_ns, queued_at FROM embed_queue
ORDER BY queued_at LIMIT %s
"""
_RUN_FOR_TEXT = """
SELECT agent_name, status, input, error_type, error_message FROM runs
WHERE project_id = %s AND trace_id = %s AND span_id = %s AND start_ns = %s
"""
_STEPS_FOR_TEXT = """
SELECT kind, coalesce(tool_name, model, name), status = 'FAILED', error_type,
       left(error_message, %s)
FROM steps
WHERE trace_id = %s AND project_id = %s AND run_span_id = %s AND run_start_ns = %s
ORDER BY step_index LIMIT %s
"""
_UPSERT_EMBEDDING = """
INSERT INTO run_embeddings (project_id, trace_id, span_id, start_ns, agent_name, model_id,
                            embedding)
VALUES (%s, %s, %s, %s, %s, %s, %s::vector)
ON CONFLICT (project_id, trace_id, span_id) DO UPDATE SET
    start_ns = EXCLUDED.start_ns, agent_name = EXCLUDED.agent_name,
    model_id = EXCLUDED.model_id, embedding = EXCLUDED.embedding, embedded_at = now()
"""
_DELETE_EMBEDDING = """
DELETE FROM run_embeddings WHERE project_id = %s AND trace_id = %s AND span_id = %s
"""
_DEQUEUE = """
DELETE FROM embed_queue
WHERE project_id = %s AND trace_id = %s AND span_id = %s AND queued_at = %s
"""
# Retention drops runs by the day without passing through the deriver: embeddings of runs
# older than the oldest stored run go with them.
_FORGET_BEFORE_OLDEST_RUN = """
DELETE FROM run_embeddings
WHERE start_ns < coalesce((SELECT min(start_ns) FROM runs), (1::int8 << 62))
"""


_QUEUE_MISSING = """
INSERT INTO embed_queue (project_id, trace_id, span_id, start_ns)
SELECT r.project_id, r.trace_id, r.span_id, r.start_ns FROM runs r
WHERE r.start_ns >= %s AND r.status IN ('SUCCESS', 'FAILED', 'CANCELLED')
  AND NOT EXISTS (
      SELECT 1 FROM run_embeddings e
      WHERE e.project_id = r.project_id AND e.trace_id = r.trace_id AND e.span_id = r.span_id
        AND e.model_id = %s
  )
ORDER BY r.start_ns DESC LIMIT %s
ON CONFLICT DO NOTHING
"""


def queue_missing(conn: psycopg.Connection[Any], model_id: str, since_ns: int, limit: int) -> int:
    """Queue finished runs since ``since_ns`` that have no embedding of ``model_id`` (derived
    before similar runs were on, or embedded by another model), newest first; how many."""
    return conn.execute(_QUEUE_MISSING, (since_ns, model_id, limit)).rowcount


def next_queued(conn: psycopg.Connection[Any], limit: int) -> list[QueuedRun]:
    """The oldest queued runs (one embedding worker at a time: no claim needed)."""
    rows = conn.execute(_NEXT_QUEUED, (limit,)).fetchall()
    return [QueuedRun(int(p), bytes(t), bytes(s), int(n), q) for p, t, s, n, q in rows]


def run_for_embedding(conn: psycopg.Connection[Any], key: QueuedRun) -> RunForEmbedding | None:
    """The run's fields and its steps' outcomes, None when the run is gone or not finished."""
    row = conn.execute(
        _RUN_FOR_TEXT, (key.project_id, key.trace_id, key.span_id, key.start_ns)
    ).fetchone()
    if row is None or row[1] not in FINISHED:
        return None
    steps = conn.execute(
        _STEPS_FOR_TEXT,
        (STEP_ERROR_CHARS, key.trace_id, key.project_id, key.span_id, key.start_ns, MAX_STEPS_READ),
    ).fetchall()
    return RunForEmbedding(
        key=key,
        agent_name=row[0],
        status=row[1],
        input=row[2],
        error_type=row[3],
        error_message=row[4],
        steps=[StepOutcome(k, n, bool(failed), et, em) for k, n, failed, et, em in steps],
    )


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def store_embeddings(
    conn: psycopg.Connection[Any],
    model_id: str,
    embedded: Sequence[tuple[RunForEmbedding, Sequence[float]]],
    gone: Sequence[QueuedRun],
) -> None:
    """Write the vectors, drop those of runs that are gone, and dequeue both, in one
    transaction. A run queued again meanwhile stays queued."""
    with conn.transaction(), conn.cursor() as cursor:
        if embedded:
            cursor.executemany(
                _UPSERT_EMBEDDING,
                [
                    (
                        run.key.project_id,
                        run.key.trace_id,
                        run.key.span_id,
                        run.key.start_ns,
                        run.agent_name,
                        model_id,
                        vector_literal(vector),
                    )
                    for run, vector in embedded
                ],
            )
        if gone:
            cursor.executemany(
                _DELETE_EMBEDDING, [(k.project_id, k.trace_id, k.span_id) for k in gone]
            )
        done = [run.key for run, _ in embedded] + list(gone)
        if done:
            cursor.executemany(
                _DEQUEUE, [(k.project_id, k.trace_id, k.span_id, k.queued_at) for k in done]
            )


def forget_expired(conn: psycopg.Connection[Any]) -> int:
    """Drop the embeddings of runs older than the oldest stored run; how many went."""
    return conn.execute(_FORGET_BEFORE_OLDEST_RUN).rowcount


# --- the API's side ---


@dataclass(frozen=True, slots=True)
class EmbeddingState:
    """Where one run stands: embedded (with its agent and model), queued, or neither."""

    embedded: bool
    queued: bool
    agent_name: str | None = None
    model_id: str | None = None


@dataclass(slots=True)
class SimilarRunRow:
    similarity: float
    run: RunRow


SearchMethod = Literal["exact", "approximate", "newest"]


@dataclass(slots=True)
class SimilarSearch:
    method: SearchMethod  # exact: every run of the agent; approximate: HNSW; newest: exact
    rows: list[SimilarRunRow]  # among the agent's SEARCH_DEPTH newest


_STATE = """
SELECT e.agent_name, e.model_id,
       EXISTS (SELECT 1 FROM embed_queue q WHERE q.project_id = %s AND q.trace_id = %s
               AND q.span_id = %s)
FROM (SELECT 1) one
LEFT JOIN run_embeddings e ON e.project_id = %s AND e.trace_id = %s AND e.span_id = %s
"""
_TARGET = """
SELECT embedding::text, agent_name, model_id FROM run_embeddings
WHERE project_id = %s AND trace_id = %s AND span_id = %s
"""
_AGENT_RUNS = """
SELECT count(*) FROM (
    SELECT 1 FROM run_embeddings WHERE project_id = %s AND agent_name = %s AND model_id = %s
    LIMIT %s
) agent_runs
"""
# The agent's newest runs, every distance computed: exact within them.
_EXACT = """
WITH candidates AS (
    SELECT trace_id, span_id, start_ns, embedding FROM run_embeddings
    WHERE project_id = %(p)s AND agent_name = %(agent)s AND model_id = %(model)s
    ORDER BY start_ns DESC LIMIT %(depth)s
), nearest AS (
    SELECT trace_id, span_id, start_ns, embedding <=> %(vector)s::vector AS distance
    FROM candidates
    WHERE NOT (trace_id = %(t)s AND span_id = %(s)s)
    ORDER BY distance, start_ns DESC, trace_id, span_id LIMIT %(limit)s
)
"""
# The HNSW index walked in distance order, other agents' runs filtered out as they come.
_APPROXIMATE = """
WITH nearest AS MATERIALIZED (
    SELECT trace_id, span_id, start_ns, embedding <=> %(vector)s::vector AS distance
    FROM run_embeddings
    WHERE project_id = %(p)s AND agent_name = %(agent)s AND model_id = %(model)s
      AND NOT (trace_id = %(t)s AND span_id = %(s)s)
    ORDER BY embedding <=> %(vector)s::vector LIMIT %(limit)s
)
"""
_WITH_RUNS = """
SELECT 1 - n.distance AS similarity, {columns}
FROM nearest n
JOIN runs r ON r.project_id = %(p)s AND r.trace_id = n.trace_id AND r.span_id = n.span_id
           AND r.start_ns = n.start_ns
ORDER BY n.distance, n.start_ns DESC, n.trace_id, n.span_id
"""


class SimilarRunQueries:
    """The nearest runs of one run, in one project."""

    def __init__(
        self, pool: AsyncConnectionPool, project_id: int, exact_max_runs: int = EXACT_MAX_RUNS
    ) -> None:
        self.pool = pool
        self.project_id = project_id
        self.exact_max_runs = exact_max_runs

    async def state(self, trace_id: bytes, span_id: bytes) -> EmbeddingState:
        p = self.project_id
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(_STATE, (p, trace_id, span_id, p, trace_id, span_id))
                row = await cursor.fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc
        assert row is not None
        agent, model, queued = row
        return EmbeddingState(agent is not None, bool(queued), agent, model)

    async def queued(self) -> int:
        """The project's runs waiting to be embedded."""
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(
                    "SELECT count(*) FROM embed_queue WHERE project_id = %s", (self.project_id,)
                )
                row = await cursor.fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return int(row[0]) if row else 0

    async def nearest(self, trace_id: bytes, span_id: bytes, limit: int) -> SimilarSearch:
        """The ``limit`` runs nearest to this one (same agent and model), nearest first; how
        they were searched is in the module doc."""
        p = self.project_id
        try:
            async with self.pool.connection() as conn, conn.transaction():
                cursor = await conn.execute(_TARGET, (p, trace_id, span_id))
                target = await cursor.fetchone()
                if target is None:
                    return SimilarSearch("exact", [])
                vector, agent, model = target
                cursor = await conn.execute(_AGENT_RUNS, (p, agent, model, self.exact_max_runs + 1))
                counted = await cursor.fetchone()
                params = {"p": p, "t": trace_id, "s": span_id, "vector": vector}
                params |= {"agent": agent, "model": model, "limit": limit}
                if counted is not None and counted[0] <= self.exact_max_runs:
                    rows = await self._rows(conn, _EXACT, params | {"depth": counted[0]})
                    return SimilarSearch("exact", rows)
                await conn.execute(
                    "SELECT set_config('hnsw.ef_search', %s, true)", (str(HNSW_EF_SEARCH),)
                )
                rows = await self._rows(conn, _APPROXIMATE, params)
                if len(rows) >= limit:
                    return SimilarSearch("approximate", rows)
                rows = await self._rows(conn, _EXACT, params | {"depth": SEARCH_DEPTH})
                return SimilarSearch("newest", rows)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc

    @staticmethod
    async def _rows(
        conn: psycopg.AsyncConnection[Any], nearest: str, params: dict[str, Any]
    ) -> list[SimilarRunRow]:
        query = sql.SQL(nearest + _WITH_RUNS).format(columns=RUN_SELECT)
        cursor = await conn.execute(query, params)
        rows = await cursor.fetchall()
        names = [d.name for d in cursor.description or []][1:]
        return [
            SimilarRunRow(float(row[0]), RunRow(**dict(zip(names, row[1:], strict=True))))
            for row in rows
        ]
