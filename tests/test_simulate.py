"""The simulator: what it generates, what it reports, and how it speaks OTLP/JSON."""

from __future__ import annotations

import argparse
import base64
import json
import threading
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentguide.simulation import (
    DEFAULT_AGENT_NAMES,
    OTLPJSONSpanExporter,
    RunSeededIdGenerator,
    SimulationConfig,
    SimulationSummary,
    agent_names,
    agentguide_api_url,
    configure_parser,
    export_request_to_otlp_json,
    format_summary,
    generate_into,
    parse_headers,
    parse_retry_after,
    resolve_endpoint,
    simulate,
)

ANCHOR_NS = 1_800_000_000_000_000_000
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def generate(config: SimulationConfig) -> tuple[SimulationSummary, list[ReadableSpan]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=RunSeededIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    summary = generate_into(provider, config)
    provider.shutdown()
    return summary, list(exporter.get_finished_spans())


def operation(span: ReadableSpan) -> str:
    return str((span.attributes or {}).get("gen_ai.operation.name"))


def attr(span: ReadableSpan, key: str) -> Any:
    return (span.attributes or {}).get(key)


def hex_span_id(span: ReadableSpan) -> str:
    return format(span.context.span_id, "016x")


def failed(span: ReadableSpan) -> bool:
    return span.status.status_code is StatusCode.ERROR


@pytest.fixture(scope="module")
def busy_simulation() -> tuple[SimulationSummary, list[ReadableSpan]]:
    config = SimulationConfig(
        runs=200, error_rate=0.3, seed=11, agents=DEFAULT_AGENT_NAMES, anchor_time_ns=ANCHOR_NS
    )
    return generate(config)


# --- structure and conventions ---------------------------------------------------------


def test_every_trace_is_one_top_level_agent_run(busy_simulation):
    summary, spans = busy_simulation
    roots = [span for span in spans if span.parent is None]
    assert len(roots) == summary.top_level_runs == 200
    assert {operation(root) for root in roots} == {"invoke_agent"}
    assert sorted(format(root.context.trace_id, "032x") for root in roots) == sorted(
        summary.trace_ids
    )


def test_spans_follow_the_genai_semantic_conventions(busy_simulation):
    _, spans = busy_simulation
    for span in spans:
        kind = operation(span)
        if kind == "invoke_agent":
            assert span.name == f"invoke_agent {attr(span, 'gen_ai.agent.name')}"
            assert span.kind is SpanKind.INTERNAL
            for key in (
                "gen_ai.agent.id",
                "gen_ai.provider.name",
                "gen_ai.request.model",
                "gen_ai.conversation.id",
            ):
                assert attr(span, key), key
            assert json.loads(attr(span, "gen_ai.input.messages"))[0]["role"] == "user"
            if not failed(span):
                output = json.loads(attr(span, "gen_ai.output.messages"))
                assert output[0]["role"] == "assistant"
        elif kind == "chat":
            assert span.name == f"chat {attr(span, 'gen_ai.request.model')}"
            assert span.kind is SpanKind.CLIENT
            json.loads(attr(span, "gen_ai.input.messages"))
            if not failed(span):
                assert attr(span, "gen_ai.response.model")
                assert attr(span, "gen_ai.usage.input_tokens") > 0
                assert attr(span, "gen_ai.usage.output_tokens") > 0
                json.loads(attr(span, "gen_ai.output.messages"))
        elif kind == "execute_tool":
            assert span.name == f"execute_tool {attr(span, 'gen_ai.tool.name')}"
            assert attr(span, "gen_ai.tool.call.id").startswith("call_")
            json.loads(attr(span, "gen_ai.tool.call.arguments"))
            if not failed(span):
                json.loads(attr(span, "gen_ai.tool.call.result"))
        else:
            pytest.fail(f"unexpected operation {kind!r} on span {span.name!r}")


def test_chat_payloads_are_sized_like_real_prompts(busy_simulation):
    _, spans = busy_simulation
    sizes = [
        len(attr(span, "gen_ai.input.messages")) + len(attr(span, "gen_ai.output.messages"))
        for span in spans
        if operation(span) == "chat" and not failed(span)
    ]
    assert min(sizes) >= 200
    assert sorted(sizes)[len(sizes) // 2] <= 2048
    assert max(sizes) < 4096


def test_failed_spans_carry_status_error_type_and_exception(busy_simulation):
    _, spans = busy_simulation
    failing = [span for span in spans if failed(span)]
    assert failing
    for span in failing:
        assert attr(span, "error.type")
        assert span.status.description
        (event,) = [event for event in span.events if event.name == "exception"]
        assert event.attributes["exception.type"] == attr(span, "error.type")
        assert event.attributes["exception.stacktrace"].startswith("Traceback")
    for span in spans:
        if not failed(span):
            assert span.status.status_code is StatusCode.UNSET
            assert "error.type" not in (span.attributes or {})
            assert not span.events


def test_times_are_back_dated_nested_and_realistic(busy_simulation):
    summary, spans = busy_simulation
    by_id = {span.context.span_id: span for span in spans}
    for span in spans:
        assert span.start_time < span.end_time <= ANCHOR_NS
        if span.parent is not None:
            parent = by_id[span.parent.span_id]
            assert parent.start_time <= span.start_time and span.end_time <= parent.end_time
    for record in summary.run_records:
        if not record.nested:
            assert 0.5e9 <= record.duration_ns <= 20e9
            assert record.start_time_unix_nano >= ANCHOR_NS - 3600 * 10**9


def test_nested_sub_agents_sit_under_a_tool_or_directly_under_the_parent(busy_simulation):
    summary, spans = busy_simulation
    by_id = {span.context.span_id: span for span in spans}
    placements = Counter()
    nested_agent_spans = [
        span for span in spans if operation(span) == "invoke_agent" and span.parent is not None
    ]
    assert len(nested_agent_spans) == summary.nested_runs > 0
    for span in nested_agent_spans:
        parent = by_id[span.parent.span_id]
        placements[operation(parent)] += 1
        if operation(parent) == "execute_tool":
            assert attr(parent, "gen_ai.tool.name") == "ask_" + attr(
                span, "gen_ai.agent.name"
            ).replace("-", "_")
            assert failed(parent) == failed(span)
        assert attr(span, "gen_ai.agent.name") != attr(
            by_id[_agent_ancestor(by_id, span)], "gen_ai.agent.name"
        )
    assert set(placements) == {"execute_tool", "invoke_agent"}

    record_by_span = {record.span_id: record for record in summary.run_records}
    for span in nested_agent_spans:
        record = record_by_span[hex_span_id(span)]
        assert record.parent_run_span_id == format(_agent_ancestor(by_id, span), "016x")


def _agent_ancestor(by_id: dict[int, ReadableSpan], span: ReadableSpan) -> int:
    assert span.parent is not None
    parent = by_id[span.parent.span_id]
    while operation(parent) != "invoke_agent":
        assert parent.parent is not None
        parent = by_id[parent.parent.span_id]
    return parent.context.span_id


def test_a_single_agent_never_delegates():
    summary, spans = generate(SimulationConfig(runs=80, seed=5, agents=("support-agent",)))
    assert summary.nested_runs == 0
    assert {attr(s, "gen_ai.agent.name") for s in spans if operation(s) == "invoke_agent"} == {
        "support-agent"
    }


def test_unknown_agent_names_get_generic_tools():
    summary, _ = generate(SimulationConfig(runs=20, seed=2, agents=("ops-bot",)))
    assert summary.runs_by_agent == {"ops-bot": 20}
    assert set(summary.tool_calls_by_tool) <= {"search_docs", "run_sql", "send_email"}


# --- the summary is exactly what the spans say -------------------------------------------


def test_summary_counts_match_the_spans(busy_simulation):
    summary, spans = busy_simulation
    agent_spans = [span for span in spans if operation(span) == "invoke_agent"]
    tool_spans = [span for span in spans if operation(span) == "execute_tool"]
    chat_spans = [span for span in spans if operation(span) == "chat"]

    assert summary.spans == len(spans)
    assert summary.runs == len(agent_spans)
    assert summary.failed_runs == sum(failed(span) for span in agent_spans)
    assert summary.failed_top_level_runs == sum(
        failed(span) for span in agent_spans if span.parent is None
    )
    assert summary.runs_by_agent == dict(
        Counter(attr(span, "gen_ai.agent.name") for span in agent_spans)
    )
    assert summary.failed_runs_by_agent == dict(
        Counter(attr(span, "gen_ai.agent.name") for span in agent_spans if failed(span))
    )
    assert summary.tool_calls_by_tool == dict(
        Counter(attr(span, "gen_ai.tool.name") for span in tool_spans)
    )
    assert summary.failures_by_tool == dict(
        Counter(attr(span, "gen_ai.tool.name") for span in tool_spans if failed(span))
    )
    assert summary.llm_calls == len(chat_spans)
    assert summary.failed_llm_calls == sum(failed(span) for span in chat_spans)
    assert summary.input_tokens == sum(
        attr(span, "gen_ai.usage.input_tokens") or 0 for span in chat_spans
    )


# genai-prices' provider ids of the providers the simulated agents name
LIBRARY_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gcp.gemini": "google",
    "aws.bedrock": "aws",
}


def test_the_expected_cost_is_what_genai_prices_computes_for_the_chat_spans(busy_simulation):
    from datetime import UTC, datetime
    from decimal import Decimal

    from genai_prices import Usage, calc_price

    summary, spans = busy_simulation
    chat_spans = [span for span in spans if operation(span) == "chat"]
    by_model: dict[str, Decimal] = {}
    for span in chat_spans:
        if failed(span):
            continue
        model = attr(span, "gen_ai.response.model")
        price = calc_price(
            Usage(
                input_tokens=attr(span, "gen_ai.usage.input_tokens"),
                output_tokens=attr(span, "gen_ai.usage.output_tokens"),
            ),
            model,
            provider_id=LIBRARY_PROVIDERS[attr(span, "gen_ai.provider.name")],
            genai_request_timestamp=datetime.fromtimestamp(span.start_time / 1e9, UTC),
        )
        by_model[model] = by_model.get(model, Decimal(0)) + price.total_price

    assert len(by_model) == len(DEFAULT_AGENT_NAMES)  # every simulated model is priced
    assert summary.cost_by_model == dict(sorted(by_model.items(), key=lambda i: (-i[1], i[0])))
    assert summary.cost_usd == sum(by_model.values()) > 0
    # failed calls report no tokens: unpriced, and counted
    assert summary.unpriced_llm_calls == summary.failed_llm_calls > 0
    assert sum(record.unpriced_llm_calls for record in summary.run_records) == (
        summary.failed_llm_calls
    )
    assert summary.cost_usd == sum(
        record.cost_usd for record in summary.run_records if record.cost_usd is not None
    )


def test_the_summary_and_its_cost_print_as_json_and_text():
    summary, _ = generate(SimulationConfig(runs=5, seed=4, anchor_time_ns=ANCHOR_NS))
    document = json.loads(json.dumps(summary.to_dict()))
    assert summary.cost_usd is not None
    assert document["cost_usd"] == float(summary.cost_usd)
    assert document["run_records"][0]["cost_by_model"] == {
        model: float(cost) for model, cost in summary.run_records[0].cost_by_model.items()
    }
    text = format_summary(summary, SimulationConfig(runs=5), "http://agentguide:4318")
    assert f"cost:         ${summary.cost_usd:.6f} expected" in text


def test_run_records_name_exactly_which_runs_and_tool_calls_failed(busy_simulation):
    summary, spans = busy_simulation
    by_hex_id = {hex_span_id(span): span for span in spans}
    for record in summary.run_records:
        agent_span = by_hex_id[record.span_id]
        assert record.failed == failed(agent_span)
        assert record.error_type == attr(agent_span, "error.type")
        assert record.agent_name == attr(agent_span, "gen_ai.agent.name")
        assert record.trace_id == format(agent_span.context.trace_id, "032x")
        for call in record.tool_calls:
            tool_span = by_hex_id[call.span_id]
            assert call.failed == failed(tool_span)
            assert call.tool_name == attr(tool_span, "gen_ai.tool.name")
            assert call.call_id == attr(tool_span, "gen_ai.tool.call.id")
    failure_causes = {record.failure_cause for record in summary.run_records if record.failed}
    assert {"tool", "llm", "max_turns"} <= failure_causes


def test_error_rate_zero_means_no_failure_at_all():
    summary, spans = generate(SimulationConfig(runs=100, error_rate=0.0, seed=3))
    assert summary.failed_runs == summary.failed_tool_calls == summary.failed_llm_calls == 0
    assert not [span for span in spans if failed(span)]


def test_error_rate_one_fails_every_ordinary_tool_call():
    summary, _ = generate(SimulationConfig(runs=60, error_rate=1.0, seed=3))
    ordinary = [
        call
        for record in summary.run_records
        for call in record.tool_calls
        if not call.tool_name.startswith("ask_")
    ]
    assert ordinary and all(call.failed for call in ordinary)


def test_tool_failures_follow_the_error_rate():
    summary, _ = generate(SimulationConfig(runs=400, error_rate=0.2, seed=9))
    ordinary_calls = sum(
        count for tool, count in summary.tool_calls_by_tool.items() if not tool.startswith("ask_")
    )
    ordinary_failures = sum(
        count for tool, count in summary.failures_by_tool.items() if not tool.startswith("ask_")
    )
    assert 0.15 < ordinary_failures / ordinary_calls < 0.25
    assert 0 < summary.failed_top_level_runs < summary.top_level_runs / 2


# --- determinism -------------------------------------------------------------------------


def span_fingerprint(span: ReadableSpan) -> tuple[Any, ...]:
    return (
        span.name,
        span.context.trace_id,
        span.context.span_id,
        span.parent.span_id if span.parent else None,
        span.start_time,
        span.end_time,
        tuple(sorted((span.attributes or {}).items())),
        span.status.status_code,
        tuple((event.name, tuple(sorted(event.attributes.items()))) for event in span.events),
    )


def test_a_seed_reproduces_every_span_and_id():
    config = SimulationConfig(runs=30, error_rate=0.3, seed=42, anchor_time_ns=ANCHOR_NS)
    first_summary, first = generate(config)
    second_summary, second = generate(config)
    assert [span_fingerprint(s) for s in first] == [span_fingerprint(s) for s in second]
    assert first_summary == second_summary


def test_a_seed_gives_the_same_spans_in_every_version():
    """Pinned output of seed 7: refactors of the simulator must not change what a seed means."""
    import hashlib

    summary, spans = generate(
        SimulationConfig(runs=8, seed=7, error_rate=0.3, anchor_time_ns=1_800_000_000_000_000_000)
    )
    digest = hashlib.sha256(
        json.dumps(
            [
                (
                    span.name,
                    format(span.context.span_id, "016x"),
                    span.start_time,
                    span.end_time,
                    span.status.status_code.name,
                    json.dumps(dict(span.attributes or {}), sort_keys=True),
                )
                for span in spans
            ]
        ).encode()
    ).hexdigest()

    assert summary.trace_ids[:3] == [
        "002b95929f328a7eb420d70b37f223a4",
        "ed24f557743fd0317d8fdaa440790152",
        "ae3414e0a699622615a88d8c81b1f6ac",
    ]
    assert (summary.runs, summary.failed_runs, summary.spans) == (10, 5, 52)
    assert summary.failures_by_tool == {
        "fetch_page": 3,
        "convert_units": 1,
        "extract_citations": 1,
        "lookup_customer": 1,
        "web_search": 1,
    }
    assert (summary.input_tokens, summary.output_tokens) == (6532, 2274)
    assert digest == "51ea7db1cba46db9c9106ccd2cef8f0580073fc1ba419a9ce5ef5c8476cdb080"


def test_another_seed_gives_other_runs():
    first, _ = generate(SimulationConfig(runs=30, seed=1, anchor_time_ns=ANCHOR_NS))
    second, _ = generate(SimulationConfig(runs=30, seed=2, anchor_time_ns=ANCHOR_NS))
    assert set(first.trace_ids).isdisjoint(second.trace_ids)
    assert first.run_records != second.run_records


def test_a_missing_seed_is_drawn_and_reported():
    summary, _ = generate(SimulationConfig(runs=3))
    again, _ = generate(SimulationConfig(runs=3, seed=summary.seed))
    assert again.trace_ids == summary.trace_ids


def test_concurrency_changes_neither_runs_nor_ids_and_all_spans_are_delivered():
    exporters: list[InMemorySpanExporter] = []

    def in_memory() -> InMemorySpanExporter:
        exporters.append(InMemorySpanExporter())
        return exporters[-1]

    base = SimulationConfig(runs=150, error_rate=0.2, seed=8, anchor_time_ns=ANCHOR_NS)
    serial = simulate(replace_config(base, concurrency=1), span_exporter_factory=in_memory)
    parallel = simulate(replace_config(base, concurrency=4), span_exporter_factory=in_memory)
    assert len(exporters) == 5
    assert serial.run_records == parallel.run_records
    assert parallel.delivered_spans == parallel.spans and parallel.undelivered_spans == 0
    assert sum(len(e.get_finished_spans()) for e in exporters[1:]) == parallel.spans


def test_undelivered_spans_are_reported():
    class RefusingExporter(InMemorySpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.FAILURE

    summary = simulate(
        SimulationConfig(runs=10, seed=1, concurrency=2), span_exporter_factory=RefusingExporter
    )
    assert summary.delivered_spans == 0
    assert summary.undelivered_spans == summary.spans > 0


def replace_config(config: SimulationConfig, **changes: Any) -> SimulationConfig:
    from dataclasses import replace

    return replace(config, **changes)


# --- configuration and command line ----------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"runs": -1}, "runs"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"agents": ()}, "agents"),
        ({"concurrency": 0}, "concurrency"),
        ({"protocol": "udp"}, "protocol"),
    ],
)
def test_invalid_configurations_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**changes)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="agentguide simulate")
    configure_parser(parser)
    return parser.parse_args(argv)


