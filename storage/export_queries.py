"""Reading runs with their steps page by page, for the JSON Lines export."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from psycopg.rows import class_row

from storage.queries import STEP_SELECT, Queries
from storage.query_records import RunFilters, RunKey, RunRow, StepRow

EXPORT_PAGE_RUNS = 200

_STEPS_OF_RUNS = (
    STEP_SELECT
    + """JOIN unnest(%s::bytea[], %s::bytea[], %s::int8[]) AS k(t, sp, st)
  ON s.trace_id = k.t AND s.run_span_id = k.sp AND s.run_start_ns = k.st
WHERE s.project_id = %s
ORDER BY s.trace_id, s.run_span_id, s.step_index"""
)


async def _steps_of(queries: Queries, runs: Sequence[RunRow]) -> dict[str, list[StepRow]]:
    params: tuple[Any, ...] = (
        [bytes.fromhex(r.trace_id) for r in runs],
        [bytes.fromhex(r.span_id) for r in runs],
        [r.start_ns for r in runs],
        queries.project_id,
    )
    found: dict[str, list[StepRow]] = {r.id: [] for r in runs}
    async with queries.connection() as conn:
        cursor = conn.cursor(row_factory=class_row(StepRow))
        await cursor.execute(_STEPS_OF_RUNS, params)
        for step in await cursor.fetchall():
            found[step.run_id].append(step)
    return found


async def runs_with_steps(
    queries: Queries,
    filters: RunFilters,
    *,
    limit: int | None = None,
    page_runs: int = EXPORT_PAGE_RUNS,
) -> AsyncIterator[tuple[RunRow, list[StepRow]]]:
    """Every run matching ``filters`` (at most ``limit``), newest first, with its steps in
    index order: one page of runs in memory at a time, each page a query of its own (keyset),
    so no connection is held while the caller sends."""
    after: RunKey | None = None
    sent = 0
    while limit is None or sent < limit:
        size = page_runs if limit is None else min(page_runs, limit - sent)
        page = await queries.list_runs(filters, after=after, limit=size)
        if not page.runs:
            return
        steps = await _steps_of(queries, page.runs)
        for run in page.runs:
            yield run, steps[run.id]
        sent += len(page.runs)
        if page.next_key is None:
            return
        after = page.next_key
