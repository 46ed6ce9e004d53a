"""The REST ingest, for agents without OpenTelemetry: create a run, add and finish its steps,
finish the run. Runs are built as spans (see ``api.rest_spans``) on the same store as OTLP
runs. A write is answered once its span is committed, with the ids and the status it wrote;
the derivers derive it like any other trace (``GET /v1/runs/{id}`` shows it a moment later).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from api import rest_spans as rs
from api.auth import ProjectIdDep
from api.errors import ApiError
from api.params import ERROR_RESPONSES, QueriesDep, invalid_parameter, time_value
from api.rest_answers import RunWritten, StepWritten
from api.rest_models import ErrorInput, RunCreate, RunUpdate, StepCreate, StepUpdate
from api.runs import RUN_ID_PATTERN
from api.schemas import ErrorResponse
from mapping.model import make_id, split_id
from mapping.wire import readable
from receiver.ingest import prepare_request
from storage.queries import Queries
from storage.records import SpanBatch
from storage.rest import EditableSpan, RestSpanWriter, TraceEdit

MAX_TOKENS = 2**53  # whole and exact as a double; sums of many stay within bigint


def get_writer(request: Request) -> RestSpanWriter:
    return RestSpanWriter(request.app.state.store)


async def limit_body_size(request: Request) -> None:
    limit = request.app.state.ingest.limits.max_request_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise ApiError(413, f"the body is {length} bytes; at most {limit} are accepted")


WriterDep = Annotated[RestSpanWriter, Depends(get_writer)]
RunId = Annotated[str, Path(description="48 hex characters", pattern=RUN_ID_PATTERN)]
StepId = Annotated[str, Path(description="48 hex characters", pattern=RUN_ID_PATTERN)]

router = APIRouter(
    tags=["REST ingest"],
    dependencies=[Depends(limit_body_size)],
    responses={
        **ERROR_RESPONSES,
        409: {"model": ErrorResponse, "description": "The run or step cannot change that way"},
        413: {"model": ErrorResponse, "description": "The body is too large"},
    },
)


def _check_encodable(value: Any, name: str) -> None:
    """Strings must be text that spans and PostgreSQL can hold: JSON allows unpaired
    surrogates (not UTF-8) and NUL (not storable in PostgreSQL text)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise invalid_parameter(name, "must not contain the NUL character", "body")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid_parameter(name, "contains an unpaired surrogate", "body") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_encodable(key, name)
            _check_encodable(item, name)
    elif isinstance(value, list):
        for item in value:
            _check_encodable(item, name)


def _check_body(body: Any) -> None:
    for name in body.model_fields_set:
        _check_encodable(getattr(body, name), name)


def _instant(value: str | int | None, name: str) -> int:
    if isinstance(value, int):
        value = str(value)
    ns = time_value(value, name, "body")
    return time.time_ns() if ns is None else ns


def _error_facts(error: ErrorInput | str | None) -> rs.ErrorFacts | None:
    if error is None:
        return None
    if isinstance(error, str):
        return rs.ErrorFacts(type=None, message=error)
    return rs.ErrorFacts(type=error.type, message=error.message)


def _batch(request: ExportTraceServiceRequest) -> SpanBatch:
    prepared = prepare_request(request)
    if prepared.rejected_spans:
        raise ApiError(422, "; ".join(prepared.errors))
    return prepared.batch


def _ids(entity_id: str) -> tuple[bytes, bytes]:
    """(trace id, span id) of a run or step id; the path pattern has already checked it."""
    ids = split_id(entity_id)
    if ids is None:
        raise ApiError(404, f"no run or step {entity_id}")
    return bytes.fromhex(ids[0]), bytes.fromhex(ids[1])


async def _rest_span(
    edit: TraceEdit, entity_id: str, status_key: str
) -> tuple[Span, EditableSpan] | None:
    """The stored span of a REST run or step (it carries the lifecycle attribute), if any."""
    span_id = _ids(entity_id)[1]
    stored = (await edit.load([span_id])).get(span_id)
    if stored is None or readable(InstrumentationScope, stored.scope).name != rs.SCOPE_NAME:
        return None
    span = readable(Span, stored.span)
    return (span, stored) if rs.get_attribute(span, status_key) is not None else None


async def _load_run(
    edit: TraceEdit, run_id: str, queries: Queries
) -> tuple[Span, Resource, InstrumentationScope]:
    """The stored span of a REST run: 404 when unknown, 409 when the run came over OTLP."""
    found = await _rest_span(edit, run_id, rs.RUN_STATUS_KEY)
    if found is None:
        if await queries.get_run(run_id) is not None:
            raise ApiError(
                409, f"run {run_id} came over OTLP: only runs created by POST /v1/runs change"
            )
        raise ApiError(404, f"no run {run_id}")
    span, stored = found
    return span, readable(Resource, stored.resource), readable(InstrumentationScope, stored.scope)


