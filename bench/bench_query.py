"""Query API benchmark: bytes stored per span, and p50/p95 of every API query the viewer makes,
over ~1,000,000 stored spans (``--spans 10000000`` for ten million).

Loads agent traces (about 11 spans per run, several agents, 30 days ending now, each run in one
of 20,000 sessions and of 2,000 users) through the store's writer exactly as ingest does
(``prepare_request`` + ``Store.write_spans``; the day partitions made first, as the server's
partition keeper does) and derives them with the derivers' engine in ``--derive-workers``
processes (default 2, one shard each) into a fresh database; prints the bytes stored per span
(tables and indexes, against the OTLP bytes of the requests); runs the compaction pass
(``storage/compaction.py``: the B-tree indexes of each past day's partitions rebuilt, then
VACUUM) and prints the bytes per span again: the load writes 30 days at once, so this is the
pass the server runs as each day ends (``--skip-compaction`` leaves it out); times each
endpoint over HTTP right after that, then again after VACUUM ANALYZE. Search cases
(docs/search.md): attribute filters (equality on a span and a resource attribute, a numeric
comparison, existence with an agent) and text searches (a rarer word and two of one document
drawn from the stored search documents, one within the last day, a word found in most runs, a
rarer word with sort=start).

    python bench/bench_query.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    python bench/bench_query.py --database-url ... --spans 100000      # a quick run
    python bench/bench_query.py --database-url ... --spans 10000000    # ten million
    python bench/bench_query.py --database-url ... --reuse             # skip the load

The database (``--database-name``, default agentguide_bench) is dropped and re-created unless
``--reuse`` is given; it is kept afterwards so that later runs can reuse it (``--reuse`` first
derives what a load cut short left dirty, prints the bytes stored per span, compacts what is
due and prints them again, and measures as it finds the database, then after VACUUM ANALYZE).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench_ingest import postgres_cpu_seconds  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status  # noqa: E402

from agentguide.memory import (  # noqa: E402
    DERIVER_YOUNG_COLLECTION_THRESHOLD,
    SurvivorFreezer,
    tune_garbage_collector,
)
from mapping.pricing.catalogue import load_price_data  # noqa: E402
from mapping.search_document import fold  # noqa: E402
from receiver.ingest import prepare_request  # noqa: E402
from storage.compaction import compact_database  # noqa: E402
from storage.database import apply_migrations  # noqa: E402
from storage.deriver import DeriveEngine, derive_all_pending  # noqa: E402
from storage.partitions import day_of, ensure_partitions  # noqa: E402
from storage.search_index import decode_document  # noqa: E402
from storage.store import DEFAULT_PROJECT_ID, Store  # noqa: E402
from tests.support import with_database  # noqa: E402

DAY_NS = 86_400 * 10**9
HOUR_NS = 3_600 * 10**9
MS_NS = 10**6
SPANS_PER_REQUEST = 5_000


@dataclass(frozen=True)
class AgentProfile:
    name: str
    service: str
    model: str
    tools: tuple[str, ...]
    weight: int


AGENTS = (
    AgentProfile("support-agent", "support-svc", "gpt-4o-mini",
                 ("lookup_order", "refund_order", "send_email", "search_kb"), 5),
    AgentProfile("research-agent", "research-svc", "claude-3-5-sonnet",
                 ("search_web", "fetch_page", "summarize_pdf"), 3),
    AgentProfile("weather-agent", "weather-svc", "gpt-4o-mini",
                 ("get_weather", "get_forecast", "convert_units"), 3),
    AgentProfile("billing-agent", "billing-svc", "gpt-4.1",
                 ("get_invoice", "charge_card", "lookup_order"), 2),
    AgentProfile("coding-agent", "coding-svc", "claude-3-7-sonnet",
                 ("run_tests", "read_file", "write_file", "search_code"), 2),
    AgentProfile("triage-agent", "triage-svc", "llama-3.1-70b",
                 ("classify", "route_ticket"), 1),
)  # fmt: skip

TOOL_ERRORS = (
    ("TimeoutError", "the upstream service did not answer within 10 s"),
    ("HTTPError", "502 Bad Gateway"),
    ("ValueError", "invalid argument: id must be numeric"),
)


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _span(
    rng: random.Random,
    trace_id: bytes,
    parent: bytes,
    name: str,
    start_ns: int,
    end_ns: int,
    attributes: dict[str, str | int],
    error: tuple[str, str] | None = None,
) -> Span:
    span = Span(
        trace_id=trace_id,
        span_id=rng.randbytes(8),
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
    )
    span.attributes.extend(_kv(k, v) for k, v in attributes.items())
    if error is not None:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error[1]))
        span.attributes.append(_kv("error.type", error[0]))
    return span


_COMMON_WORDS = (  # noqa: SIM905
    "the of and to a in is it you that was for on are with as his they be at one "
    "have this from or had by but what some we can out other were all there when up "
    "use your how said an each she which do their time if will way about many then "
    "them would like so these her long make see him two has look more day could go "
    "come did number no most people my over know water than call first who may down "
    "side been now find order refund invoice weather city forecast search result "
    "page customer account ticket flight hotel payment "
).split()
_RARE_WORDS: list[str] = []


def prose(rng: random.Random, size: int) -> str:
    """Text like a prompt or an answer: frequent words, names and ids, about ``size`` chars."""
    if not _RARE_WORDS:
        letters = "abcdefghijklmnopqrstuvwxyz"
        words = random.Random(0)
        _RARE_WORDS.extend(
            "".join(words.choice(letters) for _ in range(words.randint(4, 11)))
            for _ in range(20_000)
        )
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_COMMON_WORDS) if rng.random() < 0.7 else rng.choice(_RARE_WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def _messages(rng: random.Random, *parts: tuple[str, int, int]) -> str:
    return json.dumps(
        [
            {"role": role, "parts": [{"type": "text", "content": prose(rng, rng.randint(lo, hi))}]}
            for role, lo, hi in parts
        ]
    )


def agent_run(rng: random.Random, agent: AgentProfile, start_ns: int) -> list[Span]:
    """One run: an invoke_agent span over LLM calls (each with an HTTP client span) and tool
    calls; about 11 spans, 3% whole-run failures and 5% tool failures. Prompts, answers and
    tool arguments and results are text of realistic sizes (about 1.5 KB of protobuf a span
    on average, as agents with content capture on send)."""
    trace_id = rng.randbytes(16)
    spans: list[Span] = []
    root = Span()  # placeholder, filled in once the children's times are known
    root_id = rng.randbytes(8)
    t = start_ns + rng.randint(1, 50) * MS_NS
    failed_tool: tuple[str, str] | None = None
    for turn in range(rng.randint(2, 5)):
        llm_end = t + rng.randint(300, 4000) * MS_NS
        llm = _span(
            rng, trace_id, root_id, f"chat {agent.model}", t, llm_end,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": agent.model,
                "gen_ai.usage.input_tokens": rng.randint(200, 4000),
                "gen_ai.usage.output_tokens": rng.randint(20, 800),
                "gen_ai.input.messages": _messages(
                    rng, ("system", 300, 1000), ("user", 150, 1900)
                ),
                "gen_ai.output.messages": _messages(rng, ("assistant", 50, 1200)),
            },
        )  # fmt: skip
        spans.append(llm)
        spans.append(
            _span(rng, trace_id, llm.span_id, "POST", t + MS_NS, llm_end - MS_NS,
                  {"http.request.method": "POST", "server.address": "api.example.com"})
        )  # fmt: skip
        t = llm_end
        if turn == 0 or rng.random() < 0.8:
            tool = rng.choice(agent.tools)
            tool_end = t + rng.randint(5, 2500) * MS_NS
            error = rng.choice(TOOL_ERRORS) if rng.random() < 0.05 else None
            spans.append(
                _span(
                    rng, trace_id, root_id, f"execute_tool {tool}", t, tool_end,
                    {
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": tool,
                        "gen_ai.tool.call.id": rng.randbytes(6).hex(),
                        "gen_ai.tool.call.arguments": json.dumps(
                            {"id": rng.randint(1, 99999), "query": prose(rng, rng.randint(20, 300))}
                        ),
                        "gen_ai.tool.call.result": (
                            prose(rng, rng.randint(100, 1500)) if error is None else ""
                        ),
                    },
                    error,
                )
            )  # fmt: skip
            failed_tool = failed_tool or error
            t = tool_end
    run_error = None
    if rng.random() < 0.03:
        run_error = ("RateLimitError", "429 Too Many Requests")
    elif failed_tool is not None and rng.random() < 0.5:
        run_error = failed_tool
    attributes: dict[str, str | int] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent.name,
        "gen_ai.agent.id": "agt_" + agent.name,
        "input.value": prose(rng, rng.randint(40, 600)),
        "output.value": prose(rng, rng.randint(40, 900)),
        "session.id": f"sess-{rng.randint(1, 20_000)}",
        "user.id": f"user-{rng.randint(1, 2_000)}",
    }
    root.CopyFrom(
        _span(rng, trace_id, b"", f"invoke_agent {agent.name}", start_ns,
              t + rng.randint(1, 30) * MS_NS, attributes, run_error)
    )  # fmt: skip
    root.span_id = root_id
    return [root, *spans]


def generate_requests(
    total_spans: int, days: int, seed: int, end_ns: int
) -> Iterator[ExportTraceServiceRequest]:
    """Export requests of about SPANS_PER_REQUEST spans, one resource per agent."""
    rng = random.Random(seed)
    weights = [agent.weight for agent in AGENTS]
    window = days * DAY_NS
    produced = 0
    while produced < total_spans:
        by_agent: dict[AgentProfile, list[Span]] = {}
        batch = 0
        while batch < SPANS_PER_REQUEST and produced + batch < total_spans:
            agent = rng.choices(AGENTS, weights)[0]
            start = end_ns - window + rng.randrange(window - 60 * 10**9)
            spans = agent_run(rng, agent, start)
            by_agent.setdefault(agent, []).extend(spans)
            batch += len(spans)
        produced += batch
        request = ExportTraceServiceRequest()
        for agent, spans in by_agent.items():
            resource_spans = request.resource_spans.add()
            resource_spans.resource.attributes.append(_kv("service.name", agent.service))
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = "bench"
            scope_spans.spans.extend(spans)
        yield request


def derive_shard(database_url: str, shard: int, shards: int) -> int:
    """Derive one shard's pending traces in a process of its own, as a derive worker does;
    the traces derived."""

    async def derive() -> int:
        store = await Store.open(database_url, max_size=2)
        load_price_data()
        tune_garbage_collector(DERIVER_YOUNG_COLLECTION_THRESHOLD)  # as a derive worker does
        engine = DeriveEngine(store.pool, shard=(shard, shards))
        try:
            return await derive_all_pending(engine, SurvivorFreezer().after_batch)
        finally:
            await store.close()

    return asyncio.run(derive())


def _per_span(seconds: float, spans: int | None) -> str:
    return f" ({seconds / spans * 1e6:.0f} µs/span)" if spans else ""


def derive_pending(database_url: str, workers: int, spans: int | None = None) -> None:
    """Derive every dirty trace in ``workers`` processes, one shard each; print the speed."""
    started = time.perf_counter()
    postgres_before = postgres_cpu_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        shards = [pool.submit(derive_shard, database_url, i, workers) for i in range(workers)]
        traces = sum(shard.result() for shard in shards)
    elapsed = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    derive_cpu = (children.ru_utime + children.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    postgres_cpu = postgres_cpu_seconds() - postgres_before
    speed = f", {spans / elapsed:,.0f} spans/s" if spans else ""
    print(f"derived {traces:,} traces in {elapsed:.1f} s ({traces / elapsed:,.0f} traces/s{speed})")
    print(
        f"CPU while deriving: derive processes {derive_cpu:.1f} s{_per_span(derive_cpu, spans)}, "
        f"PostgreSQL {postgres_cpu:.1f} s{_per_span(postgres_cpu, spans)}"
    )


async def load(database_url: str, spans: int, days: int, seed: int, workers: int) -> int:
    """Write the spans, then derive them in ``workers`` processes; the OTLP bytes of the
    requests."""
    store = await Store.open(database_url, max_size=4)
    received_bytes = 0
    try:
        now_ns = time.time_ns()
        async with store.pool.connection() as conn:
            await ensure_partitions(
                conn, range(day_of(now_ns - (days + 1) * DAY_NS), day_of(now_ns) + 1)
            )
        started = time.perf_counter()
        written = 0
        pending: set[asyncio.Task[None]] = set()
        for request in generate_requests(spans, days, seed, now_ns):
            received_bytes += request.ByteSize()
            batch = prepare_request(request).batch
            if len(pending) >= 2:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            pending.add(asyncio.create_task(store.write_spans(DEFAULT_PROJECT_ID, batch)))
            written += len(batch)
            if written % 100_000 < SPANS_PER_REQUEST:
                rate = written / (time.perf_counter() - started)
                print(f"  {written:>9,} spans written ({rate:,.0f}/s)", flush=True)
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - started
        print(f"wrote {written:,} spans in {elapsed:.1f} s ({written / elapsed:,.0f} spans/s)")
        derive_pending(database_url, workers, written)
    finally:
        await store.close()
    return received_bytes


_SIZE_FAMILIES = (
    ("raw spans", "spans"),
    ("runs", "runs"),
    ("steps", "steps"),
    ("rollups", "rollup_"),
    ("sessions and users", "sessions|users|user_agents"),
    ("trace registry", "traces"),
    ("resources and scopes", "resources|scopes"),
    ("search documents", "run_search"),
)


def storage_sizes(database_url: str) -> dict[str, int]:
    """Bytes of each family of tables, partitions, TOAST and indexes included."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).fetchall()
    sizes: dict[str, int] = {}
    for family, prefix in _SIZE_FAMILIES:
        names = prefix.split("|")
        sizes[family] = sum(
            size
            for relname, size in rows
            if any(
                relname == name
                or relname.startswith(name + "_")
                or (relname.startswith(name) and name.endswith("_"))
                for name in names
            )
        )
    sizes["everything"] = sum(size for _, size in rows)
    return sizes


