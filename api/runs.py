"""GET /v1/runs and GET /v1/runs/{run_id}: the runs, newest first, and one run in full."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from api.errors import ApiError
from api.failure_presenters import run_failure
from api.pagination import InvalidCursor, decode_cursor, encode_cursor
from api.params import ERROR_RESPONSES, QueriesDep, invalid_parameter
from api.payloads import payloads_of
from api.presenters import present_run, present_run_detail, present_score
from api.run_filters import RunFiltersDep
from api.schemas import RunDetail, RunList
from api.search_params import ATTRIBUTE_DESCRIPTION
from api.search_presenters import with_match
from storage.failure_queries import FailureQueries
from storage.scores import ScoreReader

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)

RUN_ID_PATTERN = "^[0-9a-fA-F]{48}$"
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000
DETAIL_MAX_SCORES = 1000


@router.get(
    "/v1/runs",
    summary="Runs, newest (or most expensive, or most relevant) first, filtered",
    description="Also takes attribute conditions: " + ATTRIBUTE_DESCRIPTION + ".",
    response_model=RunList,
)
async def list_runs(
    queries: QueriesDep,
    filters: RunFiltersDep,
    sort: Annotated[
        Literal["start", "cost", "relevance"] | None,
        Query(
            description="start: newest first; cost: most expensive first (runs without a "
            "cost last), then newest first; relevance (with q only, its default): best match "
            "first, then newest first. Cursors page every order"
        ),
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
    if sort is None:
        sort = "relevance" if filters.words else "start"
    elif sort == "relevance" and not filters.words:
        raise invalid_parameter("sort", "relevance needs q (words to search for)")
    after = None
    if cursor is not None:
        try:
            after = decode_cursor(cursor)
        except InvalidCursor as exc:
            raise invalid_parameter("cursor", str(exc)) from None
        if (after.cost_key is not None) != (sort in ("cost", "relevance")):
            raise invalid_parameter(
                "cursor", "was issued for another sort order (use next_cursor as given)"
            )
    words = filters.words
    if sort == "relevance":
        found = await queries.search_runs(filters, after=after, limit=limit, offset=offset)
        return RunList(
            items=[
                with_match(present_run(row), found.hits.get(row.id), words) for row in found.runs
            ],
            next_cursor=encode_cursor(found.next_key) if found.next_key else None,
        )
    page = await queries.list_runs(
        filters, after=after, limit=limit, offset=offset, by_cost=sort == "cost"
    )
    hits = await queries.search_hits(page.runs) if words else {}
    return RunList(
        items=[with_match(present_run(row), hits.get(row.id), words) for row in page.runs],
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
    trace = detail.trace
    payloads = await payloads_of(
        request.app.state.store.reader,
        queries.project_id,
        run_id,
        trace.span_count if trace is not None else None,
        [step.id for step in detail.steps],
        spans_within=trace.spans_within if trace is not None else None,
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