def test_command_line_defaults():
    args = parse()
    assert (args.runs, args.error_rate, args.concurrency) == (50, 0.1, 4)
    assert args.protocol == "http/protobuf" and args.endpoint is None and args.seed is None
    assert args.agents == DEFAULT_AGENT_NAMES[:3]
    assert args.headers == {} and not args.quiet


def test_command_line_agents_headers_and_protocol():
    args = parse(
        "--agents", "5", "--headers", "authorization=Bearer%20k1,x-project=demo",
        "--protocol", "grpc", "--runs", "7", "--seed", "9",
    )  # fmt: skip
    assert args.agents == DEFAULT_AGENT_NAMES[:5]
    assert args.headers == {"authorization": "Bearer k1", "x-project": "demo"}
    assert (args.protocol, args.runs, args.seed) == ("grpc", 7, 9)
    assert parse("--agents", "ops-bot, billing-agent").agents == ("ops-bot", "billing-agent")
    assert len(parse("--agents", "7").agents) == 7


@pytest.mark.parametrize(
    "argv",
    [["--error-rate", "2"], ["--runs", "-3"], ["--concurrency", "0"], ["--headers", "novalue"]],
)
def test_command_line_rejects_bad_values(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(*argv)
    assert exit_info.value.code == 2
    assert "argument" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("protocol", "endpoint", "export_url", "api_url"),
    [
        ("http/protobuf", None, "http://127.0.0.1:4318/v1/traces", "http://127.0.0.1:4318"),
        ("http/json", "localhost:4318", "http://localhost:4318/v1/traces", "http://localhost:4318"),
        ("http/protobuf", "https://otel.example:443/", "https://otel.example:443/v1/traces",
         "https://otel.example:443"),
        ("http/protobuf", "http://h:8318/custom/traces", "http://h:8318/custom/traces",
         "http://h:8318"),
        ("grpc", None, "http://127.0.0.1:4317", "http://127.0.0.1:4318"),
        ("grpc", "agentguide:4317", "http://agentguide:4317", "http://agentguide:4318"),
    ],
)  # fmt: skip
def test_endpoints_are_derived_sensibly(protocol, endpoint, export_url, api_url):
    assert resolve_endpoint(protocol, endpoint) == export_url
    assert agentguide_api_url(protocol, endpoint) == api_url


