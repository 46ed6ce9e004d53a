"""One agent run with tens of thousands of steps, as OTLP requests (GenAI conventions).

The run alternates model calls and tool calls, one after the other; one tool call in a hundred
fails. Shared by the viewer's end-to-end test and bench/bench_viewer.py.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.otlp_helpers import make_request, make_span

AGENT_NAME = "bulk-agent"
TOOLS = ("lookup_record", "search_index", "fetch_document", "write_summary")
SPANS_PER_REQUEST = 2_000


@dataclass(frozen=True)
class BigRun:
    trace_id: str
    run_id: str
    steps: int
    failed_steps: int
    requests: list[ExportTraceServiceRequest]


def _step_span(
    rng: random.Random, trace_id: bytes, parent: bytes, index: int, start_ns: int
) -> tuple[Span, bool]:
    duration_ns = rng.randint(2, 40) * 1_000_000
    if index % 2 == 0:
        model = "gpt-4o-mini"
        prompt = [{"role": "user", "parts": [{"type": "text", "content": f"step {index}: next?"}]}]
        span = make_span(
            trace_id,
            f"chat {model}",
            parent_span_id=parent,
            start_ns=start_ns,
            duration_ns=duration_ns,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.input.messages": json.dumps(prompt),
                "gen_ai.usage.input_tokens": rng.randint(50, 400),
                "gen_ai.usage.output_tokens": rng.randint(5, 80),
            },
        )
        return span, False
    tool = TOOLS[index // 2 % len(TOOLS)]
    failed = index % 100 == 51
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool,
        "gen_ai.tool.call.id": f"call_{index}",
        "gen_ai.tool.call.arguments": json.dumps({"id": index, "query": f"item {index}"}),
    }
    if failed:
        attributes["error.type"] = "TimeoutError"
    else:
        attributes["gen_ai.tool.call.result"] = json.dumps({"ok": True, "value": index * 7})
    span = make_span(
        trace_id,
        f"execute_tool {tool}",
        parent_span_id=parent,
        start_ns=start_ns,
        duration_ns=duration_ns,
        attributes=attributes,
        status_code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET,
        status_message=f"{tool} timed out after 30 s" if failed else "",
    )
    return span, failed


def big_run(steps: int = 30_000, seed: int = 30_000, start_ns: int | None = None) -> BigRun:
    """The requests that carry one run of ``steps`` steps, in order of start time."""
    rng = random.Random(seed)
    trace_id = rng.randbytes(16)
    root_id = rng.randbytes(8)
    begin = start_ns if start_ns is not None else time.time_ns() - 3 * 3600 * 10**9
    spans: list[Span] = []
    failed_steps = 0
    clock = begin + 1_000_000
    for index in range(steps):
        span, failed = _step_span(rng, trace_id, root_id, index, clock)
        failed_steps += failed
        spans.append(span)
        clock = span.end_time_unix_nano + rng.randint(0, 3) * 100_000
    root = make_span(
        trace_id,
        f"invoke_agent {AGENT_NAME}",
        span_id=root_id,
        start_ns=begin,
        duration_ns=clock - begin + 1_000_000,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": AGENT_NAME,
            "gen_ai.agent.id": "agt_bulk",
        },
    )
    spans.insert(0, root)
    requests = [
        make_request(spans[i : i + SPANS_PER_REQUEST], service_name="bulk-service")
        for i in range(0, len(spans), SPANS_PER_REQUEST)
    ]
    return BigRun(
        trace_id=trace_id.hex(),
        run_id=trace_id.hex() + root_id.hex(),
        steps=steps,
        failed_steps=failed_steps,
        requests=requests,
    )
