"""Ack means durable: kills, database outages, shutdowns, and the embedded default."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import httpx
import psycopg
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.otlp_helpers import make_request, make_span, post_protobuf, random_trace_id, stored_spans
from tests.support import (
    REPO_ROOT,
    free_port,
    running_server,
    start_server,
    stored_raw_spans,
    wait_until_ready,
)
from tests.tcp_proxy import TcpProxy


def test_acknowledged_span_survives_sigkill(fresh_database_url: str) -> None:
    server = start_server(fresh_database_url)
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "durable"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.grpc_endpoint, insecure=True))
        )
        with provider.get_tracer("t").start_as_current_span("acknowledged") as span:
            trace_id = span.get_span_context().trace_id.to_bytes(16, "big")
        provider.shutdown()  # SimpleSpanProcessor exported synchronously: the export was acked
    finally:
        server.stop(signal.SIGKILL)
    with running_server(fresh_database_url) as restarted:
        stored = stored_spans(restarted.http_url, trace_id)
        assert [entry["span"]["name"] for entry in stored.values()] == ["acknowledged"]


def test_database_outage_is_retryable_then_recovers(fresh_database_url: str) -> None:
    proxy, proxied_url = TcpProxy.for_database(fresh_database_url)
    try:
        with running_server(proxied_url) as server:
            trace_id = random_trace_id()
            assert (
                post_protobuf(
                    server.http_url, make_request([make_span(trace_id, "before")])
                ).status_code
                == 200
            )

            proxy.cut()
            response = post_protobuf(server.http_url, make_request([make_span(trace_id, "during")]))
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert httpx.get(server.http_url + "/readyz", timeout=30).status_code == 503
            assert httpx.get(server.http_url + "/healthz", timeout=30).status_code == 200
            with grpc.insecure_channel(server.grpc_endpoint) as channel:
                export = channel.unary_unary(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
                )
                with pytest.raises(grpc.RpcError) as caught:
                    export(
                        make_request([make_span(trace_id, "during-grpc")]).SerializeToString(),
                        timeout=30,
                    )
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "database is unavailable" in caught.value.details()

            proxy.restore()
            deadline = time.monotonic() + 30
            while True:
                response = post_protobuf(
                    server.http_url, make_request([make_span(trace_id, "after")])
                )
                if response.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert response.status_code == 200
            names = sorted(
                e["span"]["name"] for e in stored_spans(server.http_url, trace_id).values()
            )
            assert names == ["after", "before"]
    finally:
        proxy.close()


def test_sdk_retry_delivers_after_outage(fresh_database_url: str) -> None:
    """The exporter's own retry keeps the data through an outage: nothing is lost."""
    proxy, proxied_url = TcpProxy.for_database(fresh_database_url)
    try:
        with running_server(proxied_url) as server:
            proxy.cut()
            provider = TracerProvider(resource=Resource.create({"service.name": "retrying"}))
            exporter = OTLPSpanExporter(endpoint=server.grpc_endpoint, insecure=True, timeout=60)
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            threading.Timer(3.0, proxy.restore).start()
            with provider.get_tracer("t").start_as_current_span("kept") as span:
                trace_id = span.get_span_context().trace_id.to_bytes(16, "big")
            provider.shutdown()
            stored = stored_spans(server.http_url, trace_id)
            assert [e["span"]["name"] for e in stored.values()] == ["kept"]
    finally:
        proxy.close()


def test_sigterm_lets_inflight_export_finish(fresh_database_url: str) -> None:
    server = start_server(fresh_database_url)
    trace_id = random_trace_id()
    body = make_request([make_span(trace_id, "in-flight")]).SerializeToString()
    with socket.create_connection(("127.0.0.1", server.http_port)) as conn:
        conn.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        conn.sendall(body[5:])
        reply = conn.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert server.process.wait(30) == 0
    (stored,) = stored_raw_spans(fresh_database_url, trace_id)
    assert Span.FromString(stored).name == "in-flight"


def test_embedded_database_by_default(tmp_path: Path) -> None:
    """No database URL: serve starts its own PostgreSQL, keeps data across restarts, stops it."""
    data_dir = tmp_path / "pgdata"
    trace_id = random_trace_id()
    with running_server(None, "--data-dir", str(data_dir)) as server:
        assert (
            post_protobuf(
                server.http_url, make_request([make_span(trace_id, "embedded")])
            ).status_code
            == 200
        )
    assert server.process.returncode == 0
    assert "starting embedded PostgreSQL" in server.log()
    assert not (data_dir / "postmaster.pid").exists(), "embedded PostgreSQL still running"
    with running_server(None, "--data-dir", str(data_dir)) as again:
        assert len(stored_spans(again.http_url, trace_id)) == 1


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentguide.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )


def test_migrate_command_is_idempotent(fresh_database_url: str) -> None:
    migrations = sorted((REPO_ROOT / "storage" / "migrations").glob("*.sql"))
    first = _cli("migrate", "--database-url", fresh_database_url)
    assert first.returncode == 0, first.stderr
    assert f"applied {len(migrations)} migration(s)" in first.stdout
    second = _cli("migrate", "--database-url", fresh_database_url)
    assert second.returncode == 0, second.stderr
    assert "applied 0 migration" in second.stdout
    with psycopg.connect(fresh_database_url) as conn:
        assert conn.execute("SELECT name FROM projects").fetchall() == [("default",)]


def test_unreachable_database_fails_clearly() -> None:
    result = _cli("migrate", "--database-url", f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    assert result.returncode != 0
    assert "connection" in result.stderr.lower()


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_help(command: str) -> None:
    result = _cli(command, "--help")
    assert result.returncode == 0
    assert "--database-url" in result.stdout


def test_server_restart_keeps_serving_same_port(fresh_database_url: str) -> None:
    server = start_server(fresh_database_url)
    server.stop()
    again = start_server(
        fresh_database_url, http_port=server.http_port, grpc_port=server.grpc_port, wait_ready=False
    )
    try:
        wait_until_ready(again)
    finally:
        again.stop()