def print_sizes(sizes: dict[str, int], spans: int) -> None:
    for family, size in sizes.items():
        print(f"  {family:<22} {size / max(1, spans):>7,.0f} bytes per span")


def compact(database_url: str, spans: int, received: int | None) -> None:
    """The compaction pass the server runs once each day is over, for every past day at once;
    then the bytes stored per span again."""
    started = time.perf_counter()
    done = asyncio.run(compact_database(database_url))
    elapsed = time.perf_counter() - started
    print(
        f"\ncompaction: {len(done.compacted)} day partitions in {elapsed:.1f} s, "
        f"{done.bytes_before:,} -> {done.bytes_after:,} bytes"
    )
    sizes = storage_sizes(database_url)
    against = f", {sizes['everything'] / received:.2f}x the OTLP received" if received else ""
    print(
        f"stored after compaction: {sizes['everything']:,} "
        f"({sizes['everything'] / max(1, spans):,.0f} per span{against})"
    )
    print_sizes(sizes, spans)


def recreate_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(admin_url, name)


def database_in(admin_url: str, name: str) -> str:
    return with_database(admin_url, name)


@dataclass
class Sample:
    """Real values to filter on, drawn from the loaded data."""

    agents: list[str]
    tools: list[str]
    trace_ids: list[str]
    run_ids: list[str]
    sessions: list[str]
    users: list[str]
    step_ids: list[str] = field(default_factory=list)  # run id then step id, 96 hex
    counts: dict[str, int] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)  # rarer words of stored search documents
    word_pairs: list[str] = field(default_factory=list)  # two of one document, "a b"


