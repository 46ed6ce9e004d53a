"""Triage benchmark: what the triage extensions cost the deriver, how fast runs are embedded,
and how long the triage routes take.

1. The same agent traces (``bench_query``'s generator: about 11 spans a run, 3% failed runs,
   5% failed tool calls, over ``--days``) are loaded into a fresh database and derived by one
   deriver, without and with the triage extensions (failure signatures' registry, embedding
   queue), ``--rounds`` times each, alternating: spans/s, the best of each.
2. With the embedding model installed and pgvector: the embedding worker's loop
   (``agentguide.embed_worker.embed_batch``, one PyTorch thread) over the queued runs: runs/s.
3. ``agentguide serve`` on the loaded database: p50/p95 of ``/v1/failures`` (24 hours and 30
   days), a failed run's detail and ``/failure``, ``/v1/runs/compare`` of two runs, and
   ``/v1/runs/{id}/similar`` over ``--vectors`` stored embeddings of one agent (random unit
   vectors: only the search is timed).

    python bench/bench_triage.py                                   # the embedded PostgreSQL 16
    python bench/bench_triage.py --database-url postgresql://...   # another server
    python bench/bench_triage.py --spans 100000 --embed 128 --vectors 20000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_query import (  # noqa: E402
    DAY_NS,
    generate_requests,
    recreate_database,
    start_server,
)

from receiver.ingest import prepare_request  # noqa: E402
from storage.database import apply_migrations  # noqa: E402
from storage.derived_extensions import DerivedExtension  # noqa: E402
from storage.deriver import DeriveEngine, derive_all_pending  # noqa: E402
from storage.run_embeddings import (  # noqa: E402
    EmbeddingQueue,
    VectorUnavailable,
    ensure_vector_schema,
    vector_literal,
)
from storage.signature_registry import SignatureRegistry  # noqa: E402
from storage.store import DEFAULT_PROJECT_ID, Store  # noqa: E402
from tests.support import with_database  # noqa: E402


class TimedExtension:
    """An extension whose ``apply`` time (wall and this process's CPU) is added up."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.wall_s = 0.0
        self.cpu_s = 0.0

    async def apply(self, conn: Any, changes: Any) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        await self.inner.apply(conn, changes)
        self.wall_s += time.perf_counter() - wall
        self.cpu_s += time.process_time() - cpu


async def load_and_derive(
    database_url: str, spans: int, days: int, seed: int, extensions: list[DerivedExtension]
) -> float:
    """Write the spans (not timed), then derive them with one engine; spans/s derived."""
    store = await Store.open(database_url, max_size=4)
    try:
        if extensions:
            async with store.pool.connection() as conn:
                try:
                    await ensure_vector_schema(conn, 384)
                except VectorUnavailable as exc:
                    print(f"  ({exc})")
        for request in generate_requests(spans, days, seed, time.time_ns()):
            await store.write_spans(DEFAULT_PROJECT_ID, prepare_request(request).batch)
        engine = DeriveEngine(store.pool, extensions=extensions)
        started, cpu = time.perf_counter(), time.process_time()
        await derive_all_pending(engine)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await store.close()
    for extension in extensions:
        if isinstance(extension, TimedExtension):
            print(
                f"  {extension.name}: {extension.wall_s:.2f} s of {elapsed:.1f} s "
                f"({extension.wall_s / elapsed:.1%}) wall, {extension.cpu_s:.2f} s of "
                f"{cpu:.1f} s ({extension.cpu_s / cpu:.1%}) of the deriver's CPU",
                flush=True,
            )
    return spans / elapsed


def embed_queued(database_url: str, runs: int) -> tuple[float, float] | None:
    """Embed ``runs`` queued runs as the embedding worker does; (load s, runs/s)."""
    from agentguide.embed_worker import embed_batch
    from agentguide.embeddings import Embedder, similar_runs_reason

    reason = similar_runs_reason()
    if reason is not None:
        print(f"  embedding skipped: {reason}")
        return None
    started = time.perf_counter()
    embedder = Embedder(threads=1)
    loaded = time.perf_counter() - started
    done = 0
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('run_embeddings')").fetchone() == (None,):
            print("  embedding skipped: no pgvector table")
            return None
        while done < runs:
            batch = embed_batch(conn, embedder, min(32, runs - done))
            if not batch:
                break
            done += batch
    return loaded, done / (time.perf_counter() - started)


def fake_vectors(database_url: str, count: int, seed: int) -> str | None:
    """``count`` random unit vectors of the busiest agent: its stored runs first, then runs
    made up (a minimal row each); the id of one of its stored runs."""
    rng = random.Random(seed)
    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('run_embeddings')").fetchone() == (None,):
            return None
        agent_row = conn.execute(
            "SELECT agent_name FROM runs GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        assert agent_row is not None
        rows = conn.execute(
            "SELECT trace_id, span_id, start_ns FROM runs WHERE agent_name = %s"
            " AND status IN ('SUCCESS', 'FAILED') LIMIT %s",
            (agent_row[0], count),
        ).fetchall()
        # Runs made up for the purpose (a minimal row each) complete the count.
        now_ns = time.time_ns()
        made_up = [
            (rng.randbytes(16), rng.randbytes(8), now_ns - rng.randrange(DAY_NS))
            for _ in range(count - len(rows))
        ]
        with conn.cursor() as cursor, conn.transaction():
            cursor.executemany(
                "INSERT INTO runs (trace_id, project_id, span_id, start_ns, name, agent_name,"
                " status, mapping_version) VALUES (%s, %s, %s, %s, 'made up', %s, 'SUCCESS', 1)",
                [(t, DEFAULT_PROJECT_ID, s, n, agent_row[0]) for t, s, n in made_up],
            )
        rows += made_up
        with conn.cursor() as cursor, conn.transaction():
            values = []
            for trace_id, span_id, start_ns in rows:
                vector = [rng.gauss(0, 1) for _ in range(384)]
                norm = sum(x * x for x in vector) ** 0.5
                values.append(
                    (DEFAULT_PROJECT_ID, trace_id, span_id, start_ns, agent_row[0], "bench",
                     vector_literal([x / norm for x in vector]))
                )  # fmt: skip
            cursor.executemany(
                "INSERT INTO run_embeddings (project_id, trace_id, span_id, start_ns, agent_name,"
                " model_id, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s::vector)"
                " ON CONFLICT (project_id, trace_id, span_id) DO UPDATE SET"
                " embedding = EXCLUDED.embedding, model_id = EXCLUDED.model_id,"
                " agent_name = EXCLUDED.agent_name",
                values,
            )
        conn.execute("ANALYZE run_embeddings")
        trace_id, span_id, _ = rows[0]
        return bytes(trace_id).hex() + bytes(span_id).hex()


def timed(client: httpx.Client, make_url: Callable[[], str], requests: int) -> tuple[float, float]:
    times = []
    for _ in range(requests):
        url = make_url()
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def route_latencies(database_url: str, similar_run: str | None, requests: int) -> None:
    with psycopg.connect(database_url) as conn:

        def ids(query: str) -> list[str]:
            return [row[0] for row in conn.execute(query).fetchall()]

        failed = ids(
            "SELECT encode(trace_id || span_id, 'hex') FROM runs WHERE status = 'FAILED'"
            " AND parent_span_id IS NULL ORDER BY random() LIMIT 200"
        )
        pairs = conn.execute(
            "SELECT encode(a.trace_id || a.span_id, 'hex'), encode(b.trace_id || b.span_id, 'hex')"
            " FROM (SELECT * FROM runs WHERE name <> 'made up' ORDER BY random() LIMIT 200) a"
            " JOIN LATERAL (SELECT * FROM runs b WHERE b.agent_name = a.agent_name"
            " AND b.name <> 'made up' ORDER BY random() LIMIT 1) b ON true"
        ).fetchall()
    process, base_url = start_server(database_url)
    rng = random.Random(7)
    now = time.time()
    day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86400))
    month = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30 * 86400))
    cases: dict[str, Callable[[], str]] = {
        "GET /v1/failures (24 h)": lambda: f"/v1/failures?since={day}",
        "GET /v1/failures (30 d)": lambda: f"/v1/failures?since={month}",
        "GET /v1/failures (30 d, one agent)": lambda: (
            f"/v1/failures?since={month}&agent=support-agent"
        ),
        "GET /v1/runs/{id} (failed, with failure)": lambda: f"/v1/runs/{rng.choice(failed)}",
        "GET /v1/runs/{id}/failure": lambda: f"/v1/runs/{rng.choice(failed)}/failure",
        "GET /v1/runs/compare": lambda: "/v1/runs/compare?a={}&b={}".format(*rng.choice(pairs)),
    }
    if similar_run is not None:
        cases["GET /v1/runs/{id}/similar (limit 10)"] = lambda: f"/v1/runs/{similar_run}/similar"
    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            for make_url in cases.values():  # warm up
                client.get(make_url())
            if similar_run is not None:
                method = client.get(f"/v1/runs/{similar_run}/similar").json()["search"]
                print(f"similar runs searched: {method}", flush=True)
            print(f"{'route':<44} {'p50 ms':>8} {'p95 ms':>8}")
            for name, make_url in cases.items():
                p50, p95 = timed(client, make_url, requests)
                print(f"{name:<44} {p50:>8.1f} {p95:>8.1f}", flush=True)
    finally:
        process.terminate()
        process.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="an admin URL (default: an embedded PostgreSQL)")
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--embed", type=int, default=256, help="runs embedded for the rate")
    parser.add_argument("--vectors", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--days", type=int, default=1, help="the runs' start times span this")
    parser.add_argument("--rounds", type=int, default=2, help="derivations of each kind")
    args = parser.parse_args()
    embedded: Any = None
    admin_url = args.database_url
    tmp = None
    if admin_url is None:
        import pgserver

        tmp = tempfile.TemporaryDirectory(prefix="bench-triage-pg-")
        embedded = pgserver.get_server(tmp.name, cleanup_mode="stop")
        admin_url = embedded.get_uri()
    try:
        rates: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(args.rounds):
            for label in ("without", "with"):
                extensions: list[DerivedExtension] = (
                    [TimedExtension(SignatureRegistry()), TimedExtension(EmbeddingQueue())]
                    if label == "with"
                    else []
                )
                url = recreate_database(admin_url, f"agentguide_bench_triage_{label}")
                apply_migrations(url)
                rate = asyncio.run(load_and_derive(url, args.spans, args.days, 11, extensions))
                rates[label].append(rate)
                print(f"derived {args.spans:,} spans {label} the triage extensions: "
                      f"{rate:,.0f} spans/s", flush=True)  # fmt: skip
        best = {label: max(values) for label, values in rates.items()}
        print(
            f"best of {args.rounds}: {best['without']:,.0f} spans/s without, "
            f"{best['with']:,.0f} with: the extensions leave the deriver at "
            f"{best['with'] / best['without']:.0%} of its speed",
            flush=True,
        )
        url = with_database(admin_url, "agentguide_bench_triage_with")
        embedded_rate = embed_queued(url, args.embed)
        if embedded_rate is not None:
            loaded, rate = embedded_rate
            print(
                f"embedding: model loaded in {loaded:.1f} s; {rate:.1f} runs/s "
                f"({1000 / rate:.0f} ms a run, one PyTorch thread, batches of 32)",
                flush=True,
            )
        similar_run = fake_vectors(url, args.vectors, 5)
        if similar_run is None:
            print("similar runs not timed: no pgvector")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        route_latencies(url, similar_run, args.requests)
    finally:
        if embedded is not None:
            embedded.cleanup()
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
