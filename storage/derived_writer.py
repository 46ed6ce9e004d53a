"""The derived-row writer: applies the changes of a batch of derivations in one transaction.

It writes only what changed: the old version of changed or gone rows is deleted (by primary
key, within the partitions the trace's rows occupy), new and changed rows are copied in, the
rollups take the difference, and the trace registry records the new derivation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from mapping.model import AgentSeen
from storage import rollups
from storage.derived_rows import (
    RUN_COLUMNS,
    RUN_INDEX,
    STEP_COLUMNS,
    STEP_INDEX,
    RowChanges,
    TraceRows,
    clean_text,
    normalise_stored,
)
from storage.session_rollup import session_changes, update_sessions
from storage.user_rollup import apply_user_deltas, user_deltas


@dataclass(slots=True)
class RegistryEntry:
    """What the registry says of a trace before it is derived again."""

    derive_version: int
    spans_from_ns: int
    spans_to_ns: int
    rows_from_ns: int | None
    rows_to_ns: int | None
    span_count: int = 0


@dataclass(slots=True)
class TraceUpdate:
    """One trace's derivation, ready to write."""

    trace_id: bytes
    runs: RowChanges
    steps: RowChanges
    new_rows: TraceRows
    agents: list[AgentSeen]
    spans_from_ns: int | None  # None: the trace has no spans left
    spans_to_ns: int | None
    span_count: int
    old_rows: TraceRows = field(default_factory=TraceRows)


class DerivedRowWriter(Protocol):
    async def registry(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, trace_ids: Sequence[bytes]
    ) -> dict[bytes, RegistryEntry]: ...

    async def stored_rows(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        entries: dict[bytes, RegistryEntry],
    ) -> dict[bytes, TraceRows]: ...

    async def write(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        updates: Sequence[TraceUpdate],
        mapping_version: int,
    ) -> dict[bytes, int]: ...

    async def write_totals(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        updates: Sequence[TraceUpdate],
    ) -> None: ...


_SELECT_REGISTRY = """
SELECT trace_id, derive_version, spans_from_ns, spans_to_ns, rows_from_ns, rows_to_ns,
       span_count
FROM traces WHERE project_id = %s AND trace_id = ANY(%s)
"""

_RUN_SELECT = sql.SQL(
    "SELECT {columns} FROM runs WHERE project_id = %s AND trace_id = ANY(%s)"
    " AND start_ns BETWEEN %s AND %s"
).format(columns=sql.SQL(", ").join(sql.Identifier(name) for name, _ in RUN_COLUMNS))
_STEP_SELECT = sql.SQL(
    "SELECT {columns} FROM steps WHERE project_id = %s AND trace_id = ANY(%s)"
    " AND run_start_ns BETWEEN %s AND %s"
).format(columns=sql.SQL(", ").join(sql.Identifier(name) for name, _ in STEP_COLUMNS))

_DELETE_RUNS = """
DELETE FROM runs r USING unnest(%s::bytea[], %s::bytea[], %s::int8[]) AS k(t, s, st)
WHERE r.project_id = %s AND r.trace_id = k.t AND r.span_id = k.s AND r.start_ns = k.st
  AND r.start_ns BETWEEN %s AND %s
"""
_DELETE_STEPS = """
DELETE FROM steps x USING unnest(%s::bytea[], %s::bytea[], %s::int8[]) AS k(t, s, st)
WHERE x.project_id = %s AND x.trace_id = k.t AND x.span_id = k.s AND x.run_start_ns = k.st
  AND x.run_start_ns BETWEEN %s AND %s
"""

