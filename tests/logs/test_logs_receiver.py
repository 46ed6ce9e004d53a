"""OTLP logs in over both transports, with the trace path's guarantees: the OTel SDK's real
log exporters, JSON and gzip bodies, partial success, idempotent re-delivery, clear refusals,
and the answer to metrics exports."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import orjson
import pytest
from google.rpc import status_pb2
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests.logs.helpers import (
    logs_request,
    logs_response,
    make_record,
    post_logs,
    stored_block_count,
    stored_records,
)
from tests.otlp_helpers import PROTOBUF, random_span_id, random_trace_id
from tests.support import RunningServer


def _exporter(server: RunningServer, protocol: str, gzip: bool) -> LogRecordExporter:
    if protocol == "grpc":
        return GrpcLogExporter(
            endpoint=server.grpc_endpoint,
            insecure=True,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            timeout=10,
        )
    return HttpLogExporter(
        endpoint=server.http_url + "/v1/logs",
        compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression,
        timeout=10,
    )


@pytest.fixture
def tracer() -> Iterator[TracerProvider]:
    provider = TracerProvider()
    yield provider
    provider.shutdown()


@pytest.mark.parametrize(("protocol", "gzip"), [("grpc", False), ("grpc", True), ("http", True)])
def test_sdk_log_exporters_store_records_whole(
    agentguide_server: RunningServer, tracer: TracerProvider, protocol: str, gzip: bool
) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": "logs-sdk"}))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(_exporter(agentguide_server, protocol, gzip))
    )
    logger = provider.get_logger("tests.logs.sdk", "0.1")
    with tracer.get_tracer("t").start_as_current_span("work") as span:
        logger.emit(
            body={"content": "hello", "parts": [1, 2.5, True]},
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            attributes={"k": "v", "n": 3},
            event_name="gen_ai.user.message",
        )
        context = span.get_span_context()
    logger.emit(body="no span here", severity_number=SeverityNumber.INFO)
    provider.shutdown()

    trace_id = context.trace_id.to_bytes(16, "big")
    records = stored_records(agentguide_server.database_url or "", trace_id)
    assert len(records) == 1
    record = records[0]
    assert record.span_id == context.span_id.to_bytes(8, "big")
    assert record.event_name == "gen_ai.user.message"
    assert record.severity_number == SeverityNumber.WARN.value
    assert record.severity_text == "WARN"
    body = {kv.key: kv.value for kv in record.body.kvlist_value.values}
    assert body["content"].string_value == "hello"
    assert [v.WhichOneof("value") for v in body["parts"].array_value.values] == [
        "int_value",
        "double_value",
        "bool_value",
    ]
    assert {kv.key for kv in record.attributes} == {"k", "n"}
    assert record.observed_time_unix_nano > 0  # the SDK stamps only the observed time


def test_redelivery_is_not_duplicated(agentguide_server: RunningServer) -> None:
    trace_id, span_id = random_trace_id(), random_span_id()
    first = make_record(trace_id, span_id, body="one")
    second = make_record(trace_id, span_id, body="two", time_ns=1_700_000_000_000_000_001)
    for _ in range(2):
        response = post_logs(agentguide_server.http_url, logs_request([first, second]))
        assert response.status_code == 200, response.text
    assert stored_block_count(agentguide_server.database_url or "", trace_id) == 1
    # The same record again, in another batch: stored in a block of its own, read once.
    response = post_logs(agentguide_server.http_url, logs_request([second]), compress=True)
    assert response.status_code == 200
    bodies = [
        r.body.string_value for r in stored_records(agentguide_server.database_url or "", trace_id)
    ]
    assert bodies == ["one", "two"]


def test_partial_success_names_the_bad_records(agentguide_server: RunningServer) -> None:
    trace_id = random_trace_id()
    good = make_record(trace_id, random_span_id(), body="kept")
    bad_trace = make_record(b"\x01\x02", b"", body="short trace id")
    bad_span = make_record(trace_id, b"\x01" * 5, body="short span id")
    orphan_span = make_record(b"", random_span_id(), body="span without trace")
    response = post_logs(
        agentguide_server.http_url, logs_request([good, bad_trace, bad_span, orphan_span])
    )
    assert response.status_code == 200
    partial = logs_response(response).partial_success
    assert partial.rejected_log_records == 3
    assert "trace_id must be empty or 16 bytes, got 2" in partial.error_message
    assert "span_id must be empty or 8 bytes, got 5" in partial.error_message
    assert "span_id is set but trace_id is not" in partial.error_message
    assert len(stored_records(agentguide_server.database_url or "", trace_id)) == 1


def test_json_body_with_hex_ids(agentguide_server: RunningServer) -> None:
    trace_id, span_id = random_trace_id(), random_span_id()
    document = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "j"}}]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "json"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000000",
                                "traceId": trace_id.hex(),
                                "spanId": span_id.hex(),
                                "severityNumber": 17,
                                "body": {"stringValue": "from json"},
                                "eventName": "my.event",
                            },
                            {"traceId": "not hex", "body": {"stringValue": "bad"}},
                        ],
                    }
                ],
            }
        ]
    }
    response = httpx.post(
        agentguide_server.http_url + "/v1/logs",
        content=orjson.dumps(document),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["partialSuccess"]["rejectedLogRecords"] == "1"
    assert "logRecords[1]" in answer["partialSuccess"]["errorMessage"]
    (record,) = stored_records(agentguide_server.database_url or "", trace_id)
    assert record.span_id == span_id
    assert record.body.string_value == "from json"
    assert record.event_name == "my.event"
    assert record.severity_number == 17


def test_bad_bodies_get_a_400_naming_the_problem(agentguide_server: RunningServer) -> None:
    url = agentguide_server.http_url + "/v1/logs"
    response = httpx.post(url, content=b"\xff\xff\xff", headers={"Content-Type": PROTOBUF})
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    assert "not a protobuf ExportLogsServiceRequest" in status.message
    response = httpx.post(url, content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]
    response = httpx.post(url, content=b"[]", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "resourceLogs" in response.json()["message"]
    response = httpx.post(url, content=b"x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_oversize_body_is_refused(agentguide_server: RunningServer) -> None:
    from tests.conftest import SESSION_MAX_REQUEST_BYTES

    record = make_record(random_trace_id(), body="x" * (SESSION_MAX_REQUEST_BYTES + 10))
    response = post_logs(agentguide_server.http_url, logs_request([record]))
    assert response.status_code == 413
    assert "over the limit" in status_pb2.Status.FromString(response.content).message


def test_nul_and_invalid_utf8_bodies_are_stored_as_sent(agentguide_server: RunningServer) -> None:
    trace_id = random_trace_id()
    record = make_record(trace_id, random_span_id(), body="a\x00b", attributes={"k\x00": "v\x00"})
    payload = logs_request([record]).SerializeToString()
    payload = payload.replace(b"a\x00b", b"a\xffb")  # not UTF-8: proto3 says string, senders lie
    response = httpx.post(
        agentguide_server.http_url + "/v1/logs",
        content=payload,
        headers={"Content-Type": PROTOBUF},
    )
    assert response.status_code == 200, response.text
    with_nul = make_record(trace_id, random_span_id(), body="c\x00d", time_ns=5)
    assert post_logs(agentguide_server.http_url, logs_request([with_nul])).status_code == 200
    logs = httpx.get(agentguide_server.http_url + f"/v1/traces/{trace_id.hex()}/logs")
    assert logs.status_code == 200, logs.text
    bodies = sorted(str(item["body"]) for item in logs.json()["logs"])
    assert bodies == ["a\ufffdb", "c\x00d"]


def test_grpc_bad_message_and_metrics(agentguide_server: RunningServer) -> None:
    with grpc.insecure_channel(agentguide_server.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        with pytest.raises(grpc.RpcError) as bad:
            export(b"\xff\xff\xff", timeout=10)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "ExportLogsServiceRequest" in (bad.value.details() or "")
        metrics = channel.unary_unary(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
        )
        with pytest.raises(grpc.RpcError) as refused:
            metrics(b"", timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "traces" in (refused.value.details() or "")
        assert "logs" in (refused.value.details() or "")


def test_http_metrics_get_404_naming_the_signals(agentguide_server: RunningServer) -> None:
    response = httpx.post(
        agentguide_server.http_url + "/v1/metrics",
        content=b"",
        headers={"Content-Type": PROTOBUF},
    )
    assert response.status_code == 404
    status = status_pb2.Status.FromString(response.content)
    assert "/v1/traces" in status.message and "/v1/logs" in status.message


def test_gzip_bomb_is_refused(agentguide_server: RunningServer) -> None:
    import gzip as gzip_module

    from tests.conftest import SESSION_MAX_REQUEST_BYTES

    bomb = gzip_module.compress(b"\x00" * (SESSION_MAX_REQUEST_BYTES * 4))
    response = httpx.post(
        agentguide_server.http_url + "/v1/logs",
        content=bomb,
        headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert "once gunzipped" in status_pb2.Status.FromString(response.content).message


def test_a_large_json_body_is_decoded_out_of_process(agentguide_server: RunningServer) -> None:
    """Bodies from 1 MiB up are decoded in the decoding process: logs there too."""
    trace_id = random_trace_id()
    records = [
        {"traceId": trace_id.hex(), "timeUnixNano": str(1_700_000_000_000_000_000 + n),
         "body": {"stringValue": f"{n:06d}" + "x" * 1000}}
        for n in range(1500)
    ]  # fmt: skip
    document = {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}
    body = orjson.dumps(document)
    assert len(body) > 1024 * 1024
    response = httpx.post(
        agentguide_server.http_url + "/v1/logs",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert len(stored_records(agentguide_server.database_url or "", trace_id)) == 1500
