"""32 concurrent senders against a server that must push back: nothing is lost, nothing is
stored twice, and every refusal is one a sender retries."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.hostile.collector_like import (
    CollectorLikeGrpcSender,
    CollectorLikeHttpSender,
    SendLog,
)
from tests.otlp_helpers import make_request, make_span, random_trace_id
from tests.support import RunningServer, running_server, stored_span_count

SENDERS = 32
KIB = 1024


def _span_count(database_url: str) -> int:
    return stored_span_count(database_url)


def _run_together(workers: list[Callable[[], None]]) -> None:
    """Start every worker at once; re-raise the first failure."""
    barrier = threading.Barrier(len(workers))
    failures: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        barrier.wait()
        try:
            work()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures[0]


@pytest.fixture
def tight_server(fresh_database_url: str) -> Iterator[RunningServer]:
    """A server whose limits 32 senders of 1 MiB requests are sure to hit."""
    with running_server(
        fresh_database_url,
        "--max-request-bytes",
        str(2 * KIB * KIB),
        "--max-inflight-bytes",
        str(4 * KIB * KIB),
        "--max-concurrent-exports",
        "2",
        "--admission-wait",
        "0.25",
    ) as server:
        yield server


def test_collector_like_senders_lose_nothing(tight_server: RunningServer) -> None:
    """Half over gRPC, half over HTTP (gzip), each retrying only what a Collector retries."""
    batches, spans_per_batch = 4, 100
    logs: list[SendLog] = []

    def sender(index: int) -> Callable[[], None]:
        def work() -> None:
            client: CollectorLikeGrpcSender | CollectorLikeHttpSender
            if index % 2:
                client = CollectorLikeGrpcSender(tight_server.grpc_endpoint)
            else:
                client = CollectorLikeHttpSender(tight_server.http_url)
            logs.append(client.log)
            try:
                for _ in range(batches):
                    trace_id = random_trace_id()
                    spans = [
                        make_span(
                            trace_id, f"s{index}", attributes={"payload": os.urandom(5 * KIB)}
                        )
                        for _ in range(spans_per_batch)
                    ]
                    client.send(
                        make_request(spans, service_name=f"sender-{index}").SerializeToString()
                    )
            finally:
                client.close()

        return work

    _run_together([sender(index) for index in range(SENDERS)])

    refusals = [refusal for log in logs for refusal in log.refusals]
    assert refusals, "the server never pushed back: the test did not test backpressure"
    assert [log.non_retryable for log in logs if log.non_retryable] == []
    assert sum(log.dropped_batches for log in logs) == 0
    assert sum(log.sent_batches for log in logs) == SENDERS * batches
    kinds = {refusal.split(":", 1)[0] for refusal in refusals}
    assert kinds <= {"RESOURCE_EXHAUSTED", "429"}, kinds
    assert _span_count(tight_server.database_url or "") == SENDERS * batches * spans_per_batch


class _ExportFailures(logging.Handler):
    """Records the SDK exporters' 'Failed to export' errors (a batch given up)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


def test_sdk_exporters_lose_nothing(fresh_database_url: str) -> None:
    """The OpenTelemetry SDK's own exporters, 32 processes' worth at once, at the default
    limits: every span arrives once and no exporter gives a batch up."""
    spans_per_sender = 600
    failures = _ExportFailures()
    exporter_logger = logging.getLogger("opentelemetry.exporter")
    exporter_logger.addHandler(failures)
    try:
        with running_server(fresh_database_url) as server:

            def sender(index: int) -> Callable[[], None]:
                def work() -> None:
                    exporter = (
                        GrpcSpanExporter(endpoint=server.grpc_endpoint, insecure=True)
                        if index % 2
                        else HttpSpanExporter(endpoint=server.http_url + "/v1/traces")
                    )
                    provider = TracerProvider(
                        resource=Resource.create({"service.name": f"sdk-sender-{index}"})
                    )
                    provider.add_span_processor(
                        BatchSpanProcessor(exporter, max_export_batch_size=200)
                    )
                    tracer = provider.get_tracer("backpressure-test")
                    payload = "p" * (4 * KIB)
                    for number in range(spans_per_sender):
                        with tracer.start_as_current_span(f"op-{number}") as span:
                            span.set_attribute("input.value", payload)
                    provider.shutdown()

                return work

            _run_together([sender(index) for index in range(SENDERS)])
            assert failures.records == []
            assert _span_count(fresh_database_url) == SENDERS * spans_per_sender
    finally:
        exporter_logger.removeHandler(failures)
