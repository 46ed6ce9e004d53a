"""Every read query of the HTTP API, over the derived tables (runs, steps, artifacts, metrics).

Values always travel as bound parameters; ``psycopg.sql`` composes only fixed fragments (the
conditions a request switches on). Percentiles are exact: ``percentile_cont`` over the rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mapping.model import split_id
from storage.errors import StorageUnavailable
from storage.query_records import (
    AgentRow,
    ArtifactRow,
    BucketRow,
    ErrorCountRow,
    FailingToolRow,
    MetricRow,
    Percentiles,
    RunDetailRows,
    RunFilters,
    RunKey,
    RunPage,
    RunRow,
    StepRow,
    SummaryRows,
    TimeWindow,
    ToolStatsRow,
)

RUN_STATUSES = ("PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED")
FINISHED_STATUSES = ("SUCCESS", "FAILED", "CANCELLED")
TOP_FAILING_TOOLS = 5
TOP_ERRORS = 10

# A page of runs is a LIMIT over an ordered index scan: parallel workers only add start-up time.
_PAGE_SETTINGS = {"max_parallel_workers_per_gather": "0"}
# The aggregates sort every duration of their window (exact percentiles): sort in memory.
_AGGREGATE_SETTINGS = {"work_mem": "32MB"}

_RUN_COLUMNS = sql.SQL(
    "r.id, encode(r.trace_id, 'hex') AS trace_id, encode(r.span_id, 'hex') AS span_id,"
    " r.parent_run_id, r.name, r.agent_name, r.agent_id, r.agent_version, r.status, r.input,"
    " r.input_truncated, r.output, r.output_truncated, r.error_type, r.error_message,"
    " r.start_ns, r.end_ns, r.duration_ms, r.models, r.input_tokens, r.output_tokens,"
    " r.total_tokens, r.step_count, r.tool_call_count, r.llm_call_count, r.failed_step_count,"
    " r.orphan_span_count, r.session_id, r.user_id, r.service_name"
)

_HAS_ERROR = "(r.status = 'FAILED' OR r.failed_step_count > 0)"

_STEP_COLUMNS = """
SELECT s.id, s.run_id, encode(s.span_id, 'hex') AS span_id, s.step_index AS index, s.kind,
       s.name, s.tool_name, s.model, s.status, s.input, s.input_truncated, s.output,
       s.output_truncated, s.error_type, s.error_message, s.start_ns, s.end_ns, s.duration_ms,
       s.input_tokens, s.output_tokens, s.total_tokens, s.parent_step_id, s.child_run_id
FROM steps s
"""

_SELECT_STEPS = (
    _STEP_COLUMNS
    + "WHERE s.trace_id = %s AND s.project_id = %s AND s.run_id = %s ORDER BY s.step_index"
)

_SELECT_STEP = _STEP_COLUMNS + "WHERE s.trace_id = %s AND s.project_id = %s AND s.id = %s"

_ARTIFACT_COLUMNS = """
SELECT a.id, a.step_id, encode(a.span_id, 'hex') AS span_id, a.type, a.name, a.content, a.url,
       a.time_ns, a.truncated
FROM artifacts a
"""
_ARTIFACT_ORDER = " ORDER BY a.time_ns NULLS FIRST, a.span_id, length(a.id), a.id"

_SELECT_ARTIFACTS = (
    _ARTIFACT_COLUMNS
    + "WHERE a.trace_id = %s AND a.project_id = %s AND a.run_id = %s"
    + _ARTIFACT_ORDER
)

_SELECT_STEP_ARTIFACTS = (
    _ARTIFACT_COLUMNS
    + "WHERE a.trace_id = %s AND a.project_id = %s AND a.step_id = %s"
    + _ARTIFACT_ORDER
)

_SELECT_METRICS = """
SELECT m.name, m.value, m.tags
FROM run_metrics m
WHERE m.trace_id = %s AND m.project_id = %s AND m.run_id = %s
ORDER BY m.seq
"""

_SELECT_AGENTS = """
SELECT r.agent_name AS name, a.agent_id, a.version, a.description,
       r.first_seen_ns, r.last_seen_ns, r.run_count, r.failure_count, r.last_run_ns
