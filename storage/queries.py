"""Every read query of the HTTP API over the derived rows and the rollups.

Values always travel as bound parameters; ``psycopg.sql`` composes only fixed fragments (the
conditions a request switches on). Lists of runs read the partitioned ``runs`` table through
its indexes; the dashboards (summary, tools, agents, timeseries) read the rollups the derivers
keep, whose percentiles come from histograms within 1% (``storage.sketch``), or, for windows
up to ``EXACT_MAX_WINDOW_NS``, exactly from the rows when asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from mapping.model import split_id
from storage.errors import StorageUnavailable
from storage.query_records import (
    AgentRow,
    BucketRow,
    CostRows,
    ErrorCountRow,
    FailingToolRow,
    MetricRow,
    ModelCostRow,
    Percentiles,
    RunDetailRows,
    RunFilters,
    RunKey,
    RunPage,
    RunRow,
    ScoreFilter,
    StepRow,
    SummaryRows,
    TimeWindow,
    ToolStatsRow,
    TraceEntry,
)
from storage.rollup_window import Cover, cover, level_for_width
from storage.search_queries import (
    SEARCH_SETTINGS,
    RunSearch,
    SearchHit,
    SearchPage,
    runs_newest_first,
    search_documents,
    search_exists,
)

RUN_STATUSES = ("PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED")
FINISHED_STATUSES = ("SUCCESS", "FAILED", "CANCELLED")
TOP_FAILING_TOOLS = 5
TOP_ERRORS = 10
TOP_MODELS = 10
DETAIL_MAX_STEPS = 1000  # steps in a run's detail; the rest page through /steps
EXACT_MAX_WINDOW_NS = 7 * 86_400 * 10**9
SPLIT_BUCKETS = 100  # timeseries buckets from which the sketches are read in two halves

# A page of runs is a LIMIT over an ordered index scan: parallel workers only add start-up time.
_PAGE_SETTINGS = {"max_parallel_workers_per_gather": "0"}
# Runs with a tool: the distinct runs of the tool's steps must stream in index order (a Unique
# over the partitions' merged index scans) so the LIMIT stops early; a hash aggregate would
# read every call of the tool first.
_TOOL_PAGE_SETTINGS = {**_PAGE_SETTINGS, "enable_hashagg": "off"}
_AGGREGATE_SETTINGS = {"work_mem": "32MB"}
_PERCENTILES = (0.5, 0.95, 0.99)

RUN_SELECT = sql.SQL(
    "encode(r.trace_id || r.span_id, 'hex') AS id, encode(r.trace_id, 'hex') AS trace_id,"
    " encode(r.span_id, 'hex') AS span_id,"
    " CASE WHEN r.parent_span_id IS NULL THEN NULL"
    " ELSE encode(r.trace_id || r.parent_span_id, 'hex') END AS parent_run_id,"
    " r.name, r.agent_name, r.agent_id, r.agent_version, r.status, r.input,"
    " r.input_truncated, r.output, r.output_truncated, r.error_type, r.error_message,"
    " r.start_ns, r.end_ns, r.duration_ms, r.models, r.input_tokens, r.output_tokens,"
    " r.total_tokens, r.step_count, r.tool_call_count, r.llm_call_count, r.failed_step_count,"
    " r.orphan_span_count, r.session_id, r.user_id, r.service_name, r.cost, r.unpriced_calls"
)

STEP_SELECT = """
SELECT encode(s.trace_id || s.span_id, 'hex') AS id,
       encode(s.trace_id || s.run_span_id, 'hex') AS run_id,
       encode(s.span_id, 'hex') AS span_id, s.step_index AS index, s.kind, s.name, s.tool_name,
       s.model, s.status, s.input, s.input_truncated, s.output, s.output_truncated,
       s.error_type, s.error_message, s.start_ns, s.end_ns, s.duration_ms, s.input_tokens,
       s.output_tokens, s.total_tokens,
       CASE WHEN s.parent_span_id IS NULL THEN NULL
            ELSE encode(s.trace_id || s.parent_span_id, 'hex') END AS parent_step_id,
       CASE WHEN s.child_run_span_id IS NULL THEN NULL
            ELSE encode(s.trace_id || s.child_run_span_id, 'hex') END AS child_run_id,
       s.cache_read_tokens, s.cache_write_tokens, s.reasoning_tokens, s.cost, s.cost_source,
       s.unpriced_reason, s.price_version
