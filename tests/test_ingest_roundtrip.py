"""Spans go in over real OTLP exporters and come back from GET /v1/traces/{id} field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests.fakes.otlp_bodies import trace_request
from tests.otlp_helpers import (
    PROTOBUF,
    expected_spans,
    make_request,
    make_span,
    parse_export_response,
    post_protobuf,
    random_trace_id,
    stored_spans,
)
from tests.support import RunningServer, fixtures_dir, running_server, stored_span_count


def _exporter(server: RunningServer, protocol: str, gzip: bool) -> SpanExporter:
    if protocol == "grpc":
        import grpc

        return GrpcSpanExporter(
            endpoint=server.grpc_endpoint,
            insecure=True,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            timeout=10,
        )
    return HttpSpanExporter(
        endpoint=server.http_url + "/v1/traces",
        compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression,
        timeout=10,
    )


def _emit_agent_trace(provider: TracerProvider) -> None:
    tracer = provider.get_tracer(
        "tests.roundtrip",
        "1.2.3",
        schema_url="https://opentelemetry.io/schemas/1.26.0",
        attributes={"scope.attr": "yes"},
    )
    with tracer.start_as_current_span(
        "invoke_agent roundtrip-agent",
        kind=SpanKind.INTERNAL,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "roundtrip-agent",
            "str": "text é 🚀",
            "int": -(2**62),
            "double": 3.25,
            "bool": True,
            "strs": ["a", "b"],
            "ints": [1, 2, 3],
            "doubles": [0.5, 1.5],
            "bools": [True, False],
        },
    ) as agent:
        agent.add_event("started", {"n": 1, "ok": True}, timestamp=1_700_000_000_123_456_789)
        with tracer.start_as_current_span(
            "execute_tool lookup",
            kind=SpanKind.CLIENT,
            links=[Link(agent.get_span_context(), {"link.attr": 7})],
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
        ) as tool:
            tool.record_exception(ValueError("boom"))
            tool.set_status(Status(StatusCode.ERROR, "lookup failed"))


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_sdk_exporter_roundtrip(
    agentguide_server: RunningServer, protocol: str, gzip: bool
) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"roundtrip-{protocol}", "deployment": "test"})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(_exporter(agentguide_server, protocol, gzip)))
    _emit_agent_trace(provider)
    provider.shutdown()

    finished = memory.get_finished_spans()
    assert len(finished) == 2
    sent = encode_spans(finished)
    trace_id = finished[0].context.trace_id.to_bytes(16, "big")
    assert stored_spans(agentguide_server.http_url, trace_id) == expected_spans(sent)


def test_all_value_types_and_fields_roundtrip(agentguide_server: RunningServer) -> None:
    trace_id = random_trace_id()
    root = make_span(
        trace_id,
        "root",
        attributes={
            "bytes": b"\x00\x01\xffraw",
            "kvlist": {"nested": {"deeper": [1, "two", 3.0, False, b"\x02"]}},
            "empty.array": [],
            "max.int": 2**63 - 1,
            "min.int": -(2**63),
            "tiny.double": 5e-324,
        },
        status_code=2,
        status_message="failed",
    )
    root.trace_state = "vendor=value"
    root.flags = 0x301
    root.dropped_attributes_count = 3
    root.dropped_events_count = 4
    root.dropped_links_count = 5
    event = root.events.add(time_unix_nano=1_700_000_000_000_000_001, name="exception")
    event.dropped_attributes_count = 2
    event.attributes.add(key="exception.type").value.string_value = "ValueError"
    link = root.links.add(trace_id=random_trace_id(), span_id=b"\x01" * 8, trace_state="a=b")
    link.flags = 0x100
    link.dropped_attributes_count = 1
    link.attributes.add(key="why").value.int_value = 9
    child = make_span(trace_id, "child", parent_span_id=root.span_id, start_ns=1)
    request = make_request([root, child])
    request.resource_spans[0].schema_url = "https://example.com/resource-schema"
    request.resource_spans[0].resource.dropped_attributes_count = 6
    request.resource_spans[0].scope_spans[0].schema_url = "https://example.com/scope-schema"
    scope = request.resource_spans[0].scope_spans[0].scope
    scope.version = "9.9"
    scope.dropped_attributes_count = 1
    scope.attributes.add(key="s").value.double_value = 1.5

    response = post_protobuf(agentguide_server.http_url, request)
    assert response.status_code == 200, response.text
    assert not parse_export_response(response).HasField("partial_success")
    assert stored_spans(agentguide_server.http_url, trace_id) == expected_spans(request)


def test_json_body_roundtrip(agentguide_server: RunningServer) -> None:
    trace_id = random_trace_id()
    request = make_request(
        [make_span(trace_id, "json", attributes={"n": 12345678901234, "b": b"\x00z"})]
    )
    from receiver.otlp_json import request_to_json

    document = request_to_json(request)
    document["unknownTopLevelField"] = {"ignored": True}
    response = httpx.post(agentguide_server.http_url + "/v1/traces", json=document, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}
    assert stored_spans(agentguide_server.http_url, trace_id) == expected_spans(request)


def test_json_accepts_numbers_for_64_bit_integers(agentguide_server: RunningServer) -> None:
    trace_id = random_trace_id()
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id.hex().upper(),
                                "spanId": "0102030405060708",
                                "name": "numbers",
                                "kind": 2,
                                "startTimeUnixNano": 1700000000000000000,
                                "endTimeUnixNano": "1700000000000000005",
                                "attributes": [{"key": "i", "value": {"intValue": 42}}],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    response = httpx.post(agentguide_server.http_url + "/v1/traces", json=body, timeout=30)
    assert response.status_code == 200, response.text
    span = stored_spans(agentguide_server.http_url, trace_id)["0102030405060708"]["span"]
    assert span["startTimeUnixNano"] == "1700000000000000000"
    assert span["endTimeUnixNano"] == "1700000000000000005"
    assert span["kind"] == 2
    assert span["attributes"] == [{"key": "i", "value": {"intValue": "42"}}]


def _fixture_scenarios() -> list[Path]:
    root = fixtures_dir()
    return sorted(path.parent for path in root.glob("*/*/expected.json"))


def _scenario_id(path: Path) -> str:
    return f"{path.parent.name}-{path.name}"


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_fixture_bodies_stored_exactly(fresh_database_url: str, encoding: str) -> None:
    """Every captured body, posted as it was sent (or as its OTLP/JSON twin), is stored and
    returned equal."""
    scenarios = _fixture_scenarios()
    assert scenarios, f"no fixtures under {fixtures_dir()}"
    with running_server(fresh_database_url) as server:
        for scenario in scenarios:
            requests: list[ExportTraceServiceRequest] = []
            for body_path in sorted(scenario.glob("*.body.bin")):
                stem = body_path.name.removesuffix(".body.bin")
                meta = json.loads((scenario / f"{stem}.meta.json").read_text())
                raw = body_path.read_bytes()
                sent = trace_request(body_path)  # protobuf or JSON, as its meta.json says
                requests.append(sent)
                if encoding == "protobuf":
                    headers = {"Content-Type": meta["content_type"]}
                    if meta.get("content_encoding"):
                        headers["Content-Encoding"] = meta["content_encoding"]
                    content = raw
                else:
                    headers = {"Content-Type": "application/json"}
                    content = (scenario / f"{stem}.body.json").read_bytes()
                response = httpx.post(
                    server.http_url + "/v1/traces", content=content, headers=headers
                )
                assert response.status_code == 200, (body_path, response.text)
                assert response.content in (b"", b"{}") or not parse_export_response(
                    response
                ).HasField("partial_success")
            expected = expected_spans(*requests)
            trace_ids = {entry["span"]["traceId"] for entry in expected.values()}
            stored: dict[str, Any] = {}
            for trace_id in trace_ids:
                stored.update(stored_spans(server.http_url, trace_id))
            assert stored == expected, _scenario_id(scenario)


def test_same_request_twice_is_stored_once(
    agentguide_server: RunningServer, session_database_url: str
) -> None:
    trace_id = random_trace_id()
    request = make_request([make_span(trace_id, f"dup-{i}") for i in range(3)])
    for _ in range(2):
        assert post_protobuf(agentguide_server.http_url, request).status_code == 200
    assert len(stored_spans(agentguide_server.http_url, trace_id)) == 3
    assert stored_span_count(session_database_url, trace_id) == 3


def test_redelivered_span_keeps_first_content(agentguide_server: RunningServer) -> None:
    trace_id = random_trace_id()
    span = make_span(trace_id, "first")
    assert post_protobuf(agentguide_server.http_url, make_request([span])).status_code == 200
    span.name = "second"
    assert post_protobuf(agentguide_server.http_url, make_request([span])).status_code == 200
    (stored,) = stored_spans(agentguide_server.http_url, trace_id).values()
    assert stored["span"]["name"] == "first"


def test_unknown_trace_is_404_json(agentguide_server: RunningServer) -> None:
    response = httpx.get(agentguide_server.http_url + "/v1/traces/" + "ab" * 16)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "ab" * 16 in response.json()["error"]["message"]


def test_bad_trace_id_in_path_is_422(agentguide_server: RunningServer) -> None:
    response = httpx.get(agentguide_server.http_url + "/v1/traces/not-hex")
    assert response.status_code == 422
    assert "trace_id" in response.json()["error"]["message"]


def test_health_endpoints(agentguide_server: RunningServer) -> None:
    assert httpx.get(agentguide_server.http_url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(agentguide_server.http_url + "/readyz").json() == {"status": "ready"}


def test_protobuf_response_is_protobuf(agentguide_server: RunningServer) -> None:
    request = make_request([make_span(random_trace_id())])
    response = post_protobuf(agentguide_server.http_url, request, compress=True)
    assert response.status_code == 200
    assert response.headers["content-type"] == PROTOBUF
    parse_export_response(response)