FROM (
    SELECT agent_name, count(*) AS run_count,
           count(*) FILTER (WHERE status = 'FAILED') AS failure_count,
           min(start_ns) AS first_seen_ns, max(coalesce(end_ns, start_ns)) AS last_seen_ns,
           max(start_ns) AS last_run_ns
    FROM runs
    WHERE project_id = %s
    GROUP BY agent_name
) r
LEFT JOIN agents a ON a.project_id = %s AND a.name = r.agent_name
ORDER BY r.agent_name
"""

_SELECT_AGENT_NAME_BY_ID = """
SELECT name FROM agents WHERE project_id = %s AND agent_id = %s
ORDER BY last_seen_ns DESC, name LIMIT 1
"""


class _Conditions:
    """A conjunction of fixed SQL fragments and the parameters they bind, in order."""

    def __init__(self) -> None:
        self.parts: list[sql.Composable] = []
        self.params: list[Any] = []

    def add(self, fragment: str, *params: Any) -> None:
        self.parts.append(sql.SQL(fragment))
        self.params.extend(params)

    def window(self, column: str, window: TimeWindow) -> None:
        if window.since_ns is not None:
            self.add(column + " >= %s", window.since_ns)
        if window.until_ns is not None:
            self.add(column + " < %s", window.until_ns)

    def sql(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.parts) if self.parts else sql.SQL("true")


def _run_conditions(project_id: int, filters: RunFilters) -> _Conditions:
    where = _Conditions()
    where.add("r.project_id = %s", project_id)
    where.window("r.start_ns", filters.window)
    if filters.agent is not None:
        where.add("r.agent_name = %s", filters.agent)
    if filters.status is not None:
        where.add("r.status = %s", filters.status)
    if filters.trace_id is not None:
        where.add("r.trace_id = %s", filters.trace_id)
    if filters.session_id is not None:
        where.add("r.session_id = %s", filters.session_id)
    if filters.user_id is not None:
        where.add("r.user_id = %s", filters.user_id)
    if filters.tool is not None:
        where.add(
            "EXISTS (SELECT 1 FROM steps s WHERE s.trace_id = r.trace_id"
            " AND s.project_id = r.project_id AND s.run_id = r.id AND s.tool_name = %s)",
            filters.tool,
        )
    if filters.min_duration_ms is not None:
        where.add("r.duration_ms >= %s", filters.min_duration_ms)
    if filters.has_error is True:
        where.add(_HAS_ERROR)
    elif filters.has_error is False:
        where.add("NOT " + _HAS_ERROR)
    return where


def _tool_step_conditions(
    project_id: int, agent: str | None, window: TimeWindow
) -> tuple[sql.Composable, _Conditions]:
    """The FROM clause and conditions selecting tool steps, optionally of one agent's runs."""
    where = _Conditions()
    where.add("s.project_id = %s", project_id)
    where.add("s.tool_name IS NOT NULL")
    where.window("s.start_ns", window)
    source = sql.SQL("steps s")
    if agent is not None:
        # A run id embeds its trace id, so the id alone joins (and gets better estimates).
        source = sql.SQL("steps s JOIN runs r ON r.project_id = s.project_id AND r.id = s.run_id")
        where.add("r.agent_name = %s", agent)
    return source, where


def _percentiles(avg: float | None, values: Sequence[float | None] | None) -> Percentiles:
    p50, p95, p99 = values if values else (None, None, None)
    return Percentiles(avg=avg, p50=p50, p95=p95, p99=p99)