FROM steps s
"""

# The partitions a trace's derived rows occupy, from its registry entry: run-time pruning
# makes a lookup by id touch one partition instead of every day's.
ROWS_FROM = "(SELECT t.rows_from_ns FROM traces t WHERE t.trace_id = %s AND t.project_id = %s)"
ROWS_TO = "(SELECT t.rows_to_ns FROM traces t WHERE t.trace_id = %s AND t.project_id = %s)"

_SELECT_RUN = sql.SQL(
    "SELECT {columns} FROM runs r"
    " WHERE r.trace_id = %s AND r.project_id = %s AND r.span_id = %s"
    " AND r.start_ns BETWEEN " + ROWS_FROM + " AND " + ROWS_TO
).format(columns=RUN_SELECT)

# The same, within the start times of the trace's rows read beforehand: the planner then
# prunes the partitions itself (run-time pruning still plans every partition).
_SELECT_RUN_WITHIN = sql.SQL(
    "SELECT {columns} FROM runs r"
    " WHERE r.trace_id = %s AND r.project_id = %s AND r.span_id = %s"
    " AND r.start_ns BETWEEN %s AND %s"
).format(columns=RUN_SELECT)

_SELECT_CHILDREN_WITHIN = sql.SQL(
    "SELECT {columns} FROM runs r"
    " WHERE r.trace_id = %s AND r.project_id = %s AND r.parent_span_id = %s"
    " AND r.start_ns BETWEEN %s AND %s ORDER BY r.start_ns, r.span_id"
).format(columns=RUN_SELECT)

_SELECT_TRACE_ENTRY = (
    "SELECT span_count, spans_from_ns, spans_to_ns, rows_from_ns, rows_to_ns FROM traces"
    " WHERE trace_id = %s AND project_id = %s AND rows_from_ns IS NOT NULL"
)

_SELECT_EXTRA = (
    "SELECT r.extra FROM runs r WHERE r.trace_id = %s AND r.project_id = %s AND r.span_id = %s"
    " AND r.start_ns = %s"
)

_SELECT_STEPS = (
    STEP_SELECT
    + "WHERE s.trace_id = %s AND s.project_id = %s AND s.run_span_id = %s AND s.run_start_ns = %s"
    " ORDER BY s.step_index LIMIT %s"
)

_SELECT_STEP = (
    STEP_SELECT + "WHERE s.trace_id = %s AND s.project_id = %s AND s.span_id = %s"
    " AND s.run_start_ns BETWEEN " + ROWS_FROM + " AND " + ROWS_TO
)

_SELECT_AGENT_NAME_BY_ID = """
SELECT name FROM agents WHERE project_id = %s AND agent_id = %s
ORDER BY last_seen_ns DESC, name LIMIT 1
"""

_SELECT_AGENTS = """
SELECT a.name, a.agent_id, a.version, a.description, a.first_seen_ns, a.last_seen_ns,
       c.runs, c.failed, last_run.start_ns, c.cost, c.unpriced_calls