def _search_words(documents: list[str]) -> tuple[list[str], list[str]]:
    """Words of 7 letters or more that are not among the common ones, one by one and in pairs
    from one document: what a person would search for."""
    common = set(_COMMON_WORDS)
    words: list[str] = []
    pairs: list[str] = []
    for document in documents:
        found = [
            w for w in document.replace('"', " ").split()
            if len(w) >= 7 and w.isalpha() and w not in common
        ]  # fmt: skip
        if found:
            words.append(found[0])
        if len(found) >= 2:
            pairs.append(f"{found[0]} {found[-1]}")
    return words, pairs


def draw_sample(database_url: str) -> Sample:
    with psycopg.connect(database_url) as conn:

        def column(query: str) -> list[str]:
            return [row[0] for row in conn.execute(query).fetchall()]

        counts = {
            table: int(conn.execute(query).fetchone()[0])  # type: ignore[index]
            for table, query in (
                ("spans", "SELECT coalesce(sum(span_count), 0) FROM spans"),
                ("runs", "SELECT count(*) FROM runs"),
                ("steps", "SELECT count(*) FROM steps"),
            )
        }
        documents = conn.execute(
            "SELECT document, body, segments FROM run_search ORDER BY random() LIMIT 500"
        ).fetchall()
        words, pairs = _search_words([fold(decode_document(*row)[0]) for row in documents])
        return Sample(
            agents=column("SELECT DISTINCT agent_name FROM runs"),
            tools=column("SELECT DISTINCT tool_name FROM steps WHERE tool_name IS NOT NULL"),
            trace_ids=column(
                "SELECT encode(trace_id, 'hex') FROM runs ORDER BY random() LIMIT 500"
            ),
            run_ids=column(
                "SELECT encode(trace_id || span_id, 'hex') FROM runs ORDER BY random() LIMIT 500"
            ),
            step_ids=column(
                "SELECT encode(trace_id || run_span_id, 'hex')"
                " || encode(trace_id || span_id, 'hex') FROM steps ORDER BY random() LIMIT 500"
            ),
            sessions=column(
                "SELECT session_id FROM runs WHERE session_id IS NOT NULL"
                " ORDER BY random() LIMIT 500"
            ),
            users=column(
                "SELECT user_id FROM runs WHERE user_id IS NOT NULL ORDER BY random() LIMIT 500"
            ),
            counts=counts,
            words=words,
            word_pairs=pairs,
        )


