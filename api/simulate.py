"""POST /v1/simulate: the simulator run by the server against itself.

The spans come from the same generator as ``agentguide simulate`` (real SDK spans, collected
in memory instead of exported over the network), are encoded as OTLP export requests and
go through the ingest service exactly as a receiver's requests do: admission control,
validation, a durable commit. The runs are derived before the answer, so the trace ids it
names can be queried at once.

It cannot be used to flood the server: at most ``MAX_RUNS`` runs a call, one simulation at a
time per process (another call meanwhile gets 429 with ``Retry-After``), and its requests
count against the ingest's in-flight byte limit like any other.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, HTTPException, Request
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag
from starlette.concurrency import run_in_threadpool

from agentguide.simulation import SimulationConfig, SimulationSummary, agent_names, generate_spans
from api.auth import ProjectIdDep
from api.errors import ApiError
from api.params import ERROR_RESPONSES
from api.schemas import ErrorResponse
from receiver.admission import Overloaded
from receiver.service import IngestService
from storage.store import Store

MAX_RUNS = 200
MAX_AGENTS = 20
# Spans per export request, as the SDK's batch span processor sends them by default.
SPANS_PER_REQUEST = 512
RETRY_AFTER_BUSY_S = 2

AgentName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"),
]


def _agents_form(value: Any) -> str | None:
    if isinstance(value, int):
        return "count"
    if isinstance(value, list):
        return "names"
    return None


Agents = Annotated[
    Annotated[int, Field(ge=1, le=MAX_AGENTS), Tag("count")]
    | Annotated[list[AgentName], Field(min_length=1, max_length=MAX_AGENTS), Tag("names")],
    Discriminator(
        _agents_form,
        custom_error_type="invalid_agents",
        custom_error_message="must be a number of agents or a list of agent names",
    ),
]


class SimulateRequest(BaseModel):
    """What to simulate; every field is optional."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"runs": 20, "error_rate": 0.1, "seed": 7}]},
    )

    runs: int = Field(default=20, ge=1, le=MAX_RUNS, description="top-level agent runs to generate")
    error_rate: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="chance that a tool call fails; runs fail as a whole with error_rate/4",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**63 - 1,
        description="reproduces runs, failures and trace ids (default: drawn, and answered). "
        "The same seed gives the same trace and span ids, so posting it twice stores its "
        "runs once",
    )
    agents: Agents | None = Field(
        default=None,
        description=f"a number of agents (1-{MAX_AGENTS}) or their names; built-in names "
        "get their own tools and models, others generic ones (default: 3: weather-agent, "
        "research-agent, billing-agent)",
    )

    def config(self) -> SimulationConfig:
        if isinstance(self.agents, int):
            agents = agent_names(self.agents)
        elif self.agents is not None:
            agents = tuple(dict.fromkeys(self.agents))
        else:
            agents = agent_names(3)
        return SimulationConfig(
            runs=self.runs, error_rate=self.error_rate, seed=self.seed, agents=agents
        )


class SimulateResponse(BaseModel):
    """What was stored; the counts follow ``agentguide simulate``'s summary."""

    seed: int = Field(description="the seed used: pass it again to reproduce these runs")
    trace_ids: list[str] = Field(description="one trace per top-level run, 32 hex characters")
    runs: int = Field(description="runs stored, nested sub-agent runs included")
    top_level_runs: int
    nested_runs: int
    failed_runs: int = Field(description="runs whose agent span ended with status ERROR")
    spans: int
    failures_by_tool: dict[str, int] = Field(
        description="failed tool calls (execute_tool spans with status ERROR) by tool name, "
        "most first"
    )


router = APIRouter(
    tags=["simulate"],
    responses={
        422: ERROR_RESPONSES[422],
        429: {
            "model": ErrorResponse,
            "description": "Another simulation is running, or the ingest is busy; "
            "retry after Retry-After seconds",
        },
        503: ERROR_RESPONSES[503],
    },
)


def _simulation_gate(app: FastAPI) -> threading.Lock:
    """One simulation at a time per application."""
    gate: threading.Lock | None = getattr(app.state, "simulation_gate", None)
    if gate is None:
        gate = app.state.simulation_gate = threading.Lock()
    return gate


def _busy(message: str, retry_after_s: int) -> HTTPException:
    return HTTPException(429, message, headers={"Retry-After": str(retry_after_s)})


def _generate(
    config: SimulationConfig,
) -> tuple[SimulationSummary, list[ExportTraceServiceRequest]]:
    summary, spans = generate_spans(config)
    batches: list[Sequence[ReadableSpan]] = [
        spans[start : start + SPANS_PER_REQUEST]
        for start in range(0, len(spans), SPANS_PER_REQUEST)
    ]
    return summary, [encode_spans(batch) for batch in batches]


async def _ingest(
    ingest: IngestService, project_id: int, requests: Sequence[ExportTraceServiceRequest]
) -> None:
    """Each request through admission control and the ingest service, like a receiver's."""
    for export_request in requests:
        try:
            async with ingest.admission.export(export_request.ByteSize()):
                response = await ingest.export(export_request, project_id)
        except Overloaded as exc:
            raise _busy(exc.message, max(1, math.ceil(exc.retry_after_s))) from exc
        rejected = response.partial_success.rejected_spans
        if rejected:
            raise ApiError(
                500,
                f"the server refused {rejected} of its own simulated spans: "
                f"{response.partial_success.error_message}",
            )


DERIVE_WAIT_S = 60.0


async def _derive(store: Store, project_id: int, summary: SimulationSummary) -> None:
    """Wait (without holding the event loop) until the derivers have derived the simulated
    traces, so that the answer's trace ids are found at once."""
    derived = await store.wait_derived(
        project_id, [bytes.fromhex(trace_id) for trace_id in summary.trace_ids], DERIVE_WAIT_S
    )
    if not derived:
        raise _busy(
            f"the runs are stored but not derived after {DERIVE_WAIT_S:.0f} s: the derivers are "
            "behind; they will appear shortly",
            RETRY_AFTER_BUSY_S,
        )


@router.post(
    "/v1/simulate",
    status_code=201,
    response_model=SimulateResponse,
    summary="Generate simulated agent runs and store them through the ingest path",
    description=f"Runs the `agentguide simulate` generator in the server: at most {MAX_RUNS} "
    "runs a call and one simulation at a time. Answers once the runs are stored and "
    "derived, so `GET /v1/runs?trace_id=…` finds them at once. No body means all defaults.",
)
async def simulate(
    request: Request,
    project_id: ProjectIdDep,
    body: Annotated[SimulateRequest | None, Body()] = None,
) -> SimulateResponse:
    params = body or SimulateRequest()
    gate = _simulation_gate(request.app)
    if not gate.acquire(blocking=False):
        raise _busy("a simulation is already running; retry when it is done", RETRY_AFTER_BUSY_S)
    try:
        summary, export_requests = await run_in_threadpool(_generate, params.config())
        await _ingest(request.app.state.ingest, project_id, export_requests)
        await _derive(request.app.state.store, project_id, summary)
    finally:
        gate.release()
    return SimulateResponse(
        seed=summary.seed,
        trace_ids=summary.trace_ids,
        runs=summary.runs,
        top_level_runs=summary.top_level_runs,
        nested_runs=summary.nested_runs,
        failed_runs=summary.failed_runs,
        spans=summary.spans,
        failures_by_tool=summary.failures_by_tool,
    )
