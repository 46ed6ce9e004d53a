"""Generated hostile export requests over OTLP/HTTP (protobuf and JSON) and OTLP/gRPC, sent to
a real ``agentguide serve``: never a 5xx, a message with every refusal, the valid span of each
request kept, and the server healthy afterwards, still deriving runs.

Examples per test: the ``ci`` profile (the default) keeps the suite to a minute or two;
``HYPOTHESIS_PROFILE=deep`` runs many more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import grpc
import httpx
import orjson
import pytest
from google.protobuf.internal.encoder import _VarintBytes
from google.rpc import status_pb2
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from receiver.grpc_server import SERVICE_NAME
from receiver.otlp_json import request_to_json
from tests.conftest import SESSION_MAX_REQUEST_BYTES
from tests.hostile.strategies import hostile_requests, json_mutations
from tests.otlp_helpers import (
    PROTOBUF,
    make_request,
    make_span,
    random_span_id,
    random_trace_id,
)
from tests.support import RunningServer, wait_derived

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    # Each example is a round trip to the server: shrinking a failure would take many minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    print_blob=True,
    verbosity=Verbosity.quiet,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "deep",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FIXED_TRACE_ID = bytes.fromhex("5e1ec7ed" * 4)


@pytest.fixture(scope="module")
def http(agentguide_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=agentguide_server.http_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def grpc_export(agentguide_server: RunningServer) -> Iterator[grpc.UnaryUnaryMultiCallable]:
    with grpc.insecure_channel(
        agentguide_server.grpc_endpoint, options=[("grpc.max_send_message_length", -1)]
    ) as channel:
        yield channel.unary_unary(f"/{SERVICE_NAME}/Export")


def _valid_span() -> Span:
    return make_span(random_trace_id(), "the-valid-one", span_id=random_span_id())


def _status_message(response: httpx.Response) -> str:
    if response.headers.get("content-type", "").startswith(PROTOBUF):
        return str(status_pb2.Status.FromString(response.content).message)
    body = response.json()
    return str(body.get("message") or body.get("error", {}).get("message") or "")


def _check_http(response: httpx.Response) -> ExportTraceServiceResponse | None:
    """No 5xx; a 4xx says what is wrong; a 200 is returned parsed."""
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.status_code in (400, 413), response.text
        assert _status_message(response).strip(), response.content[:200]
        return None
    if response.headers["content-type"].startswith(PROTOBUF):
        return ExportTraceServiceResponse.FromString(response.content)
    parsed = ExportTraceServiceResponse()
    partial = response.json().get("partialSuccess", {})
    parsed.partial_success.rejected_spans = int(partial.get("rejectedSpans", 0))
    parsed.partial_success.error_message = partial.get("errorMessage", "")
    return parsed


def _check_kept(
    http: httpx.Client, request: ExportTraceServiceRequest, valid: Span, answer: object
) -> None:
    """The valid span is stored; the others are stored or counted in partial_success."""
    assert isinstance(answer, ExportTraceServiceResponse)
    total = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    rejected = answer.partial_success.rejected_spans
    assert rejected < total
    if rejected:
        assert answer.partial_success.error_message.strip()
    trace = http.get(f"/v1/traces/{valid.trace_id.hex()}")
    assert trace.status_code == 200, trace.text
    span_ids = {
        span["spanId"]
        for rs in trace.json()["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    }
    assert valid.span_id.hex() in span_ids


@given(data=st.data())
def test_hostile_protobuf_over_http(http: httpx.Client, data: st.DataObject) -> None:
    valid = _valid_span()
    request = data.draw(hostile_requests(valid))
    response = http.post(
        "/v1/traces", content=request.SerializeToString(), headers={"Content-Type": PROTOBUF}
    )
    answer = _check_http(response)
    if answer is None:  # only a body over the request limit may be refused whole
        assert response.status_code == 413, response.content[:300]
        return
    _check_kept(http, request, valid, answer)


@given(data=st.data())
def test_hostile_protobuf_over_grpc(
    http: httpx.Client, grpc_export: grpc.UnaryUnaryMultiCallable, data: st.DataObject
) -> None:
    valid = _valid_span()
    request = data.draw(hostile_requests(valid))
    try:
        answer = ExportTraceServiceResponse.FromString(
            grpc_export(request.SerializeToString(), timeout=60)
        )
    except grpc.RpcError as error:  # only a message over the request limit may be refused
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error  # type: ignore[attr-defined]
        assert request.ByteSize() > SESSION_MAX_REQUEST_BYTES
        return
    _check_kept(http, request, valid, answer)


@given(data=st.data())
def test_hostile_json(http: httpx.Client, data: st.DataObject) -> None:
    valid = _valid_span()
    request = data.draw(hostile_requests(valid))
    body = orjson.dumps(request_to_json(request))
    response = http.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
    answer = _check_http(response)
    if answer is None:
        assert response.status_code == 413, response.content[:300]
        return
    _check_kept(http, request, valid, answer)


@given(data=st.data())
def test_json_with_wrong_types(http: httpx.Client, data: st.DataObject) -> None:
    """One value anywhere replaced by one of the wrong type: a 400 naming it, or the span
    holding it rejected; never a 5xx."""
    request = data.draw(hostile_requests(_valid_span()))
    document = data.draw(json_mutations(request_to_json(request)))
    response = http.post(
        "/v1/traces", content=orjson.dumps(document), headers={"Content-Type": "application/json"}
    )
    _check_http(response)


@given(data=st.data(), cut=st.floats(0.0, 1.0))
def test_truncated_and_corrupted_protobuf(
    http: httpx.Client, grpc_export: grpc.UnaryUnaryMultiCallable, data: st.DataObject, cut: float
) -> None:
    payload = data.draw(hostile_requests(_valid_span())).SerializeToString()
    broken = bytearray(payload[: int(len(payload) * cut)])
    if broken and data.draw(st.booleans()):
        position = data.draw(st.integers(0, len(broken) - 1))
        broken[position] ^= data.draw(st.integers(1, 255))
    response = http.post("/v1/traces", content=bytes(broken), headers={"Content-Type": PROTOBUF})
    _check_http(response)
    try:
        grpc_export(bytes(broken), timeout=60)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error  # type: ignore[attr-defined]
        assert error.details(), error  # type: ignore[attr-defined]


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (protobuf's Python classes refuse to build one this
    deep, so it is written by hand)."""
    return _VarintBytes(number << 3 | 2) + _VarintBytes(len(payload)) + payload


