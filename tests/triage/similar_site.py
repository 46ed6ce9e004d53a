"""A server on the embedded PostgreSQL (pgvector) with runs that fail in two distinct ways, and
waits for their embeddings. Shared by the similar-runs API and viewer tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from agentguide.embeddings import similar_runs_reason
from tests.api.builders import T0, AgentRun, Tool, send_runs
from tests.support import PostgresServer, RunningServer, running_server, wait_derived

AGENT = "research-bot"
OTHER_AGENT = "other-bot"


def search_refused(agent: str, n: int) -> AgentRun:
    message = f"search backend refused the connection (port {8000 + n})"
    return AgentRun(
        agent,
        T0 + n * 60 * 10**9,
        800,
        tools=[Tool("plan", 5, 20), Tool("web_search", 40, 300, ("ConnectionError", message))],
        error=("ConnectionError", f"tool web_search failed: {message}"),
        input=f"Find recent papers on topic {n}",
    )


def deadlock(n: int) -> AgentRun:
    message = f"deadlock detected while updating row {n * 17}"
    return AgentRun(
        AGENT,
        T0 + (100 + n) * 60 * 10**9,
        500,
        tools=[Tool("db_query", 10, 200, ("DatabaseError", message))],
        error=("DatabaseError", f"tool db_query failed: {message}"),
        input=f"Update the ledger for customer {n}",
    )


def success(n: int) -> AgentRun:
    return AgentRun(
        AGENT,
        T0 + (200 + n) * 60 * 10**9,
        900,
        tools=[Tool("plan", 5, 20), Tool("web_search", 40, 300), Tool("summarize", 400, 100)],
        input=f"Summarise the news about subject {n}",
    )


@dataclass
class SimilarSite:
    server: RunningServer
    database_url: str
    search_failures: list[AgentRun]
    deadlocks: list[AgentRun]
    successes: list[AgentRun]
    other_agent: list[AgentRun]

    @property
    def url(self) -> str:
        return self.server.http_url


def wait_embedded(database_url: str, runs: int, timeout: float = 180) -> None:
    """Wait until ``runs`` embeddings are stored and nothing is queued."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            queued = conn.execute("SELECT count(*) FROM embed_queue").fetchone()
            stored = conn.execute("SELECT count(*) FROM run_embeddings").fetchone()
            if queued and stored and queued[0] == 0 and stored[0] >= runs:
                return
            time.sleep(0.2)
    raise TimeoutError("the runs were not embedded in time")


@contextlib.contextmanager
def similar_site(postgres: PostgresServer) -> Iterator[SimilarSite]:
    reason = similar_runs_reason()
    if reason is not None:
        pytest.skip(reason)
    database_url = postgres.create_database()
    search_failures = [search_refused(AGENT, n) for n in range(5)]
    deadlocks = [deadlock(n) for n in range(4)]
    successes = [success(n) for n in range(4)]
    other_agent = [search_refused(OTHER_AGENT, 10 + n) for n in range(2)]
    everything = [*search_failures, *deadlocks, *successes, *other_agent]
    with running_server(database_url) as server:
        send_runs(server.http_url, everything)
        wait_derived(database_url)
        wait_embedded(database_url, len(everything))
        yield SimilarSite(server, database_url, search_failures, deadlocks, successes, other_agent)


def similar(site: SimilarSite, run_id: str, **params: object) -> httpx.Response:
    return httpx.get(f"{site.url}/v1/runs/{run_id}/similar", params=params, timeout=30)
