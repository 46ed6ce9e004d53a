"""GET /v1/metrics/summary and /v1/metrics/timeseries: how the agents are doing."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.auth import ProjectIdDep
from api.params import (
    ERROR_RESPONSES,
    TIME_DESCRIPTION,
    AgentDep,
    ExactDep,
    QueriesDep,
    WindowDep,
    invalid_parameter,
    time_value,
)
from api.presenters import present_distribution, rate
from api.schemas import (
    CostSummary,
    ErrorCount,
    FailingTool,
    ModelCost,
    RunCounts,
    ScoreAggregate,
    StatusCounts,
    Summary,
    Timeseries,
    TokenTotals,
)
from api.times import format_optional_time, format_time
from storage.query_records import CostRows, TimeWindow
from storage.scores import ScoreReader

router = APIRouter(tags=["metrics"], responses=ERROR_RESPONSES)

BucketName = Literal["1m", "5m", "1h", "1d"]
BUCKET_NS: dict[str, int] = {
    "1m": 60 * 10**9,
    "5m": 300 * 10**9,
    "1h": 3600 * 10**9,
    "1d": 86400 * 10**9,
}
DEFAULT_SPAN_NS = 86400 * 10**9
MAX_BUCKETS = 10_000


def get_score_reader(request: Request, project_id: ProjectIdDep) -> ScoreReader:
    return ScoreReader(request.app.state.store.pool, project_id)


ScoreReaderDep = Annotated[ScoreReader, Depends(get_score_reader)]


@router.get(
    "/v1/metrics/summary",
    summary="Run counts, success rate, durations, tokens, cost, failing tools, errors, scores",
    response_model=Summary,
)
async def summary(
    queries: QueriesDep, scores: ScoreReaderDep, window: WindowDep, agent: AgentDep, exact: ExactDep
) -> Summary:
    rows = await queries.summary(agent=agent, window=window, exact=exact)
    # The scores of the very runs counted: the rollups widen the window to whole minutes.
    score_rows = await scores.aggregates(
        window=TimeWindow(rows.since_ns, rows.until_ns), agent=agent
    )
    counts = rows.runs_by_status
    finished = counts["SUCCESS"] + counts["FAILED"] + counts["CANCELLED"]
    return Summary(
        since=format_optional_time(rows.since_ns),
        until=format_optional_time(rows.until_ns),
        exact=rows.exact,
        agent=agent,
        runs=RunCounts(total=sum(counts.values()), by_status=StatusCounts(**counts)),
        success_rate=rate(counts["SUCCESS"], finished),
        duration_ms=present_distribution(rows.duration_ms),
        steps_per_run=present_distribution(rows.steps_per_run),
        tokens=TokenTotals(
            input=rows.input_tokens, output=rows.output_tokens, total=rows.total_tokens
        ),
        top_failing_tools=[
            FailingTool(
                tool=tool.tool,
                calls=tool.calls,
                failures=tool.failures,
                failure_rate=tool.failures / tool.calls if tool.calls else 0.0,
            )
            for tool in rows.top_failing_tools
        ],
        top_errors=[
            ErrorCount(type=error.type, message=error.message, count=error.count)
            for error in rows.top_errors
        ],
        cost=_cost_summary(rows.cost),
        scores=[
            ScoreAggregate(
                name=row.name,
                count=row.count,
                value_count=row.values,
                mean=row.mean,
                min=row.min,
                max=row.max,
                error_count=row.errors,
                labels=row.labels,
            )
            for row in score_rows
        ],
    )


def _cost_summary(rows: CostRows) -> CostSummary:
    return CostSummary(
        total=rows.cost,
        priced_runs=rows.priced_runs,
        llm_calls=rows.llm_calls,
        unpriced_llm_calls=rows.unpriced_calls,
        unpriced_share=rate(rows.unpriced_calls, rows.llm_calls),
        by_model=[
            ModelCost(
                model=row.model,
                calls=row.calls,
                unpriced_calls=row.unpriced_calls,
                cost=row.cost,
                input_tokens=row.input_tokens,
                output_tokens=row.output_tokens,
                cache_read_tokens=row.cache_read_tokens,
                cache_write_tokens=row.cache_write_tokens,
                reasoning_tokens=row.reasoning_tokens,
            )
            for row in rows.by_model
        ],
    )


@router.get(
    "/v1/metrics/timeseries",
    summary="Runs, failures, success rate, durations, cost and score means per time bucket",
    response_model=Timeseries,
)
async def timeseries(
    queries: QueriesDep,
    scores: ScoreReaderDep,
    agent: AgentDep,
    bucket: Annotated[BucketName, Query(description="bucket width")] = "1h",
    since: Annotated[
        str | None,
        Query(description="default: 24 hours before until. " + TIME_DESCRIPTION),
    ] = None,
    until: Annotated[str | None, Query(description="default: now. " + TIME_DESCRIPTION)] = None,
) -> Response:
    width = BUCKET_NS[bucket]
    until_ns = time_value(until, "until")
    if until_ns is None:
        until_ns = time.time_ns()
    since_ns = time_value(since, "since")
    if since_ns is None:
        since_ns = max(0, until_ns - DEFAULT_SPAN_NS)
    if since_ns > until_ns:
        raise invalid_parameter("until", "must not be before since")
    first_ns = since_ns - since_ns % width
    count = max(1, -(-(until_ns - first_ns) // width))
    if count > MAX_BUCKETS:
        raise invalid_parameter(
            "bucket",
            f"{count} buckets of {bucket} between since and until; at most {MAX_BUCKETS}: "
            "use a wider bucket or a shorter range",
        )
    rows = await queries.timeseries(agent=agent, first_ns=first_ns, bucket_ns=width, buckets=count)
    by_bucket: dict[int, dict[str, dict[str, Any]]] = {}
    for mean in await scores.means(agent=agent, first_ns=first_ns, bucket_ns=width, buckets=count):
        by_bucket.setdefault(mean.bucket, {})[mean.name] = {"count": mean.count, "mean": mean.mean}
    # Up to 10,000 buckets: serialised as they come, not through Pydantic models (the
    # response_model still documents the answer).
    document = {
        "bucket": bucket,
        "since": format_time(first_ns),
        "until": format_time(first_ns + count * width),
        "agent": agent,
        "buckets": [
            {
                "start": format_time(row.start_ns),
                "runs": row.runs,
                "failures": row.failures,
                "success_rate": rate(row.successes, row.finished),
                "avg_duration_ms": row.avg_duration_ms,
                "p95_duration_ms": row.p95_duration_ms,
                "cost": row.cost,
                "unpriced_llm_calls": row.unpriced_calls,
                "scores": by_bucket.get(index, {}),
            }
            for index, row in enumerate(rows)
        ],
    }
    return Response(orjson.dumps(document), media_type="application/json")