def _deep_span_bytes(span: Span, depth: int) -> bytes:
    value = AnyValue(string_value="bottom").SerializeToString()
    for _ in range(depth):
        value = _field(5, _field(1, value))  # AnyValue.array_value -> ArrayValue.values
    attribute = _field(1, b"deep") + _field(2, value)  # KeyValue
    return span.SerializeToString() + _field(9, attribute)  # Span.attributes


def test_deeply_nested_values(http: httpx.Client) -> None:
    """Protobuf's parser refuses messages nested past its limit: a 400 with a message (the
    request cannot be read at all); in JSON, the span that holds it is rejected alone."""
    valid = _valid_span()
    spans = _field(2, _deep_span_bytes(make_span(random_trace_id(), "deep"), 200)) + _field(
        2, valid.SerializeToString()
    )
    payload = _field(1, _field(2, spans))  # request.resource_spans[0].scope_spans[0].spans
    response = http.post("/v1/traces", content=payload, headers={"Content-Type": PROTOBUF})
    assert response.status_code == 400 and _status_message(response)
    document = request_to_json(make_request([valid]))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    nested: object = {"stringValue": "bottom"}
    for _ in range(70):  # 210 JSON levels: within orjson's limit, past ours
        nested = {"arrayValue": {"values": [nested]}}
    spans.insert(0, {"traceId": "ab" * 16, "spanId": "cd" * 8, "attributes": [
        {"key": "deep", "value": nested}]})  # fmt: skip
    response = http.post(
        "/v1/traces", content=orjson.dumps(document), headers={"Content-Type": "application/json"}
    )
    answer = _check_http(response)
    assert answer is not None and answer.partial_success.rejected_spans == 1
    assert "levels deep" in answer.partial_success.error_message
    _check_kept(http, make_request([valid, valid]), valid, answer)


def test_server_healthy_and_deriving_afterwards(
    agentguide_server: RunningServer, http: httpx.Client
) -> None:
    """Runs last in this module: after every hostile request above, a healthy agent trace is
    stored and derived into a run."""
    assert http.get("/healthz").status_code == 200
    assert http.get("/readyz").status_code == 200
    trace_id = random_trace_id()
    agent = make_span(
        trace_id,
        "invoke_agent hostile-check",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "hostile-check"},
    )
    tool = make_span(
        trace_id,
        "execute_tool lookup",
        parent_span_id=agent.span_id,
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
    )
    response = http.post(
        "/v1/traces",
        content=make_request([agent, tool]).SerializeToString(),
        headers={"Content-Type": PROTOBUF},
    )
    assert response.status_code == 200
    wait_derived(agentguide_server.database_url or "", timeout=60)
    runs = http.get("/v1/runs", params={"trace_id": trace_id.hex()}).json()
    assert [run["agent"]["name"] for run in runs["items"]] == ["hostile-check"]
