"""Agent runs as OTLP requests: an invoke_agent span with one tool call under it."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mapping.model import make_id
from tests.otlp_helpers import make_request, make_span, random_span_id, random_trace_id


def agent_run(
    agent: str,
    *,
    trace_id: bytes | None = None,
    agent_span_id: bytes | None = None,
    tool_span_id: bytes | None = None,
    start_ns: int | None = None,
    tool: str = "lookup",
) -> tuple[ExportTraceServiceRequest, str]:
    """The request, and the id of the run it makes."""
    trace_id = trace_id or random_trace_id()
    agent_span_id = agent_span_id or random_span_id()
    start_ns = start_ns if start_ns is not None else time.time_ns() - 5_000_000_000
    agent_span = make_span(
        trace_id,
        f"invoke_agent {agent}",
        span_id=agent_span_id,
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent},
        start_ns=start_ns,
        duration_ns=2_000_000_000,
    )
    tool_span = make_span(
        trace_id,
        f"execute_tool {tool}",
        span_id=tool_span_id or random_span_id(),
        parent_span_id=agent_span_id,
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool},
        start_ns=start_ns + 100_000_000,
        duration_ns=500_000_000,
    )
    request = make_request([agent_span, tool_span], service_name=agent)
    return request, make_id(trace_id.hex(), agent_span_id.hex())
