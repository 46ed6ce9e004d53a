"""A database outage refuses log exports retryably, and the SDK's log exporter delivers once it
is over: nothing acknowledged or retried is lost."""

from __future__ import annotations

import threading

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tests.logs.helpers import logs_request, make_record, post_logs, stored_records
from tests.otlp_helpers import random_trace_id
from tests.support import running_server
from tests.tcp_proxy import TcpProxy

LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def test_outage_is_retryable_and_the_sdk_delivers_after_it(fresh_database_url: str) -> None:
    proxy, proxied_url = TcpProxy.for_database(fresh_database_url)
    try:
        with running_server(proxied_url) as server:
            proxy.cut()
            request = logs_request([make_record(random_trace_id(), body="during")])
            response = post_logs(server.http_url, request)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            with (
                grpc.insecure_channel(server.grpc_endpoint) as channel,
                pytest.raises(grpc.RpcError) as caught,
            ):
                channel.unary_unary(LOGS_EXPORT)(request.SerializeToString(), timeout=30)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            metadata = dict(caught.value.trailing_metadata() or ())
            assert "google.rpc.retryinfo-bin" in metadata

            provider = LoggerProvider(resource=Resource.create({"service.name": "retrying"}))
            exporter = OTLPLogExporter(endpoint=server.grpc_endpoint, insecure=True, timeout=60)
            provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
            threading.Timer(3.0, proxy.restore).start()
            tracer = TracerProvider()
            with tracer.get_tracer("t").start_as_current_span("s") as span:
                provider.get_logger("t").emit(body="kept", event_name="app.note")
                trace_id = span.get_span_context().trace_id.to_bytes(16, "big")
            provider.shutdown()
            assert [r.body.string_value for r in stored_records(fresh_database_url, trace_id)] == [
                "kept"
            ]
            assert httpx.get(server.http_url + "/readyz", timeout=30).status_code == 200
    finally:
        proxy.close()
