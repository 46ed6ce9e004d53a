"""The ``sessions`` rollup: per project and session id, the sums of the runs carrying it.

The deriver's row writer (``storage/derived_writer.py``) calls ``update_sessions`` inside the
transaction that writes a batch's runs, after the runs, with what the batch did to each
session (``session_changes``). A session that only gained runs, or whose runs changed without
moving what orders them (start, nesting, agent, user) and without losing a cost or an end, is
updated from those runs and its stored row: the work follows the batch, not the session's size
(a session of 10,000 runs costs what a session of one does). Any other change (a run gone or
moved to another session, a start that moved, a stored row from before migration 0017)
recomputes the session from all its runs (through ``runs_session``), or deletes it when none is
left. Two derivers writing runs of one session serialize on an advisory lock per session taken
before the session row is read; the later one reads the earlier's committed row and runs (READ
COMMITTED reads afresh per statement), so the row always counts every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg

from storage.derived_rows import RUN_INDEX, TraceRows

Row = tuple[Any, ...]

_SESSION = RUN_INDEX["session_id"]
_TRACE = RUN_INDEX["trace_id"]
_SPAN = RUN_INDEX["span_id"]
_START = RUN_INDEX["start_ns"]
_END = RUN_INDEX["end_ns"]
_PARENT = RUN_INDEX["parent_span_id"]
_AGENT = RUN_INDEX["agent_name"]
_USER = RUN_INDEX["user_id"]
_STATUS = RUN_INDEX["status"]
_INPUT = RUN_INDEX["input"]
_COST = RUN_INDEX["cost"]
_TOKENS = (RUN_INDEX["input_tokens"], RUN_INDEX["output_tokens"], RUN_INDEX["total_tokens"])
_OPEN = ("PENDING", "RUNNING")

_LOCK_SESSIONS = """
SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended('session:' || s, %s) AS k FROM unnest(%s::text[]) AS s
    ORDER BY k
) AS keys
"""

_NUMBERS = (
    "user_id", "run_count", "failed_run_count", "running_count", "first_ns", "last_ns",
    "input_tokens", "output_tokens", "total_tokens", "cost",
)  # fmt: skip
_FIRST_RUN = ("first_input", "first_trace_id", "first_span_id", "first_start_ns", "first_nested")
_NAMES = (*_NUMBERS, "agent_names", *_FIRST_RUN)
_COLUMNS = ", ".join(_NAMES)
_SET_ALL = ", ".join(f"{name} = excluded.{name}" for name in _NAMES)

_RECOMPUTE = f"""
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
           (array_agg(span_id) FILTER (WHERE turn = 1))[1] AS first_span_id,
           max(start_ns) FILTER (WHERE turn = 1) AS first_start_ns,
           bool_or(parent_span_id IS NOT NULL) FILTER (WHERE turn = 1) AS first_nested
    FROM ranked GROUP BY session_id
)
INSERT INTO sessions AS s (project_id, session_id, {_COLUMNS})
SELECT %(project)s, session_id, {_COLUMNS} FROM summed
ON CONFLICT (project_id, session_id) DO UPDATE SET {_SET_ALL}
"""

_DELETE_EMPTY = """
DELETE FROM sessions s
WHERE s.project_id = %(project)s AND s.session_id = ANY(%(sessions)s::text[])
  AND NOT EXISTS (
      SELECT 1 FROM runs r WHERE r.project_id = s.project_id AND r.session_id = s.session_id)
"""

_SELECT_STORED = f"""
SELECT session_id, {_COLUMNS} FROM sessions WHERE project_id = %s AND session_id = ANY(%s)
"""

_UPSERT = f"""
INSERT INTO sessions AS s (project_id, session_id, {_COLUMNS})
SELECT %s, x.session_id, x.user_id, x.run_count, x.failed_run_count, x.running_count,
       x.first_ns, x.last_ns, x.input_tokens, x.output_tokens, x.total_tokens, x.cost,
       ARRAY(SELECT jsonb_array_elements_text(x.agent_names)), x.first_input,
       x.first_trace_id, x.first_span_id, x.first_start_ns, x.first_nested
FROM unnest(%s::text[], %s::text[], %s::int4[], %s::int4[], %s::int4[], %s::int8[],
            %s::int8[], %s::int8[], %s::int8[], %s::int8[], %s::float8[], %s::jsonb[],
            %s::text[], %s::bytea[], %s::bytea[], %s::int8[], %s::bool[])
    AS x(session_id, user_id, run_count, failed_run_count, running_count, first_ns, last_ns,
         input_tokens, output_tokens, total_tokens, cost, agent_names, first_input,
         first_trace_id, first_span_id, first_start_ns, first_nested)
