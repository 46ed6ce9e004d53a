"""Failure signatures read back: the ways runs failed in a window, and one run's failure mode.

Counts come from ``rollup_errors`` (failed runs per bucket, agent and signature), what a
signature stands for from ``failure_signatures``, and the few exact facts the rollups cannot
give (the newest failing run, the first and last failure times) from the ``runs`` index on
``(project_id, signature, start_ns)``, for the signatures shown only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.errors import StorageUnavailable
from storage.queries import ROWS_FROM, ROWS_TO
from storage.rollup_window import DAY_NS, cover, level_for_width

FailureOrder = Literal["growing", "count", "recent"]


@dataclass(slots=True)
class SignatureParts:
    """What a signature id stands for (None when the registry has no row for it)."""

    kind: str | None = None
    name: str | None = None
    error_type: str | None = None
    message_template: str | None = None


@dataclass(slots=True)
class FailureRow:
    signature: str
    parts: SignatureParts
    count: int  # failed runs in the window
    agents: list[tuple[str, int]]  # (agent, failed runs), most first
    trend: list[int]  # failed runs per trend bucket
    growth: int  # failures in the window's later half less those in its earlier half
    sample_error_type: str | None = None
    sample_error_message: str | None = None
    sample_run_id: str | None = None  # the newest failed run in the window
    first_seen_ns: int | None = None  # the earliest failure stored (any time)
    last_seen_ns: int | None = None  # the newest failure in the window


@dataclass(slots=True)
class FailurePage:
    since_ns: int
    until_ns: int
    trend_first_ns: int
    trend_width_ns: int
    total: int  # signatures in the window
    items: list[FailureRow] = field(default_factory=list)


@dataclass(slots=True)
class RunFailureRow:
    signature: str
    parts: SignatureParts
    failures: int  # failed runs with this signature, all stored time, every agent


_TOTALS = """
SELECT signature, agent_name, sum(failures)::int8, min(error_type), min(error_message)
FROM rollup_errors WHERE {where}
GROUP BY signature, agent_name HAVING sum(failures) > 0
"""
_TREND = """
SELECT signature, (bucket_ns - %s) / %s, sum(failures)::int8
FROM rollup_errors
WHERE project_id = %s AND level = %s AND bucket_ns >= %s AND bucket_ns < %s {agent}
GROUP BY 1, 2
"""
_DETAILS = """
SELECT k.signature, f.kind, f.name, f.error_type, f.message_template,
       newest.id, newest.start_ns, newest.error_type, newest.error_message, oldest.start_ns