async def _load_step(edit: TraceEdit, run_span: Span, step_id: str, run_id: str) -> Span:
    found = await _rest_span(edit, step_id, rs.STEP_STATUS_KEY)
    if found is None or found[0].parent_span_id != run_span.span_id:
        raise ApiError(404, f"no step {step_id} in run {run_id}")
    return found[0]


async def _expected_index(edit: TraceEdit, run_span: Span, step: Span) -> int:
    """The index mapping gives ``step``: steps are ordered by (start time, span id)."""
    key = (step.start_time_unix_nano, step.span_id.hex())
    earlier = 0
    for stored in await edit.spans_started_by(step.start_time_unix_nano, step.span_id):
        span = readable(Span, stored)
        if (
            span.parent_span_id == run_span.span_id
            and span.span_id != step.span_id
            and (span.start_time_unix_nano, span.span_id.hex()) < key
        ):
            earlier += 1
    return earlier


def _run_written(run_id: str, span: Span) -> RunWritten:
    return RunWritten(
        id=run_id,
        trace_id=run_id[:32],
        status=rs.run_status(span),  # type: ignore[arg-type]
        url=f"/v1/runs/{run_id}",
    )


def _step_written(run_id: str, step_id: str, span: Span) -> StepWritten:
    return StepWritten(
        id=step_id,
        run_id=run_id,
        status=rs.step_status(span),  # type: ignore[arg-type]
        url=f"/v1/runs/{run_id}/steps/{step_id}",
    )


@router.post(
    "/v1/runs",
    status_code=201,
    response_model=RunWritten,
    summary="Create a run (PENDING) for an agent without OpenTelemetry",
)
async def create_run(
    body: RunCreate,
    response: Response,
    queries: QueriesDep,
    writer: WriterDep,
    project_id: ProjectIdDep,
) -> RunWritten:
    _check_body(body)
    agent_name = body.agent_name
    if agent_name is None and body.agent_id is not None:
        agent_name = await queries.agent_name_for_id(body.agent_id)
        if agent_name is None:
            raise invalid_parameter(
                "agent_id", "no agent with this id is known: give agent_name", "body"
            )
    if agent_name is None:
        raise invalid_parameter("agent_name", "give agent_name or agent_id", "body")
    trace_id, span_id = rs.new_trace_id(), rs.new_span_id()
    span = rs.new_run_span(
        trace_id=trace_id,
        span_id=span_id,
        agent_name=agent_name,
        agent_id=body.agent_id,
        agent_version=body.agent_version,
        agent_description=body.agent_description,
        input_text=rs.json_text(body.input),
        session_id=body.session_id,
        user_id=body.user_id,
        start_ns=_instant(body.started_at, "started_at"),
    )
    resource = rs.rest_resource(body.service_name or agent_name)
    await writer.create(project_id, _batch(rs.export_request([span], resource, rs.rest_scope())))
    run_id = make_id(trace_id.hex(), span_id.hex())
    response.headers["Location"] = f"/v1/runs/{run_id}"
    return _run_written(run_id, span)


@router.post(
    "/v1/runs/{run_id}/steps",
    status_code=201,
    response_model=StepWritten,
    summary="Add a tool-call step to a REST run (the run becomes RUNNING)",
)
async def add_step(
    run_id: RunId,
    body: StepCreate,
    response: Response,
    queries: QueriesDep,
    writer: WriterDep,
    project_id: ProjectIdDep,
) -> StepWritten:
    _check_body(body)
    run_id = run_id.lower()
    trace_id, _ = _ids(run_id)
    start_ns = _instant(body.started_at, "started_at")
    step_span_id = rs.new_span_id()
    async with writer.edit(project_id, trace_id) as edit:
        run_span, resource, scope = await _load_run(edit, run_id, queries)
        status = rs.run_status(run_span)
        if status in rs.FINAL_RUN_STATUSES:
            raise ApiError(409, f"run {run_id} is {status}: a finished run takes no more steps")
        step = rs.new_step_span(
            run_span=run_span,
            span_id=step_span_id,
            tool_name=body.tool_name,
            tool_call_id=body.tool_call_id,
            input_text=rs.json_text(body.input),
            index=body.index,
            start_ns=start_ns,
        )
        if body.index is not None:
            expected = await _expected_index(edit, run_span, step)
            if expected != body.index:
                raise ApiError(
                    409,
                    f"a step started at this time is step {expected} of the run, not "
                    f"{body.index}: steps are ordered by started_at",
                )
        spans = [step]
        if status == "PENDING":
            rs.set_attribute(run_span, rs.RUN_STATUS_KEY, "RUNNING")
            spans.append(run_span)
        await edit.replace(_batch(rs.export_request(spans, resource, scope)))
    step_id = make_id(trace_id.hex(), step_span_id.hex())
    response.headers["Location"] = f"/v1/runs/{run_id}/steps/{step_id}"
    return _step_written(run_id, step_id, step)