_UPSERT_REGISTRY = """
INSERT INTO traces AS t (trace_id, project_id, derive_version, mapping_version, spans_from_ns,
                         spans_to_ns, rows_from_ns, rows_to_ns, span_count)
SELECT x.trace_id, %s, 1, %s, x.spans_from_ns, x.spans_to_ns, x.rows_from_ns, x.rows_to_ns,
       x.span_count
FROM unnest(%s::bytea[], %s::int8[], %s::int8[], %s::int8[], %s::int8[], %s::int4[])
     AS x(trace_id, spans_from_ns, spans_to_ns, rows_from_ns, rows_to_ns, span_count)
ON CONFLICT (trace_id, project_id) DO UPDATE SET
    derive_version = t.derive_version + 1,
    mapping_version = EXCLUDED.mapping_version,
    spans_from_ns = EXCLUDED.spans_from_ns,
    spans_to_ns = EXCLUDED.spans_to_ns,
    rows_from_ns = EXCLUDED.rows_from_ns,
    rows_to_ns = EXCLUDED.rows_to_ns,
    span_count = EXCLUDED.span_count,
    derived_at = now()
RETURNING trace_id, derive_version
"""

_DELETE_REGISTRY = """
DELETE FROM traces WHERE project_id = %s AND trace_id = ANY(%s)
"""

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


def _bounds(values: Iterable[int]) -> tuple[int, int]:
    listed = list(values)
    return min(listed), max(listed)


