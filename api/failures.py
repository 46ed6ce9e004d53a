"""GET /v1/failures and GET /v1/runs/{run_id}/failure: the ways runs fail, grouped by
failure signature (``mapping.failure_signature``)."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from api.auth import ProjectIdDep
from api.errors import ApiError
from api.failure_presenters import run_failure, runs_url, signature_title
from api.failure_schemas import RunFailure
from api.params import ERROR_RESPONSES, AgentDep, WindowDep, invalid_parameter
from api.runs import RUN_ID_PATTERN
from api.times import format_time
from api.triage_schemas import AgentFailures, Failure, FailureList
from storage.failure_queries import FailureQueries, FailureRow

router = APIRouter(tags=["failures"], responses=ERROR_RESPONSES)

DEFAULT_WINDOW_NS = 24 * 3600 * 10**9
MAX_LIMIT = 200
MAX_BUCKETS = 96


def get_failure_queries(request: Request, project_id: ProjectIdDep) -> FailureQueries:
    return FailureQueries(request.app.state.store.pool, project_id)


FailureQueriesDep = Annotated[FailureQueries, Depends(get_failure_queries)]


def _failure(row: FailureRow) -> Failure:
    parts = row.parts
    return Failure(
        signature=row.signature,
        title=signature_title(
            row.signature, parts, row.sample_error_type, row.sample_error_message
        ),
        kind=parts.kind,
        name=parts.name,
        error_type=parts.error_type,
        message_template=parts.message_template,
        count=row.count,
        agents=[AgentFailures(name=name, count=count) for name, count in row.agents],
        first_seen=format_time(row.first_seen_ns) if row.first_seen_ns is not None else None,
        last_seen=format_time(row.last_seen_ns) if row.last_seen_ns is not None else None,
        sample_run_id=row.sample_run_id,
        sample_error=(
            {"type": row.sample_error_type, "message": row.sample_error_message}
            if row.sample_error_type or row.sample_error_message
            else None
        ),
        trend=row.trend,
        growth=row.growth,
        runs_url=runs_url(row.signature),
    )


@router.get(
    "/v1/failures",
    response_model=FailureList,
    summary="Failure signatures: how runs failed in a window, newest-growing first",
    description="Failed runs grouped by failure signature (the failing step's kind and name, "
    "its error type and its normalised message), with counts, agents, first and last seen, a "
    "sample run and a trend. Without `since`, the last 24 hours before `until` (default now). "
    "order=growing (default) puts first what grew most from the window's earlier half to its "
    "later half (new signatures included), then the most recent; count: most failures first; "
    "recent: most recently seen first.",
)
async def list_failures(
    queries: FailureQueriesDep,
    window: WindowDep,
    agent: AgentDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="signatures listed")] = 50,
    order: Annotated[
        Literal["growing", "count", "recent"], Query(description="the order of the items")
    ] = "growing",
    buckets: Annotated[
        int,
        Query(ge=2, le=MAX_BUCKETS, description="trend buckets at most (their width is chosen)"),
    ] = 30,
) -> FailureList:
    until_ns = window.until_ns if window.until_ns is not None else time.time_ns()
    since_ns = window.since_ns if window.since_ns is not None else until_ns - DEFAULT_WINDOW_NS
    if since_ns >= until_ns:
        raise invalid_parameter("until", "must be after since")
    page = await queries.failures(
        since_ns=max(0, since_ns),
        until_ns=until_ns,
        agent=agent,
        max_buckets=buckets,
        limit=limit,
        order=order,
    )
    return FailureList(
        since=format_time(page.since_ns),
        until=format_time(page.until_ns),
        trend_start=format_time(page.trend_first_ns),
        trend_bucket_ms=page.trend_width_ns // 10**6,
        total=page.total,
        order=order,
        items=[_failure(row) for row in page.items],
    )


@router.get(
    "/v1/runs/{run_id}/failure",
    response_model=RunFailure,
    summary="How a failed run failed: its signature, and how many other runs failed so",
    responses={404: {"description": "No such failed run"}},
)
async def get_run_failure(
    queries: FailureQueriesDep,
    run_id: Annotated[str, Path(description="48 hex characters", pattern=RUN_ID_PATTERN)],
) -> RunFailure:
    run_id = run_id.lower()
    failure = await run_failure(queries, run_id)
    if failure is None:
        raise ApiError(404, f"no failed run {run_id}")
    return failure
