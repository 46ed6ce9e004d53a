"""Reading ``run_search``: attribute and text conditions on runs, and the ranked text search.

Conditions are on the search row ``s`` of a run (migration 0012):

- an attribute exists: ``s.attributes ? key`` (GIN index);
- equals: ``s.attributes @> {key: [value]}`` for the text value, and for the number or
  boolean it reads as (GIN index);
- compares with a number: ``s.attributes @? '$."key"[*] ? (@ > n)'`` (the GIN index finds the
  runs having the key, the comparison is checked on those);
- a word occurs: ``s.words @@ search_word_query(words_text(word))`` (GIN index of words;
  migration 0013: every lexeme of the word, as a prefix unless of one or two ASCII
  characters, CJK as bigrams).

The ranked search scores each matching run by ``ts_rank`` of its tsvector against the words'
exact lexemes (a word found whole scores, a word found only as the prefix of a longer one
scores 0), best first, then newest first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg_pool import AsyncConnectionPool

from mapping.search_document import words_text
from storage.query_records import AttributeFilter, RunFilters, RunKey, RunRow
from storage.search_index import decode_document

_COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

# The planner does not count the cost of decompressing a tsvector to match it, and so may read
# whole partitions rather than their words index: a text search forbids that.
SEARCH_SETTINGS = {"enable_seqscan": "off", "max_parallel_workers_per_gather": "0"}
# A ranked search scores the newest this many runs that match (after every other filter).
RANKED_CANDIDATES = 500
# The windows of start time a search reads in turn, newest first, each this many hours wide
# from the newest time it may find (then one window for everything older). An index hands over
# every search row of its window that matches before they can be ordered: a value most runs
# have fills a page from the newest hour instead of from every matching row of the store, and a
# rare one costs one probe of each day's index, as a single query over every day would.
WINDOW_HOURS = (1, 4, 16, 64, 256)
_NS_PER_HOUR = 3_600 * 10**9


def time_windows(newest_ns: int, since_ns: int | None) -> list[tuple[int | None, int | None]]:
    """[lower, upper) start-time windows, newest first, covering every time at or above
    ``since_ns``: the first has no upper bound, the last no lower bound (the caller's own
    conditions bound the rows further)."""
    windows: list[tuple[int | None, int | None]] = []
    upper: int | None = None
    for hours in WINDOW_HOURS:
        lower = newest_ns - hours * _NS_PER_HOUR
        if since_ns is not None and lower <= since_ns:
            break
        windows.append((lower, upper))
        upper = lower
    windows.append((None, upper))
    return windows


def _newest_time(filters: RunFilters, after: tuple[int, bytes, bytes] | None) -> int:
    """The newest start time a page can hold: the cursor's, the window's end, or now."""
    candidates = [time.time_ns()]
    if filters.window.until_ns is not None:
        candidates.append(filters.window.until_ns)
    if after is not None:
        candidates.append(after[0] + 1)
    return min(candidates)


T = TypeVar("T")
Window = tuple[int | None, int | None]


async def _newest_by_window(
    filters: RunFilters,
    after: tuple[int, bytes, bytes] | None,
    wanted: int,
    read: Callable[[Window, int], Awaitable[list[T]]],
) -> list[T]:
    """What ``read`` finds in each window of ``time_windows``, newest first, until ``wanted``
    rows are found (``read`` is given the window and how many more are wanted)."""
    found: list[T] = []
    for window in time_windows(_newest_time(filters, after), filters.window.since_ns):
        found += await read(window, wanted - len(found))
        if len(found) >= wanted:
            break
    return found


def _bounded(
    alias: str, window: tuple[int | None, int | None]
) -> tuple[list[sql.Composable], list[Any]]:
    """The conditions keeping ``alias.start_ns`` within a window."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    lower, upper = window
    if lower is not None:
        parts.append(sql.SQL(f"{alias}.start_ns >= %s"))
        params.append(lower)
    if upper is not None:
        parts.append(sql.SQL(f"{alias}.start_ns < %s"))
        params.append(upper)
    return parts, params


