"""The raw view of a trace: every stored span, in OTLP/JSON."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.auth import ProjectIdDep
from api.errors import ApiError
from receiver.otlp_json import render_trace
from receiver.service import IngestService
from storage.store import Store

router = APIRouter(tags=["traces"])

TRACE_ID_PATTERN = "^[0-9a-fA-F]{32}$"


@router.get(
    "/v1/traces/{trace_id}",
    summary="Every stored span of a trace, as OTLP/JSON",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {}}, "description": "OTLP/JSON spans"},
        404: {"description": "No span of this trace is stored"},
    },
)
async def get_trace(
    request: Request,
    project_id: ProjectIdDep,
    trace_id: str = Path(description="32 hex characters", pattern=TRACE_ID_PATTERN),
) -> Response:
    store: Store = request.app.state.store
    stored = await store.get_trace(project_id, bytes.fromhex(trace_id))
    if not stored:
        raise ApiError(404, f"no spans stored for trace {trace_id.lower()}")
    # Rendering a large trace takes a while: not on the event loop.
    ingest: IngestService = request.app.state.ingest
    body = await ingest.decoder.run(render_trace, stored)
    return Response(body, media_type="application/json")
