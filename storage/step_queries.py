"""Read queries for large runs: a run's steps by index range, and its slim timeline.

The viewer draws a waterfall of every step of a run but shows the payloads (input, output,
artifacts) of one step at a time. ``timeline`` therefore reads only the narrow columns of all
steps, and ``step_page`` reads steps a page at a time, both through the
``steps_run (trace_id, project_id, run_span_id, step_index)`` index, within the run's
partition. Values are bound parameters.
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
from storage.queries import ROWS_FROM, ROWS_TO, STEP_SELECT
from storage.query_records import StepRow

_RUN_HEAD = (
    "SELECT r.start_ns, r.step_count FROM runs r"
    " WHERE r.trace_id = %s AND r.project_id = %s AND r.span_id = %s"
    " AND r.start_ns BETWEEN " + ROWS_FROM + " AND " + ROWS_TO
)

_STEP_PAGE = (
    STEP_SELECT + "WHERE s.trace_id = %s AND s.project_id = %s AND s.run_span_id = %s"
    " AND s.run_start_ns = %s AND s.step_index >= %s ORDER BY s.step_index LIMIT %s"
)

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
    'parent_span_id', coalesce(
        json_agg(encode(s.parent_span_id, 'hex') ORDER BY s.step_index), '[]'),
    'child_run_id', coalesce(json_agg(
        CASE WHEN s.child_run_span_id IS NULL THEN NULL
             ELSE encode(s.trace_id || s.child_run_span_id, 'hex') END
        ORDER BY s.step_index), '[]'),
    'error_type', coalesce(json_agg(s.error_type ORDER BY s.step_index), '[]'),
    'cost', coalesce(json_agg(s.cost ORDER BY s.step_index), '[]'),
    'span_id', coalesce(json_agg(encode(s.span_id, 'hex') ORDER BY s.step_index), '[]')
)::text
FROM steps s
WHERE s.trace_id = %s AND s.project_id = %s AND s.run_span_id = %s AND s.run_start_ns = %s
"""


@dataclass(slots=True)
class RunTimelineRows:
    """``steps``: the JSON object of the timeline's steps, column by column (see RunTimeline)."""

    steps: dict[str, Any]


@dataclass(slots=True)
class StepPageRows:
    """Steps with index >= the requested offset, and the run's step total."""

    total: int
    steps: list[StepRow]
    has_more: bool


def _ids(run_id: str) -> tuple[bytes, bytes] | None:
    ids = split_id(run_id)
    if ids is None:
        return None
    return bytes.fromhex(ids[0]), bytes.fromhex(ids[1])


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
        """Up to ``limit`` steps from index ``offset`` on; None when the run is unknown."""
        ids = _ids(run_id)
        if ids is None:
            return None
        trace_id, span_id = ids
        p = self.project_id
        async with self._connection() as conn:
            head = await (
                await conn.execute(_RUN_HEAD, (trace_id, p, span_id, trace_id, p, trace_id, p))
            ).fetchone()
            if head is None:
                return None
            cursor = conn.cursor(row_factory=class_row(StepRow))
            await cursor.execute(_STEP_PAGE, (trace_id, p, span_id, head[0], offset, limit + 1))
            steps = await cursor.fetchall()
        return StepPageRows(total=head[1], steps=steps[:limit], has_more=len(steps) > limit)

    async def timeline(self, run_id: str, start_ns: int) -> RunTimelineRows:
        """Every step of the run column by column. Step offsets are counted from
        ``start_ns``, the run's start (its partition key)."""
        ids = _ids(run_id)
        if ids is None:
            raise ValueError(f"not a run id: {run_id!r}")
        trace_id, span_id = ids
        async with self._connection() as conn:
            cursor = await conn.execute(
                _TIMELINE, (start_ns, trace_id, self.project_id, span_id, start_ns)
            )
            row = await cursor.fetchone()
        assert row is not None
        columns: dict[str, Any] = orjson.loads(row[0])
        parent_span_ids = columns.pop("parent_span_id")
        index_of = dict(zip(columns.pop("span_id"), columns["index"], strict=True))
        columns["parent_index"] = [
            None if parent is None else index_of.get(parent) for parent in parent_span_ids
        ]
        return RunTimelineRows(steps=columns)
