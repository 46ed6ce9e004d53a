"""GET /v1/runs and GET /v1/runs/{run_id}: the runs, newest first, and one run in full."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from api.errors import ApiError
from api.failure_presenters import run_failure
from api.pagination import InvalidCursor, decode_cursor, encode_cursor
from api.params import (
    ERROR_RESPONSES,
    AgentDep,
    QueriesDep,
    WindowDep,
    invalid_parameter,
    text_value,
)
from api.payloads import payloads_of
from api.presenters import present_run, present_run_detail, present_score
from api.schemas import RunDetail, RunList, RunStatusName
from storage.failure_queries import FailureQueries
from storage.query_records import RunFilters, ScoreFilter
from storage.scores import ScoreReader

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)

RUN_ID_PATTERN = "^[0-9a-fA-F]{48}$"
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000
DETAIL_MAX_SCORES = 1000


def score_filter(
    name: str | None, low: float | None, high: float | None, label: str | None
) -> ScoreFilter | None:
    """The ``score`` filter of the runs list; bounds and label refine it and need it."""
    if name is None:
        for given, parameter in ((low, "score_min"), (high, "score_max"), (label, "score_label")):
            if given is not None:
                raise invalid_parameter(parameter, "needs score (the name of the score)")
        return None
    if low is not None and high is not None and low > high:
        raise invalid_parameter("score_max", "must not be less than score_min")
    return ScoreFilter(
        name=text_value(name, "score") or name,
        min=low,
        max=high,
        label=text_value(label, "score_label"),
    )


@router.get(
    "/v1/runs", summary="Runs, newest (or most expensive) first, filtered", response_model=RunList
)
async def list_runs(
    queries: QueriesDep,
    window: WindowDep,
    agent: AgentDep,
    status: Annotated[RunStatusName | None, Query(description="run status")] = None,
    trace_id: Annotated[
        str | None,
        Query(description="the runs of one trace (32 hex characters)", pattern="^[0-9a-fA-F]{32}$"),
    ] = None,
    session_id: Annotated[str | None, Query(description="session or conversation id")] = None,
    user_id: Annotated[str | None, Query()] = None,
    tool: Annotated[str | None, Query(description="runs that called this tool")] = None,
    min_duration_ms: Annotated[
        float | None,
        Query(ge=0, allow_inf_nan=False, description="runs that took at least this long"),
    ] = None,
    has_error: Annotated[
        bool | None,
        Query(description="true: the run failed or one of its steps did; false: neither"),
    ] = None,
    min_cost: Annotated[
        float | None,
        Query(
            ge=0,
            allow_inf_nan=False,
            description="runs whose own cost is at least this many USD (unpriced runs never match)",
        ),
    ] = None,
    sort: Annotated[
        Literal["start", "cost"],
        Query(
            description="start: newest first; cost: most expensive first (runs without a "
            "cost last), then newest first. Cursors page either order"
        ),
    ] = "start",
    signature: Annotated[
        str | None,
        Query(description="failed runs with this failure signature id", pattern="^[0-9a-f]{16}$"),
    ] = None,
    score: Annotated[
        str | None,
        Query(
            min_length=1,
            description="runs with a score of this name, on the run or one of its steps",
        ),
    ] = None,
    score_min: Annotated[
        float | None,
        Query(allow_inf_nan=False, description="with score: one such score's value is >= this"),
    ] = None,
    score_max: Annotated[
        float | None,
        Query(allow_inf_nan=False, description="with score: one such score's value is <= this"),
    ] = None,
    score_label: Annotated[
        str | None, Query(description="with score: one such score has this label")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = 50,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page, as given")
    ] = None,
    offset: Annotated[
        int,
        Query(ge=0, le=MAX_OFFSET, description="runs to skip (after the cursor, if any)"),
    ] = 0,
) -> RunList:
    after = None
    if cursor is not None:
        try:
            after = decode_cursor(cursor)
        except InvalidCursor as exc:
            raise invalid_parameter("cursor", str(exc)) from None
        if (after.cost_key is not None) != (sort == "cost"):
            raise invalid_parameter(
                "cursor", "was issued for another sort order (use next_cursor as given)"
            )
    filters = RunFilters(
        window=window,
        agent=agent,
        status=status,
        trace_id=bytes.fromhex(trace_id) if trace_id else None,
        session_id=text_value(session_id, "session_id"),
        user_id=text_value(user_id, "user_id"),
        tool=text_value(tool, "tool"),
        min_duration_ms=min_duration_ms,
        has_error=has_error,
        min_cost=min_cost,
        signature=signature,
        score=score_filter(score, score_min, score_max, score_label),
    )
    page = await queries.list_runs(
        filters, after=after, limit=limit, offset=offset, by_cost=sort == "cost"
    )
    return RunList(
        items=[present_run(row) for row in page.runs],
        next_cursor=encode_cursor(page.next_key) if page.next_key else None,
    )


@router.get(
    "/v1/runs/{run_id}",
    summary="One run with its ordered steps, metrics, artifacts and child runs",
    response_model=RunDetail,
)
async def get_run(
    request: Request,
    queries: QueriesDep,
    run_id: Annotated[str, Path(description="48 hex characters", pattern=RUN_ID_PATTERN)],
) -> RunDetail:
    run_id = run_id.lower()
    detail = await queries.get_run_detail(run_id)
    if detail is None:
        raise ApiError(404, f"no run {run_id}")
    span_count = await queries.trace_span_count(bytes.fromhex(run_id[:32]))
    payloads = await payloads_of(
        request.app.state.store.reader,
        queries.project_id,
        run_id,
        span_count,
        [step.id for step in detail.steps],
    )
    detail.run = payloads.run(detail.run)
    detail.steps = [payloads.step(step) for step in detail.steps]
    detail.artifacts = payloads.all_artifacts()
    answer = present_run_detail(detail)
    answer.scores = [
        present_score(row)
        for row in await ScoreReader(request.app.state.store.pool, queries.project_id).of_run(
            bytes.fromhex(run_id[:32]), bytes.fromhex(run_id[32:]), limit=DETAIL_MAX_SCORES
        )
    ]
    if detail.run.status == "FAILED":
        answer.failure = await run_failure(
            FailureQueries(request.app.state.store.pool, queries.project_id), run_id
        )
    return answer