ON CONFLICT (project_id, session_id) DO UPDATE SET {_SET_ALL}
"""


@dataclass(slots=True)
class SessionChanges:
    """What a batch did to one session's runs."""

    added: list[Row] = field(default_factory=list)  # runs new to the session
    changed: list[tuple[Row, Row]] = field(default_factory=list)  # (before, after), kept
    recompute: bool = False  # a change the stored row cannot be updated from
    may_empty: bool = False  # a run left the session


def _last(row: Row) -> int:
    end = row[_END]
    return max(row[_START], end if end is not None else row[_START])


def _keeps_order(before: Row, after: Row) -> bool:
    """Whether a run that changed leaves the session's row updatable from it: what orders the
    runs and names the session's first run and user stays, its end does not move back, and a
    cost does not disappear (the session's cost would be left without knowing whether another
    run is priced)."""
    return (
        before[_START] == after[_START]
        and (before[_PARENT] is None) == (after[_PARENT] is None)
        and before[_AGENT] == after[_AGENT]
        and before[_USER] == after[_USER]
        and _last(after) >= _last(before)
        and (before[_COST] is None or after[_COST] is not None)
    )


def session_changes(traces: Iterable[tuple[TraceRows, TraceRows]]) -> dict[str, SessionChanges]:
    """Per session id, the runs that ``traces`` (before, after) add, change or take away."""
    changes: dict[str, SessionChanges] = {}

    def of(session: str) -> SessionChanges:
        found = changes.get(session)
        if found is None:
            found = changes[session] = SessionChanges()
        return found

    for old_rows, new_rows in traces:
        old, new = old_rows.runs, new_rows.runs
        for span_id in old.keys() | new.keys():
            before, after = old.get(span_id), new.get(span_id)
            if before == after:
                continue
            was = before[_SESSION] if before is not None else None
            now = after[_SESSION] if after is not None else None
            if before is not None and after is not None and was == now:
                if now is not None:
                    change = of(now)
                    change.changed.append((before, after))
                    change.recompute = change.recompute or not _keeps_order(before, after)
                continue
            if was is not None:
                change = of(was)
                change.recompute = change.may_empty = True
            if after is not None and now is not None:
                of(now).added.append(after)
    return changes


def _first_key(row: Row) -> tuple[bool, int, bytes, bytes]:
    """The order that makes a session's first run: top-level runs first, then by start."""
    return (row[_PARENT] is not None, row[_START], row[_TRACE], row[_SPAN])


def _earliest_key(row: Row) -> tuple[int, bytes, bytes]:
    return (row[_START], row[_TRACE], row[_SPAN])


def updated_session(stored: dict[str, Any] | None, change: SessionChanges) -> dict[str, Any] | None:
    """The session row after ``change``, from the stored one (None: no row yet); None when
    it cannot be told without the session's other runs."""
    new: dict[str, Any]
    if stored is None:
        if change.changed or not change.added:
            return None
        new = {
            "user_id": None, "run_count": 0, "failed_run_count": 0, "running_count": 0,
            "first_ns": None, "last_ns": None, "input_tokens": 0, "output_tokens": 0,
            "total_tokens": 0, "cost": None, "agent_names": [], "first_input": None,
            "first_trace_id": None, "first_span_id": None, "first_start_ns": None,
            "first_nested": None,
        }  # fmt: skip
    else:
        if stored["first_start_ns"] is None or stored["first_nested"] is None:
            return None
        new = dict(stored)
    added = change.added
    new_named = [row for row in added if row[_USER] is not None]
    if new["user_id"] is None:
        if new_named:
            new["user_id"] = min(new_named, key=_earliest_key)[_USER]
    elif any(row[_USER] != new["user_id"] and row[_START] <= new["last_ns"] for row in new_named):
        return None  # it may come before the run that names the session's user

    pairs: list[tuple[Row | None, Row]] = [(None, row) for row in added]
    pairs += change.changed
    cost_delta = 0.0
    priced = False
    for before, after in pairs:
        signed = ((after, 1),) if before is None else ((after, 1), (before, -1))
        for row, sign in signed:
            new["failed_run_count"] += sign * (row[_STATUS] == "FAILED")
            new["running_count"] += sign * (row[_STATUS] in _OPEN)
            new["input_tokens"] += sign * row[_TOKENS[0]]
            new["output_tokens"] += sign * row[_TOKENS[1]]
            new["total_tokens"] += sign * row[_TOKENS[2]]
            if row[_COST] is not None:
                cost_delta += sign * row[_COST]
                priced = priced or sign > 0
    if new["cost"] is not None or priced:
        new["cost"] = (new["cost"] or 0.0) + cost_delta
    new["run_count"] += len(added)
    if added:
        earliest = min(row[_START] for row in added)
        new["first_ns"] = earliest if new["first_ns"] is None else min(new["first_ns"], earliest)
    latest = max(_last(after) for _, after in pairs)
    new["last_ns"] = latest if new["last_ns"] is None else max(new["last_ns"], latest)
    new["agent_names"] = sorted({*new["agent_names"], *(row[_AGENT] for row in added)})

    current: tuple[bool, int, bytes, bytes] | None = None
    if new["first_trace_id"] is not None:
        current = (
            new["first_nested"], new["first_start_ns"], new["first_trace_id"], new["first_span_id"]
        )  # fmt: skip
    best = min(added, key=_first_key) if added else None
    if best is not None and (current is None or _first_key(best) < current):
        new.update(
            first_input=best[_INPUT],
            first_trace_id=best[_TRACE],
            first_span_id=best[_SPAN],
            first_start_ns=best[_START],
            first_nested=best[_PARENT] is not None,
        )
    else:
        for _, after in change.changed:
            if (after[_TRACE], after[_SPAN]) == (new["first_trace_id"], new["first_span_id"]):
                new["first_input"] = after[_INPUT]
    return new