def start_server(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    http_port, grpc_port = free_port(), free_port()
    log_fd, log_path = tempfile.mkstemp(prefix="bench-query-server-", suffix=".log")
    process = subprocess.Popen(
        [sys.executable, "-m", "agentguide.cli", "serve", "--database-url", database_url,
         "--http-port", str(http_port), "--grpc-port", str(grpc_port), "--log-level", "warning"],
        stdout=log_fd, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
    )  # fmt: skip
    os.close(log_fd)
    base_url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited; log in {log_path}")
        try:
            if httpx.get(base_url + "/readyz", timeout=2).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server not ready; log in {log_path}")


def iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 10**9))


def cases(sample: Sample, client: httpx.Client, now_ns: int) -> dict[str, Callable[[], str]]:
    """Endpoint name -> a function giving a fresh URL for each request."""
    day_ago, month_ago = iso(now_ns - DAY_NS), iso(now_ns - 30 * DAY_NS)
    pick = random.choice
    first_page = client.get("/v1/runs", params={"limit": 50}).json()
    cursor = first_page["next_cursor"]
    session_cursor = client.get("/v1/sessions", params={"limit": 50}).json()["next_cursor"]
    return {
        "healthz (HTTP baseline)": lambda: "/healthz",
        "runs (no filter)": lambda: "/v1/runs",
        "runs ?agent": lambda: f"/v1/runs?agent={pick(sample.agents)}",
        "runs ?status=FAILED": lambda: "/v1/runs?status=FAILED",
        "runs ?since=24h": lambda: f"/v1/runs?since={day_ago}",
        "runs ?until=15d": lambda: f"/v1/runs?until={iso(now_ns - 15 * DAY_NS)}",
        "runs ?trace_id": lambda: f"/v1/runs?trace_id={pick(sample.trace_ids)}",
        "runs ?session_id": lambda: f"/v1/runs?session_id={pick(sample.sessions)}",
        "runs ?user_id": lambda: f"/v1/runs?user_id={pick(sample.users)}",
        "runs ?tool": lambda: f"/v1/runs?tool={pick(sample.tools)}",
        "runs ?min_duration_ms=20000": lambda: "/v1/runs?min_duration_ms=20000",
        "runs ?has_error=true": lambda: "/v1/runs?has_error=true",
        "runs ?cursor (page 2)": lambda: f"/v1/runs?cursor={cursor}",
        "runs ?offset=1000": lambda: "/v1/runs?offset=1000",
        "runs ?agent&status&since": lambda: (
            f"/v1/runs?agent={pick(sample.agents)}&status=FAILED&since={month_ago}"
        ),
        "runs ?attr.session.id=": lambda: f"/v1/runs?attr.session.id={pick(sample.sessions)}",
        "runs ?attr.service.name=": lambda: f"/v1/runs?attr.service.name={pick(AGENTS).service}",
        "runs ?attr.<tokens>=gt:3900": lambda: "/v1/runs?attr.gen_ai.usage.input_tokens=gt:3900",
        "runs ?attr exists&agent": lambda: (
            f"/v1/runs?attr.gen_ai.tool.call.id=*&agent={pick(sample.agents)}"
        ),
        "runs ?q=<rarer word>": lambda: f"/v1/runs?q={pick(sample.words)}",
        "runs ?q=<two words>": lambda: f"/v1/runs?q={pick(sample.word_pairs)}",
        "runs ?q=<word>&since=24h": lambda: f"/v1/runs?q={pick(sample.words)}&since={day_ago}",
        "runs ?q=weather (common)": lambda: "/v1/runs?q=weather",
        "runs ?q=<word>&sort=start": lambda: f"/v1/runs?q={pick(sample.words)}&sort=start",
        "runs/{id}": lambda: f"/v1/runs/{pick(sample.run_ids)}",
        "runs/{id}/timeline": lambda: f"/v1/runs/{pick(sample.run_ids)}/timeline",
        "runs/{id}/steps": lambda: f"/v1/runs/{pick(sample.run_ids)}/steps",
        "runs/{id}/steps/{step_id}": lambda: (lambda ids: f"/v1/runs/{ids[:48]}/steps/{ids[48:]}")(
            pick(sample.step_ids)
        ),
        "sessions (no filter)": lambda: "/v1/sessions",
        "sessions ?agent": lambda: f"/v1/sessions?agent={pick(sample.agents)}",
        "sessions ?user_id": lambda: f"/v1/sessions?user_id={pick(sample.users)}",
        "sessions ?status=failed": lambda: "/v1/sessions?status=failed",
        "sessions ?since=24h": lambda: f"/v1/sessions?since={day_ago}",
        "sessions ?cursor (page 2)": lambda: f"/v1/sessions?cursor={session_cursor}",
        "sessions/{id}": lambda: f"/v1/sessions/{quote(pick(sample.sessions), safe='')}",
        "users (no filter)": lambda: "/v1/users",
        "users ?since=24h": lambda: f"/v1/users?since={day_ago}",
        "users/{id}": lambda: f"/v1/users/{quote(pick(sample.users), safe='')}",
        "agents": lambda: "/v1/agents",
        "tools 24h": lambda: f"/v1/tools?since={day_ago}",
        "tools 30d": lambda: f"/v1/tools?since={month_ago}",
        "tools 30d ?agent": lambda: f"/v1/tools?since={month_ago}&agent={pick(sample.agents)}",
        "summary 24h": lambda: f"/v1/metrics/summary?since={day_ago}",
        "summary 30d": lambda: f"/v1/metrics/summary?since={month_ago}",
        "summary 30d ?agent": lambda: (
            f"/v1/metrics/summary?since={month_ago}&agent={pick(sample.agents)}"
        ),
        "summary 24h exact": lambda: (
            f"/v1/metrics/summary?since={day_ago}&until={iso(now_ns)}&exact=true"
        ),
        "timeseries 24h/5m": lambda: f"/v1/metrics/timeseries?since={day_ago}&bucket=5m",
        "timeseries 30d/1h": lambda: f"/v1/metrics/timeseries?since={month_ago}&bucket=1h",
        "timeseries 30d/1d ?agent": lambda: (
            f"/v1/metrics/timeseries?since={month_ago}&bucket=1d&agent={pick(sample.agents)}"
        ),
    }