class PostgresDerivedRowWriter:
    """Derived rows in the partitioned ``runs`` and ``steps`` tables, with their rollups."""

    async def registry(
        self, conn: psycopg.AsyncConnection[Any], project_id: int, trace_ids: Sequence[bytes]
    ) -> dict[bytes, RegistryEntry]:
        cursor = await conn.execute(_SELECT_REGISTRY, (project_id, list(trace_ids)), binary=True)
        return {
            bytes(trace_id): RegistryEntry(version, s_from, s_to, r_from, r_to, count)
            for trace_id, version, s_from, s_to, r_from, r_to, count in await cursor.fetchall()
        }

    async def stored_rows(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        entries: dict[bytes, RegistryEntry],
    ) -> dict[bytes, TraceRows]:
        """The stored rows of traces (those with rows, per their registry entry)."""
        with_rows = {
            t: e
            for t, e in entries.items()
            if e.rows_from_ns is not None and e.rows_to_ns is not None
        }
        found: dict[bytes, TraceRows] = {t: TraceRows() for t in entries}
        if not with_rows:
            return found
        low = min(e.rows_from_ns for e in with_rows.values() if e.rows_from_ns is not None)
        high = max(e.rows_to_ns for e in with_rows.values() if e.rows_to_ns is not None)
        params = (project_id, list(with_rows), low, high)
        runs = await conn.execute(_RUN_SELECT, params, binary=True)
        for row in normalise_stored(await runs.fetchall(), RUN_COLUMNS):
            found[row[0]].runs[row[RUN_INDEX["span_id"]]] = row
        steps = await conn.execute(_STEP_SELECT, params, binary=True)
        for row in normalise_stored(await steps.fetchall(), STEP_COLUMNS):
            found[row[0]].steps[row[STEP_INDEX["span_id"]]] = row
        return found

    async def write(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        updates: Sequence[TraceUpdate],
        mapping_version: int,
    ) -> dict[bytes, int]:
        """Write the rows of each trace (runs, steps, its registry entry); the new derive
        version of each trace still having spans. ``write_totals`` then adds the updates to
        the rows that traces share."""
        await self._delete(conn, project_id, updates)
        await self._insert(conn, updates)
        return await self._register(conn, project_id, updates, mapping_version)

    async def write_totals(
        self,
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        updates: Sequence[TraceUpdate],
    ) -> None:
        """Add the updates to the rows that traces share — sessions, users, agents, rollups —
        each table's rows in key order. Every deriver locks some of these rows (a busy agent,
        the current minute's rollups): they are written last, just before the transaction
        commits, the hottest (agents, rollups) after the slower sessions, to be held as
        briefly as can be."""
        changed = [(u.old_rows, u.new_rows) for u in updates]
        await update_sessions(conn, project_id, session_changes(changed))
        await apply_user_deltas(conn, project_id, user_deltas(changed))
        await self._upsert_agents(conn, project_id, updates)
        deltas = rollups.Contributions()
        for update in updates:
            if update.runs or update.steps:
                if update.old_rows.runs or update.old_rows.steps:
                    deltas.add_rows(project_id, update.old_rows, -1)
                deltas.add_rows(project_id, update.new_rows, 1)
        if deltas:
            await rollups.apply(conn, deltas.nonzero())

    @staticmethod
    async def _delete(
        conn: psycopg.AsyncConnection[Any], project_id: int, updates: Sequence[TraceUpdate]
    ) -> None:
        runs = [r for u in updates for r in u.runs.deleted]
        steps = [r for u in updates for r in u.steps.deleted]
        for statement, rows, span_at, key_at in (
            (_DELETE_RUNS, runs, RUN_INDEX["span_id"], RUN_INDEX["start_ns"]),
            (_DELETE_STEPS, steps, STEP_INDEX["span_id"], STEP_INDEX["run_start_ns"]),
        ):
            if not rows:
                continue
            low, high = _bounds(row[key_at] for row in rows)
            await conn.execute(
                statement,
                (
                    [row[0] for row in rows],
                    [row[span_at] for row in rows],
                    [row[key_at] for row in rows],
                    project_id,
                    low,
                    high,
                ),
            )

    @staticmethod
    async def _insert(conn: psycopg.AsyncConnection[Any], updates: Sequence[TraceUpdate]) -> None:
        for table, columns, rows in (
            ("runs", RUN_COLUMNS, [r for u in updates for r in u.runs.inserted]),
            ("steps", STEP_COLUMNS, [r for u in updates for r in u.steps.inserted]),
        ):
            if rows:
                await _copy_rows(conn, table, columns, rows)

    @staticmethod
    async def _upsert_agents(
        conn: psycopg.AsyncConnection[Any], project_id: int, updates: Sequence[TraceUpdate]
    ) -> None:
        seen: dict[str, AgentSeen] = {}
        for update in updates:
            for agent in update.agents:
                known = seen.get(agent.name)
                if known is None:
                    seen[agent.name] = AgentSeen(
                        agent.name, agent.agent_id, agent.version, agent.description,
                        agent.first_seen_ns, agent.last_seen_ns,
                    )  # fmt: skip
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
                [clean_text(a.name) for a in agents],
                [clean_text(a.agent_id) for a in agents],
                [clean_text(a.version) for a in agents],
                [clean_text(a.description) for a in agents],
                [a.first_seen_ns for a in agents],
                [a.last_seen_ns for a in agents],
            ),
        )

    @staticmethod
    async def _register(
        conn: psycopg.AsyncConnection[Any],
        project_id: int,
        updates: Sequence[TraceUpdate],
        mapping_version: int,
    ) -> dict[bytes, int]:
        gone = [u.trace_id for u in updates if u.spans_from_ns is None]
        if gone:
            await conn.execute(_DELETE_REGISTRY, (project_id, gone))
        kept = sorted((u for u in updates if u.spans_from_ns is not None), key=lambda u: u.trace_id)
        if not kept:
            return {}
        ranges = [u.new_rows.span_range() for u in kept]
        cursor = await conn.execute(
            _UPSERT_REGISTRY,
            (
                project_id,
                mapping_version,
                [u.trace_id for u in kept],
                [u.spans_from_ns for u in kept],
                [u.spans_to_ns for u in kept],
                [r[0] if r else None for r in ranges],
                [r[1] if r else None for r in ranges],
                [u.span_count for u in kept],
            ),
        )
        return {bytes(trace_id): version for trace_id, version in await cursor.fetchall()}


async def _copy_rows(
    conn: psycopg.AsyncConnection[Any],
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[tuple[Any, ...]],
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(name) for name, _ in columns)
    )
    jsonb_at = [i for i, (_, kind) in enumerate(columns) if kind == "jsonb"]
    async with conn.cursor().copy(statement) as copy:
        copy.set_types([kind for _, kind in columns])
        for row in rows:
            if jsonb_at:
                values = list(row)
                for i in jsonb_at:
                    if values[i] is not None:
                        values[i] = Jsonb(values[i])
                await copy.write_row(values)
            else:
                await copy.write_row(row)
