"""Re-derivation after a mapping change: the server says when stored runs come from an older
mapping, ``agentguide rederive`` queues them, the derivers take them after live traffic."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import psycopg

from mapping.version import MAPPING_VERSION
from storage.database import apply_migrations
from storage.derive_queue import PostgresDeriveQueue
from storage.store import Store
from tests.otlp_helpers import make_request, make_span, post_protobuf, random_trace_id
from tests.security.helpers import agentguide
from tests.support import PostgresServer, running_server, wait_derived


def _agent_trace(name: str) -> list:  # type: ignore[type-arg]
    trace_id = random_trace_id()
    agent = make_span(
        trace_id,
        f"invoke_agent {name}",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name},
    )
    tool = make_span(
        trace_id,
        "execute_tool t",
        parent_span_id=agent.span_id,
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"},
    )
    return [agent, tool]


def _status(database_url: str) -> dict:  # type: ignore[type-arg]
    result = agentguide("derive", "status", "--json", "--database-url", database_url)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_stale_runs_are_derived_again(fresh_database_url: str) -> None:
    with running_server(fresh_database_url) as server:
        for n in range(20):
            assert (
                post_protobuf(server.http_url, make_request(_agent_trace(f"a{n % 3}"))).status_code
                == 200
            )
        wait_derived(fresh_database_url)
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        conn.execute("UPDATE traces SET mapping_version = %s", (MAPPING_VERSION - 1,))
        conn.execute("UPDATE runs SET agent_name = 'renamed-by-an-old-mapping'")
    assert _status(fresh_database_url)["stale_mapping_traces"] == 20

    with running_server(fresh_database_url) as server:
        assert "older mapping" in server.log()
        queued = agentguide("rederive", "--stale-only", "--database-url", fresh_database_url).stdout
        assert "queued 20 traces" in queued
        httpx.post(server.http_url + "/v1/admin/rederive", json={"stale_only": True})
        deadline = time.monotonic() + 60
        while _status(fresh_database_url)["stale_mapping_traces"]:
            assert time.monotonic() < deadline, "the stale traces were not derived again"
            time.sleep(0.2)
        wait_derived(fresh_database_url)
        agents = {a["name"] for a in httpx.get(server.http_url + "/v1/agents").json()["items"]}
    assert agents == {"a0", "a1", "a2"}
    with psycopg.connect(fresh_database_url) as conn:
        renamed = conn.execute(
            "SELECT count(*) FROM runs WHERE agent_name = 'renamed-by-an-old-mapping'"
        ).fetchone()
    assert renamed == (0,)


def test_live_traces_are_claimed_before_re_derivations(postgres: PostgresServer) -> None:
    database_url = postgres.create_database()
    apply_migrations(database_url)

    async def scenario() -> list[bool]:
        store = await Store.open(database_url, max_size=2)
        queue = PostgresDeriveQueue(store.pool)
        try:
            async with store.pool.connection() as conn:
                for n in range(5):
                    await conn.execute(
                        "INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns,"
                        " background) VALUES (%s, 1, 0, 0, true)",
                        (bytes([n]) * 16,),
                    )
                await conn.execute(
                    "INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns)"
                    " VALUES (%s, 1, 0, 0)",
                    (b"\xff" * 16,),
                )
            async with store.pool.connection() as conn, conn.transaction():
                claimed = await queue.claim(conn, 2, None)
            return [claim.background for claim in claimed]
        finally:
            await store.close()

    backgrounds = asyncio.run(scenario())
    assert sorted(backgrounds) == [False, True], (
        "the live mark first, then the oldest re-derivation"
    )
