"""The steps of a run as run comparison reads them (``mapping.compare``)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.errors import StorageUnavailable


@dataclass(slots=True)
class ComparedStepRow:
    id: str
    index: int
    kind: str
    name: str  # tool name, else model, else step name: what alignment pairs on
    step_name: str
    status: str
    input: str | None
    input_truncated: bool
    output: str | None
    output_truncated: bool
    error_type: str | None
    error_message: str | None
    duration_ms: float | None
    tokens: int | None
    cost: float | None


_STEPS = """
SELECT encode(s.trace_id || s.span_id, 'hex') AS id, s.step_index AS index, s.kind,
       coalesce(s.tool_name, s.model, s.name) AS name, s.name AS step_name, s.status,
       s.input, s.input_truncated, s.output, s.output_truncated, s.error_type,
       s.error_message, s.duration_ms, s.total_tokens AS tokens, s.cost
FROM steps s
WHERE s.trace_id = %s AND s.project_id = %s AND s.run_span_id = %s AND s.run_start_ns = %s
ORDER BY s.step_index LIMIT %s
"""


class CompareQueries:
    def __init__(self, pool: AsyncConnectionPool, project_id: int) -> None:
        self.pool = pool
        self.project_id = project_id

    async def steps(
        self, trace_id: bytes, span_id: bytes, run_start_ns: int, limit: int
    ) -> list[ComparedStepRow]:
        """The run's own steps in index order (payload previews), at most ``limit``."""
        try:
            async with self.pool.connection() as conn:
                cursor = conn.cursor(row_factory=class_row(ComparedStepRow))
                await cursor.execute(
                    _STEPS, (trace_id, self.project_id, span_id, run_start_ns, limit)
                )
                rows: list[ComparedStepRow] = await cursor.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return rows
