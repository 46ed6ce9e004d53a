"""Micro-benchmark of mapping: µs per span of span_facts, the facts codec and derive_trace.

Run: python bench/bench_mapping.py [fixtures dir]. Prints figures; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mapping import derive_trace, span_facts
from mapping.model import SpanFacts
from tests.fakes.otlp_bodies import trace_request

Triple = tuple[Span, Resource, InstrumentationScope]


def fixture_spans(root: Path) -> list[Triple]:
    spans = []
    for body in sorted(root.glob("*/*/*.body.bin")):
        request = trace_request(body)  # protobuf or JSON, as its meta.json says
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append((span, resource_spans.resource, scope_spans.scope))
    return spans


def synthetic_span() -> Triple:
    """A tool span with 10 attributes, four of them 1 KB payloads."""
    span = Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        parent_span_id=bytes(range(1, 9)),
        name="execute_tool search",
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_500_000_000,
    )
    payload = "x" * 1024
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.arguments": payload,
        "gen_ai.tool.call.result": payload,
        "gen_ai.agent.name": "research-agent",
        "gen_ai.conversation.id": "conv-1",
        "app.request.body": payload,
        "app.response.body": payload,
        "app.retries": 2,
    }
    for key, value in attributes.items():
        kv = span.attributes.add()
        kv.key = key
        if isinstance(value, int):
            kv.value.int_value = value
        else:
            kv.value.string_value = value
    resource = Resource()
    kv = resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "bench"
    return span, resource, InstrumentationScope(name="bench")


def per_item_us(run: Callable[[], object], items: int, rounds: int = 7) -> tuple[float, float]:
    """Best and median µs per item over ``rounds`` timed rounds of about 0.2 s each."""
    started = time.perf_counter()
    calls = 0
    while time.perf_counter() - started < 0.05:
        run()
        calls += 1
    calls = max(1, int(calls * 4))
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            run()
        timings.append((time.perf_counter() - started) / (calls * items) * 1e6)
    return min(timings), statistics.median(timings)


def report(label: str, microseconds: tuple[float, float]) -> None:
    best, median = microseconds
    print(f"{label:<42} best {best:6.1f} µs/span   median {median:6.1f} µs/span")


def main() -> None:
    default = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
    configured = sys.argv[1] if len(sys.argv) > 1 else None
    spans = fixture_spans(Path(configured) if configured else default)
    synthetic = [synthetic_span()]

    def facts_of(triples: list[Triple]) -> list[SpanFacts]:
        return [span_facts(*triple) for triple in triples]

    report(
        f"span_facts, {len(spans)} fixture spans", per_item_us(lambda: facts_of(spans), len(spans))
    )
    report("span_facts, synthetic 10 attrs, 4 x 1 KB", per_item_us(lambda: facts_of(synthetic), 1))

    facts = facts_of(spans)

    traces: dict[str, list[SpanFacts]] = {}
    for f in facts:
        traces.setdefault(f.trace_id, []).append(f)
    groups = list(traces.values())

    def derive_all() -> None:
        for group in groups:
            derive_trace(group)

    report(f"derive_trace, {len(groups)} fixture traces", per_item_us(derive_all, len(facts)))


if __name__ == "__main__":
    main()
