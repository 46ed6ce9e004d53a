"""Ingest benchmark: drives a real `agentguide serve` over OTLP/gRPC and OTLP/HTTP.

Prints sustained committed spans/s, export latency p50/p99 and the server's peak RSS, for
realistic agent traces (1 agent span + 10 tool/LLM spans with 0.2-2 KB payloads, 500 spans per
request, several concurrent senders); then an overload phase (many senders, big requests) to
show that memory stays bounded; then the time to ingest and derive one 5,000-span trace sent
as 500 requests of 10 against the same spans in one request.

    python bench/bench_ingest.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

A fresh database is created on that server for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.otlp_helpers import make_request, make_span
from tests.support import PostgresServer, RunningServer, start_server, wait_derived

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
TOOLS = ["search_web", "get_weather", "convert_units", "lookup_order", "send_email"]
MODELS = ["gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b"]


def _payload(rng: random.Random) -> str:
    size = rng.randint(200, 2000)
    words = ("lorem", "ipsum", "agent", "tool", "weather", "paris", "result", "token")
    text = " ".join(rng.choice(words) for _ in range(size // 6))
    return text[:size]


def agent_trace_spans(rng: random.Random, start_ns: int) -> list[Span]:
    """One agent run: an invoke_agent span with 10 tool and LLM spans below it."""
    trace_id = rng.randbytes(16)
    agent_id = rng.randbytes(8)
    agent_name = f"agent-{rng.randint(1, 5)}"
    spans: list[Span] = []
    attributes: dict[str, Any]
    t = start_ns
    for index in range(10):
        duration = rng.randint(5_000_000, 500_000_000)
        if index % 2 == 0:
            model = rng.choice(MODELS)
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.agent.name": agent_name,
                "gen_ai.usage.input_tokens": rng.randint(50, 3000),
                "gen_ai.usage.output_tokens": rng.randint(5, 800),
                "gen_ai.input.messages": _payload(rng),
                "gen_ai.output.messages": _payload(rng),
            }
            name = f"chat {model}"
            status = Status.STATUS_CODE_UNSET
        else:
            tool = rng.choice(TOOLS)
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool,
                "gen_ai.tool.call.id": rng.randbytes(6).hex(),
                "gen_ai.tool.call.arguments": _payload(rng),
                "gen_ai.tool.call.result": _payload(rng),
            }
            name = f"execute_tool {tool}"
            status = Status.STATUS_CODE_ERROR if rng.random() < 0.05 else Status.STATUS_CODE_UNSET
        spans.append(
            make_span(
                trace_id,
                name,
                span_id=rng.randbytes(8),
                parent_span_id=agent_id,
                attributes=attributes,
                start_ns=t,
                duration_ns=duration,
                status_code=status,
            )
        )
        t += duration
    spans.append(
        make_span(
            trace_id,
            f"invoke_agent {agent_name}",
            span_id=agent_id,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": agent_name,
                "gen_ai.input.messages": _payload(rng),
                "gen_ai.output.messages": _payload(rng),
            },
            start_ns=start_ns,
            duration_ns=t - start_ns + 1000,
        )
    )
    return spans


def build_requests(count: int, spans_per_request: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    bodies = []
    start_ns = time.time_ns() - 86_400 * 10**9
    for _ in range(count):
        spans: list[Span] = []
        while len(spans) < spans_per_request:
            spans.extend(agent_trace_spans(rng, start_ns))
            start_ns += 1_000_000_000
        bodies.append(
            make_request(spans[:spans_per_request], service_name="bench").SerializeToString()
        )
    return bodies


@dataclass
class PhaseResult:
    protocol: str
    requests_ok: int
    requests_retryable: int
    spans: int
    elapsed_s: float
    latencies_ms: list[float]

    def line(self) -> str:
        lat = sorted(self.latencies_ms) or [0.0]
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return (
            f"{self.protocol:<14} {self.spans / self.elapsed_s:>10,.0f} spans/s committed"
            f"   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   ok {self.requests_ok}"
            f"   retryable answers {self.requests_retryable}"
        )


def _sender_grpc(endpoint: str) -> Callable[[bytes], bool]:
    channel = grpc.insecure_channel(
        endpoint, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    )
    export = channel.unary_unary(EXPORT_METHOD)

    def send(body: bytes) -> bool:
        try:
            export(body, timeout=60)
            return True
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
                return False
            raise

    return send


def _sender_http(base_url: str) -> Callable[[bytes], bool]:
    client = httpx.Client(timeout=60)

    def send(body: bytes) -> bool:
        response = client.post(
            base_url + "/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
        )
        if response.status_code in (429, 503):
            return False
        response.raise_for_status()
        return True

    return send


def run_phase(
    protocol: str,
    make_sender: Callable[[], Callable[[bytes], bool]],
    bodies: list[bytes],
    spans_per_request: int,
    senders: int,
    retry: bool = True,
) -> PhaseResult:
    queue = list(reversed(bodies))
    lock = threading.Lock()
    latencies: list[float] = []
    counts = {"ok": 0, "retryable": 0}

    def worker() -> None:
        send = make_sender()
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            while True:
                started = time.perf_counter()
                ok = send(body)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if ok:
                        counts["ok"] += 1
                        latencies.append(elapsed)
                    else:
                        counts["retryable"] += 1
                if ok or not retry:
                    break
                time.sleep(0.05)

    threads = [threading.Thread(target=worker) for _ in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return PhaseResult(
        protocol,
        counts["ok"],
        counts["retryable"],
        counts["ok"] * spans_per_request,
        elapsed,
        latencies,
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


def describe_rss(pid: int) -> str:
    """Peak RSS of the server process and of its derive worker, and their sum."""
    server = peak_rss_mb(pid)
    workers = [peak_rss_mb(child) for child in child_pids(pid)]
    total = server + sum(workers)
    return f"{total:.0f} MB (server {server:.0f} MB, derive worker {sum(workers):.0f} MB)"


def one_trace_requests(spans_total: int, per_request: int, seed: int) -> tuple[list[bytes], bytes]:
    """The same deep trace as many small requests and as one request (agent runs nested)."""
    rng = random.Random(seed)
    trace_id = rng.randbytes(16)
    root_id = rng.randbytes(8)
    start = time.time_ns() - 3600 * 10**9
    spans = [
        make_span(
            trace_id,
            "invoke_agent big-agent",
            span_id=root_id,
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "big-agent"},
            start_ns=start,
            duration_ns=10**12,
        )
    ]
    parents = [root_id]
    attributes: dict[str, Any]
    while len(spans) < spans_total:
        span_id = rng.randbytes(8)
        if len(spans) % 50 == 1:
            attributes = {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": f"sub-agent-{len(spans) % 7}",
            }
            parents.append(span_id)
            name = "invoke_agent sub"
        elif len(spans) % 2:
            attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}
            name = "execute_tool t"
        else:
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "m",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 2,
            }
            name = "chat m"
        spans.append(
            make_span(
                trace_id,
                name,
                span_id=span_id,
                parent_span_id=rng.choice(parents[-3:]),
                attributes=attributes,
                start_ns=start + len(spans) * 1000,
            )
        )
    rng.shuffle(spans)
    small = [
        make_request(spans[i : i + per_request]).SerializeToString()
        for i in range(0, len(spans), per_request)
    ]
    whole = make_request(spans).SerializeToString()
    return small, whole


def time_until_derived(
    server: RunningServer, bodies: list[bytes], senders: int
) -> tuple[float, float]:
    """Seconds until every request was acknowledged, and until the trace was derived."""
    started = time.perf_counter()
    run_phase("trace", lambda: _sender_http(server.http_url), bodies, 1, senders)
    acknowledged = time.perf_counter() - started
    assert server.database_url is not None
    wait_derived(server.database_url, timeout=600)
    return acknowledged, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("AGENTGUIDE_TEST_DATABASE_URL"),
        help="a PostgreSQL server to create the bench database on (default: embedded)",
    )
    parser.add_argument("--requests", type=int, default=120, help="requests per protocol")
    parser.add_argument("--spans-per-request", type=int, default=500)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--overload-senders", type=int, default=24)
    parser.add_argument("server_args", nargs="*", help="extra `agentguide serve` flags, after --")
    args = parser.parse_args()
    if args.database_url:
        os.environ["AGENTGUIDE_TEST_DATABASE_URL"] = args.database_url
    postgres = PostgresServer()
    try:
        database_url = postgres.create_database()
        server = start_server(database_url, *args.server_args)
        try:
            print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
            print(f"building {args.requests * 2} requests of {args.spans_per_request} spans ...")
            bodies = build_requests(args.requests * 2, args.spans_per_request, seed=1)
            sizes = [len(b) for b in bodies]
            print(f"request size: avg {statistics.mean(sizes) / 1024:.0f} KiB")
            warmup = build_requests(4, args.spans_per_request, seed=99)
            run_phase("warmup", lambda: _sender_grpc(server.grpc_endpoint), warmup, 1, 2)
            print("\n-- sustained ingest (spans committed before each answer) --")
            grpc_result = run_phase(
                "OTLP/gRPC",
                lambda: _sender_grpc(server.grpc_endpoint),
                bodies[: args.requests],
                args.spans_per_request,
                args.senders,
            )
            print(grpc_result.line())
            http_result = run_phase(
                "OTLP/HTTP",
                lambda: _sender_http(server.http_url),
                bodies[args.requests :],
                args.spans_per_request,
                args.senders,
            )
            print(http_result.line())
            lag_started = time.perf_counter()
            wait_derived(database_url, timeout=600)
            lag = time.perf_counter() - lag_started
            print(f"runs and steps derived {lag:.2f} s after the last acknowledgement")
            print(f"peak RSS after sustained phases: {describe_rss(server.process.pid)}")

            print("\n-- overload: many senders, 8 MB requests, no client-side pacing --")
            big = build_requests(args.overload_senders * 2, 4000, seed=7)
            overload = run_phase(
                "OTLP/gRPC",
                lambda: _sender_grpc(server.grpc_endpoint),
                big,
                4000,
                args.overload_senders,
            )
            print(overload.line())
            wait_derived(database_url, timeout=600)
            print(f"peak RSS after overload: {describe_rss(server.process.pid)}")
        finally:
            server.stop()

        print("\n-- one 5,000-span trace: 500 requests of 10 vs 1 request (until derived) --")
        small, whole = one_trace_requests(5000, 10, seed=3)
        for label, bodies_for_trace, senders in (
            ("1 request of 5000", [whole], 1),
            ("500 requests of 10", small, 4),
        ):
            fresh = postgres.create_database()
            trace_server = start_server(fresh)
            try:
                acknowledged, derived = time_until_derived(trace_server, bodies_for_trace, senders)
                print(f"{label:<20} acknowledged {acknowledged:6.2f} s   derived {derived:6.2f} s")
            finally:
                trace_server.stop()
    finally:
        postgres.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
