"""The ``users`` rollup: per project and user id, the sums of the runs carrying it, and the
agents of those runs (``user_agents``).

A user can have any number of runs, so unlike sessions a user is never recomputed from its
runs: the deriver's row writer (``storage/derived_writer.py``) adds each run that appears and
takes away each run that goes or changes (``-old + new``), in the transaction that writes the
runs; retention takes away the runs of the day it drops. Sums of differences commute, so
concurrent derivers need no ordering for them. The earliest and latest run start widen with
the runs added; when a run start goes (a run deleted, or moved to another start), they are read
back from the runs (``runs_user``: a min/max probe per partition, whatever the user's size)
under an advisory lock per user, so the last transaction to change a user reads every
committed run.
Rows whose run count reaches zero are deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from storage.derived_rows import RUN_INDEX, TraceRows

_USER = RUN_INDEX["user_id"]
_AGENT = RUN_INDEX["agent_name"]
_STATUS = RUN_INDEX["status"]
_START = RUN_INDEX["start_ns"]
_COST = RUN_INDEX["cost"]
_TOKENS = (RUN_INDEX["input_tokens"], RUN_INDEX["output_tokens"], RUN_INDEX["total_tokens"])


@dataclass(slots=True)
class UserDelta:
    """What a batch adds to one user (negative: takes away)."""

    runs: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost: float = 0.0
    priced: int = 0
    agents: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # run starts added and taken away: while every start taken away is added back (a run that
    # changed, not moved), the earliest and latest start follow from the added ones alone
    starts: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    rescan: bool = False  # read the earliest and latest start back from the runs

    def only_adds_starts(self) -> bool:
        """No run start was taken away without being added back."""
        return not self.rescan and all(count >= 0 for count in self.starts.values())

    def added_range(self) -> tuple[int | None, int | None]:
        added = [start for start, count in self.starts.items() if count > 0]
        return (min(added), max(added)) if added else (None, None)

    def add(self, row: tuple[Any, ...], sign: int) -> None:
        self.runs += sign
        self.starts[row[_START]] += sign
        self.failed += sign * (row[_STATUS] == "FAILED")
        self.input_tokens += sign * row[_TOKENS[0]]
        self.output_tokens += sign * row[_TOKENS[1]]
        self.total_tokens += sign * row[_TOKENS[2]]
        if row[_COST] is not None:
            self.cost += sign * row[_COST]
            self.priced += sign
        self.agents[row[_AGENT]] += sign


def user_deltas(traces: Iterable[tuple[TraceRows, TraceRows]]) -> dict[str, UserDelta]:
    """Per user id, what the changed runs add: ``traces`` are (before, after)."""
    deltas: dict[str, UserDelta] = {}
    for old_rows, new_rows in traces:
        old, new = old_rows.runs, new_rows.runs
        for span_id in old.keys() | new.keys():
            before, after = old.get(span_id), new.get(span_id)
            if before == after:
                continue
            for row, sign in ((before, -1), (after, 1)):
                if row is not None and row[_USER] is not None:
                    deltas.setdefault(row[_USER], UserDelta()).add(row, sign)
    return deltas


_LOCK_USERS = """
SELECT pg_advisory_xact_lock(k) FROM (
    SELECT DISTINCT hashtextextended('user:' || u, %s) AS k FROM unnest(%s::text[]) AS u
    ORDER BY k
) AS keys
"""

_ADD = """
INSERT INTO users AS u (project_id, user_id, run_count, failed_run_count, input_tokens,
                        output_tokens, total_tokens, cost, priced_run_count)
SELECT %s, d.user_id, d.runs, d.failed, d.input_tokens, d.output_tokens, d.total_tokens, d.cost,
       d.priced
FROM unnest(%s::text[], %s::int8[], %s::int8[], %s::int8[], %s::int8[], %s::int8[],
            %s::float8[], %s::int8[])
     AS d(user_id, runs, failed, input_tokens, output_tokens, total_tokens, cost, priced)
ORDER BY d.user_id
ON CONFLICT (project_id, user_id) DO UPDATE SET
    run_count = u.run_count + excluded.run_count,
    failed_run_count = u.failed_run_count + excluded.failed_run_count,
    input_tokens = u.input_tokens + excluded.input_tokens,
    output_tokens = u.output_tokens + excluded.output_tokens,
    total_tokens = u.total_tokens + excluded.total_tokens,
    cost = CASE WHEN u.priced_run_count + excluded.priced_run_count = 0 THEN 0
                ELSE u.cost + excluded.cost END,
    priced_run_count = u.priced_run_count + excluded.priced_run_count