FROM unnest(%(signatures)s::text[]) AS k(signature)
LEFT JOIN failure_signatures f ON f.project_id = %(p)s AND f.signature = k.signature
LEFT JOIN LATERAL (
    SELECT encode(r.trace_id || r.span_id, 'hex') AS id, r.start_ns, r.error_type,
           r.error_message
    FROM runs r
    WHERE r.project_id = %(p)s AND r.signature = k.signature
      AND r.start_ns >= %(since)s AND r.start_ns < %(until)s {run_agent}
    ORDER BY r.start_ns DESC LIMIT 1
) newest ON true
LEFT JOIN LATERAL (
    SELECT min(e.bucket_ns) AS day FROM rollup_errors e
    WHERE e.project_id = %(p)s AND e.signature = k.signature AND e.level = 2 {rollup_agent}
) first_day ON true
LEFT JOIN LATERAL (
    SELECT r.start_ns FROM runs r
    WHERE r.project_id = %(p)s AND r.signature = k.signature
      AND r.start_ns >= first_day.day AND r.start_ns < first_day.day + %(day)s {run_agent}
    ORDER BY r.start_ns LIMIT 1
) oldest ON true
"""
_RUN_FAILURE = (
    "SELECT r.signature, f.kind, f.name, f.error_type, f.message_template,"
    " (SELECT coalesce(sum(e.failures), 0)::int8 FROM rollup_errors e"
    "  WHERE e.project_id = r.project_id AND e.signature = r.signature AND e.level = 2)"
    " FROM runs r"
    " LEFT JOIN failure_signatures f ON f.project_id = r.project_id AND f.signature = r.signature"
    " WHERE r.trace_id = %s AND r.project_id = %s AND r.span_id = %s"
    " AND r.start_ns BETWEEN " + ROWS_FROM + " AND " + ROWS_TO + " AND r.status = 'FAILED'"
)

TREND_WIDTHS_NS = tuple(
    minutes * 60 * 10**9 for minutes in (1, 5, 15, 60, 180, 360, 720, 1440, 10080)
)


def trend_width(since_ns: int, until_ns: int, max_buckets: int) -> int:
    """The narrowest trend bucket that covers the window in at most ``max_buckets`` buckets
    aligned to the bucket width (the widest one when none does)."""
    for width in TREND_WIDTHS_NS:
        first = since_ns - since_ns % width
        if -(-(until_ns - first) // width) <= max_buckets:
            return width
    return TREND_WIDTHS_NS[-1]


def _growth(trend: list[int]) -> int:
    half = len(trend) // 2
    return sum(trend[len(trend) - half :]) - sum(trend[:half])


def _last_bucket(trend: list[int]) -> int:
    return max((k for k, count in enumerate(trend) if count), default=-1)


def _order_key(order: FailureOrder, row: FailureRow) -> tuple[Any, ...]:
    last = _last_bucket(row.trend)
    if order == "count":
        return (-row.count, -last, row.signature)
    if order == "recent":
        return (-last, -row.count, row.signature)
    return (-row.growth, -last, -row.count, row.signature)


class FailureQueries:
    """Failure signatures of one project."""

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

    async def failures(
        self,
        *,
        since_ns: int,
        until_ns: int,
        agent: str | None,
        max_buckets: int,
        limit: int,
        order: FailureOrder = "growing",
    ) -> FailurePage:
        """The signatures of the runs that failed in [since, until) (widened to whole
        minutes), ``limit`` of them in ``order``, with a trend of at most ``max_buckets``."""
        covered = cover(since_ns, until_ns)
        condition, cover_params = covered.condition()
        where = sql.SQL("project_id = %s AND ") + condition
        params: list[Any] = [self.project_id, *cover_params]
        if agent is not None:
            where += sql.SQL(" AND agent_name = %s")
            params.append(agent)
        width = trend_width(since_ns, until_ns, max_buckets)
        first = since_ns - since_ns % width
        buckets = max(1, -(-(until_ns - first) // width))
        trend_params: list[Any] = [first, width, self.project_id, level_for_width(width)]
        trend_params += [first, first + buckets * width]
        if agent is not None:
            trend_params.append(agent)
        async with self._connection() as conn:
            totals = conn.cursor()
            trend = conn.cursor()
            async with conn.pipeline():
                await totals.execute(sql.SQL(_TOTALS).format(where=where), params)
                await trend.execute(
                    sql.SQL(_TREND).format(
                        agent=sql.SQL("AND agent_name = %s" if agent is not None else "")
                    ),
                    trend_params,
                )
            total_rows = await totals.fetchall()
            trend_rows = await trend.fetchall()
        by_signature: dict[str, FailureRow] = {}
        for signature, agent_name, failures, error_type, error_message in total_rows:
            row = by_signature.get(signature)
            if row is None:
                row = by_signature[signature] = FailureRow(
                    signature, SignatureParts(), 0, [], [0] * buckets, 0, error_type, error_message
                )
            row.count += int(failures)
            row.agents.append((agent_name, int(failures)))
        for signature, bucket, failures in trend_rows:
            row = by_signature.get(signature)
            if row is not None and 0 <= int(bucket) < buckets:
                row.trend[int(bucket)] += int(failures)
        for row in by_signature.values():
            row.agents.sort(key=lambda pair: (-pair[1], pair[0]))
            row.growth = _growth(row.trend)
        ordered = sorted(by_signature.values(), key=lambda row: _order_key(order, row))
        page = FailurePage(
            since_ns=covered.since_ns if covered.since_ns is not None else since_ns,
            until_ns=covered.until_ns if covered.until_ns is not None else until_ns,
            trend_first_ns=first,
            trend_width_ns=width,
            total=len(ordered),
            items=ordered[:limit],
        )
        if page.items:
            await self._add_details(page, agent)
        return page

    async def _add_details(self, page: FailurePage, agent: str | None) -> None:
        run_agent = sql.SQL("AND r.agent_name = %(agent)s" if agent is not None else "")
        rollup_agent = sql.SQL("AND e.agent_name = %(agent)s" if agent is not None else "")
        query = sql.SQL(_DETAILS).format(run_agent=run_agent, rollup_agent=rollup_agent)
        params = {
            "signatures": [row.signature for row in page.items],
            "p": self.project_id,
            "since": page.since_ns,
            "until": page.until_ns,
            "day": DAY_NS,
            "agent": agent,
        }
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            rows = await cursor.fetchall()
        by_signature = {row.signature: row for row in page.items}
        for (
            signature,
            kind,
            name,
            error_type,
            template,
            run_id,
            newest,
            e_type,
            e_msg,
            oldest,
        ) in rows:
            item = by_signature[signature]
            if kind is not None:
                item.parts = SignatureParts(kind, name, error_type, template)
            if run_id is not None:
                item.sample_run_id = run_id
                item.last_seen_ns = int(newest)
                item.sample_error_type, item.sample_error_message = e_type, e_msg
            if oldest is not None:
                item.first_seen_ns = int(oldest)

    async def run_failure(self, trace_id: bytes, span_id: bytes) -> RunFailureRow | None:
        """The failure signature of a failed run and how many runs failed that way; None when
        the run is unknown, did not fail, or has no signature."""
        p = self.project_id
        async with self._connection() as conn:
            cursor = await conn.execute(
                _RUN_FAILURE, (trace_id, p, span_id, trace_id, p, trace_id, p)
            )
            row = await cursor.fetchone()
        if row is None or row[0] is None:
            return None
        signature, kind, name, error_type, template, failures = row
        parts = SignatureParts(kind, name, error_type, template) if kind is not None else None
        return RunFailureRow(signature, parts or SignatureParts(), int(failures))
