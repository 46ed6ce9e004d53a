"""A sender over its key's rate gets 429 / RESOURCE_EXHAUSTED with a retry delay, and the
OpenTelemetry SDK exporters' retries then deliver everything: nothing lost, nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.otlp_helpers import make_request, make_span, random_trace_id
from tests.security.helpers import Key, create_key, grpc_export, post_otlp, sample, scrape
from tests.support import PostgresServer, RunningServer, start_server, stored_span_ids

REQUESTS_PER_S = 2
SPANS_PER_S = 40


@dataclass(frozen=True)
class Limited:
    server: RunningServer
    database_url: str
    http_key: Key
    grpc_key: Key
    admin: Key


@pytest.fixture(scope="module")
def limited(postgres: PostgresServer) -> Iterator[Limited]:
    database_url = postgres.create_database()
    http_key = create_key(database_url, "limited", "ingest", name="http sender")
    grpc_key = create_key(database_url, "limited", "ingest", name="grpc sender")
    admin = create_key(database_url, "limited", "admin", name="scraper")
    server = start_server(
        database_url,
        "--auth",
        "required",
        "--rate-ingest-requests",
        str(REQUESTS_PER_S),
        "--rate-ingest-spans",
        str(SPANS_PER_S),
        "--rate-admin-requests",
        "0",
    )
    try:
        yield Limited(server, database_url, http_key, grpc_key, admin)
    finally:
        server.stop()


def _sdk_spans(count: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("rate-limit-tests")
    with tracer.start_as_current_span("agent run"):
        for index in range(count - 1):
            with tracer.start_as_current_span(f"step {index}"):
                pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def _stored_span_count(database_url: str, trace_ids: set[int]) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id FROM projects WHERE name = 'limited'").fetchone()
    assert row is not None
    wanted = {trace_id.to_bytes(16, "big") for trace_id in trace_ids}
    return sum(
        1 for trace, _ in stored_span_ids(database_url, project_id=row[0]) if trace in wanted
    )


def test_http_over_the_request_rate_gets_429_with_retry_after(limited: Limited) -> None:
    request = make_request([make_span(random_trace_id())])
    statuses = [
        post_otlp(limited.server.http_url, request, limited.http_key.bearer())
        for _ in range(REQUESTS_PER_S + 3)
    ]
    refused = [r for r in statuses if r.status_code == 429]
    assert refused, [r.status_code for r in statuses]
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert "rate" in status_pb2.Status.FromString(refused[0].content).message


def test_grpc_over_the_span_rate_gets_resource_exhausted_with_retry_info(
    limited: Limited,
) -> None:
    request = make_request([make_span(random_trace_id()) for _ in range(SPANS_PER_S)])
    codes = []
    for _ in range(3):
        code, error = grpc_export(limited.server.grpc_endpoint, request, limited.grpc_key.bearer())
        codes.append(code)
        if error is not None:
            break
    assert codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED, codes
    assert error is not None
    trailers = dict(error.trailing_metadata())
    retry_info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert retry_info.retry_delay.ToNanoseconds() > 0
    details = status_pb2.Status.FromString(trailers["grpc-status-details-bin"]).details
    assert details[0].Is(error_details_pb2.RetryInfo.DESCRIPTOR)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_sdk_exporter_retries_deliver_everything_once(limited: Limited, protocol: str) -> None:
    key = limited.http_key if protocol == "http" else limited.grpc_key
    base = limited.server.http_url
    before = scrape(base, limited.admin.bearer())
    if protocol == "http":
        exporter = HttpSpanExporter(
            endpoint=base + "/v1/traces", headers={"authorization": f"Bearer {key.secret}"}
        )
    else:
        exporter = GrpcSpanExporter(
            endpoint=limited.server.grpc_endpoint,
            insecure=True,
            headers={"authorization": f"Bearer {key.secret}"},
        )
    # Six batches of 20 spans, sent back to back: over both 2 requests/s and 40 spans/s.
    batches = [_sdk_spans(20) for _ in range(6)]
    try:
        results = [exporter.export(batch) for batch in batches]
    finally:
        exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS] * len(batches)
    after = scrape(base, limited.admin.bearer())
    refused = sample(
        after, "agentguide_export_requests_total", protocol=protocol, outcome="rate_limited"
    ) - sample(
        before, "agentguide_export_requests_total", protocol=protocol, outcome="rate_limited"
    )
    assert refused >= 1, "the sender was never over its rate"
    trace_ids = {batch[0].context.trace_id for batch in batches}
    assert _stored_span_count(limited.database_url, trace_ids) == 6 * 20