class Queries:
    """The read side of the store: what the query API asks, answered from derived rows."""

    def __init__(self, pool: AsyncConnectionPool, project_id: int) -> None:
        self.pool = pool
        self.project_id = project_id

    @asynccontextmanager
    async def _connection(
        self, settings: dict[str, str] | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; with ``settings``, inside a transaction that sets them locally."""
        try:
            async with self.pool.connection() as conn:
                if not settings:
                    yield conn
                    return
                async with conn.transaction():
                    for name, value in settings.items():
                        await conn.execute("SELECT set_config(%s, %s, true)", (name, value))
                    yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def list_runs(
        self, filters: RunFilters, *, after: RunKey | None, limit: int, offset: int = 0
    ) -> RunPage:
        """Runs matching ``filters``, newest first (start time, then id, descending)."""
        where = _run_conditions(self.project_id, filters)
        if after is not None:
            where.add("(r.start_ns, r.id) < (%s, %s)", after.start_ns, after.id)
        query = sql.SQL(
            "SELECT {columns} FROM runs r WHERE {where}"
            " ORDER BY r.start_ns DESC, r.id DESC LIMIT %s OFFSET %s"
        ).format(columns=_RUN_COLUMNS, where=where.sql())
        async with self._connection(_PAGE_SETTINGS) as conn:
            cursor = conn.cursor(row_factory=class_row(RunRow))
            await cursor.execute(query, [*where.params, limit + 1, offset])
            rows = await cursor.fetchall()
        if len(rows) <= limit:
            return RunPage(runs=rows, next_key=None)
        rows = rows[:limit]
        return RunPage(runs=rows, next_key=RunKey(rows[-1].start_ns, rows[-1].id))

    async def get_run(self, run_id: str) -> RunRow | None:
        ids = split_id(run_id)
        if ids is None:
            return None
        query = sql.SQL(
            "SELECT {columns} FROM runs r WHERE r.trace_id = %s AND r.project_id = %s AND r.id = %s"
        ).format(columns=_RUN_COLUMNS)
        async with self._connection() as conn:
            cursor = conn.cursor(row_factory=class_row(RunRow))
            await cursor.execute(query, (bytes.fromhex(ids[0]), self.project_id, run_id.lower()))
            return await cursor.fetchone()

    async def get_run_detail(self, run_id: str) -> RunDetailRows | None:
        """A run with its steps, artifacts, metrics and child runs; None when unknown."""
        ids = split_id(run_id)
        if ids is None:
            return None
        run_id = run_id.lower()
        key = (bytes.fromhex(ids[0]), self.project_id, run_id)
        run_query = sql.SQL(
            "SELECT {columns} FROM runs r WHERE r.trace_id = %s AND r.project_id = %s AND r.id = %s"
        ).format(columns=_RUN_COLUMNS)
        children_query = sql.SQL(
            "SELECT {columns} FROM runs r WHERE r.trace_id = %s AND r.project_id = %s"
            " AND r.parent_run_id = %s ORDER BY r.start_ns, r.id"
        ).format(columns=_RUN_COLUMNS)
        async with self._connection() as conn:
            runs = conn.cursor(row_factory=class_row(RunRow))
            steps = conn.cursor(row_factory=class_row(StepRow))
            artifacts = conn.cursor(row_factory=class_row(ArtifactRow))
            metrics = conn.cursor(row_factory=class_row(MetricRow))
            children = conn.cursor(row_factory=class_row(RunRow))
            async with conn.pipeline():
                await runs.execute(run_query, key)
                await steps.execute(_SELECT_STEPS, key)
                await artifacts.execute(_SELECT_ARTIFACTS, key)
                await metrics.execute(_SELECT_METRICS, key)
                await children.execute(children_query, key)
            run = await runs.fetchone()
            if run is None:
                return None
            return RunDetailRows(
                run=run,
                steps=await steps.fetchall(),
                artifacts=await artifacts.fetchall(),
                metrics=await metrics.fetchall(),
                child_runs=await children.fetchall(),
            )

    async def get_step(self, step_id: str) -> tuple[StepRow, list[ArtifactRow]] | None:
        """A step and its artifacts; None when unknown."""
        ids = split_id(step_id)
        if ids is None:
            return None
        key = (bytes.fromhex(ids[0]), self.project_id, step_id.lower())
        async with self._connection() as conn:
            steps = conn.cursor(row_factory=class_row(StepRow))
            artifacts = conn.cursor(row_factory=class_row(ArtifactRow))
            async with conn.pipeline():
                await steps.execute(_SELECT_STEP, key)
                await artifacts.execute(_SELECT_STEP_ARTIFACTS, key)
            step = await steps.fetchone()
            return None if step is None else (step, await artifacts.fetchall())

    async def list_agents(self) -> list[AgentRow]:
        """Every agent with at least one run, by name."""
        async with self._connection(_AGGREGATE_SETTINGS) as conn:
            cursor = conn.cursor(row_factory=class_row(AgentRow))
            await cursor.execute(_SELECT_AGENTS, (self.project_id, self.project_id))
            return await cursor.fetchall()

    async def agent_name_for_id(self, agent_id: str) -> str | None:
        """The name of the agent last seen with ``agent_id``, if any."""
        async with self._connection() as conn:
            cursor = await conn.execute(_SELECT_AGENT_NAME_BY_ID, (self.project_id, agent_id))
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def tool_stats(self, *, agent: str | None, window: TimeWindow) -> list[ToolStatsRow]:
        """Per tool name: calls, failures and exact duration percentiles, most called first."""
        source, where = _tool_step_conditions(self.project_id, agent, window)
        query = sql.SQL(
            "SELECT s.tool_name, count(*), count(*) FILTER (WHERE s.status = 'FAILED'),"
            " avg(s.duration_ms),"
            " percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s.duration_ms)"
            " FROM {source} WHERE {where}"
            " GROUP BY s.tool_name ORDER BY count(*) DESC, s.tool_name"
        ).format(source=source, where=where.sql())
        async with self._connection(_AGGREGATE_SETTINGS) as conn:
            cursor = await conn.execute(query, where.params)
            rows = await cursor.fetchall()
        return [
            ToolStatsRow(
                tool=tool, calls=calls, failures=failures, duration_ms=_percentiles(avg, values)
            )
            for tool, calls, failures, avg, values in rows
        ]

    async def summary(self, *, agent: str | None, window: TimeWindow) -> SummaryRows:
        """Run counts by status, duration and step percentiles, tokens, failing tools, errors
        of the runs that started in ``window``."""
        runs = _run_conditions(self.project_id, RunFilters(window=window, agent=agent))
        status_counts = sql.SQL(", ").join(
            sql.SQL("count(*) FILTER (WHERE r.status = {})").format(sql.Literal(status))
            for status in RUN_STATUSES
        )
        totals_query = sql.SQL(
            "SELECT {status_counts},"
            " avg(r.duration_ms),"
            " percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY r.duration_ms),"
            " avg(r.step_count)::float8,"
            " percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY r.step_count),"
            " coalesce(sum(r.input_tokens), 0)::int8, coalesce(sum(r.output_tokens), 0)::int8,"
            " coalesce(sum(r.total_tokens), 0)::int8"
            " FROM runs r WHERE {where}"
        ).format(status_counts=status_counts, where=runs.sql())
        errors_query = sql.SQL(
            "SELECT r.error_type, r.error_message, count(*) FROM runs r"
            " WHERE {where} AND r.status = 'FAILED'"
            " GROUP BY r.error_type, r.error_message"
            " ORDER BY count(*) DESC, r.error_type NULLS LAST, r.error_message NULLS LAST"
            " LIMIT %s"
        ).format(where=runs.sql())
        failing_query, failing_params = self._failing_tools_query(agent, window)
        async with self._connection(_AGGREGATE_SETTINGS) as conn:
            totals = conn.cursor()
            errors = conn.cursor()
            failing = conn.cursor()
            async with conn.pipeline():
                await totals.execute(totals_query, runs.params)
                await errors.execute(errors_query, [*runs.params, TOP_ERRORS])
                await failing.execute(failing_query, failing_params)
            row = await totals.fetchone()
            error_rows = await errors.fetchall()
            failing_rows = await failing.fetchall()
        assert row is not None
        n = len(RUN_STATUSES)
        by_status = dict(zip(RUN_STATUSES, row[:n], strict=True))
        duration_avg, duration_values, steps_avg, steps_values, tokens_in, tokens_out, tokens = row[
            n:
        ]
        return SummaryRows(
            runs_by_status=by_status,
            duration_ms=_percentiles(duration_avg, duration_values),
            steps_per_run=_percentiles(steps_avg, steps_values),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            total_tokens=tokens,
            top_failing_tools=[
                FailingToolRow(tool=tool, calls=calls, failures=failures)
                for tool, failures, calls in failing_rows
            ],
            top_errors=[
                ErrorCountRow(type=error_type, message=message, count=count)
                for error_type, message, count in error_rows
            ],
        )

    def _failing_tools_query(
        self, agent: str | None, window: TimeWindow
    ) -> tuple[sql.Composed, list[Any]]:
        """The tools with the most failed calls, each with its number of calls. Failures are
        few, so they are ranked first and only the top tools' calls are counted."""
        failed_source, failed = _tool_step_conditions(self.project_id, agent, window)
        failed.add("s.status = 'FAILED'")
        calls_source, calls = _tool_step_conditions(self.project_id, agent, window)
        calls.add("s.tool_name = f.tool_name")
        query = sql.SQL(
            "WITH f AS ("
            " SELECT s.tool_name, count(*) AS failures FROM {failed_source} WHERE {failed}"
            " GROUP BY s.tool_name ORDER BY count(*) DESC, s.tool_name LIMIT %s)"
            " SELECT f.tool_name, f.failures, c.calls FROM f CROSS JOIN LATERAL ("
            " SELECT count(*) AS calls FROM {calls_source} WHERE {calls}) c"
            " ORDER BY f.failures DESC, f.tool_name"
        ).format(
            failed_source=failed_source,
            failed=failed.sql(),
            calls_source=calls_source,
            calls=calls.sql(),
        )
        return query, [*failed.params, TOP_FAILING_TOOLS, *calls.params]

    async def timeseries(
        self, *, agent: str | None, first_ns: int, bucket_ns: int, buckets: int
    ) -> list[BucketRow]:
        """Per bucket [first + k*bucket, first + (k+1)*bucket) of run start times, k < buckets:
        run counts and durations. Every bucket is present, empty ones with zero runs."""
        end_ns = first_ns + buckets * bucket_ns
        runs = _run_conditions(
            self.project_id, RunFilters(window=TimeWindow(first_ns, end_ns), agent=agent)
        )
        finished = sql.SQL(", ").join(sql.Literal(status) for status in FINISHED_STATUSES)
        query = sql.SQL(
            "WITH a AS ("
            " SELECT (r.start_ns - %s) / %s AS k, count(*) AS runs,"
            " count(*) FILTER (WHERE r.status = 'FAILED') AS failures,"
            " count(*) FILTER (WHERE r.status = 'SUCCESS') AS successes,"
            " count(*) FILTER (WHERE r.status IN ({finished})) AS finished,"
            " avg(r.duration_ms) AS avg_duration_ms,"
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms) AS p95_duration_ms"
            " FROM runs r WHERE {where} GROUP BY 1)"
            " SELECT b.start_ns, coalesce(a.runs, 0) AS runs, coalesce(a.failures, 0) AS failures,"
            " coalesce(a.successes, 0) AS successes, coalesce(a.finished, 0) AS finished,"
            " a.avg_duration_ms, a.p95_duration_ms"
            " FROM generate_series(%s::int8, %s::int8, %s::int8) AS b(start_ns)"
            " LEFT JOIN a ON a.k = (b.start_ns - %s) / %s"
            " ORDER BY b.start_ns"
        ).format(finished=finished, where=runs.sql())
        last_ns = first_ns + (buckets - 1) * bucket_ns
        params = [
            first_ns,
            bucket_ns,
            *runs.params,
            first_ns,
            last_ns,
            bucket_ns,
            first_ns,
            bucket_ns,
        ]
        async with self._connection(_AGGREGATE_SETTINGS) as conn:
            cursor = conn.cursor(row_factory=class_row(BucketRow))
            await cursor.execute(query, params)
            return await cursor.fetchall()
