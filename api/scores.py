"""Scores over REST: ``POST /v1/runs/{run_id}/scores`` (and on a step) for evaluators that
don't speak OpenTelemetry, and ``GET /v1/runs/{run_id}/scores``.

A score goes on a run or step that has been derived (404 until then). Posting needs the ingest
scope (``write_router``), reading the read scope (``read_router``).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.auth import ProjectIdDep
from api.errors import ApiError
from api.params import ERROR_RESPONSES, QueriesDep, time_value
from api.presenters import present_score
from api.runs import RUN_ID_PATTERN
from api.schemas import ErrorResponse
from api.score_schemas import ScoreCreate, ScoreList, ScoresBody, ScoresWritten
from storage.queries import Queries
from storage.scores import NewScore, ScoreReader, ScoreTarget, ScoreWriter

MAX_PAGE = 1000

RunId = Annotated[str, Path(description="48 hex characters", pattern=RUN_ID_PATTERN)]
StepId = Annotated[str, Path(description="48 hex characters", pattern=RUN_ID_PATTERN)]


def get_writer(request: Request, project_id: ProjectIdDep) -> ScoreWriter:
    return ScoreWriter(request.app.state.store.pool, project_id)


def get_reader(request: Request, project_id: ProjectIdDep) -> ScoreReader:
    return ScoreReader(request.app.state.store.pool, project_id)


WriterDep = Annotated[ScoreWriter, Depends(get_writer)]
ReaderDep = Annotated[ScoreReader, Depends(get_reader)]

write_router = APIRouter(
    tags=["scores"],
    responses={
        **ERROR_RESPONSES,
        413: {"model": ErrorResponse, "description": "The body is too large"},
    },
)
read_router = APIRouter(tags=["scores"], responses=ERROR_RESPONSES)


def _new_scores(body: ScoreCreate | list[ScoreCreate]) -> list[NewScore]:
    items = body if isinstance(body, list) else [body]
    now = time.time_ns()
    scores = []
    for index, item in enumerate(items):
        observed_ns = now
        if item.observed_at is not None:
            where = f"scores.{index}.observed_at" if isinstance(body, list) else "score.observed_at"
            parsed = time_value(str(item.observed_at), where, "body")
            observed_ns = now if parsed is None else parsed
        scores.append(
            NewScore(
                name=item.name,
                observed_ns=observed_ns,
                value=None if item.value is None else float(item.value),
                label=item.label,
                explanation=item.explanation,
            )
        )
    return scores


async def _run_target(queries: Queries, run_id: str) -> ScoreTarget:
    run = await queries.get_run(run_id)
    if run is None:
        raise ApiError(404, f"no run {run_id}")
    span_id = bytes.fromhex(run.span_id)
    return ScoreTarget(bytes.fromhex(run.trace_id), span_id, span_id, run.start_ns)


@write_router.post(
    "/v1/runs/{run_id}/scores",
    status_code=201,
    response_model=ScoresWritten,
    summary="Score a run: one score or a list (for evaluators without OpenTelemetry)",
)
async def score_run(
    run_id: RunId, body: ScoresBody, queries: QueriesDep, writer: WriterDep, response: Response
) -> ScoresWritten:
    run_id = run_id.lower()
    scores = _new_scores(body)
    target = await _run_target(queries, run_id)
    rows = await writer.add(target, scores)
    response.headers["Location"] = f"/v1/runs/{run_id}/scores"
    return ScoresWritten(items=[present_score(row) for row in rows])


@write_router.post(
    "/v1/runs/{run_id}/steps/{step_id}/scores",
    status_code=201,
    response_model=ScoresWritten,
    summary="Score one step of a run: one score or a list",
)
async def score_step(
    run_id: RunId,
    step_id: StepId,
    body: ScoresBody,
    queries: QueriesDep,
    writer: WriterDep,
    response: Response,
) -> ScoresWritten:
    run_id, step_id = run_id.lower(), step_id.lower()
    scores = _new_scores(body)
    run = await _run_target(queries, run_id)
    step = await queries.get_step(step_id) if step_id[:32] == run_id[:32] else None
    if step is None or step.run_id != run_id:
        raise ApiError(404, f"no step {step_id} in run {run_id}")
    target = ScoreTarget(
        run.trace_id, run.run_span_id, bytes.fromhex(step.span_id), run.run_start_ns
    )
    rows = await writer.add(target, scores)
    response.headers["Location"] = f"/v1/runs/{run_id}/scores"
    return ScoresWritten(items=[present_score(row) for row in rows])


@read_router.get(
    "/v1/runs/{run_id}/scores",
    response_model=ScoreList,
    summary="The scores of a run and of its steps, oldest judgement first",
)
async def list_scores(
    run_id: RunId,
    queries: QueriesDep,
    reader: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="scores to skip")] = 0,
) -> ScoreList:
    run_id = run_id.lower()
    target = await _run_target(queries, run_id)
    rows = await reader.of_run(target.trace_id, target.run_span_id, limit=limit + 1, offset=offset)
    return ScoreList(
        items=[present_score(row) for row in rows[:limit]],
        next_offset=offset + limit if len(rows) > limit else None,
    )