REQUEST_TIMEOUT_S = 60.0


def measure(
    base_url: str, sample: Sample, requests: int, only: re.Pattern[str] | None = None
) -> list[tuple[str, float, float, int]]:
    """p50 and p95 of each case, printed as each is done; a case with a request slower than
    ``REQUEST_TIMEOUT_S`` is reported as timed out (infinite) and the next one measured."""
    results = []
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as client:
        for name, url in cases(sample, client, time.time_ns()).items():
            if only is not None and not only.search(name):
                continue
            timings = []
            items = 0
            try:
                for _ in range(5):
                    client.get(url()).raise_for_status()
                for _ in range(requests):
                    started = time.perf_counter()
                    response = client.get(url())
                    timings.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                    body = response.json()
                    listed = ("items", "buckets", "steps", "runs")
                    items = next((len(body[key]) for key in listed if key in body), 1)
            except httpx.TimeoutException:
                results.append((name, math.inf, math.inf, 0))
                print(f"  {name:<30} a request took over {REQUEST_TIMEOUT_S:.0f} s", flush=True)
                continue
            q = statistics.quantiles(timings, n=100, method="inclusive")
            results.append((name, q[49], q[94], items))
            print(f"  {name:<30} {q[49]:>8.1f} {q[94]:>8.1f} {items:>6}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server (admin URL)")
    parser.add_argument("--database-name", default="agentguide_bench")
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--derive-workers", type=int, default=2, help="derive processes")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per case")
    parser.add_argument("--reuse", action="store_true", help="query an already loaded database")
    parser.add_argument("--cases", help="measure only the cases whose names match this regex")
    parser.add_argument(
        "--no-vacuum", action="store_true", help="measure the store as found only (with --reuse)"
    )
    parser.add_argument(
        "--skip-compaction", action="store_true", help="measure without the compaction pass"
    )
    args = parser.parse_args()

    phases = [] if args.no_vacuum and args.reuse else ["after VACUUM ANALYZE"]
    only = re.compile(args.cases) if args.cases else None
    if args.reuse:
        database_url = database_in(args.database_url, args.database_name)
        apply_migrations(database_url)  # as the server does when it starts
        derive_pending(database_url, args.derive_workers)  # a load cut short
        sizes = storage_sizes(database_url)
        with psycopg.connect(database_url) as conn:
            spans = conn.execute("SELECT coalesce(sum(span_count), 0) FROM traces").fetchone()
        stored_spans = int(spans[0]) if spans else 0
        print(f"stored: {sizes['everything']:,} bytes for {stored_spans:,} spans")
        print_sizes(sizes, stored_spans)
        if not args.skip_compaction:
            compact(database_url, stored_spans, None)
        found = "as found" if args.skip_compaction else "as found after the compaction pass"
        phases.insert(0, f"{found} (before VACUUM ANALYZE)")
    else:
        database_url = recreate_database(args.database_url, args.database_name)
        apply_migrations(database_url)
        print(f"loading {args.spans:,} spans over {args.days} days into {args.database_name}")
        received = asyncio.run(
            load(database_url, args.spans, args.days, args.seed, args.derive_workers)
        )
        sizes = storage_sizes(database_url)
        print(
            f"\nOTLP bytes received: {received:,} ({received / args.spans:,.0f} per span); "
            f"stored: {sizes['everything']:,} ({sizes['everything'] / args.spans:,.0f} per span, "
            f"{sizes['everything'] / received:.2f}x)"
        )
        print_sizes(sizes, args.spans)
        if not args.skip_compaction:
            compact(database_url, args.spans, received)
        after = "the load" if args.skip_compaction else "the load and compaction"
        phases.insert(0, f"right after {after}")

    sample = draw_sample(database_url)
    print("stored: " + ", ".join(f"{n:,} {table}" for table, n in sample.counts.items()))
    for phase in phases:
        if phase == "after VACUUM ANALYZE":
            started = time.perf_counter()
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            print(f"\nVACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
        process, base_url = start_server(database_url)
        try:
            results = measure(base_url, sample, args.requests, only)
        finally:
            process.terminate()
            process.wait(30)
        print(f"\n{phase}:\n{'endpoint':<30} {'p50 ms':>8} {'p95 ms':>8} {'items':>6}")
        for name, p50, p95, items in results:
            print(f"{name:<30} {p50:>8.1f} {p95:>8.1f} {items:>6}")
    print(f"\n{args.requests} sequential requests per case over HTTP, after 5 warm-up requests")
    print(f"machine: {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