FROM (
    SELECT agent_name, sum(runs)::int8 AS runs, sum(failed)::int8 AS failed,
           CASE WHEN sum(priced_runs) > 0 THEN sum(cost) END AS cost,
           sum(unpriced_calls)::int8 AS unpriced_calls
    FROM rollup_runs WHERE project_id = %s AND level = 2
    GROUP BY agent_name HAVING sum(runs) > 0
) c
JOIN agents a ON a.project_id = %s AND a.name = c.agent_name
CROSS JOIN LATERAL (
    SELECT r.start_ns FROM runs r WHERE r.project_id = %s AND r.agent_name = a.name
    ORDER BY r.start_ns DESC LIMIT 1
) last_run
ORDER BY a.name
"""

METRIC_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "step_count",
    "tool_call_count",
    "llm_call_count",
    "failed_step_count",
)


class _Conditions:
    """A conjunction of fixed SQL fragments and the parameters they bind, in order."""

    def __init__(self) -> None:
        self.parts: list[sql.Composable] = []
        self.params: list[Any] = []

    def add(self, fragment: str | sql.Composable, *params: Any) -> None:
        self.parts.append(sql.SQL(fragment) if isinstance(fragment, str) else fragment)
        self.params.extend(params)

    def window(self, column: str, window: TimeWindow) -> None:
        if window.since_ns is not None:
            self.add(column + " >= %s", window.since_ns)
        if window.until_ns is not None:
            self.add(column + " < %s", window.until_ns)

    def sql(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.parts) if self.parts else sql.SQL("true")


_HAS_ERROR = "(r.status = 'FAILED' OR r.failed_step_count > 0)"
_TIME_ORDER = sql.SQL("r.start_ns DESC, r.trace_id DESC, r.span_id DESC")
# Costs are never negative: -1 puts runs without one last (index runs_project_cost).
_COST_ORDER = sql.SQL("coalesce(r.cost, -1) DESC, r.start_ns DESC, r.trace_id DESC, r.span_id DESC")


def _run_conditions(project_id: int, filters: RunFilters, *, tool: bool = True) -> _Conditions:
    where = _Conditions()
    where.add("r.project_id = %s", project_id)
    where.window("r.start_ns", filters.window)
    if filters.agent is not None:
        where.add("r.agent_name = %s", filters.agent)
    if filters.status is not None:
        where.add("r.status = %s", filters.status)
    if filters.trace_id is not None:
        where.add("r.trace_id = %s", filters.trace_id)
        where.add(  # the partitions of the trace's rows only
            "r.start_ns BETWEEN " + ROWS_FROM + " AND " + ROWS_TO,
            *(filters.trace_id, project_id) * 2,
        )
    if filters.session_id is not None:
        where.add("r.session_id = %s", filters.session_id)
    if filters.user_id is not None:
        where.add("r.user_id = %s", filters.user_id)
    if tool and filters.tool is not None:
        where.add(
            "EXISTS (SELECT 1 FROM steps s WHERE s.project_id = r.project_id"
            " AND s.tool_name = %s AND s.run_start_ns = r.start_ns AND s.trace_id = r.trace_id"
            " AND s.run_span_id = r.span_id)",
            filters.tool,
        )
    if filters.signature is not None:
        where.add("r.signature = %s", filters.signature)
    if filters.score is not None:
        _score_condition(where, filters.score)
    if filters.min_duration_ms is not None:
        where.add("r.duration_ms >= %s", filters.min_duration_ms)
    if filters.min_cost is not None:
        where.add("r.cost >= %s", filters.min_cost)
    if filters.has_error is True:
        where.add(_HAS_ERROR)
    elif filters.has_error is False:
        where.add("NOT " + _HAS_ERROR)
    found = search_exists(filters)
    if found is not None:
        where.add(found[0], *found[1])
    return where


def _run_page(rows: list[RunRow], limit: int, *, by_cost: bool) -> RunPage:
    """A page of runs from up to ``limit`` + 1 rows (one more: there is a next page)."""
    if len(rows) <= limit:
        return RunPage(runs=rows, next_key=None)
    rows = rows[:limit]
    last = rows[-1]
    cost_key = (-1.0 if last.cost is None else last.cost) if by_cost else None
    return RunPage(runs=rows, next_key=RunKey(last.start_ns, last.id, cost_key))


def _score_condition(where: _Conditions, score: ScoreFilter) -> None:
    """A score of the run or of its steps (index scores_by_run) that meets ``score``."""
    exists = _Conditions()
    exists.add(
        "sc.project_id = r.project_id AND sc.trace_id = r.trace_id"
        " AND sc.run_span_id = r.span_id AND sc.name = %s",
        score.name,
    )
    if score.min is not None:  # PostgreSQL orders NaN above every number: it never matches
        exists.add("sc.value >= %s AND sc.value <> 'NaN'", score.min)
    if score.max is not None:
        exists.add("sc.value <= %s", score.max)
    if score.label is not None:
        exists.add("sc.label = %s", score.label)
    where.add(
        sql.SQL("EXISTS (SELECT 1 FROM scores sc WHERE {})").format(exists.sql()), *exists.params
    )


def _percentiles(avg: float | None, values: Sequence[float | None] | None) -> Percentiles:
    p50, p95, p99 = values if values else (None, None, None)
    return Percentiles(avg=avg, p50=p50, p95=p95, p99=p99)


def _merged_percentiles(keys: Sequence[bytes], counts: Sequence[bytes]) -> list[float] | None:
    """The percentiles of stored histograms merged into one; None when it is empty."""
    from storage import sketch_merge  # numpy: loaded by the API, not by derivers

    return sketch_merge.merged_quantiles([0] * len(keys), keys, counts, _PERCENTILES).get(0)


def _run_key(key: RunKey) -> tuple[int, bytes, bytes]:
    ids = split_id(key.id)
    if ids is None:
        raise ValueError(f"not a run id: {key.id!r}")
    return key.start_ns, bytes.fromhex(ids[0]), bytes.fromhex(ids[1])


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

    def connection(
        self, settings: dict[str, str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        """A pooled connection for the read modules beside this one (``export_queries``);
        StorageUnavailable when the database cannot be reached."""
        return self._connection(settings)

    # --- runs ---

    async def list_runs(
        self,
        filters: RunFilters,
        *,
        after: RunKey | None,
        limit: int,
        offset: int = 0,
        by_cost: bool = False,
    ) -> RunPage:
        """Runs matching ``filters``, newest first (start time, then id, descending); with
        ``by_cost``, most expensive first, runs without a cost last, then newest first."""
        query: sql.Composed
        settings = _PAGE_SETTINGS
        by_search = bool(filters.attributes or filters.words) and not by_cost
        by_search = by_search and filters.tool is None
        if by_search:
            plain = replace(filters, attributes=(), words=())
            search_where = _run_conditions(self.project_id, plain)
            settings = {**settings, **SEARCH_SETTINGS} if filters.words else settings
            async with self._connection(settings) as conn:
                rows = await runs_newest_first(
                    conn,
                    self.project_id,
                    filters,
                    search_where,
                    RUN_SELECT,
                    _run_key(after) if after is not None else None,
                    limit,
                    offset,
                )
            return _run_page(rows, limit, by_cost=False)
        if filters.tool is not None and not by_cost:
            query, params = self._runs_with_tool(filters, after, limit, offset)
            settings = _TOOL_PAGE_SETTINGS
        else:
            where = _run_conditions(self.project_id, filters)
            order = _COST_ORDER if by_cost else _TIME_ORDER
            if after is not None:
                if by_cost:
                    where.add(
                        "(coalesce(r.cost, -1), r.start_ns, r.trace_id, r.span_id)"
                        " < (%s, %s, %s, %s)",
                        after.cost_key,
                        *_run_key(after),
                    )
                else:
                    where.add(
                        "(r.start_ns, r.trace_id, r.span_id) < (%s, %s, %s)", *_run_key(after)
                    )
            query = sql.SQL(
                "SELECT {columns} FROM runs r WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
            ).format(columns=RUN_SELECT, where=where.sql(), order=order)
            params = [*where.params, limit + 1, offset]
        if filters.words:
            settings = {**settings, **SEARCH_SETTINGS}
        async with self._connection(settings) as conn:
            cursor = conn.cursor(row_factory=class_row(RunRow))
            await cursor.execute(query, params)
            rows = await cursor.fetchall()
        return _run_page(rows, limit, by_cost=by_cost)

    async def search_runs(
        self, filters: RunFilters, *, after: RunKey | None, limit: int, offset: int = 0
    ) -> SearchPage:
        """Runs matching ``filters`` whose search documents hold every one of ``filters.words``,
        most relevant first (``storage.search_queries``)."""
        plain = replace(filters, attributes=(), words=())
        outer = _run_conditions(self.project_id, plain)
        # Every search row has its run: without conditions on the runs, none need be read.
        run_where = None if replace(plain, window=TimeWindow()) == RunFilters() else outer
        try:
            return await RunSearch(self.pool, self.project_id).search(
                filters,
                (run_where.sql(), run_where.params) if run_where is not None else None,
                RUN_SELECT,
                after=after,
                limit=limit,
                offset=offset,
            )
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def search_hits(self, runs: Sequence[RunRow]) -> dict[str, SearchHit]:
        """The search documents of runs, by run id (without a score)."""
        async with self._connection() as conn:
            documents = await search_documents(conn, self.project_id, runs)
        return {run_id: SearchHit(None, *document) for run_id, document in documents.items()}

    def _runs_with_tool(
        self, filters: RunFilters, after: RunKey | None, limit: int, offset: int
    ) -> tuple[sql.Composed, list[Any]]:
        """Runs that called a tool, driven by the tool's index of steps (newest run first),
        so a rare tool costs as little as a common one."""
        runs = _run_conditions(self.project_id, filters, tool=False)
        calls = _Conditions()
        calls.add("s.project_id = %s", self.project_id)
        calls.add("s.tool_name = %s", filters.tool)
        calls.window("s.run_start_ns", filters.window)
        if after is not None:
            calls.add(
                "(s.run_start_ns, s.trace_id, s.run_span_id) < (%s, %s, %s)", *_run_key(after)
            )
        query = sql.SQL(
            "SELECT {columns} FROM ("
            " SELECT DISTINCT s.run_start_ns, s.trace_id, s.run_span_id FROM steps s"
            " WHERE {calls}"
            " ORDER BY s.run_start_ns DESC, s.trace_id DESC, s.run_span_id DESC) k"
            " CROSS JOIN LATERAL (SELECT * FROM runs r WHERE r.project_id = %s"
            " AND r.start_ns = k.run_start_ns AND r.trace_id = k.trace_id"
            " AND r.span_id = k.run_span_id AND {runs} LIMIT 1) r"  # LIMIT: an index probe per run
            " ORDER BY k.run_start_ns DESC, k.trace_id DESC, k.run_span_id DESC"
            " LIMIT %s OFFSET %s"
        ).format(columns=RUN_SELECT, calls=calls.sql(), runs=runs.sql())
        return query, [*calls.params, self.project_id, *runs.params, limit + 1, offset]

    async def get_run(self, run_id: str) -> RunRow | None:
        ids = split_id(run_id)
        if ids is None:
            return None
        trace_id, span_id = bytes.fromhex(ids[0]), bytes.fromhex(ids[1])
        async with self._connection() as conn:
            cursor = conn.cursor(row_factory=class_row(RunRow))
            await cursor.execute(_SELECT_RUN, self._by_id(trace_id, span_id))
            return await cursor.fetchone()

    def _by_id(self, trace_id: bytes, span_id: bytes) -> tuple[Any, ...]:
        p = self.project_id
        return (trace_id, p, span_id, trace_id, p, trace_id, p)

    async def trace_entry(self, trace_id: bytes) -> TraceEntry | None:
        """The trace's registry entry; None when it was never derived."""
        async with self._connection() as conn:
            cursor = await conn.execute(_SELECT_TRACE_ENTRY, (trace_id, self.project_id))
            row = await cursor.fetchone()
        return None if row is None else TraceEntry(*row)

    async def get_run_detail(
        self, run_id: str, max_steps: int = DETAIL_MAX_STEPS
    ) -> RunDetailRows | None:
        """A run with its first ``max_steps`` steps (payload previews), metrics and child runs;
        None when unknown. Artifacts are left to the caller (they live in the raw spans)."""
        ids = split_id(run_id)
        if ids is None:
            return None
        trace_id, span_id = bytes.fromhex(ids[0]), bytes.fromhex(ids[1])
        async with self._connection() as conn:
            cursor = await conn.execute(_SELECT_TRACE_ENTRY, (trace_id, self.project_id))
            entry_row = await cursor.fetchone()
            if entry_row is None:
                return None
            entry = TraceEntry(*entry_row)
            within = (entry.rows_from_ns, entry.rows_to_ns)
            runs = conn.cursor(row_factory=class_row(RunRow))
            await runs.execute(_SELECT_RUN_WITHIN, (trace_id, self.project_id, span_id, *within))
            run = await runs.fetchone()
            if run is None:
                return None
            steps = conn.cursor(row_factory=class_row(StepRow))
            extra = conn.cursor()
            children = conn.cursor(row_factory=class_row(RunRow))
            async with conn.pipeline():
                await steps.execute(
                    _SELECT_STEPS, (trace_id, self.project_id, span_id, run.start_ns, max_steps)
                )
                await extra.execute(
                    _SELECT_EXTRA, (trace_id, self.project_id, span_id, run.start_ns)
                )
                await children.execute(
                    _SELECT_CHILDREN_WITHIN, (trace_id, self.project_id, span_id, *within)
                )
            extra_row = await extra.fetchone()
            extra_value = extra_row[0] if extra_row else None
            return RunDetailRows(
                run=run,
                steps=await steps.fetchall(),
                artifacts=[],
                metrics=run_metrics(run, extra_value),
                child_runs=await children.fetchall(),
                price_versions=list((extra_value or {}).get("price_versions", [])),
                trace=entry,
            )

    async def get_step(self, step_id: str) -> StepRow | None:
        ids = split_id(step_id)
        if ids is None:
            return None
        trace_id, span_id = bytes.fromhex(ids[0]), bytes.fromhex(ids[1])
        async with self._connection() as conn:
            cursor = conn.cursor(row_factory=class_row(StepRow))
            await cursor.execute(_SELECT_STEP, self._by_id(trace_id, span_id))
            return await cursor.fetchone()

    # --- agents ---

    async def list_agents(self) -> list[AgentRow]:
        """Every agent with at least one run, by name."""
        async with self._connection() as conn:
            cursor = await conn.execute(_SELECT_AGENTS, (self.project_id,) * 3)
            rows = await cursor.fetchall()
        return [AgentRow(*row) for row in rows]  # columns in field order

    async def agent_name_for_id(self, agent_id: str) -> str | None:
        """The name of the agent last seen with ``agent_id``, if any."""
        async with self._connection() as conn:
            cursor = await conn.execute(_SELECT_AGENT_NAME_BY_ID, (self.project_id, agent_id))
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    # --- dashboards ---

    async def tool_stats(
        self, *, agent: str | None, window: TimeWindow, exact: bool = False
    ) -> list[ToolStatsRow]:
        """Per tool name: calls, failures and duration percentiles, most called first. Tool
        calls count in the window of their run's start."""
        from storage import sketch_merge  # numpy: loaded by the API, not by derivers

        if exact:
            return await self._exact_tool_stats(agent, window)
        covered = cover(window.since_ns, window.until_ns)
        where, params = self._rollup_where(covered, agent)
        totals = sql.SQL(
            "SELECT tool_name, sum(calls)::int8, sum(failures)::int8, sum(durations)::int8,"
            " sum(duration_sum_ms) FROM rollup_tools WHERE {where} GROUP BY tool_name"
            " HAVING sum(calls) > 0"
        ).format(where=where)
        # Merged here, as the timeseries' are: cheaper than unnesting and grouping them in SQL.
        hists = sql.SQL("SELECT tool_name, {sketch} FROM rollup_tools WHERE {where}").format(
            sketch=sql.SQL(sketch_merge.stored_sketch("duration")), where=where
        )
        async with self._connection(_AGGREGATE_SETTINGS) as conn:
            first = conn.cursor()
            second = conn.cursor(binary=True)
            async with conn.pipeline():
                await first.execute(totals, params)
                await second.execute(hists, params)
            total_rows = await first.fetchall()
            hist_rows = await second.fetchall()
        tool_at: dict[str, int] = {}
        groups = [tool_at.setdefault(tool, len(tool_at)) for tool, _, _ in hist_rows]
        merged = sketch_merge.merged_quantiles(
            groups, [row[1] for row in hist_rows], [row[2] for row in hist_rows], _PERCENTILES
        )
        by_tool = {tool: merged.get(at) for tool, at in tool_at.items()}
        stats = [
            ToolStatsRow(
                tool=tool,
                calls=calls,
                failures=failures,
                duration_ms=_percentiles(
                    total / durations if durations else None, by_tool.get(tool)
                ),
            )
            for tool, calls, failures, durations, total in total_rows
        ]
        stats.sort(key=lambda row: (-row.calls, row.tool))
        return stats

    async def _exact_tool_stats(self, agent: str | None, window: TimeWindow) -> list[ToolStatsRow]:
        where = _Conditions()
        where.add("s.project_id = %s", self.project_id)
        where.add("s.tool_name IS NOT NULL")
        where.window("s.run_start_ns", window)
        source = sql.SQL("steps s")
        if agent is not None:
            source = sql.SQL(
                "steps s JOIN runs r ON r.project_id = s.project_id AND r.trace_id = s.trace_id"
                " AND r.span_id = s.run_span_id AND r.start_ns = s.run_start_ns"
            )
            where.add("r.agent_name = %s", agent)
            where.window("r.start_ns", window)  # the run's start is its steps' run start
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

    def _rollup_where(self, covered: Cover, agent: str | None) -> tuple[sql.Composable, list[Any]]:
        condition, params = covered.condition()
        where = sql.SQL("project_id = %s AND ") + condition
        all_params: list[Any] = [self.project_id, *params]
        if agent is not None:
            where = where + sql.SQL(" AND agent_name = %s")
            all_params.append(agent)
        return where, all_params

    async def summary(
        self, *, agent: str | None, window: TimeWindow, exact: bool = False
    ) -> SummaryRows:
        """Run counts by status, duration and step percentiles, tokens, failing tools and
        errors of the runs that started in ``window``."""
        from storage import sketch_merge  # numpy: loaded by the API, not by derivers

        if exact:
            return await self._exact_summary(agent, window)
        covered = cover(window.since_ns, window.until_ns)
        where, params = self._rollup_where(covered, agent)
        totals = sql.SQL(
            "SELECT coalesce(sum(pending), 0)::int8, coalesce(sum(running), 0)::int8,"
            " coalesce(sum(succeeded), 0)::int8, coalesce(sum(failed), 0)::int8,"
            " coalesce(sum(cancelled), 0)::int8, coalesce(sum(durations), 0)::int8,"
            " coalesce(sum(duration_sum_ms), 0), coalesce(sum(runs), 0)::int8,"
            " coalesce(sum(steps), 0)::int8, coalesce(sum(input_tokens), 0)::int8,"
            " coalesce(sum(output_tokens), 0)::int8, coalesce(sum(total_tokens), 0)::int8,"
            " coalesce(sum(cost), 0), coalesce(sum(priced_runs), 0)::int8"
            " FROM rollup_runs WHERE {where}"
        ).format(where=where)
        models = sql.SQL(
            "SELECT model, sum(calls)::int8, sum(unpriced_calls)::int8, sum(cost),"
            " sum(input_tokens)::int8, sum(output_tokens)::int8, sum(cache_read_tokens)::int8,"
            " sum(cache_write_tokens)::int8, sum(reasoning_tokens)::int8"
            " FROM rollup_models WHERE {where} GROUP BY model HAVING sum(calls) > 0"
        ).format(where=where)
        # Merged here, as the timeseries' are: cheaper than unnesting and grouping them in SQL.
        hists = sql.SQL("SELECT {duration}, {step} FROM rollup_runs WHERE {where}").format(
            duration=sql.SQL(sketch_merge.stored_sketch("duration")),
            step=sql.SQL(sketch_merge.stored_sketch("step")),
            where=where,
        )
        failing = sql.SQL(
            "SELECT tool_name, sum(failures)::int8, sum(calls)::int8 FROM rollup_tools"
            " WHERE {where} GROUP BY tool_name HAVING sum(failures) > 0"
            " ORDER BY sum(failures) DESC, tool_name LIMIT %s"
        ).format(where=where)
        errors = sql.SQL(
            "SELECT signature, min(error_type), min(error_message), sum(failures)::int8"
            " FROM rollup_errors WHERE {where} GROUP BY signature HAVING sum(failures) > 0"
            " ORDER BY sum(failures) DESC, min(error_type) NULLS LAST,"
            " min(error_message) NULLS LAST LIMIT %s"
        ).format(where=where)
        async with self._connection(_AGGREGATE_SETTINGS) as conn:
            cursors = [conn.cursor(binary=index == 1) for index in range(5)]
            async with conn.pipeline():
                await cursors[0].execute(totals, params)
                await cursors[1].execute(hists, params)
                await cursors[2].execute(failing, [*params, TOP_FAILING_TOOLS])
                await cursors[3].execute(errors, [*params, TOP_ERRORS])
                await cursors[4].execute(models, params)
            row = await cursors[0].fetchone()
            hist_rows = await cursors[1].fetchall()
            failing_rows = await cursors[2].fetchall()
            error_rows = await cursors[3].fetchall()
            model_rows = await cursors[4].fetchall()
        assert row is not None
        pending, running, succeeded, failed, cancelled, durations, duration_sum = row[:7]
        runs, steps, tokens_in, tokens_out, tokens, cost, priced_runs = row[7:]
        duration_keys, duration_counts, step_keys, step_counts = (
            zip(*hist_rows, strict=True) if hist_rows else ((),) * 4
        )
        return SummaryRows(
            runs_by_status={
                "PENDING": pending,
                "RUNNING": running,
                "SUCCESS": succeeded,
                "FAILED": failed,
                "CANCELLED": cancelled,
            },
            duration_ms=_percentiles(
                duration_sum / durations if durations else None,
                _merged_percentiles(duration_keys, duration_counts),
            ),
            steps_per_run=_percentiles(
                steps / runs if runs else None, _merged_percentiles(step_keys, step_counts)
            ),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            total_tokens=tokens,
            top_failing_tools=[
                FailingToolRow(tool=tool, calls=calls, failures=failures)
                for tool, failures, calls in failing_rows
            ],
            top_errors=[
                ErrorCountRow(type=error_type, message=message, count=count)
                for _, error_type, message, count in error_rows
            ],
            exact=False,
            since_ns=covered.since_ns,
            until_ns=covered.until_ns,
            cost=_cost_rows(cost if priced_runs else None, priced_runs, model_rows),
        )

    async def _exact_summary(self, agent: str | None, window: TimeWindow) -> SummaryRows:
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
            " coalesce(sum(r.total_tokens), 0)::int8, sum(r.cost), count(r.cost)"
            " FROM runs r WHERE {where}"
        ).format(status_counts=status_counts, where=runs.sql())
        models_query, models_params = self._exact_model_costs(agent, window)
        errors_query = sql.SQL(
            "SELECT min(r.error_type), min(r.error_message), count(*) FROM runs r"
            " WHERE {where} AND r.status = 'FAILED'"
            " GROUP BY coalesce(r.signature, '')"
            " ORDER BY count(*) DESC, min(r.error_type) NULLS LAST,"
            " min(r.error_message) NULLS LAST LIMIT %s"
        ).format(where=runs.sql())
        tools = await self._exact_tool_stats(agent, window)
        async with self._connection(_AGGREGATE_SETTINGS) as conn:
            totals = conn.cursor()
            errors = conn.cursor()
            models = conn.cursor()
            async with conn.pipeline():
                await totals.execute(totals_query, runs.params)
                await errors.execute(errors_query, [*runs.params, TOP_ERRORS])
                await models.execute(models_query, models_params)
            row = await totals.fetchone()
            error_rows = await errors.fetchall()
            model_rows = await models.fetchall()
        assert row is not None
        n = len(RUN_STATUSES)
        by_status = dict(zip(RUN_STATUSES, row[:n], strict=True))
        duration_avg, duration_values, steps_avg, steps_values, tokens_in, tokens_out, tokens = row[
            n : n + 7
        ]
        cost, priced_runs = row[n + 7 :]
        failing = sorted((t for t in tools if t.failures), key=lambda t: (-t.failures, t.tool))[
            :TOP_FAILING_TOOLS
        ]
        return SummaryRows(
            runs_by_status=by_status,
            duration_ms=_percentiles(duration_avg, duration_values),
            steps_per_run=_percentiles(steps_avg, steps_values),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            total_tokens=tokens,
            top_failing_tools=[
                FailingToolRow(tool=t.tool, calls=t.calls, failures=t.failures) for t in failing
            ],
            top_errors=[
                ErrorCountRow(type=error_type, message=message, count=count)
                for error_type, message, count in error_rows
            ],
            exact=True,
            since_ns=window.since_ns,
            until_ns=window.until_ns,
            cost=_cost_rows(cost, priced_runs, model_rows),
        )

    def _exact_model_costs(
        self, agent: str | None, window: TimeWindow
    ) -> tuple[sql.Composed, list[Any]]:
        """LLM calls by model from the step rows; a call directly inside another LLM call
        (one call instrumented twice) counts once, as in the run's own figures."""
        where = _Conditions()
        where.add("s.project_id = %s", self.project_id)
        where.add("s.kind = 'llm'")
        where.window("s.run_start_ns", window)
        # The parent shares the step's run start: bounding it by the window too makes the
        # anti-join read the window's partitions, not every day's LLM steps.
        parents = _Conditions()
        parents.window("p.run_start_ns", window)
        parent_window = sql.SQL(" AND ") + parents.sql() if parents.params else sql.SQL("")
        where.add(
            sql.SQL(
                "NOT EXISTS (SELECT 1 FROM steps p WHERE p.trace_id = s.trace_id"
                " AND p.project_id = s.project_id AND p.span_id = s.parent_span_id"
                " AND p.run_start_ns = s.run_start_ns AND p.kind = 'llm'{})"
            ).format(parent_window),
            *parents.params,
        )
        source = sql.SQL("steps s")
        if agent is not None:
            source = sql.SQL(
                "steps s JOIN runs r ON r.project_id = s.project_id AND r.trace_id = s.trace_id"
                " AND r.span_id = s.run_span_id AND r.start_ns = s.run_start_ns"
            )
            where.add("r.agent_name = %s", agent)
            where.window("r.start_ns", window)  # the run's start is its steps' run start
        query = sql.SQL(
            "SELECT coalesce(s.model, ''), count(*),"
            " count(*) FILTER (WHERE s.cost IS NULL AND s.cost_source = 'unpriced'), sum(s.cost),"
            " coalesce(sum(s.input_tokens), 0)::int8, coalesce(sum(s.output_tokens), 0)::int8,"
            " coalesce(sum(s.cache_read_tokens), 0)::int8,"
            " coalesce(sum(s.cache_write_tokens), 0)::int8,"
            " coalesce(sum(s.reasoning_tokens), 0)::int8"
            " FROM {source} WHERE {where} GROUP BY 1"
        ).format(source=source, where=where.sql())
        return query, where.params

    async def timeseries(
        self, *, agent: str | None, first_ns: int, bucket_ns: int, buckets: int
    ) -> list[BucketRow]:
        """Per bucket [first + k*bucket, first + (k+1)*bucket) of run start times, k < buckets:
        run counts and durations, from the rollups. ``first_ns`` and ``bucket_ns`` must be
        whole minutes. Every bucket is present, empty ones with zero runs."""
        level = level_for_width(bucket_ns)
        end_ns = first_ns + buckets * bucket_ns
        # Reading the sketches is most of the work: from SPLIT_BUCKETS buckets on, each half of
        # the range is read over a connection of its own, at the same time as the sums (on one
        # connection too, each statement would see a snapshot of its own).
        edges = [first_ns, end_ns]
        if buckets >= SPLIT_BUCKETS:
            edges.insert(1, first_ns + buckets // 2 * bucket_ns)
        sums, p95_parts = await asyncio.gather(
            self._bucket_sums(agent, level, first_ns, bucket_ns, end_ns),
            asyncio.gather(
                *(
                    self._bucket_p95s(agent, level, first_ns, bucket_ns, low, high)
                    for low, high in itertools.pairwise(edges)
                )
            ),
        )
        p95_by_bucket = {k: p95 for part in p95_parts for k, p95 in part.items()}
        answer = []
        for k in range(buckets):
            found = sums.get(k)
            if found is None:
                answer.append(BucketRow(first_ns + k * bucket_ns, 0, 0, 0, 0, None, None))
                continue
            runs, failures, successes, finished, durations, duration_sum = found[:6]
            cost, priced_runs, unpriced_calls = found[6:]
            answer.append(
                BucketRow(
                    start_ns=first_ns + k * bucket_ns,
                    runs=runs,
                    failures=failures,
                    successes=successes,
                    finished=finished,
                    avg_duration_ms=duration_sum / durations if durations else None,
                    p95_duration_ms=p95_by_bucket.get(k),
                    cost=cost if priced_runs else None,
                    unpriced_calls=unpriced_calls,
                )
            )
        return answer

    def _bucket_where(
        self, agent: str | None, level: int, low_ns: int, high_ns: int
    ) -> tuple[sql.Composable, list[Any]]:
        where: sql.Composable = sql.SQL(
            "project_id = %s AND level = %s AND bucket_ns >= %s AND bucket_ns < %s"
        )
        params: list[Any] = [self.project_id, level, low_ns, high_ns]
        if agent is not None:
            where = where + sql.SQL(" AND agent_name = %s")
            params.append(agent)
        return where, params

    async def _bucket_sums(
        self, agent: str | None, level: int, first_ns: int, bucket_ns: int, end_ns: int
    ) -> dict[int, tuple[Any, ...]]:
        """The run sums of each bucket index that has runs."""
        where, params = self._bucket_where(agent, level, first_ns, end_ns)
        query = sql.SQL(
            "SELECT (bucket_ns - %s) / %s AS b, sum(runs)::int8, sum(failed)::int8,"
            " sum(succeeded)::int8, sum(succeeded + failed + cancelled)::int8,"
            " sum(durations)::int8, sum(duration_sum_ms), sum(cost), sum(priced_runs)::int8,"
            " sum(unpriced_calls)::int8"
            " FROM rollup_runs WHERE {where} GROUP BY 1"
        ).format(where=where)
        async with self._connection(_AGGREGATE_SETTINGS) as conn:
            cursor = await conn.execute(query, [first_ns, bucket_ns, *params])
            rows = await cursor.fetchall()
        return {int(row[0]): row[1:] for row in rows}

    async def _bucket_p95s(
        self,
        agent: str | None,
        level: int,
        first_ns: int,
        bucket_ns: int,
        low_ns: int,
        high_ns: int,
    ) -> dict[int, float]:
        """The p95 duration of each bucket index that has durations, of the buckets from
        ``low_ns`` to ``high_ns``."""
        from storage import sketch_merge  # numpy: loaded by the API, not by derivers

        where, params = self._bucket_where(agent, level, low_ns, high_ns)
        # The sketches are merged here: over many buckets, unnesting and grouping them in SQL
        # costs several times more than reading them. They come in binary form, read straight
        # into numpy: decoding them into Python ints cost more than the query.
        query = sql.SQL(
            "SELECT (bucket_ns - %s) / %s AS b, {sketch} FROM rollup_runs WHERE {where}"
        ).format(sketch=sql.SQL(sketch_merge.stored_sketch("duration")), where=where)
        async with self._connection() as conn:
            cursor = conn.cursor(binary=True)
            await cursor.execute(query, [first_ns, bucket_ns, *params])
            rows = await cursor.fetchall()
        if not rows:
            return {}
        groups, keys, counts = zip(*rows, strict=True)
        merged = sketch_merge.merged_quantiles(groups, keys, counts, (0.95,))
        return {bucket: p95 for bucket, (p95,) in merged.items()}


def _cost_rows(
    cost: float | None, priced_runs: int, model_rows: Sequence[tuple[Any, ...]]
) -> CostRows:
    """The cost section of a summary: the priced total, and LLM calls by model (the most
    expensive ``TOP_MODELS``; the call counts cover every model)."""
    models = [
        ModelCostRow(
            model=model or None,
            calls=calls,
            unpriced_calls=unpriced,
            cost=None if calls == unpriced else float(model_cost or 0),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            reasoning_tokens=reasoning,
        )
        for model, calls, unpriced, model_cost, tokens_in, tokens_out, cache_read, cache_write,
        reasoning in model_rows
    ]  # fmt: skip
    models.sort(key=lambda row: (-(row.cost if row.cost is not None else -1), row.model or ""))
    return CostRows(
        cost=None if cost is None else float(cost),
        priced_runs=priced_runs,
        llm_calls=sum(row.calls for row in models),
        unpriced_calls=sum(row.unpriced_calls for row in models),
        by_model=models[:TOP_MODELS],
    )


def run_metrics(run: RunRow, extra: dict[str, Any] | None) -> list[MetricRow]:
    """The run's metrics in their fixed order: duration, counts from the run's columns, then
    the rest (tool failures, usage attributes) as the deriver stored them."""
    rows = []
    if run.duration_ms is not None:
        rows.append(MetricRow("duration_ms", float(run.duration_ms), {}))
    for name in METRIC_COLUMNS:
        rows.append(MetricRow(name, float(getattr(run, name)), {}))
    for name, value, tags in (extra or {}).get("metrics", []):
        rows.append(MetricRow(name, float(value), tags or {}))
    return rows