"""

_ADD_AGENTS = """
INSERT INTO user_agents AS a (project_id, user_id, agent_name, run_count)
SELECT %s, d.user_id, d.agent_name, d.runs
FROM unnest(%s::text[], %s::text[], %s::int8[]) AS d(user_id, agent_name, runs)
ORDER BY d.user_id, d.agent_name
ON CONFLICT (project_id, user_id, agent_name) DO UPDATE SET
    run_count = a.run_count + excluded.run_count
"""

_SPAN = """
UPDATE users u SET
    first_ns = (SELECT min(r.start_ns) FROM runs r
                WHERE r.project_id = u.project_id AND r.user_id = u.user_id),
    last_ns = (SELECT max(r.start_ns) FROM runs r
               WHERE r.project_id = u.project_id AND r.user_id = u.user_id)
WHERE u.project_id = %s AND u.user_id = ANY(%s::text[])
"""

_WIDEN = """
UPDATE users u
SET first_ns = least(u.first_ns, d.first_ns), last_ns = greatest(u.last_ns, d.last_ns)
FROM unnest(%s::text[], %s::int8[], %s::int8[]) AS d(user_id, first_ns, last_ns)
WHERE u.project_id = %s AND u.user_id = d.user_id
"""

_DROP_EMPTY = (
    "DELETE FROM users WHERE project_id = %s AND user_id = ANY(%s::text[]) AND run_count <= 0",
    "DELETE FROM user_agents WHERE project_id = %s AND user_id = ANY(%s::text[])"
    " AND run_count <= 0",
)


async def apply_user_deltas(
    conn: psycopg.AsyncConnection[Any], project_id: int, deltas: Mapping[str, UserDelta]
) -> None:
    """Add these differences to the project's users, in the caller's transaction."""
    changed = sorted(user for user, delta in deltas.items() if delta.runs or delta.agents)
    if not changed:
        return
    await conn.execute(_LOCK_USERS, (project_id, changed))
    rows = [deltas[user] for user in changed]
    await conn.execute(
        _ADD,
        (
            project_id,
            changed,
            [d.runs for d in rows],
            [d.failed for d in rows],
            [d.input_tokens for d in rows],
            [d.output_tokens for d in rows],
            [d.total_tokens for d in rows],
            [d.cost for d in rows],
            [d.priced for d in rows],
        ),
    )
    agents = [
        (user, agent, runs)
        for user in changed
        for agent, runs in sorted(deltas[user].agents.items())
        if runs
    ]
    if agents:
        await conn.execute(
            _ADD_AGENTS,
            (project_id, [a[0] for a in agents], [a[1] for a in agents], [a[2] for a in agents]),
        )
    widen = [user for user in changed if deltas[user].only_adds_starts()]
    rescan = [user for user in changed if not deltas[user].only_adds_starts()]
    if widen:
        ranges = [deltas[user].added_range() for user in widen]
        await conn.execute(
            _WIDEN, (widen, [r[0] for r in ranges], [r[1] for r in ranges], project_id)
        )
    if rescan:
        await conn.execute(_SPAN, (project_id, rescan))
    for statement in _DROP_EMPTY:
        await conn.execute(statement, (project_id, changed))


_RUNS_OF_DAY = """
SELECT project_id, user_id, agent_name, count(*),
       count(*) FILTER (WHERE status = 'FAILED'), sum(input_tokens), sum(output_tokens),
       sum(total_tokens), coalesce(sum(cost), 0), count(cost)
FROM runs WHERE start_ns >= %s AND start_ns < %s AND user_id IS NOT NULL
GROUP BY 1, 2, 3
"""


async def runs_leaving(
    conn: psycopg.AsyncConnection[Any], start_ns: int, end_ns: int
) -> dict[int, dict[str, UserDelta]]:
    """Per project, the differences that take away the runs started in [start_ns, end_ns)
    (retention, before it drops them)."""
    taken: dict[int, dict[str, UserDelta]] = defaultdict(dict)
    cursor = await conn.execute(_RUNS_OF_DAY, (start_ns, end_ns))
    for (
        project,
        user,
        agent,
        runs,
        failed,
        tin,
        tout,
        total,
        cost,
        priced,
    ) in await cursor.fetchall():
        delta = taken[project].setdefault(user, UserDelta(rescan=True))
        delta.runs -= runs
        delta.failed -= failed
        delta.input_tokens -= tin
        delta.output_tokens -= tout
        delta.total_tokens -= total
        delta.cost -= cost
        delta.priced -= priced
        delta.agents[agent] -= runs
    return dict(taken)
