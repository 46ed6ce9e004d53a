"""The ``sessions`` rollup: per project and session id, the sums of the runs carrying it.

The deriver's row writer (``storage/derived_writer.py``) calls ``recompute_sessions`` inside
the transaction that writes a batch's runs, after the runs: each session whose runs changed is
recomputed from its runs (through ``runs_session``: a session holds few runs, so the work
follows what changed), or deleted when none is left. Two derivers writing runs of one session
serialize on an advisory lock per session taken before the recomputation; the later one reads
the earlier's committed runs (READ COMMITTED reads afresh per statement), so the row always
counts every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from storage.derived_rows import RUN_INDEX, TraceRows

_SESSION = RUN_INDEX["session_id"]

_LOCK_SESSIONS = """
SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended('session:' || s, %s) AS k FROM unnest(%s::text[]) AS s
    ORDER BY k
) AS keys
"""

_RECOMPUTE = """
WITH touched AS (SELECT unnest(%(sessions)s::text[]) AS session_id),
ranked AS (
    SELECT r.*, row_number() OVER (
        PARTITION BY r.session_id
        ORDER BY (r.parent_span_id IS NOT NULL), r.start_ns, r.trace_id, r.span_id
    ) AS turn
    FROM runs r JOIN touched t ON r.session_id = t.session_id
    WHERE r.project_id = %(project)s
),
summed AS (
    SELECT session_id,
           (array_agg(user_id ORDER BY start_ns, trace_id, span_id)
                FILTER (WHERE user_id IS NOT NULL))[1] AS user_id,
           count(*) AS run_count,
           count(*) FILTER (WHERE status = 'FAILED') AS failed_run_count,
           count(*) FILTER (WHERE status IN ('PENDING', 'RUNNING')) AS running_count,
           min(start_ns) AS first_ns,
           max(greatest(start_ns, coalesce(end_ns, start_ns))) AS last_ns,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(total_tokens) AS total_tokens,
           sum(cost) AS cost,
           array_agg(DISTINCT agent_name ORDER BY agent_name) AS agent_names,
           max(input) FILTER (WHERE turn = 1) AS first_input,
           (array_agg(trace_id) FILTER (WHERE turn = 1))[1] AS first_trace_id,
           (array_agg(span_id) FILTER (WHERE turn = 1))[1] AS first_span_id
    FROM ranked GROUP BY session_id
)
INSERT INTO sessions AS s (
    project_id, session_id, user_id, run_count, failed_run_count, running_count, first_ns,
    last_ns, input_tokens, output_tokens, total_tokens, cost, agent_names, first_input,
    first_trace_id, first_span_id)
SELECT %(project)s, session_id, user_id, run_count, failed_run_count, running_count, first_ns,
       last_ns, input_tokens, output_tokens, total_tokens, cost, agent_names, first_input,
       first_trace_id, first_span_id
FROM summed
ON CONFLICT (project_id, session_id) DO UPDATE SET
    user_id = excluded.user_id, run_count = excluded.run_count,
    failed_run_count = excluded.failed_run_count, running_count = excluded.running_count,
    first_ns = excluded.first_ns, last_ns = excluded.last_ns,
    input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
    total_tokens = excluded.total_tokens, cost = excluded.cost,
    agent_names = excluded.agent_names, first_input = excluded.first_input,
    first_trace_id = excluded.first_trace_id, first_span_id = excluded.first_span_id
"""

_DELETE_EMPTY = """
DELETE FROM sessions s
WHERE s.project_id = %(project)s AND s.session_id = ANY(%(sessions)s::text[])
  AND NOT EXISTS (
      SELECT 1 FROM runs r WHERE r.project_id = s.project_id AND r.session_id = s.session_id)
"""


def touched_sessions(traces: Iterable[tuple[TraceRows, TraceRows]]) -> tuple[set[str], set[str]]:
    """The session ids of runs added, changed or removed, and of those the ids of sessions
    that a run left (removed, or now in another session): only these can be left empty.
    ``traces`` are (before, after)."""
    touched: set[str] = set()
    left: set[str] = set()
    for old_rows, new_rows in traces:
        old, new = old_rows.runs, new_rows.runs
        for span_id in old.keys() | new.keys():
            before, after = old.get(span_id), new.get(span_id)
            if before == after:
                continue
            if after is not None and after[_SESSION] is not None:
                touched.add(after[_SESSION])
            if before is not None and before[_SESSION] is not None:
                touched.add(before[_SESSION])
                if after is None or after[_SESSION] != before[_SESSION]:
                    left.add(before[_SESSION])
    return touched, left


async def recompute_sessions(
    conn: psycopg.AsyncConnection[Any],
    project_id: int,
    sessions: Sequence[str],
    maybe_empty: Sequence[str] | None = None,
) -> None:
    """Recompute these sessions of a project from their runs, in the caller's transaction,
    and delete those of ``maybe_empty`` (default: all of them) that no run holds any more.
    Looking for runs a session lacks reads every day partition: a session that only gained
    runs is not looked at."""
    if not sessions:
        return
    ordered = sorted(sessions)
    await conn.execute(_LOCK_SESSIONS, (project_id, ordered))
    await conn.execute(_RECOMPUTE, {"project": project_id, "sessions": ordered})
    emptied = ordered if maybe_empty is None else sorted(maybe_empty)
    if emptied:
        await conn.execute(_DELETE_EMPTY, {"project": project_id, "sessions": emptied})
