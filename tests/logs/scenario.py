"""One agent trace whose content and judgements travel only as log records (events)."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.logs.helpers import make_record
from tests.otlp_helpers import make_span

T0 = 1_700_000_000_000_000_000
AGENT = bytes.fromhex("00000000000000a1")
LLM = bytes.fromhex("00000000000000b2")
TOOL = bytes.fromhex("00000000000000c3")


@dataclass
class EventScenario:
    spans: list[Span]
    records: list[LogRecord]


def event_scenario(trace_id: bytes) -> EventScenario:
    spans = [
        make_span(
            trace_id, "invoke_agent helper", span_id=AGENT, start_ns=T0, duration_ns=10**9,
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"},
        ),
        make_span(
            trace_id, "chat m1", span_id=LLM, parent_span_id=AGENT, start_ns=T0 + 10**6,
            duration_ns=10**8,
            attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m1",
                        "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 1},
        ),
        make_span(
            trace_id, "execute_tool calc", span_id=TOOL, parent_span_id=AGENT,
            start_ns=T0 + 2 * 10**8, duration_ns=10**6,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "calc"},
        ),
    ]  # fmt: skip
    records = [
        make_record(trace_id, LLM, event_name="gen_ai.system.message",
                    body={"content": "Be brief."}, time_ns=T0 + 2 * 10**6),
        make_record(trace_id, LLM, event_name="gen_ai.user.message",
                    body={"content": "What is 2+2?"}, time_ns=T0 + 3 * 10**6),
        make_record(trace_id, LLM, event_name="gen_ai.choice",
                    body={"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": "4"}},
                    time_ns=T0 + 10**8),
        make_record(trace_id, AGENT, event_name="gen_ai.evaluation.result",
                    attributes={"gen_ai.evaluation.name": "relevance",
                                "gen_ai.evaluation.score.value": 0.9,
                                "gen_ai.evaluation.score.label": "relevant",
                                "gen_ai.evaluation.explanation": "answers the question"},
                    time_ns=T0 + 2 * 10**9),
        make_record(trace_id, LLM, event_name="gen_ai.evaluation.result",
                    attributes={"gen_ai.evaluation.name": "toxicity", "error.type": "timeout"},
                    time_ns=T0 + 2 * 10**9),
        make_record(trace_id, TOOL, body="calc called with 2+2", time_ns=T0 + 2 * 10**8 + 5),
    ]  # fmt: skip
    return EventScenario(spans, records)
