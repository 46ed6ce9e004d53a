"""Read queries for large runs: a run's steps by index range, and its slim timeline.

The viewer draws a waterfall of every step of a run but shows the payloads (input, output,
artifacts) of one step at a time. ``timeline`` therefore reads only the narrow columns of all
steps, and ``step_page`` reads full steps a page at a time, both through the
``steps_run (trace_id, project_id, run_id, step_index)`` index. Values are bound parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mapping.model import split_id
from storage.errors import StorageUnavailable
from storage.query_records import ArtifactRow, MetricRow, StepRow

_RUN_HEAD = """
SELECT r.start_ns, r.step_count
FROM runs r
WHERE r.trace_id = %s AND r.project_id = %s AND r.id = %s
"""

_STEP_PAGE = """
SELECT s.id, s.run_id, encode(s.span_id, 'hex') AS span_id, s.step_index AS index, s.kind,
       s.name, s.tool_name, s.model, s.status, s.input, s.input_truncated, s.output,
       s.output_truncated, s.error_type, s.error_message, s.start_ns, s.end_ns, s.duration_ms,
       s.input_tokens, s.output_tokens, s.total_tokens, s.parent_step_id, s.child_run_id
FROM steps s
WHERE s.trace_id = %s AND s.project_id = %s AND s.run_id = %s AND s.step_index >= %s
ORDER BY s.step_index
LIMIT %s
"""

_PAGE_ARTIFACTS = """
SELECT a.id, a.step_id, encode(a.span_id, 'hex') AS span_id, a.type, a.name, a.content, a.url,
       a.time_ns, a.truncated
FROM artifacts a
WHERE a.trace_id = %s AND a.project_id = %s AND a.run_id = %s AND a.step_id = ANY(%s)
ORDER BY a.time_ns NULLS FIRST, a.span_id, length(a.id), a.id
"""

_RUN_ARTIFACTS = """
SELECT a.id, a.step_id, encode(a.span_id, 'hex') AS span_id, a.type, a.name, a.content, a.url,
       a.time_ns, a.truncated
FROM artifacts a
WHERE a.trace_id = %s AND a.project_id = %s AND a.run_id = %s AND a.step_id IS NULL
ORDER BY a.time_ns NULLS FIRST, a.span_id, length(a.id), a.id
"""

_RUN_METRICS = """
SELECT m.name, m.value, m.tags
FROM run_metrics m
WHERE m.trace_id = %s AND m.project_id = %s AND m.run_id = %s
ORDER BY m.seq
"""

# The steps column by column, as JSON built by PostgreSQL: a run can have tens of thousands of
# steps, and decoding them row by row in Python would hold the event loop. Times are rounded to
# the microsecond: enough to draw, and short in JSON.
_TIMELINE = """
SELECT json_build_object(
    'count', count(*),
    'index', coalesce(json_agg(s.step_index ORDER BY s.step_index), '[]'),
    'kind', coalesce(json_agg(s.kind ORDER BY s.step_index), '[]'),
    'name', coalesce(json_agg(s.name ORDER BY s.step_index), '[]'),
    'status', coalesce(json_agg(s.status ORDER BY s.step_index), '[]'),
    'offset_ms', coalesce(
        json_agg(((s.start_ns - %s) / 1000)::float8 / 1000 ORDER BY s.step_index), '[]'),
    'duration_ms', coalesce(
        json_agg(round(s.duration_ms * 1000) / 1000 ORDER BY s.step_index), '[]'),
    'parent_step_id', coalesce(json_agg(s.parent_step_id ORDER BY s.step_index), '[]'),
    'child_run_id', coalesce(json_agg(s.child_run_id ORDER BY s.step_index), '[]'),
    'error_type', coalesce(json_agg(s.error_type ORDER BY s.step_index), '[]')
)::text
FROM steps s
WHERE s.trace_id = %s AND s.project_id = %s AND s.run_id = %s
"""

# The index of each parent step that is a step of the same run. A lookup by primary key, not a
# join: on a freshly loaded run stale statistics make the planner nest loops over the steps.
_PARENT_INDEXES = """
SELECT s.id, s.step_index
FROM steps s
WHERE s.trace_id = %s AND s.project_id = %s AND s.id = ANY(%s) AND s.run_id = %s
"""


@dataclass(slots=True)
class RunTimelineRows:
    """``steps``: the JSON object of the timeline's steps, column by column (see RunTimeline)."""

    steps: dict[str, Any]
    metrics: list[MetricRow]
    artifacts: list[ArtifactRow]


@dataclass(slots=True)
class StepPageRows:
    """Steps with index >= the requested offset, their artifacts, and the run's step total."""

    total: int
    steps: list[StepRow]
    artifacts: list[ArtifactRow]
    has_more: bool


def _run_key(run_id: str, project_id: int) -> tuple[bytes, int, str] | None:
    ids = split_id(run_id)
    if ids is None:
        return None
    return bytes.fromhex(ids[0]), project_id, run_id.lower()


class StepQueries:
    """Steps of one run, for clients that cannot take them all at once."""

    def __init__(self, pool: AsyncConnectionPool, project_id: int) -> None:
        self.pool = pool
        self.project_id = project_id

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            async with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def step_page(self, run_id: str, *, offset: int, limit: int) -> StepPageRows | None:
        """Up to ``limit`` steps from index ``offset`` on, with their artifacts; None when the
        run is unknown."""
        key = _run_key(run_id, self.project_id)
        if key is None:
            return None
        async with self._connection() as conn:
            head = await (await conn.execute(_RUN_HEAD, key)).fetchone()
            if head is None:
                return None
            cursor = conn.cursor(row_factory=class_row(StepRow))
            await cursor.execute(_STEP_PAGE, (*key, offset, limit + 1))
            steps = await cursor.fetchall()
            has_more = len(steps) > limit
            steps = steps[:limit]
            artifacts: list[ArtifactRow] = []
            if steps:
                found = conn.cursor(row_factory=class_row(ArtifactRow))
                await found.execute(_PAGE_ARTIFACTS, (*key, [step.id for step in steps]))
                artifacts = await found.fetchall()
        return StepPageRows(total=head[1], steps=steps, artifacts=artifacts, has_more=has_more)

    async def timeline(self, run_id: str, start_ns: int) -> RunTimelineRows:
        """Every step of the run column by column, its metrics, and the artifacts of its own
        span. Step offsets are counted from ``start_ns``."""
        key = _run_key(run_id, self.project_id)
        if key is None:
            raise ValueError(f"not a run id: {run_id!r}")
        async with self._connection() as conn:
            steps = conn.cursor()
            metrics = conn.cursor(row_factory=class_row(MetricRow))
            artifacts = conn.cursor(row_factory=class_row(ArtifactRow))
            async with conn.pipeline():
                await steps.execute(_TIMELINE, (start_ns, *key))
                await metrics.execute(_RUN_METRICS, key)
                await artifacts.execute(_RUN_ARTIFACTS, key)
            row = await steps.fetchone()
            assert row is not None
            columns: dict[str, Any] = orjson.loads(row[0])
            parent_ids = columns.pop("parent_step_id")
            wanted = sorted({parent for parent in parent_ids if parent is not None})
            index_of: dict[str, int] = {}
            if wanted:
                found = await conn.execute(_PARENT_INDEXES, (key[0], key[1], wanted, key[2]))
                index_of = dict(await found.fetchall())
            columns["parent_index"] = [index_of.get(parent) for parent in parent_ids]
            return RunTimelineRows(
                steps=columns,
                metrics=await metrics.fetchall(),
                artifacts=await artifacts.fetchall(),
            )