def _number_literal(value: float) -> str:
    """A jsonpath numeric literal of a finite number."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value).replace("e+", "e")


def _equal_values(value: str) -> list[Any]:
    """The JSON values an equality with ``value`` matches: the text, and the number or
    boolean it reads as."""
    values: list[Any] = [value]
    if value in ("true", "false"):
        values.append(value == "true")
    else:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            values.append(int(number) if number.is_integer() and abs(number) < 1e15 else number)
    return values


def attribute_condition(item: AttributeFilter) -> tuple[sql.Composable, list[Any]]:
    """The condition on ``s.attributes`` of one attribute filter, with its parameters."""
    if item.operator == "exists":
        return sql.SQL("s.attributes ? %s"), [item.key]
    if item.operator == "eq":
        values = _equal_values(str(item.value))
        parts = [sql.SQL("s.attributes @> %s::jsonb")] * len(values)
        return (
            sql.SQL("({})").format(sql.SQL(" OR ").join(parts)),
            [orjson.dumps({item.key: [v]}).decode() for v in values],
        )
    number = float(item.value)  # type: ignore[arg-type]
    path = (
        f"$.{orjson.dumps(item.key).decode()}[*] ? "
        f"(@ {_COMPARISONS[item.operator]} {_number_literal(number)})"
    )
    return sql.SQL("s.attributes @? %s::jsonpath"), [path]


def search_conditions(filters: RunFilters) -> tuple[list[sql.Composable], list[Any]]:
    """The conditions on a run's search row ``s`` of the filters' attributes and words."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for item in filters.attributes:
        part, values = attribute_condition(item)
        parts.append(part)
        params.extend(values)
    for word in filters.words:
        parts.append(sql.SQL("s.words @@ search_word_query(%s)"))
        params.append(words_text(word))
    return parts, params


def _search_rows(project_id: int, filters: RunFilters) -> tuple[list[sql.Composable], list[Any]]:
    """The conditions on search rows ``s`` of a project: its window, attributes and words."""
    # "+ 0": the project is a filter, not an index condition; else the planner scans the
    # primary key for it rather than the words or attribute index.
    parts: list[sql.Composable] = [sql.SQL("s.project_id + 0 = %s")]
    params: list[Any] = [project_id]
    if filters.window.since_ns is not None:
        parts.append(sql.SQL("s.start_ns >= %s"))
        params.append(filters.window.since_ns)
    if filters.window.until_ns is not None:
        parts.append(sql.SQL("s.start_ns < %s"))
        params.append(filters.window.until_ns)
    more, more_params = search_conditions(filters)
    return parts + more, params + more_params


class _Where(Protocol):
    params: list[Any]

    def sql(self) -> sql.Composable: ...


async def runs_newest_first(
    conn: psycopg.AsyncConnection[Any],
    project_id: int,
    filters: RunFilters,
    runs: _Where,
    run_columns: sql.Composable,
    after: tuple[int, bytes, bytes] | None,
    limit: int,
    offset: int,
) -> list[RunRow]:
    """Runs newest first whose search rows meet the filters' attribute and word conditions
    (at most ``limit`` + 1 after skipping ``offset``), driven by those rows as their indexes
    find them, window by window (``time_windows``); each run is looked up by its key and
    checked against ``runs`` (the other conditions, on ``r``). The lateral lookup's LIMIT 1 (a
    key names one run) keeps the planner from turning it into a join that reads every run."""
    parts, params = _search_rows(project_id, filters)
    if after is not None:
        parts.append(sql.SQL("(s.start_ns, s.trace_id, s.span_id) < (%s, %s, %s)"))
        params.extend(after)

    async def read(window: Window, wanted: int) -> list[RunRow]:
        search_bounds, search_bound_params = _bounded("s", window)
        run_bounds, run_bound_params = _bounded("r", window)
        query = sql.SQL(
            "SELECT {columns} FROM ("
            " SELECT s.start_ns, s.trace_id, s.span_id FROM run_search s WHERE {search}"
            " ORDER BY s.start_ns DESC, s.trace_id DESC, s.span_id DESC) k"
            " CROSS JOIN LATERAL (SELECT * FROM runs r WHERE r.project_id = %s"
            " AND r.start_ns = k.start_ns AND r.trace_id = k.trace_id AND r.span_id = k.span_id"
            " AND {runs} LIMIT 1) r"
            " ORDER BY k.start_ns DESC, k.trace_id DESC, k.span_id DESC LIMIT %s"
        ).format(
            columns=run_columns,
            search=sql.SQL(" AND ").join(parts + search_bounds),
            runs=sql.SQL(" AND ").join([runs.sql(), *run_bounds]),
        )
        cursor = conn.cursor(row_factory=class_row(RunRow))
        await cursor.execute(
            query,
            [*params, *search_bound_params, project_id, *runs.params, *run_bound_params, wanted],
        )
        return await cursor.fetchall()

    found = await _newest_by_window(filters, after, offset + limit + 1, read)
    return found[offset:]