def test_headers_parse_like_otel_exporter_otlp_headers():
    assert parse_headers("") == {}
    assert parse_headers(" api-key = s%3Dcret ,x=1") == {"api-key": "s=cret", "x": "1"}
    with pytest.raises(ValueError, match="key=value"):
        parse_headers("oops")


# --- OTLP/JSON ---------------------------------------------------------------------------


def fixture_bodies() -> list[Path]:
    return sorted(FIXTURES.glob("*/*/*.body.bin"))


def otlp_json_to_request(document: dict[str, Any]) -> ExportTraceServiceRequest:
    """Back to protobuf (hex ids to base64, as the proto3 JSON parser wants them)."""
    document = json.loads(json.dumps(document))
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for holder in [span, *span.get("links", [])]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in holder:
                            holder[key] = base64.b64encode(bytes.fromhex(holder[key])).decode()
    return json_format.ParseDict(document, ExportTraceServiceRequest())


def numbers_as_strings(value: Any) -> Any:
    """Makes 64-bit integers sent as numbers compare equal to the same ones sent as strings."""
    if isinstance(value, dict):
        return {key: numbers_as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [numbers_as_strings(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


@pytest.mark.skipif(not fixture_bodies(), reason=f"no captured fixtures under {FIXTURES}")
@pytest.mark.parametrize("body", fixture_bodies(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_otlp_json_matches_the_captured_fixtures(body: Path):
    request = ExportTraceServiceRequest.FromString(body.read_bytes())
    expected = json.loads(body.with_name(body.name.replace(".bin", ".json")).read_text())

    converted = export_request_to_otlp_json(request)

    assert numbers_as_strings(converted) == numbers_as_strings(expected)
    assert otlp_json_to_request(converted) == request
    assert otlp_json_to_request(expected) == request


def test_otlp_json_encodes_every_value_kind_as_the_spec_says():
    trace_id, span_id, parent_id = bytes(range(1, 17)), bytes(range(17, 25)), b"\xab" * 8
    span = ProtoSpan(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        name="s",
        kind=ProtoSpan.SPAN_KIND_CLIENT,
        start_time_unix_nano=2**62,
        end_time_unix_nano=2**62 + 5,
        attributes=[
            KeyValue(key="b", value=AnyValue(bytes_value=b"\x00\xff")),
            KeyValue(key="i", value=AnyValue(int_value=-(2**40))),
            KeyValue(key="d", value=AnyValue(double_value=0.5)),
            KeyValue(key="traceId", value=AnyValue(string_value="not an id")),
        ],
        links=[ProtoSpan.Link(trace_id=trace_id[::-1], span_id=span_id[::-1])],
    )
    span.status.code = 2
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.append(span)

    (out,) = export_request_to_otlp_json(request)["resourceSpans"][0]["scopeSpans"][0]["spans"]

    assert out["traceId"] == trace_id.hex() and out["spanId"] == span_id.hex()
    assert out["parentSpanId"] == "ab" * 8
    assert out["links"][0] == {"traceId": trace_id[::-1].hex(), "spanId": span_id[::-1].hex()}
    assert out["kind"] == 3 and out["status"] == {"code": 2}
    assert out["startTimeUnixNano"] == str(2**62)
    values = {kv["key"]: kv["value"] for kv in out["attributes"]}
    assert values["b"] == {"bytesValue": base64.b64encode(b"\x00\xff").decode()}
    assert values["i"] == {"intValue": str(-(2**40))}
    assert values["d"] == {"doubleValue": 0.5}
    assert values["traceId"] == {"stringValue": "not an id"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 0 ", 0.0),
        ("-4", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_http_date(header, expected):
    now = 1445412480.0  # 2015-10-21 07:28:00 UTC
    assert parse_retry_after(header, now=now) == expected


class ScriptedOTLPReceiver:
    """A loopback HTTP server that answers POSTs with a scripted list of statuses."""

    def __init__(self, statuses: list[tuple[int, dict[str, str]]]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status, headers = receiver.statuses.pop(0) if receiver.statuses else (200, {})
                payload = b"{}" if status == 200 else b'{"message":"scripted"}'
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedOTLPReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def two_spans() -> list[ReadableSpan]:
    _, spans = generate(SimulationConfig(runs=1, seed=4, error_rate=0.0))
    return spans[:2]


def test_json_exporter_retries_retryable_answers_honouring_retry_after(two_spans):
    script = [(503, {"Retry-After": "0"}), (429, {"Retry-After": "0"}), (200, {})]
    with ScriptedOTLPReceiver(script) as receiver:
        exporter = OTLPJSONSpanExporter(receiver.url, headers={"authorization": "Bearer k"})
        assert exporter.export(two_spans) is SpanExportResult.SUCCESS
        exporter.shutdown()

    assert len(receiver.requests) == 3
    headers, body = receiver.requests[-1]
    assert headers["Content-Type"] == "application/json"
    assert headers["authorization"] == "Bearer k"
    sent = otlp_json_to_request(json.loads(body))
    sent_ids = {
        span.span_id for rs in sent.resource_spans for ss in rs.scope_spans for span in ss.spans
    }
    assert sent_ids == {span.context.span_id.to_bytes(8, "big") for span in two_spans}


def test_json_exporter_gzips_when_asked(two_spans):
    import gzip

    with ScriptedOTLPReceiver([]) as receiver:
        exporter = OTLPJSONSpanExporter(receiver.url, compression="gzip")
        assert exporter.export(two_spans) is SpanExportResult.SUCCESS
    headers, body = receiver.requests[0]
    assert headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(body))["resourceSpans"]


def test_json_exporter_does_not_retry_a_client_error(two_spans):
    with ScriptedOTLPReceiver([(400, {})]) as receiver:
        exporter = OTLPJSONSpanExporter(receiver.url)
        assert exporter.export(two_spans) is SpanExportResult.FAILURE
    assert len(receiver.requests) == 1


def test_json_exporter_gives_up_when_retry_after_exceeds_its_budget(two_spans):
    with ScriptedOTLPReceiver([(503, {"Retry-After": "120"})]) as receiver:
        exporter = OTLPJSONSpanExporter(receiver.url, max_retry_s=1.0)
        assert exporter.export(two_spans) is SpanExportResult.FAILURE
    assert len(receiver.requests) == 1


# --- against a real AgentGuide server ----------------------------------------------------


def running_server_or_skip(request: pytest.FixtureRequest) -> Any:
    try:
        return request.getfixturevalue("agentguide_server")
    except pytest.FixtureLookupError:
        pytest.skip("needs a running AgentGuide: no `agentguide_server` fixture is defined yet")


def server_address(server: Any, name: str) -> str:
    """``http_url`` / ``grpc_endpoint`` of the server fixture, as attribute or mapping key."""
    value = getattr(server, name, None)
    if value is None and isinstance(server, dict):
        value = server.get(name)
    if value is None:
        pytest.fail(f"the agentguide_server fixture exposes no {name!r}")
    return str(value).rstrip("/")


def stored_spans(http_url: str, trace_id: str) -> list[dict[str, Any]]:
    import requests

    response = requests.get(f"{http_url}/v1/traces/{trace_id}", timeout=10)
    assert response.status_code == 200, response.text
    return [
        span
        for resource_spans in response.json()["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    ]


def json_attribute(span: dict[str, Any], key: str) -> Any:
    for item in span.get("attributes", []):
        if item["key"] == key:
            return next(iter(item["value"].values()))
    return None


SERVER_PROTOCOLS = ["http/protobuf", "http/json", "grpc"]


def kpi_window(protocol: str) -> tuple[int, int]:
    """A window in 2001, one hour per protocol, that no other test writes runs into."""
    anchor_ns = (978_307_200 + 3600 * (1 + SERVER_PROTOCOLS.index(protocol))) * 10**9
    return anchor_ns - 600 * 10**9, anchor_ns


def get_json(url: str, **params: Any) -> Any:
    import requests

    response = requests.get(url, params=params, timeout=10)
    assert response.status_code == 200, f"{response.url}: {response.status_code} {response.text}"
    return response.json()


def settled_kpis(http_url: str, since_ms: int, until_ms: int, runs: int) -> dict[str, Any]:
    """/v1/metrics/summary once every run of the window has been derived and finished."""
    import time

    deadline = time.monotonic() + 60
    while True:
        kpis = get_json(f"{http_url}/v1/metrics/summary", since=since_ms, until=until_ms)
        by_status = kpis["runs"]["by_status"]
        if by_status["SUCCESS"] + by_status["FAILED"] >= runs or time.monotonic() > deadline:
            return kpis
        time.sleep(0.5)


@pytest.mark.parametrize("protocol", SERVER_PROTOCOLS)
def test_the_server_reports_exactly_what_the_simulator_says_it_sent(request, protocol):
    server = running_server_or_skip(request)
    endpoint = server_address(server, "grpc_endpoint" if protocol == "grpc" else "http_url")
    http_url = server_address(server, "http_url")
    since_ns, until_ns = kpi_window(protocol)

    summary = simulate(
        SimulationConfig(
            runs=25, error_rate=0.3, seed=20240 + len(protocol), protocol=protocol,
            endpoint=endpoint, concurrency=2, anchor_time_ns=until_ns, time_window_s=590,
        )
    )  # fmt: skip

    assert summary.undelivered_spans == 0
    assert summary.failed_runs > 0 and summary.failed_tool_calls > 0

    # The stored spans, trace by trace.
    stored_failed_runs = 0
    stored_tool_failures: Counter[str] = Counter()
    for trace_id in summary.trace_ids:
        spans = stored_spans(http_url, trace_id)
        runs = [r for r in summary.run_records if r.trace_id == trace_id]
        assert len(spans) == sum(1 + r.llm_calls + len(r.tool_calls) for r in runs)
        for span in spans:
            failed_span = span.get("status", {}).get("code") == 2
            kind = json_attribute(span, "gen_ai.operation.name")
            stored_failed_runs += failed_span and kind == "invoke_agent"
            if failed_span and kind == "execute_tool":
                stored_tool_failures[json_attribute(span, "gen_ai.tool.name")] += 1
    assert stored_failed_runs == summary.failed_runs
    assert dict(stored_tool_failures) == summary.failures_by_tool

    # The KPIs over the simulation's own time window.
    since_ms, until_ms = since_ns // 10**6, until_ns // 10**6 + 1
    kpis = settled_kpis(http_url, since_ms, until_ms, summary.runs)
    assert kpis["runs"]["total"] == summary.runs
    assert kpis["runs"]["by_status"]["FAILED"] == summary.failed_runs
    assert kpis["runs"]["by_status"]["SUCCESS"] == summary.runs - summary.failed_runs
    assert kpis["tokens"]["input"] == summary.input_tokens
    assert kpis["tokens"]["output"] == summary.output_tokens
    # The cost the simulator expects is what the server charges, in total and by model.
    cost = kpis["cost"]
    assert summary.cost_usd is not None
    assert cost["total"] == pytest.approx(float(summary.cost_usd), rel=1e-9)
    assert cost["llm_calls"] == summary.llm_calls
    assert cost["unpriced_llm_calls"] == summary.unpriced_llm_calls
    assert cost["unpriced_share"] == summary.unpriced_llm_calls / summary.llm_calls
    served = {row["model"]: row["cost"] for row in cost["by_model"] if row["cost"] is not None}
    expected_models = list(summary.cost_by_model.items())[: len(served)]
    assert [(model, pytest.approx(float(usd), rel=1e-9)) for model, usd in expected_models] == [
        *served.items()
    ]
    reported_tools = kpis["top_failing_tools"]
    expected_tools = list(summary.failures_by_tool.items())[: len(reported_tools)]
    assert [(t["tool"], t["failures"]) for t in reported_tools] == expected_tools
    for tool in reported_tools:
        assert tool["calls"] == summary.tool_calls_by_tool[tool["tool"]]

    failed_runs = get_json(
        f"{http_url}/v1/runs", status="FAILED", since=since_ms, until=until_ms, limit=500
    )["items"]
    assert len(failed_runs) == summary.failed_runs


# --- docs/kpi-queries.md against a database the simulator filled ----------------------------

KPI_DOC = Path(__file__).resolve().parents[1] / "docs" / "kpi-queries.md"


def kpi_queries() -> dict[str, str]:
    """The SQL blocks of docs/kpi-queries.md, by the number of their section ("1", "3b", ...)."""
    import re

    queries: dict[str, str] = {}
    section = ""
    in_sql = False
    lines: list[str] = []
    for line in KPI_DOC.read_text().splitlines():
        heading = re.match(r"^#{2,3} (\d+[a-z]?)\.", line)
        if heading:
            section = heading.group(1)
        elif line.startswith("```sql"):
            in_sql, lines = True, []
        elif in_sql and line.startswith("```"):
            in_sql = False
            queries[section] = "\n".join(lines)
        elif in_sql:
            lines.append(line)
    return queries


def test_the_kpi_queries_report_what_the_simulator_sent(fresh_database_url):
    import psycopg
    from psycopg.rows import dict_row

    from tests.support import running_server, wait_derived

    queries = kpi_queries()
    assert {"1", "2", "3", "3b", "4", "5", "6", "7"} <= set(queries)
    with running_server(fresh_database_url) as server:
        summary = simulate(
            SimulationConfig(
                runs=40, error_rate=0.3, agents=agent_names(5), seed=9090,
                endpoint=server.http_url, concurrency=2,
            )
        )  # fmt: skip
        assert summary.undelivered_spans == 0
        wait_derived(fresh_database_url)

    with psycopg.connect(fresh_database_url, row_factory=dict_row) as conn:
        rows = {key: conn.execute(sql).fetchall() for key, sql in queries.items()}

    assert sum(row["runs"] for row in rows["1"]) == summary.runs
    assert {row["agent_name"]: row["runs"] for row in rows["1"]} == summary.runs_by_agent
    failing = {row["tool_name"]: row["failures"] for row in rows["2"]}
    assert len(failing) == min(10, len(summary.failures_by_tool))
    assert sorted(failing.values(), reverse=True) == list(summary.failures_by_tool.values())[:10]
    for row in rows["2"]:
        assert row["failures"] == summary.failures_by_tool[row["tool_name"]]
        assert row["calls"] == summary.tool_calls_by_tool[row["tool_name"]]
    (overall,) = rows["3"]
    assert (overall["runs"], overall["failed"]) == (summary.runs, summary.failed_runs)
    assert sum(row["finished"] for row in rows["3b"]) == summary.top_level_runs
    assert sum(row["calls"] for row in rows["4"]) == summary.tool_calls
    assert all(row["p50_ms"] <= row["p95_ms"] <= row["max_ms"] for row in rows["4"])
    assert sum(row["calls"] for row in rows["5"]) == summary.llm_calls
    assert sum(row["failures"] for row in rows["5"]) == summary.failed_llm_calls
    assert sum(row["input_tokens"] or 0 for row in rows["5"]) == summary.input_tokens
    assert sum(row["output_tokens"] or 0 for row in rows["5"]) == summary.output_tokens
    assert 0 < sum(row["runs"] for row in rows["6"]) <= summary.failed_runs
    assert rows["7"] and all(row["error_type"] for row in rows["7"])
