"""Scores: judgements on a run or one of its steps (table ``scores``, migration 0010).

Two narrow interfaces over it. ``ScoreWriter`` inserts scores posted over REST (source
'api'); scores of source 'event' are written by the deriver from ``gen_ai.evaluation.result``
events and never here. ``ScoreReader`` lists a run's scores and aggregates them per score
name. Both act on one project. Aggregates are computed from the scores table on each request
(there is no rollup for scores), over scores whose run started in the window, so that they
describe the same runs as the run counts beside them. Values are bound parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.errors import StorageUnavailable
from storage.query_records import TimeWindow

TOP_SCORE_NAMES = 100  # score names in a summary, the most frequent first
TOP_LABELS = 20  # labels counted per score name, the most frequent first
TOP_SERIES_NAMES = 20  # score names in a timeseries

SOURCES = ("api", "event")


@dataclass(frozen=True, slots=True)
class ScoreTarget:
    """What a score is on: a run (``span_id == run_span_id``) or one of its steps."""

    trace_id: bytes
    run_span_id: bytes
    span_id: bytes
    run_start_ns: int


@dataclass(frozen=True, slots=True)
class NewScore:
    name: str
    observed_ns: int  # when the judgement was made
    value: float | None = None
    label: str | None = None
    explanation: str | None = None


@dataclass(slots=True)
class ScoreRow:
    id: int
    run_id: str  # hex: trace id, then the run's span id
    span_id: str  # hex: the span the score is on
    step_id: str | None  # hex, None when the score is on the run itself
    name: str
    value: float | None
    label: str | None
    explanation: str | None
    error_type: str | None
    source: str
    observed_ns: int
    step_index: int | None  # the step's index in its run, when the step is derived


@dataclass(slots=True)
class ScoreAggregateRow:
    name: str
    count: int  # scores of this name
    values: int  # of which with a value
    mean: float | None
    min: float | None
    max: float | None
    errors: int  # evaluations that failed (error_type set)
    labels: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class ScoreMeanRow:
    bucket: int  # 0-based bucket index
    name: str
    count: int
    mean: float | None


_COLUMNS = (
    "sc.score_id, encode(sc.trace_id || sc.run_span_id, 'hex'), encode(sc.span_id, 'hex'),"
    " CASE WHEN sc.span_id = sc.run_span_id THEN NULL"
    " ELSE encode(sc.trace_id || sc.span_id, 'hex') END,"
    " sc.name, sc.value, sc.label, sc.explanation, sc.error_type, sc.source, sc.observed_ns,"
    " st.step_index"
)
# The step a score is on, for its index (none for a score on the run itself).
_STEP_JOIN = (
    " LEFT JOIN steps st ON st.trace_id = sc.trace_id AND st.project_id = sc.project_id"
    " AND st.span_id = sc.span_id AND st.run_start_ns = sc.run_start_ns"
    " AND sc.span_id <> sc.run_span_id"
)

_INSERT = (
    "WITH added AS ("
    " INSERT INTO scores (project_id, trace_id, run_span_id, span_id, run_start_ns, name,"
    " value, label, explanation, source, observed_ns)"
    " SELECT %s, %s, %s, %s, %s, n, v, l, e, 'api', o"
    " FROM unnest(%s::text[], %s::float8[], %s::text[], %s::text[], %s::int8[])"
    " WITH ORDINALITY AS t(n, v, l, e, o, i) ORDER BY i"
    " RETURNING *)"
    " SELECT " + _COLUMNS + " FROM added sc" + _STEP_JOIN + " ORDER BY sc.score_id"
)

# Aggregates take the finite values only (an evaluation event may carry NaN or an infinity), and
# sum them as numeric: doubles near the largest one would overflow a double's sum.
_FINITE = "sc.value > '-Infinity' AND sc.value < 'Infinity'"
_MEAN = "avg(sc.value::numeric) FILTER (WHERE " + _FINITE + ")::float8"

_OF_RUN = (
    "SELECT "
    + _COLUMNS
    + " FROM scores sc"
    + _STEP_JOIN
    + " WHERE sc.project_id = %s AND sc.trace_id = %s AND sc.run_span_id = %s"
    " ORDER BY sc.observed_ns, sc.score_id LIMIT %s OFFSET %s"
)


class _ProjectScores:
    """The scores of one project."""

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


class ScoreWriter(_ProjectScores):
    """Inserts the scores an evaluator posts (source 'api')."""

    async def add(self, target: ScoreTarget, scores: Sequence[NewScore]) -> list[ScoreRow]:
        """Insert ``scores`` on ``target`` in one statement; the rows written, in order."""
        if not scores:
            return []
        params = (
            self.project_id,
            target.trace_id,
            target.run_span_id,
            target.span_id,
            target.run_start_ns,
            [s.name for s in scores],
            [s.value for s in scores],
            [s.label for s in scores],
            [s.explanation for s in scores],
            [s.observed_ns for s in scores],
        )
        async with self._connection() as conn:
            cursor = await conn.execute(_INSERT, params)
            return [ScoreRow(*row) for row in await cursor.fetchall()]


class ScoreReader(_ProjectScores):
    """A run's scores, and aggregates per score name."""

    async def of_run(
        self, trace_id: bytes, run_span_id: bytes, *, limit: int, offset: int = 0
    ) -> list[ScoreRow]:
        """The scores of a run and of its steps, oldest judgement first."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                _OF_RUN, (self.project_id, trace_id, run_span_id, limit, offset)
            )
            return [ScoreRow(*row) for row in await cursor.fetchall()]

    def _where(self, window: TimeWindow, agent: str | None) -> tuple[sql.Composable, list[Any]]:
        parts = ["sc.project_id = %s"]
        params: list[Any] = [self.project_id]
        bounds = []
        if window.since_ns is not None:
            bounds.append(("{} >= %s", window.since_ns))
        if window.until_ns is not None:
            bounds.append(("{} < %s", window.until_ns))
        for condition, bound in bounds:
            parts.append(condition.format("sc.run_start_ns"))
            params.append(bound)
        if agent is not None:
            # The agent's runs in the window first (index runs_project_agent_start), then their
            # scores: cheaper than looking up the run of every score of the window.
            runs = ["r.project_id = %s", "r.agent_name = %s"]
            params += [self.project_id, agent]
            for condition, bound in bounds:
                runs.append(condition.format("r.start_ns"))
                params.append(bound)
            parts.append(
                "(sc.trace_id, sc.run_span_id, sc.run_start_ns) IN (SELECT r.trace_id, r.span_id,"
                " r.start_ns FROM runs r WHERE " + " AND ".join(runs) + ")"
            )
        return sql.SQL(" AND ".join(parts)), params

    async def aggregates(self, *, window: TimeWindow, agent: str | None) -> list[ScoreAggregateRow]:
        """Per score name, of the scores whose run started in ``window`` (of ``agent``'s
        runs): count, mean, min and max of the values, failed evaluations, label counts.
        The ``TOP_SCORE_NAMES`` most frequent names, then by name."""
        where, params = self._where(window, agent)
        totals = sql.SQL(
            "SELECT sc.name, count(*), count(*) FILTER (WHERE " + _FINITE + "),"
            " " + _MEAN + ", min(sc.value) FILTER (WHERE " + _FINITE + "),"
            " max(sc.value) FILTER (WHERE " + _FINITE + "), count(sc.error_type)"
            " FROM scores sc WHERE {where}"
            " GROUP BY sc.name ORDER BY count(*) DESC, sc.name LIMIT %s"
        ).format(where=where)
        labels = sql.SQL(
            "SELECT name, label, n FROM ("
            " SELECT sc.name, sc.label, count(*) AS n, row_number() OVER"
            " (PARTITION BY sc.name ORDER BY count(*) DESC, sc.label) AS rank"
            " FROM scores sc WHERE {where} AND sc.label IS NOT NULL GROUP BY sc.name, sc.label"
            ") ranked WHERE rank <= %s"
        ).format(where=where)
        async with self._connection() as conn:
            first, second = conn.cursor(), conn.cursor()
            async with conn.pipeline():
                await first.execute(totals, [*params, TOP_SCORE_NAMES])
                await second.execute(labels, [*params, TOP_LABELS])
            total_rows = await first.fetchall()
            label_rows = await second.fetchall()
        by_name = {
            name: ScoreAggregateRow(name, count, values, mean, low, high, errors)
            for name, count, values, mean, low, high, errors in total_rows
        }
        for name, label, count in sorted(label_rows, key=lambda r: (r[0], -r[2], r[1])):
            if name in by_name:
                by_name[name].labels[label] = int(count)
        return list(by_name.values())

    async def means(
        self, *, agent: str | None, first_ns: int, bucket_ns: int, buckets: int
    ) -> list[ScoreMeanRow]:
        """Per bucket [first + k*bucket, first + (k+1)*bucket) of run start times and score
        name (the ``TOP_SERIES_NAMES`` most frequent in the whole range): how many scores,
        and the mean of their values. Buckets without a score of a name are left out."""
        window = TimeWindow(first_ns, first_ns + buckets * bucket_ns)
        where, params = self._where(window, agent)
        query = sql.SQL(
            "WITH picked AS ("
            " SELECT sc.name FROM scores sc WHERE {where} GROUP BY sc.name"
            " ORDER BY count(*) DESC, sc.name LIMIT %s)"
            " SELECT (sc.run_start_ns - %s) / %s, sc.name, count(*), "
            + _MEAN
            + " FROM scores sc WHERE {where} AND sc.name IN (SELECT name FROM picked)"
            " GROUP BY 1, 2 ORDER BY 1, 2"
        ).format(where=where)
        async with self._connection() as conn:
            cursor = await conn.execute(
                query, [*params, TOP_SERIES_NAMES, first_ns, bucket_ns, *params]
            )
            rows = await cursor.fetchall()
        return [ScoreMeanRow(int(b), name, int(n), mean) for b, name, n, mean in rows]