def search_exists(filters: RunFilters) -> tuple[sql.Composable, list[Any]] | None:
    """An EXISTS condition on a run ``r`` having a search row that meets the filters'
    attribute and word conditions; None when there are none."""
    parts, params = search_conditions(filters)
    if not parts:
        return None
    return (
        sql.SQL(
            "EXISTS (SELECT 1 FROM run_search s WHERE s.project_id = r.project_id"
            " AND s.trace_id = r.trace_id AND s.span_id = r.span_id AND s.start_ns = r.start_ns"
            " AND {})"
        ).format(sql.SQL(" AND ").join(parts)),
        params,
    )


@dataclass(slots=True)
class SearchHit:
    """Where a run's words were found: its search document and score."""

    score: float | None  # None outside the most-relevant-first order
    body: str
    segments: list[list[Any]]  # [offset, span id, name, field]


@dataclass(slots=True)
class SearchPage:
    runs: list[RunRow]
    hits: dict[str, SearchHit]  # by run id
    next_key: RunKey | None


def _tsquery(words: Sequence[str]) -> tuple[sql.Composable, list[Any]]:
    """The query scoring runs: any word, each as its exact lexemes (all of them)."""
    parts = [sql.SQL("plainto_tsquery('simple', %s)")] * len(words)
    return sql.SQL("({})").format(sql.SQL(" || ").join(parts)), [words_text(w) for w in words]


_SELECT_HITS = """
SELECT encode(s.trace_id || s.span_id, 'hex'), s.document, s.body, s.segments FROM run_search s
JOIN unnest(%s::bytea[], %s::bytea[], %s::int8[]) AS k(t, sp, st)
  ON s.trace_id = k.t AND s.span_id = k.sp AND s.start_ns = k.st
WHERE s.project_id = %s
"""


async def execute_by_keys(
    cursor: psycopg.AsyncCursor[Any], query: str | sql.Composed, params: Sequence[Any]
) -> None:
    """Execute a lookup of rows by their keys (an unnest of keys joined to a partitioned
    table) with a generic plan, prepared once per connection: run-time pruning finds each
    key's partition, where a custom plan is made over every partition at each call (a page of
    50 runs: 2.3 ms instead of 6 at 31 day partitions)."""
    async with cursor.connection.transaction():
        await cursor.connection.execute(
            "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)"
        )
        await cursor.execute(query, params, prepare=True)


async def search_documents(
    conn: psycopg.AsyncConnection[Any], project_id: int, runs: Sequence[RunRow]
) -> dict[str, tuple[str, list[list[Any]]]]:
    """The search document (body, segments) of each run, by run id."""
    if not runs:
        return {}
    cursor = conn.cursor()
    await execute_by_keys(
        cursor,
        _SELECT_HITS,
        (
            [bytes.fromhex(r.trace_id) for r in runs],
            [bytes.fromhex(r.span_id) for r in runs],
            [r.start_ns for r in runs],
            project_id,
        ),
    )
    return {
        run_id: decode_document(document, body, segments)
        for run_id, document, body, segments in await cursor.fetchall()
    }


