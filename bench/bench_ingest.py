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
import psycopg

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


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine, ended backends included (the
    postmaster's reaped children), so that a difference covers the backends of a phase."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if name != "postgres":
            continue
        fields = rest.split()
        total += sum(int(f) for f in fields[11:13])
        if _parent_name(fields[1]) != "postgres":  # the postmaster: its reaped backends too
            total += sum(int(f) for f in fields[13:15])
    return total / os.sysconf("SC_CLK_TCK")


def _parent_name(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_split(server_pid: int) -> dict[str, float]:
    """CPU seconds so far: the server, its derive workers, PostgreSQL, and this benchmark."""
    return {
        "server": cpu_seconds(server_pid),
        "derive workers": sum(cpu_seconds(child) for child in child_pids(server_pid)),
        "PostgreSQL": postgres_cpu_seconds(),
        "senders (this benchmark)": cpu_seconds(os.getpid()),
    }


def describe_rss(pid: int) -> str:
    """Peak RSS of the server process and of its children (derive workers, JSON decoder)."""
    server = peak_rss_mb(pid)
    workers = [peak_rss_mb(child) for child in child_pids(pid)]
    total = server + sum(workers)
    return (
        f"{total:.0f} MB (server {server:.0f} MB, {len(workers)} child processes "
        f"{' + '.join(f'{w:.0f}' for w in workers)} MB)"
    )


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


def traces_requests(
    traces: int, spans_per_request: int, seed: int
) -> list[tuple[bytes, list[bytes]]]:
    """Requests of whole agent traces (1 agent span + 10 children), with their trace ids."""
    rng = random.Random(seed)
    start_ns = time.time_ns() - 3_600 * 10**9
    requests: list[tuple[bytes, list[bytes]]] = []
    spans: list[Span] = []
    ids: list[bytes] = []
    for _ in range(traces):
        trace = agent_trace_spans(rng, start_ns)
        start_ns += 10_000_000
        if spans and len(spans) + len(trace) > spans_per_request:
            requests.append((make_request(spans, service_name="bench").SerializeToString(), ids))
            spans, ids = [], []
        spans.extend(trace)
        ids.append(trace[0].trace_id)
    if spans:
        requests.append((make_request(spans, service_name="bench").SerializeToString(), ids))
    return requests


def finished_traces(conn: Any, trace_ids: list[bytes], since_ns: int) -> set[bytes]:
    """Which of these traces have their runs derived and finished."""
    rows = conn.execute(
        "SELECT DISTINCT trace_id FROM runs"
        " WHERE trace_id = ANY(%s) AND start_ns >= %s AND end_ns IS NOT NULL",
        (trace_ids, since_ns),
    ).fetchall()
    return {bytes(row[0]) for row in rows}


def end_to_end_phase(server: RunningServer, traces: int, senders: int) -> None:
    """Every trace sent as fast as the senders go, over gRPC: acknowledged spans/s, and spans/s
    from the first export until the last run is derived."""
    assert server.database_url is not None
    requests = traces_requests(traces, 500, seed=11)
    spans = traces * 11
    since = time.time_ns() - 2 * 3_600 * 10**9
    cpu_before = cpu_split(server.process.pid)
    started = time.perf_counter()
    acked = run_phase(
        "OTLP/gRPC", lambda: _sender_grpc(server.grpc_endpoint), [b for b, _ in requests], 500,
        senders,
    )  # fmt: skip
    acked_at = time.perf_counter()
    wait_derived(server.database_url, timeout=900)
    derived_at = time.perf_counter()
    cpu_after = cpu_split(server.process.pid)
    print(f"{traces:,} traces, {spans:,} spans, {len(requests)} requests, {senders} gRPC senders")
    print(f"acknowledged       {spans / (acked_at - started):>10,.0f} spans/s ({acked.line()})")
    print(
        f"derived end to end {spans / (derived_at - started):>10,.0f} spans/s "
        f"(first export to last run derived: {derived_at - started:.1f} s)"
    )
    print(f"derived lag after the last acknowledgement: {derived_at - acked_at:.2f} s")
    print(
        "CPU from the first export to the last run derived: "
        + ", ".join(
            f"{name} {cpu_after[name] - cpu_before[name]:.1f} s "
            f"({(cpu_after[name] - cpu_before[name]) / spans * 1e6:.0f} µs/span)"
            for name in cpu_before
        )
    )
    sent = [t for _, ids in requests for t in ids]
    with psycopg.connect(server.database_url) as conn:
        found = finished_traces(conn, sent, since)
    print(f"runs finished: {len(found):,} of {traces:,}")


def paced_phase(server: RunningServer, spans_per_s: int, seconds: int, senders: int) -> None:
    """A steady offered load: p50/p99 of the time from an export's acknowledgement to all of its
    runs being derived (polled every 20 ms)."""
    assert server.database_url is not None
    per_request = 500
    requests = traces_requests(spans_per_s * seconds // 11, per_request, seed=21)
    interval = len(requests) and seconds / len(requests)
    acked: dict[int, float] = {}
    visible: dict[int, float] = {}
    lock = threading.Lock()
    send_done = threading.Event()
    since = time.time_ns() - 2 * 3_600 * 10**9
    started = time.perf_counter()

    def sender(worker: int) -> None:
        send = _sender_grpc(server.grpc_endpoint)
        for index in range(worker, len(requests), senders):
            due = started + index * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            while not send(requests[index][0]):
                time.sleep(0.05)
            with lock:
                acked[index] = time.perf_counter()

    def poller() -> None:
        """Asks only for the traces of acknowledged requests not yet seen, on one connection:
        a poller that re-read every run 50 times a second would take the CPU it measures."""
        assert server.database_url is not None
        with psycopg.connect(server.database_url, autocommit=True) as conn:
            while True:
                with lock:
                    waiting = [i for i in acked if i not in visible]
                pending = [t for i in waiting for t in requests[i][1]]
                found = finished_traces(conn, pending, since) if pending else set()
                now = time.perf_counter()
                with lock:
                    for index in waiting:
                        if all(t in found for t in requests[index][1]):
                            visible[index] = now
                    done = send_done.is_set() and len(visible) == len(requests)
                if done or now - started > seconds + 120:
                    return
                time.sleep(0.02)

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(senders)]
    watcher = threading.Thread(target=poller)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    send_done.set()
    watcher.join()
    delays = sorted((visible[i] - acked[i]) * 1000 for i in visible)
    offered = len(requests) * per_request / (max(acked.values()) - started)
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"offered {offered:,.0f} spans/s for {seconds} s: acknowledgement to runs visible "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {delays[-1]:.0f} ms "
        f"({len(visible)} of {len(requests)} requests seen)"
    )


def rest_phase(server: RunningServer, steps: int) -> None:
    """A REST run growing one step at a time: the cost of a step write at the start and at the
    end (it must not grow with the run)."""
    client = httpx.Client(base_url=server.http_url, timeout=60)
    run = client.post("/v1/runs", json={"agent_name": "rest-bench"}).json()
    latencies = []
    for n in range(steps):
        started = time.perf_counter()
        step = client.post(f"/v1/runs/{run['id']}/steps", json={"tool_name": f"t{n % 5}"})
        client.patch(f"/v1/runs/{run['id']}/steps/{step.json()['id']}", json={"output": "ok"})
        latencies.append((time.perf_counter() - started) * 1000)
    assert server.database_url is not None
    wait_derived(server.database_url, timeout=300)
    first = statistics.median(latencies[:100])
    last = statistics.median(latencies[-100:])
    print(
        f"REST: {steps} steps added then finished one by one: median {first:.1f} ms per step "
        f"for the first 100, {last:.1f} ms for the last 100"
    )


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
    parser.add_argument(
        "--phases",
        default="e2e,paced,rest,sustained,overload,onetrace",
        help="comma-separated: e2e (220,000 spans as fast as possible, until derived), paced "
        "(10,000 spans/s for 60 s), rest (1,000 REST steps), sustained, overload, onetrace",
    )
    parser.add_argument("--traces", type=int, default=20_000, help="traces of the e2e phase")
    parser.add_argument("--paced-rate", type=int, default=10_000, help="spans/s offered")
    parser.add_argument("--paced-seconds", type=int, default=60)
    parser.add_argument("server_args", nargs="*", help="extra `agentguide serve` flags, after --")
    args = parser.parse_args()
    if args.database_url:
        os.environ["AGENTGUIDE_TEST_DATABASE_URL"] = args.database_url
    postgres = PostgresServer()
    try:
        phases = set(args.phases.split(","))
        print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
        for phase, title in (
            ("e2e", "end to end: traces of 11 spans, as fast as possible"),
            ("paced", "a steady offered load"),
            ("rest", "a REST run of many steps"),
        ):
            if phase not in phases:
                continue
            print(f"\n-- {title} --")
            fresh = postgres.create_database()
            phase_server = start_server(fresh, *args.server_args)
            try:
                if phase == "e2e":
                    end_to_end_phase(phase_server, args.traces, args.senders)
                elif phase == "paced":
                    paced_phase(phase_server, args.paced_rate, args.paced_seconds, args.senders)
                else:
                    rest_phase(phase_server, 1000)
                print(f"peak RSS: {describe_rss(phase_server.process.pid)}")
            finally:
                phase_server.stop()
                # its tables' autovacuum would otherwise take the next phase's CPU
                postgres.drop_database(fresh)
        if not phases & {"sustained", "overload", "onetrace"}:
            return 0
        database_url = postgres.create_database()
        server = start_server(database_url, *args.server_args)
        try:
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
