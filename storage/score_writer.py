"""Scores derived from evaluation events: replaced with each derivation of their trace.

Within the deriver's transaction, the trace's ``source = 'event'`` rows of ``scores`` are
deleted and the derived trace's scores inserted; scores posted over the REST API
(``source = 'api'``) are never touched here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from storage.derived_extensions import TraceChange

_DELETE = """
DELETE FROM scores WHERE project_id = %s AND trace_id = ANY(%s) AND source = 'event'
"""
_INSERT = """
INSERT INTO scores (project_id, trace_id, run_span_id, span_id, run_start_ns, name, value,
                    label, explanation, error_type, source, observed_ns)
SELECT %s, t, r, s, st, n, v, l, e, et, 'event', o
FROM unnest(%s::bytea[], %s::bytea[], %s::bytea[], %s::int8[], %s::text[], %s::float8[],
            %s::text[], %s::text[], %s::text[], %s::int8[])
     AS x(t, r, s, st, n, v, l, e, et, o)
"""


async def replace_event_scores(
    conn: psycopg.AsyncConnection[Any], project_id: int, changes: Sequence[TraceChange]
) -> None:
    if not changes:
        return
    await conn.execute(_DELETE, (project_id, [change.trace_id for change in changes]))
    columns: list[list[Any]] = [[] for _ in range(10)]
    for change in changes:
        if change.derived is None:
            continue
        for score in change.derived.scores:
            row = (
                change.trace_id,
                bytes.fromhex(score.run_span_id),
                bytes.fromhex(score.span_id),
                score.run_start_ns,
                score.name,
                score.value,
                score.label,
                score.explanation,
                score.error_type,
                score.time_ns,
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    if columns[0]:
        await conn.execute(_INSERT, (project_id, *columns))
