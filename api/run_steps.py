"""GET /v1/runs/{run_id}/steps and /timeline: the steps of a large run without the whole run.

``/v1/runs/{run_id}`` answers with the first 1,000 steps. The timeline has every step with only
what it takes to draw it; the steps route pages steps by index (whole payloads and artifacts,
from the raw spans); one step's route has one step in full.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from api.auth import ProjectIdDep
from api.errors import ApiError
from api.params import ERROR_RESPONSES, QueriesDep
from api.payloads import payloads_of
from api.presenters import present_artifact, present_metric, present_run, present_step
from api.runs import RUN_ID_PATTERN
from api.schemas import Artifact, Step
from api.step_schemas import RunTimeline, StepPage
from storage.step_queries import StepQueries

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)

MAX_STEP_PAGE = 1000
MAX_STEP_INDEX = 2**31 - 1

RunId = Annotated[str, Path(description="48 hex characters", pattern=RUN_ID_PATTERN)]


def get_step_queries(request: Request, project_id: ProjectIdDep) -> StepQueries:
    """The step queries of the caller's project."""
    return StepQueries(request.app.state.store.pool, project_id)


StepQueriesDep = Annotated[StepQueries, Depends(get_step_queries)]


@router.get(
    "/v1/runs/{run_id}/steps",
    summary="A page of a run's steps in index order, in full",
    response_model=StepPage,
)
async def list_run_steps(
    request: Request,
    queries: QueriesDep,
    steps: StepQueriesDep,
    run_id: RunId,
    offset: Annotated[
        int, Query(ge=0, le=MAX_STEP_INDEX, description="index of the first step")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_STEP_PAGE, description="page size")] = 100,
) -> StepPage:
    run_id = run_id.lower()
    page = await steps.step_page(run_id, offset=offset, limit=limit)
    if page is None:
        raise ApiError(404, f"no run {run_id}")
    trace = await queries.trace_entry(bytes.fromhex(run_id[:32]))
    payloads = await payloads_of(
        request.app.state.store.reader,
        queries.project_id,
        run_id,
        trace.span_count if trace is not None else None,
        [step.id for step in page.steps],
        spans_within=trace.spans_within if trace is not None else None,
    )
    by_step: dict[str | None, list[Artifact]] = defaultdict(list)
    for artifact in payloads.all_artifacts():
        by_step[artifact.step_id].append(present_artifact(artifact))
    return StepPage(
        run_id=run_id,
        total=page.total,
        offset=offset,
        limit=limit,
        items=[present_step(payloads.step(step), by_step.get(step.id, [])) for step in page.steps],
        next_offset=page.steps[-1].index + 1 if page.has_more else None,
    )


@router.get(
    "/v1/runs/{run_id}/timeline",
    summary="A run with every step's timing, kind and status (column-wise), without payloads",
    response_model=RunTimeline,
)
async def get_run_timeline(
    request: Request, queries: QueriesDep, steps: StepQueriesDep, run_id: RunId
) -> Response:
    run_id = run_id.lower()
    detail = await queries.get_run_detail(run_id, max_steps=0)
    if detail is None:
        raise ApiError(404, f"no run {run_id}")
    rows = await steps.timeline(run_id, detail.run.start_ns)
    trace = detail.trace
    payloads = await payloads_of(
        request.app.state.store.reader,
        queries.project_id,
        run_id,
        None,
        [],
        spans_within=trace.spans_within if trace is not None else None,
    )
    # Tens of thousands of steps: serialised as they come, not through Pydantic models.
    document = present_run(payloads.run(detail.run)).model_dump(mode="json")
    document["metrics"] = [present_metric(m).model_dump(mode="json") for m in detail.metrics]
    document["artifacts"] = [
        present_artifact(a).model_dump(mode="json") for a in payloads.artifacts.get(None, [])
    ]
    document["cost_with_sub_runs"] = detail.cost_with_sub_runs
    document["price_versions"] = detail.price_versions
    document["steps"] = rows.steps
    return Response(orjson.dumps(document), media_type="application/json")


@router.get(
    "/v1/runs/{run_id}/steps/{step_id}",
    summary="One step of a run, with its whole input, output and artifacts",
    response_model=Step,
)
async def get_run_step(
    request: Request, queries: QueriesDep, run_id: RunId, step_id: RunId
) -> Step:
    run_id, step_id = run_id.lower(), step_id.lower()
    row = await queries.get_step(step_id) if step_id[:32] == run_id[:32] else None
    if row is None or row.run_id != run_id:
        raise ApiError(404, f"no step {step_id} in run {run_id}")
    trace = await queries.trace_entry(bytes.fromhex(run_id[:32]))
    payloads = await payloads_of(
        request.app.state.store.reader,
        queries.project_id,
        run_id,
        None,
        [step_id],
        spans_within=trace.spans_within if trace is not None else None,
    )
    return present_step(
        payloads.step(row),
        [present_artifact(a) for a in payloads.artifacts.get(step_id, [])],
    )