async def update_sessions(
    conn: psycopg.AsyncConnection[Any], project_id: int, changes: dict[str, SessionChanges]
) -> None:
    """Bring the sessions ``changes`` touch up to date, in the caller's transaction: from their
    stored rows where ``updated_session`` can, else recomputed from their runs."""
    if not changes:
        return
    ordered = sorted(changes)
    await conn.execute(_LOCK_SESSIONS, (project_id, ordered))
    recompute = [s for s in ordered if changes[s].recompute]
    incremental = [s for s in ordered if not changes[s].recompute]
    stored: dict[str, dict[str, Any]] = {}
    if incremental:
        cursor = await conn.execute(_SELECT_STORED, (project_id, incremental))
        for session_id, *values in await cursor.fetchall():
            row = dict(zip(_NAMES, values, strict=True))
            row["agent_names"] = list(row["agent_names"])
            for key in ("first_trace_id", "first_span_id"):
                if row[key] is not None:
                    row[key] = bytes(row[key])
            stored[session_id] = row
    updated: list[tuple[str, dict[str, Any]]] = []
    for session in incremental:
        new = updated_session(stored.get(session), changes[session])
        if new is None:
            recompute.append(session)
        else:
            updated.append((session, new))
    if updated:
        await conn.execute(_UPSERT, _upsert_params(project_id, updated))
    if recompute:
        recompute.sort()
        may_empty = [s for s in recompute if changes[s].may_empty]
        await _recompute(conn, project_id, recompute, may_empty)


def _upsert_params(project_id: int, updated: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    rows = [row for _, row in updated]
    return [
        project_id,
        [session for session, _ in updated],
        *([row[name] for row in rows] for name in _NUMBERS),
        [orjson.dumps(row["agent_names"]).decode() for row in rows],
        *([row[name] for row in rows] for name in _FIRST_RUN),
    ]


async def recompute_sessions(
    conn: psycopg.AsyncConnection[Any],
    project_id: int,
    sessions: Sequence[str],
    maybe_empty: Sequence[str] | None = None,
) -> None:
    """Recompute these sessions of a project from their runs, in the caller's transaction,
    and delete those of ``maybe_empty`` (default: all of them) that no run holds any more.
    Looking for runs a session lacks reads every day partition."""
    if not sessions:
        return
    ordered = sorted(sessions)
    await conn.execute(_LOCK_SESSIONS, (project_id, ordered))
    await _recompute(conn, project_id, ordered, ordered if maybe_empty is None else maybe_empty)


async def _recompute(
    conn: psycopg.AsyncConnection[Any],
    project_id: int,
    sessions: Sequence[str],
    maybe_empty: Sequence[str],
) -> None:
    await conn.execute(_RECOMPUTE, {"project": project_id, "sessions": list(sessions)})
    if maybe_empty:
        await conn.execute(_DELETE_EMPTY, {"project": project_id, "sessions": sorted(maybe_empty)})
