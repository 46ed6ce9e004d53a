"""Hostile-load benchmark against a real `agentguide serve`: prints figures, asserts nothing.

1. OTLP/JSON decoding speed, before (protobuf's ``json_format``, as the receiver used to) and
   after (orjson and ``receiver.otlp_json``), in seconds per MiB of JSON.
2. ``/healthz`` latency p50/p99/max while one 32 MiB OTLP/JSON body is being ingested.
3. Peak resident memory of the server with its derive worker and JSON decoding process
   (the whole process tree) while 32 Collector-like senders (16 gRPC, 16 HTTP with gzip) each
   send large requests at once, retrying as a Collector does; and that every span arrived.

    python bench/bench_hostile.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

A fresh database is created on that server for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import psutil
from google.protobuf import json_format

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from receiver.otlp_json import request_from_json_bytes, request_to_json
from tests.hostile.collector_like import (
    CollectorLikeGrpcSender,
    CollectorLikeHttpSender,
    RetrySettings,
)
from tests.otlp_helpers import make_request, make_span, random_trace_id
from tests.support import PostgresServer, RunningServer, start_server, stored_span_count

MIB = 1024 * 1024


def json_body(target_bytes: int) -> bytes:
    """An OTLP/JSON export request of about ``target_bytes``: agent-like spans with typed
    attributes and a 600-character payload each."""
    trace_id = random_trace_id()
    spans = []
    size = 0
    while size < target_bytes:
        batch = [
            make_span(
                trace_id,
                f"execute_tool search-{len(spans) + i}",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "search",
                    "input.value": "q" * 600,
                    "gen_ai.usage.input_tokens": 123,
                    "score": 0.5,
                    "ok": True,
                },
            )
            for i in range(1000)
        ]
        spans.extend(batch)
        size = len(orjson.dumps(request_to_json(make_request(spans))))
    return orjson.dumps(request_to_json(make_request(spans)))


def _old_decode(body: bytes) -> ExportTraceServiceRequest:
    """The former receiver's path: hex ids rewritten to base64, then ``json_format``."""
    import base64

    document = orjson.loads(body)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    request = ExportTraceServiceRequest()
    json_format.ParseDict(document, request, ignore_unknown_fields=True)
    return request


def bench_decode(body: bytes) -> None:
    mib = len(body) / MIB
    started = time.perf_counter()
    old = _old_decode(body)
    before = time.perf_counter() - started
    started = time.perf_counter()
    new, rejected = request_from_json_bytes(body)
    after = time.perf_counter() - started
    assert new == old and not rejected
    print(
        f"OTLP/JSON decode of {mib:.1f} MiB: before {before:.2f} s ({before / mib:.3f} s/MiB), "
        f"after {after:.2f} s ({after / mib:.3f} s/MiB)"
    )


def bench_healthz(server: RunningServer, body: bytes) -> None:
    latencies: list[float] = []
    done = threading.Event()
    result: dict[str, object] = {}

    def ingest() -> None:
        response = httpx.post(
            server.http_url + "/v1/traces",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=120,
        )
        result["status"] = response.status_code
        done.set()

    sender = threading.Thread(target=ingest)
    with httpx.Client(base_url=server.http_url, timeout=10) as client:
        client.get("/healthz")
        started = time.perf_counter()
        sender.start()
        while not done.is_set():
            t0 = time.perf_counter()
            client.get("/healthz")
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    sender.join()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"/healthz during a {len(body) / MIB:.1f} MiB OTLP/JSON ingest ({elapsed:.2f} s, answer "
        f"{result['status']}): {len(latencies)} probes, p50 "
        f"{statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )


def _role(member: psutil.Process, server: psutil.Process) -> str:
    if member.pid == server.pid:
        return "server"
    with contextlib.suppress(psutil.Error):
        command = " ".join(member.cmdline())
        if "derive_worker" in command:
            return "derive worker"
        if "multiprocessing" in command:
            return "JSON decoder"
    return "other"


def _rss_by_role(process: psutil.Process) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            role = _role(member, process)
            sizes[role] = sizes.get(role, 0) + member.memory_info().rss
    return sizes


def _tree_rss(process: psutil.Process) -> int:
    return sum(_rss_by_role(process).values())


def bench_memory(server: RunningServer, database_url: str, request_mib: int, batches: int) -> None:
    stored_before = stored_span_count(database_url)
    process = psutil.Process(server.process.pid)
    baseline = _rss_by_role(process)
    peak = sum(baseline.values())
    peaks = dict(baseline)
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            sizes = _rss_by_role(process)
            peak = max(peak, sum(sizes.values()))
            for role, size in sizes.items():
                peaks[role] = max(peaks.get(role, 0), size)
            time.sleep(0.02)

    spans_per_request = 64
    payload_bytes = request_mib * MIB // spans_per_request
    settings = RetrySettings(timeout_s=60.0, max_elapsed_s=600.0)
    refusals: list[str] = []
    dropped = [0]

    def sender(index: int) -> None:
        client: CollectorLikeGrpcSender | CollectorLikeHttpSender
        if index % 2:
            client = CollectorLikeGrpcSender(server.grpc_endpoint, settings)
        else:
            client = CollectorLikeHttpSender(server.http_url, settings)
        try:
            for _ in range(batches):
                trace_id = random_trace_id()
                spans = [
                    make_span(
                        trace_id, "big", attributes={"input.value": os.urandom(payload_bytes)}
                    )
                    for _ in range(spans_per_request)
                ]
                payload = make_request(spans).SerializeToString()
                del spans
                if not client.send(payload):
                    dropped[0] += 1
        finally:
            refusals.extend(client.log.refusals)
            client.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    stop.set()
    watcher.join()
    stored = stored_span_count(database_url) - stored_before
    kinds: dict[str, int] = {}
    for refusal in refusals:
        kind = refusal.split(":", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    print(
        f"32 Collector-like senders x {batches} requests of {request_mib} MiB "
        f"({32 * batches * request_mib} MiB in {elapsed:.1f} s): server tree RSS "
        f"{sum(baseline.values()) / MIB:.0f} MiB before, peak {peak / MIB:.0f} MiB "
        f"(peaks by process: "
        + ", ".join(f"{role} {size / MIB:.0f} MiB" for role, size in sorted(peaks.items()))
        + f"); refusals {kinds}; dropped {dropped[0]}; spans stored {stored} of "
        f"{32 * batches * spans_per_request}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("AGENTGUIDE_TEST_DATABASE_URL"),
        help="an admin URL of a PostgreSQL server (default: an embedded one)",
    )
    parser.add_argument("--json-mib", type=int, default=32, help="size of the big JSON body")
    parser.add_argument("--request-mib", type=int, default=8, help="size of each large request")
    parser.add_argument("--batches", type=int, default=3, help="large requests per sender")
    parser.add_argument("--skip-json", action="store_true", help="only the 32-sender memory figure")
    args = parser.parse_args()
    if args.database_url:
        os.environ["AGENTGUIDE_TEST_DATABASE_URL"] = args.database_url
    postgres = PostgresServer()
    try:
        body = b"" if args.skip_json else json_body(args.json_mib * MIB - 2 * MIB)
        if body:
            bench_decode(body)
        database_url = postgres.create_database()
        server = start_server(database_url)
        try:
            if body:
                bench_healthz(server, body)
            del body
            bench_memory(server, database_url, args.request_mib, args.batches)
        finally:
            server.stop()
    finally:
        postgres.close()


if __name__ == "__main__":
    main()
