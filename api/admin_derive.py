"""GET /v1/admin/derive and POST /v1/admin/rederive: the derivers' queue and quarantine of the
caller's project, and re-derivation of its stored traces (admin keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field

from api.auth import ProjectIdDep
from api.params import ERROR_RESPONSES, TIME_DESCRIPTION, time_value
from api.times import format_time
from mapping.version import MAPPING_VERSION
from storage.store import Store

router = APIRouter(tags=["admin"], responses=ERROR_RESPONSES)


class QuarantinedTrace(BaseModel):
    trace_id: str
    error: str = Field(description="why the trace could not be derived")
    attempts: int
    first_failed_at: str
    last_failed_at: str
    retry_at: str = Field(description="the next attempt (sooner when a span of it arrives)")


class DeriveStatus(BaseModel):
    mapping_version: int = Field(description="the mapping of this server")
    dirty_traces: int = Field(description="traces waiting to be derived")
    background_traces: int = Field(description="re-derivations queued behind live traffic")
    oldest_dirty_age_s: float | None
    stale_mapping_traces: int = Field(description="traces derived by an older mapping")
    quarantined_traces: int
    quarantine: list[QuarantinedTrace] = Field(description="the most recent failures first")


class RederiveRequest(BaseModel):
    since: str | None = Field(default=None, description="only traces with spans from this time")
    stale_only: bool = Field(default=False, description="only traces of an older mapping")


class RederiveAnswer(BaseModel):
    queued: int


@router.get("/v1/admin/derive", response_model=DeriveStatus, summary="The derivers' backlog")
async def derive_status(request: Request, project_id: ProjectIdDep) -> DeriveStatus:
    store: Store = request.app.state.store
    status = await store.queue.status(MAPPING_VERSION, project_id)
    quarantined = await store.queue.quarantined(project_id, 100)
    return DeriveStatus(
        mapping_version=MAPPING_VERSION,
        dirty_traces=status.dirty_traces,
        background_traces=status.background_traces,
        oldest_dirty_age_s=status.oldest_dirty_age_s,
        stale_mapping_traces=status.stale_mapping_traces,
        quarantined_traces=status.quarantined_traces,
        quarantine=[
            QuarantinedTrace(
                trace_id=q.trace_id.hex(),
                error=q.error,
                attempts=q.attempts,
                first_failed_at=format_time(int(q.first_failed_at.timestamp() * 1e9)),
                last_failed_at=format_time(int(q.last_failed_at.timestamp() * 1e9)),
                retry_at=format_time(int(q.retry_at.timestamp() * 1e9)),
            )
            for q in quarantined
        ],
    )


@router.post(
    "/v1/admin/rederive",
    response_model=RederiveAnswer,
    status_code=202,
    summary="Derive the project's stored traces again, in the background",
    description="Queues the traces; the derivers take them after live traffic. "
    "since: " + TIME_DESCRIPTION,
)
async def rederive(
    request: Request,
    project_id: ProjectIdDep,
    body: Annotated[RederiveRequest | None, Body()] = None,
) -> RederiveAnswer:
    params = body or RederiveRequest()
    store: Store = request.app.state.store
    queued = await store.queue.enqueue_rederive(
        mapping_version=MAPPING_VERSION,
        project_id=project_id,
        since_ns=time_value(params.since, "since", "body"),
        only_stale=params.stale_only,
    )
    if queued:
        for callback in store.after_commit:
            callback()
    return RederiveAnswer(queued=queued)