@router.patch(
    "/v1/runs/{run_id}/steps/{step_id}",
    response_model=StepWritten,
    summary="Finish a step: its output, or its error, and when it finished",
)
async def finish_step(
    run_id: RunId,
    step_id: StepId,
    body: StepUpdate,
    queries: QueriesDep,
    writer: WriterDep,
    project_id: ProjectIdDep,
) -> StepWritten:
    _check_body(body)
    run_id, step_id = run_id.lower(), step_id.lower()
    trace_id, _ = _ids(run_id)
    if _ids(step_id)[0] != trace_id:
        raise ApiError(404, f"no step {step_id} in run {run_id}")
    error = _error_facts(body.error)
    status = body.status or ("FAILED" if error else "SUCCESS")
    if error is not None and status != "FAILED":
        raise invalid_parameter("error", "an error goes with status FAILED", "body")
    end_ns = _instant(body.finished_at, "finished_at")
    async with writer.edit(project_id, trace_id) as edit:
        run_span, resource, scope = await _load_run(edit, run_id, queries)
        step = await _load_step(edit, run_span, step_id, run_id)
        if rs.step_status(step) != "RUNNING":
            raise ApiError(409, f"step {step_id} is already finished")
        if end_ns < step.start_time_unix_nano:
            raise invalid_parameter("finished_at", "is before the step started", "body")
        if "output" in body.model_fields_set:
            rs.set_attribute(step, "gen_ai.tool.call.result", rs.json_text(body.output))
        rs.finish(step, status_key=rs.STEP_STATUS_KEY, status=status, end_ns=end_ns, error=error)
        await edit.replace(_batch(rs.export_request([step], resource, scope)))
    return _step_written(run_id, step_id, step)


@router.patch(
    "/v1/runs/{run_id}",
    response_model=RunWritten,
    summary="Move a REST run on (RUNNING, SUCCESS, FAILED, CANCELLED); record output, metrics",
)
async def update_run(
    run_id: RunId,
    body: RunUpdate,
    queries: QueriesDep,
    writer: WriterDep,
    project_id: ProjectIdDep,
) -> RunWritten:
    _check_body(body)
    for name in rs.TOKEN_METRIC_KEYS:
        count = float((body.metrics or {}).get(name, 0))
        if not (count.is_integer() and 0 <= count <= MAX_TOKENS):
            raise invalid_parameter(
                "metrics", f"{name} must be a whole number from 0 to {MAX_TOKENS}", "body"
            )
    run_id = run_id.lower()
    trace_id, _ = _ids(run_id)
    error = _error_facts(body.error)
    status = body.status or ("FAILED" if error else None)
    if error is not None and status != "FAILED":
        raise invalid_parameter("error", "an error goes with status FAILED", "body")
    final = status in rs.FINAL_RUN_STATUSES
    if body.finished_at is not None and not final:
        raise invalid_parameter(
            "finished_at", "goes with a final status: SUCCESS, FAILED or CANCELLED", "body"
        )
    end_ns = _instant(body.finished_at, "finished_at") if final else None
    async with writer.edit(project_id, trace_id) as edit:
        run_span, resource, scope = await _load_run(edit, run_id, queries)
        current = rs.run_status(run_span)
        if current in rs.FINAL_RUN_STATUSES:
            raise ApiError(409, f"run {run_id} is already {current}")
        if "output" in body.model_fields_set:
            rs.set_attribute(run_span, "output.value", rs.json_text(body.output))
        if body.metrics:
            rs.set_metrics(run_span, body.metrics)
        if status == "RUNNING":
            rs.set_attribute(run_span, rs.RUN_STATUS_KEY, "RUNNING")
        elif status is not None and end_ns is not None:
            if end_ns < run_span.start_time_unix_nano:
                raise invalid_parameter("finished_at", "is before the run started", "body")
            rs.finish(
                run_span, status_key=rs.RUN_STATUS_KEY, status=status, end_ns=end_ns, error=error
            )
        await edit.replace(_batch(rs.export_request([run_span], resource, scope)))
    return _run_written(run_id, run_span)
