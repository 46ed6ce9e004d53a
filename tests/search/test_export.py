"""GET /v1/runs/export: JSON Lines of runs with their steps, with the filters of /v1/runs."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest

from storage.export_queries import runs_with_steps
from storage.queries import Queries
from storage.query_records import RunFilters
from storage.store import DEFAULT_PROJECT_ID, Store
from tests.api.builders import HOUR_NS, T0, AgentRun, Tool, send_runs, unique
from tests.support import RunningServer, wait_derived


@pytest.fixture(scope="module")
def runs(agentguide_server: RunningServer) -> list[AgentRun]:
    agent = unique("export-agent")
    runs = [
        AgentRun(
            agent,
            T0 + i * HOUR_NS,
            1000,
            input=f"export question {i}" + (" needle" if i % 2 else ""),
            tools=[Tool(f"tool-{j}", 10 + j * 10, 5) for j in range(i % 3)],
        )
        for i in range(7)
    ]
    send_runs(agentguide_server.http_url, runs)
    wait_derived(agentguide_server.database_url)
    return runs


def export(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    with api.stream("GET", "/v1/runs/export", params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return [orjson.loads(line) for line in response.iter_lines() if line]


def test_every_run_with_its_steps_newest_first(api: httpx.Client, runs: list[AgentRun]) -> None:
    lines = export(api, agent=runs[0].agent)
    assert [line["id"] for line in lines] == [run.id for run in reversed(runs)]
    for line in lines:
        run = next(r for r in runs if r.id == line["id"])
        assert [step["name"] for step in line["steps"]] == [tool.name for tool in run.tools]
        assert [step["index"] for step in line["steps"]] == list(range(len(run.tools)))
        assert line["input"] == run.input
        assert "match" not in line


def test_limit(api: httpx.Client, runs: list[AgentRun]) -> None:
    lines = export(api, agent=runs[0].agent, limit=3)
    assert [line["id"] for line in lines] == [run.id for run in reversed(runs)][:3]


def test_pages_neither_lose_nor_repeat_runs(
    agentguide_server: RunningServer, runs: list[AgentRun]
) -> None:
    """The server reads 200 runs a page; pages of 2 here, over 7 runs."""

    async def collect(limit: int | None) -> list[tuple[str, int]]:
        store = await Store.open(agentguide_server.database_url, max_size=2)
        try:
            queries = Queries(store.pool, DEFAULT_PROJECT_ID)
            filters = RunFilters(agent=runs[0].agent)
            return [
                (run.id, len(steps))
                async for run, steps in runs_with_steps(queries, filters, limit=limit, page_runs=2)
            ]
        finally:
            await store.close()

    def collected(limit: int | None) -> list[tuple[str, int]]:
        # in a thread of its own: another test module's browser may own this thread's loop
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, collect(limit)).result()

    expected = [(run.id, len(run.tools)) for run in reversed(runs)]
    assert collected(None) == expected
    assert collected(5) == expected[:5]


def test_the_filters_of_the_run_list(api: httpx.Client, runs: list[AgentRun]) -> None:
    agent = runs[0].agent
    needles = export(api, agent=agent, q="needle")
    assert [line["id"] for line in needles] == [r.id for r in reversed(runs) if "needle" in r.input]  # type: ignore[operator]
    with_tools = export(api, agent=agent, **{"attr.gen_ai.tool.name": "tool-1"})
    assert {line["id"] for line in with_tools} == {r.id for r in runs if len(r.tools) == 2}
    assert export(api, agent=unique("nobody")) == []


def test_bad_filters_are_rejected_before_streaming(api: httpx.Client) -> None:
    response = api.get("/v1/runs/export", params={"attr.x": "gt:abc"})
    assert response.status_code == 422
    assert "attr.x" in response.text
    response = api.get("/v1/runs/export", params={"limit": 0})
    assert response.status_code == 422
