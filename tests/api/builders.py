"""Agent runs as OTLP spans (OpenTelemetry GenAI conventions), and exact expected figures."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.otlp_helpers import (
    make_request,
    make_span,
    post_protobuf,
    random_span_id,
    random_trace_id,
)

MS = 1_000_000
HOUR_NS = 3_600 * 10**9
T0 = 1_709_251_200 * 10**9  # 2024-03-01T00:00:00Z


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Tool:
    name: str
    offset_ms: int
    duration_ms: int
    error: tuple[str, str] | None = None  # (type, message)
    arguments: str = '{"q": "x"}'
    result: str = "ok"


@dataclass
class Llm:
    model: str
    offset_ms: int
    duration_ms: int
    input_tokens: int
    output_tokens: int
    attributes: dict[str, Any] = field(default_factory=dict)  # more span attributes


@dataclass
class AgentRun:
    """One top-level agent run; ``spans()`` builds its trace."""

    agent: str
    start_ns: int
    duration_ms: int
    tools: Sequence[Tool] = ()
    llms: Sequence[Llm] = ()
    error: tuple[str, str] | None = None
    session_id: str | None = None
    user_id: str | None = None
    input: str | None = "question"
    output: str | None = "answer"
    trace_id: bytes = field(default_factory=random_trace_id)
    span_id: bytes = field(default_factory=random_span_id)

    @property
    def id(self) -> str:
        return self.trace_id.hex() + self.span_id.hex()

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def has_error(self) -> bool:
        return self.failed or any(tool.error for tool in self.tools)

    def spans(self) -> list[Span]:
        attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": self.agent,
        }
        for key, value in (
            ("session.id", self.session_id),
            ("user.id", self.user_id),
            ("input.value", self.input),
            ("output.value", self.output),
        ):
            if value is not None:
                attributes[key] = value
        root = make_span(
            self.trace_id,
            f"invoke_agent {self.agent}",
            span_id=self.span_id,
            attributes=attributes,
            start_ns=self.start_ns,
            duration_ns=self.duration_ms * MS,
        )
        if self.error:
            fail(root, *self.error)
        spans = [root]
        for tool in self.tools:
            span = make_span(
                self.trace_id,
                f"execute_tool {tool.name}",
                parent_span_id=self.span_id,
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": tool.name,
                    "gen_ai.tool.call.arguments": tool.arguments,
                    "gen_ai.tool.call.result": tool.result,
                },
                start_ns=self.start_ns + tool.offset_ms * MS,
                duration_ns=tool.duration_ms * MS,
            )
            if tool.error:
                fail(span, *tool.error)
            spans.append(span)
        for llm in self.llms:
            spans.append(
                make_span(
                    self.trace_id,
                    f"chat {llm.model}",
                    parent_span_id=self.span_id,
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": llm.model,
                        "gen_ai.usage.input_tokens": llm.input_tokens,
                        "gen_ai.usage.output_tokens": llm.output_tokens,
                        **llm.attributes,
                    },
                    start_ns=self.start_ns + llm.offset_ms * MS,
                    duration_ns=llm.duration_ms * MS,
                )
            )
        return spans


def fail(span: Span, error_type: str, message: str) -> None:
    """Mark a span failed the way OpenTelemetry SDKs record an exception."""
    span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=message))
    event = span.events.add(name="exception", time_unix_nano=span.end_time_unix_nano)
    event.attributes.extend(
        [
            KeyValue(key="exception.type", value=AnyValue(string_value=error_type)),
            KeyValue(key="exception.message", value=AnyValue(string_value=message)),
        ]
    )
    span.attributes.append(KeyValue(key="error.type", value=AnyValue(string_value=error_type)))


def send(base_url: str, spans: Sequence[Span], service_name: str = "test-service") -> None:
    response = post_protobuf(base_url, make_request(spans, service_name=service_name))
    assert response.status_code == 200, response.text


def send_runs(base_url: str, runs: Sequence[AgentRun]) -> None:
    send(base_url, [span for run in runs for span in run.spans()])


def percentile_cont(values: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def iso(ns: int) -> str:
    """RFC 3339 as the API writes it (whole seconds and milliseconds here)."""
    from api.times import format_time

    return format_time(ns)