class RunSearch:
    """The most relevant runs of a project for some words, with where they were found."""

    def __init__(self, pool: AsyncConnectionPool, project_id: int) -> None:
        self.pool = pool
        self.project_id = project_id

    async def search(
        self,
        filters: RunFilters,
        run_where: tuple[sql.Composable, list[Any]] | None,
        run_columns: sql.Composable,
        *,
        after: RunKey | None,
        limit: int,
        offset: int = 0,
    ) -> SearchPage:
        """Runs meeting ``run_where`` (conditions on ``r``, without the search conditions;
        None: no condition on the runs) whose documents hold every word of
        ``filters.words``, best score first, among the newest ``RANKED_CANDIDATES`` of them
        (read window by window, ``time_windows``)."""
        parts, params = _search_rows(self.project_id, filters)
        tsquery, tsquery_params = _tsquery(filters.words)
        async with self.pool.connection() as conn, conn.transaction():
            for name, value in SEARCH_SETTINGS.items():
                await conn.execute("SELECT set_config(%s, %s, true)", (name, value))

            async def read(window: Window, wanted: int) -> list[tuple[float, int, bytes, bytes]]:
                search_bounds, search_bound_params = _bounded("s", window)
                runs_exist: sql.Composable = sql.SQL("")
                runs_params: list[Any] = []
                if run_where is not None:
                    run_bounds, run_bound_params = _bounded("r", window)
                    runs_exist = sql.SQL(
                        " WHERE EXISTS (SELECT 1 FROM runs r WHERE r.project_id = %s"
                        " AND r.start_ns = k.start_ns AND r.trace_id = k.trace_id"
                        " AND r.span_id = k.span_id AND {})"
                    ).format(sql.SQL(" AND ").join([run_where[0], *run_bounds]))
                    runs_params = [self.project_id, *run_where[1], *run_bound_params]
                query = sql.SQL(
                    "SELECT ts_rank(k.words, {tsquery})::float8, k.start_ns, k.trace_id,"
                    " k.span_id FROM ("
                    " SELECT s.start_ns, s.trace_id, s.span_id, s.words FROM run_search s"
                    " WHERE {search}"
                    " ORDER BY s.start_ns DESC, s.trace_id DESC, s.span_id DESC) k{runs_exist}"
                    " ORDER BY k.start_ns DESC, k.trace_id DESC, k.span_id DESC LIMIT %s"
                ).format(
                    tsquery=tsquery,
                    search=sql.SQL(" AND ").join(parts + search_bounds),
                    runs_exist=runs_exist,
                )
                cursor = await conn.execute(
                    query,
                    [*tsquery_params, *params, *search_bound_params, *runs_params, wanted],
                )
                return await cursor.fetchall()

            candidates = await _newest_by_window(filters, None, RANKED_CANDIDATES, read)
            candidates.sort(reverse=True)
            if after is not None and after.cost_key is not None:
                position = (
                    after.cost_key,
                    after.start_ns,
                    bytes.fromhex(after.id[:32]),
                    bytes.fromhex(after.id[32:]),
                )
                candidates = [c for c in candidates if c < position]
            chosen = candidates[offset : offset + limit + 1]
            rows = await _scored_runs(conn, self.project_id, run_columns, chosen)
            more = len(rows) > limit
            rows = rows[:limit]
            documents = await search_documents(conn, self.project_id, rows)
        hits = {
            row.id: SearchHit(row.score, *documents[row.id]) for row in rows if row.id in documents
        }
        runs: list[RunRow] = list(rows)
        next_key = None
        if more and rows:
            last = rows[-1]
            next_key = RunKey(last.start_ns, last.id, last.score)
        return SearchPage(runs=runs, hits=hits, next_key=next_key)


async def _scored_runs(
    conn: psycopg.AsyncConnection[Any],
    project_id: int,
    run_columns: sql.Composable,
    chosen: Sequence[tuple[float, int, bytes, bytes]],
) -> list[ScoredRun]:
    """The runs of ``chosen`` (score, start, trace id, span id), in that order, with scores."""
    if not chosen:
        return []
    query = sql.SQL(
        "SELECT {columns}, k.score FROM unnest(%s::float8[], %s::int8[], %s::bytea[],"
        " %s::bytea[]) WITH ORDINALITY AS k(score, start_ns, trace_id, span_id, position)"
        " CROSS JOIN LATERAL (SELECT * FROM runs r WHERE r.project_id = %s"
        " AND r.start_ns = k.start_ns AND r.trace_id = k.trace_id AND r.span_id = k.span_id"
        " LIMIT 1) r ORDER BY k.position"
    ).format(columns=run_columns)
    cursor = conn.cursor(row_factory=class_row(ScoredRun))
    columns = [list(column) for column in zip(*chosen, strict=True)]
    await execute_by_keys(cursor, query, [*columns, project_id])
    return await cursor.fetchall()


class ScoredRun(RunRow):
    """A run row with its score (the query's last column)."""

    def __init__(self, *args: Any, score: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.score = score
