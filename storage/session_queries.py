"""Reading sessions and users: pages of the ``sessions`` and ``users`` rollups (migration
0007), a session's runs in order (``runs_session``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from psycopg import sql
from psycopg.rows import class_row

from storage.queries import _PAGE_SETTINGS, RUN_SELECT, Queries, _Conditions
from storage.query_records import RunRow, TimeWindow

SessionStatus = Literal["failed", "ok"]


@dataclass(frozen=True, slots=True)
class SessionFilters:
    """Which sessions: activity overlapping ``window`` (a run of the session started before its
    end, and its latest activity is at or after its start), an agent among its runs, its user,
    whether a run failed."""

    window: TimeWindow
    agent: str | None = None
    user_id: str | None = None
    status: SessionStatus | None = None


@dataclass(frozen=True, slots=True)
class ActivityKey:
    """A keyset position in a newest-activity-first page: last activity, then id."""

    last_ns: int
    id: str


@dataclass(slots=True)
class SessionRow:
    session_id: str
    user_id: str | None
    run_count: int
    failed_run_count: int
    running_count: int
    first_ns: int
    last_ns: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float | None
    agent_names: list[str]
    first_input: str | None
    first_run_id: str


@dataclass(slots=True)
class SessionPage:
    sessions: list[SessionRow]
    next_key: ActivityKey | None


@dataclass(slots=True)
class SessionDetailRows:
    session: SessionRow
    runs: list[RunRow]
    next_key: tuple[int, str] | None  # (start_ns, run id) of the page's last run


@dataclass(slots=True)
class UserRow:
    user_id: str
    run_count: int
    session_count: int
    failed_run_count: int
    first_ns: int
    last_ns: int
    total_tokens: int
    cost: float | None
    agent_names: list[str]


@dataclass(slots=True)
class UserPage:
    users: list[UserRow]
    next_key: ActivityKey | None


_SESSION_SELECT = sql.SQL(
    "s.session_id, s.user_id, s.run_count, s.failed_run_count, s.running_count, s.first_ns,"
    " s.last_ns, s.input_tokens, s.output_tokens, s.total_tokens, s.cost, s.agent_names,"
    " s.first_input, encode(s.first_trace_id || s.first_span_id, 'hex') AS first_run_id"
)

_USER_SELECT = sql.SQL(
    "u.user_id, u.run_count, u.failed_run_count, u.first_ns, u.last_ns, u.total_tokens,"
    " CASE WHEN u.priced_run_count > 0 THEN u.cost END AS cost,"
    " (SELECT count(*) FROM sessions s"
    "  WHERE s.project_id = u.project_id AND s.user_id = u.user_id) AS session_count,"
    " ARRAY(SELECT a.agent_name FROM user_agents a WHERE a.project_id = u.project_id"
    "  AND a.user_id = u.user_id ORDER BY a.agent_name) AS agent_names"
)


def _session_conditions(project_id: int, filters: SessionFilters) -> _Conditions:
    where = _Conditions()
    where.add("s.project_id = %s", project_id)
    if filters.window.since_ns is not None:
        where.add("s.last_ns >= %s", filters.window.since_ns)
    if filters.window.until_ns is not None:
        where.add("s.first_ns < %s", filters.window.until_ns)
    if filters.agent is not None:
        where.add("s.agent_names @> ARRAY[%s]::text[]", filters.agent)
    if filters.user_id is not None:
        where.add("s.user_id = %s", filters.user_id)
    if filters.status == "failed":
        where.add("s.failed_run_count > 0")
    elif filters.status == "ok":
        where.add("s.failed_run_count = 0")
    return where


class SessionQueries(Queries):
    """Sessions and users of one project."""

    async def list_sessions(
        self, filters: SessionFilters, *, after: ActivityKey | None, limit: int
    ) -> SessionPage:
        """Sessions newest activity first (then session id, descending)."""
        where = _session_conditions(self.project_id, filters)
        if after is not None:
            where.add("(s.last_ns, s.session_id) < (%s, %s)", after.last_ns, after.id)
        query = sql.SQL(
            "SELECT {columns} FROM sessions s WHERE {where}"
            " ORDER BY s.last_ns DESC, s.session_id DESC LIMIT %s"
        ).format(columns=_SESSION_SELECT, where=where.sql())
        async with self._connection(_PAGE_SETTINGS) as conn:
            cursor = conn.cursor(row_factory=class_row(SessionRow))
            await cursor.execute(query, [*where.params, limit + 1])
            rows = await cursor.fetchall()
        if len(rows) <= limit:
            return SessionPage(rows, None)
        rows = rows[:limit]
        return SessionPage(rows, ActivityKey(rows[-1].last_ns, rows[-1].session_id))

    async def get_session(
        self, session_id: str, *, after: tuple[int, str] | None, limit: int
    ) -> SessionDetailRows | None:
        """A session and a page of its runs, oldest first (start time, then run id)."""
        head = sql.SQL(
            "SELECT {columns} FROM sessions s WHERE s.project_id = %s AND s.session_id = %s"
        ).format(columns=_SESSION_SELECT)
        where = _Conditions()
        where.add("r.project_id = %s", self.project_id)
        where.add("r.session_id = %s", session_id)
        if after is not None:
            start_ns, run_id = after
            raw = bytes.fromhex(run_id)
            where.add("(r.start_ns, r.trace_id, r.span_id) > (%s, %s, %s)", start_ns, *_split(raw))
        runs = sql.SQL(
            "SELECT {columns} FROM runs r WHERE {where}"
            " ORDER BY r.start_ns, r.trace_id, r.span_id LIMIT %s"
        ).format(columns=RUN_SELECT, where=where.sql())
        async with self._connection(_PAGE_SETTINGS) as conn:
            cursor = conn.cursor(row_factory=class_row(SessionRow))
            await cursor.execute(head, (self.project_id, session_id))
            session = await cursor.fetchone()
            if session is None:
                return None
            run_cursor = conn.cursor(row_factory=class_row(RunRow))
            await run_cursor.execute(runs, [*where.params, limit + 1])
            rows = await run_cursor.fetchall()
        next_key = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_key = (rows[-1].start_ns, rows[-1].id)
        return SessionDetailRows(session, rows, next_key)

    async def list_users(
        self,
        *,
        window: TimeWindow,
        agent: str | None,
        user_id: str | None,
        after: ActivityKey | None,
        limit: int,
    ) -> UserPage:
        """Users latest run first (then user id, descending): those with a run started in
        ``window`` (their first run before its end, their latest at or after its start), that
        ran ``agent``; the sums are over all their runs."""
        where = _Conditions()
        where.add("u.project_id = %s", self.project_id)
        if window.since_ns is not None:
            where.add("u.last_ns >= %s", window.since_ns)
        if window.until_ns is not None:
            where.add("u.first_ns < %s", window.until_ns)
        if agent is not None:
            where.add(
                "EXISTS (SELECT 1 FROM user_agents a WHERE a.project_id = u.project_id"
                " AND a.user_id = u.user_id AND a.agent_name = %s)",
                agent,
            )
        if user_id is not None:
            where.add("u.user_id = %s", user_id)
        if after is not None:
            where.add("(u.last_ns, u.user_id) < (%s, %s)", after.last_ns, after.id)
        query = sql.SQL(
            "SELECT {columns} FROM users u WHERE {where} AND u.last_ns IS NOT NULL"
            " ORDER BY u.last_ns DESC, u.user_id DESC LIMIT %s"
        ).format(columns=_USER_SELECT, where=where.sql())
        async with self._connection(_PAGE_SETTINGS) as conn:
            cursor = conn.cursor(row_factory=class_row(UserRow))
            await cursor.execute(query, [*where.params, limit + 1])
            rows = await cursor.fetchall()
        if len(rows) <= limit:
            return UserPage(rows, None)
        rows = rows[:limit]
        return UserPage(rows, ActivityKey(rows[-1].last_ns, rows[-1].user_id))


def _split(run_id: bytes) -> tuple[bytes, bytes]:
    """A run id's trace id and span id."""
    return run_id[:16], run_id[16:]
