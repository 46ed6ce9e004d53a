"""GET /v1/runs/compare through a running server: aligned steps, differences on whole payloads
(mapped again from the raw spans where the stored preview was cut), first divergence."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.api.builders import T0, AgentRun, Llm, Tool, send_runs
from tests.support import PostgresServer, running_server, wait_derived

# Equal for the first 700 characters: the stored step previews (96 characters) cannot tell
# them apart.
LONG_QUERY = '{"q": "' + "refund policy " * 50


@dataclass
class Runs:
    url: str
    a: AgentRun
    b: AgentRun
    c: AgentRun


def planner(
    start_s: int, middle: str, query_end: str, summary: str, extra: bool = False
) -> AgentRun:
    tools = [
        Tool("search", 100, 50, arguments=LONG_QUERY + query_end + '"}'),
        Tool(middle, 200, 80 if middle == "fetch" else 120),
        Tool("summarize", 400, 30, result=summary),
    ]
    if extra:
        tools.append(Tool("notify", 500, 10))
    return AgentRun(
        "planner",
        T0 + start_s * 10**9,
        1000,
        tools=tools,
        llms=[Llm("gpt-4o-mini", 10, 60 + start_s, 100, 20 + start_s)],
    )


@pytest.fixture(scope="module")
def runs(postgres: PostgresServer) -> Iterator[Runs]:
    database_url = postgres.create_database()
    a = planner(1, "fetch", "A", "three refunds")
    b = planner(2, "lookup", "B", "four refunds")
    c = planner(3, "fetch", "A", "three refunds", extra=True)
    with running_server(database_url) as server:
        send_runs(server.http_url, [a, b, c])
        wait_derived(database_url)
        yield Runs(server.http_url, a, b, c)


def compare(runs: Runs, a: str, b: str) -> httpx.Response:
    return httpx.get(f"{runs.url}/v1/runs/compare", params={"a": a, "b": b}, timeout=30)


def test_steps_are_aligned_and_the_first_divergence_found(runs: Runs) -> None:
    response = compare(runs, runs.a.id, runs.b.id)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["a"]["id"] == runs.a.id
    assert answer["b"]["id"] == runs.b.id
    operations = [
        (pair["operation"], pair["a"] and pair["a"]["name"], pair["b"] and pair["b"]["name"])
        for pair in answer["pairs"]
    ]
    assert operations == [
        ("match", "gpt-4o-mini", "gpt-4o-mini"),
        ("match", "search", "search"),
        ("substitute", "fetch", "lookup"),
        ("match", "summarize", "summarize"),
    ]
    assert (answer["distance"], answer["matches"], answer["substitutions"]) == (1, 3, 1)
    assert (answer["insertions"], answer["deletions"]) == (0, 0)
    # the LLM calls differ only in duration and tokens: that is no divergence
    assert answer["first_divergence"] == 1
    assert [pair["diverges"] for pair in answer["pairs"]] == [False, True, True, True]
    assert answer["truncated"] is False


def test_changes_are_found_on_whole_payloads(runs: Runs) -> None:
    pairs = compare(runs, runs.a.id, runs.b.id).json()["pairs"]
    search = {change["field"]: change for change in pairs[1]["changes"]}
    assert set(search) == {"input"}
    assert search["input"]["a"] == LONG_QUERY + 'A"}'
    assert search["input"]["b"] == LONG_QUERY + 'B"}'
    assert search["input"]["truncated"] is False
    summary = {change["field"]: change for change in pairs[3]["changes"]}
    assert summary["output"]["a"] == "three refunds"
    assert summary["output"]["b"] == "four refunds"
    llm = {change["field"]: change for change in pairs[0]["changes"]}
    assert set(llm) == {"duration_ms", "tokens", "cost"}  # gpt-4o-mini is priced
    assert llm["cost"]["delta"] > 0
    assert llm["duration_ms"]["delta"] == pytest.approx(1.0)
    assert llm["tokens"] == {"field": "tokens", "a": 121, "b": 122, "delta": 1, "truncated": False}
    substitute = {change["field"]: change for change in pairs[2]["changes"]}
    assert substitute["duration_ms"]["delta"] == pytest.approx(40.0)


def test_an_extra_step_is_an_insertion_and_totals_are_summed(runs: Runs) -> None:
    answer = compare(runs, runs.a.id, runs.c.id).json()
    assert [pair["operation"] for pair in answer["pairs"]] == ["match"] * 4 + ["insert"]
    assert answer["pairs"][-1]["a"] is None
    assert answer["pairs"][-1]["b"]["name"] == "notify"
    assert answer["first_divergence"] == 4
    totals = {total["field"]: total for total in answer["totals"]}
    assert totals["tokens"]["a"] == 121
    assert totals["tokens"]["b"] == 123
    assert totals["duration_ms"]["delta"] == pytest.approx(2.0 + 10.0)


def test_a_run_against_itself_does_not_diverge(runs: Runs) -> None:
    answer = compare(runs, runs.a.id, runs.a.id).json()
    assert answer["distance"] == 0
    assert answer["first_divergence"] is None
    assert all(pair["changes"] == [] for pair in answer["pairs"])


def test_unknown_and_malformed_runs_are_refused(runs: Runs) -> None:
    unknown = compare(runs, runs.a.id, "ab" * 24)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == f"no run {'ab' * 24} (b)"
    malformed = compare(runs, "compare", runs.a.id)
    assert malformed.status_code == 422
    assert malformed.json()["error"]["parameters"] == ["a"]
    missing = httpx.get(f"{runs.url}/v1/runs/compare", timeout=30)
    assert missing.status_code == 422
    assert sorted(missing.json()["error"]["parameters"]) == ["a", "b"]
