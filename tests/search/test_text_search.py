"""GET /v1/runs?q=...: words found in inputs, outputs, errors and tool arguments, in English,
German, Chinese and Japanese, ranked, with the snippet and the step they came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.builders import HOUR_NS, T0, AgentRun, Tool, send_runs, unique
from tests.support import RunningServer, wait_derived


@dataclass
class Data:
    agent: str
    runs: dict[str, AgentRun]


@pytest.fixture(scope="module")
def data(agentguide_server: RunningServer) -> Data:
    agent = unique("fts-agent")
    runs = {
        "english": AgentRun(
            agent, T0 + 1 * HOUR_NS, 1000,
            input="How do I reset my password?",
            output="Click 'Forgot Password' on the sign-in page.",
        ),
        "german": AgentRun(
            agent, T0 + 2 * HOUR_NS, 1000,
            input="Wer leitet die Donaudampfschifffahrtsgesellschaft?",
            output="Die Größe der Flotte ist übermäßig.",
            tools=[Tool("stadtsuche", 10, 20, arguments='{"stadt": "München"}', result="gefunden")],
        ),
        "chinese": AgentRun(
            agent, T0 + 3 * HOUR_NS, 1000,
            input="今天北京的天气怎么样？", output="北京今天晴，气温二十五度。",
        ),
        "japanese": AgentRun(
            agent, T0 + 4 * HOUR_NS, 1000,
            input="東京の天気を教えてください",
            output="東京は晴れです。",
            tools=[Tool("weather_lookup", 10, 20, arguments='{"都市": "横浜"}', result="雨")],
        ),
        "failed": AgentRun(
            agent, T0 + 5 * HOUR_NS, 1000,
            input="sync the mirror", output=None,
            error=("ConnectionError", "Connection refused by upstream"),
        ),
        "whole": AgentRun(
            agent, T0 + 6 * HOUR_NS, 1000, input="please deploy the service", output="done"
        ),
        "inside": AgentRun(
            agent, T0 + 7 * HOUR_NS, 1000, input="the redeployment finished", output="done"
        ),
    }  # fmt: skip
    send_runs(agentguide_server.http_url, list(runs.values()))
    wait_derived(agentguide_server.database_url)
    return Data(agent, runs)


def search(api: httpx.Client, data: Data, q: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/v1/runs", params={"agent": data.agent, "q": q, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def names(data: Data, items: list[dict[str, Any]]) -> list[str]:
    by_id = {run.id: name for name, run in data.runs.items()}
    return [by_id[item["id"]] for item in items]


def highlighted(item: dict[str, Any]) -> list[str]:
    return [f["text"] for f in item["match"]["fragments"] if f["match"]]


def test_english_words_case_insensitive(api: httpx.Client, data: Data) -> None:
    for q in ("password", "PASSWORD", "reset password", '"reset my password"'):
        assert names(data, search(api, data, q)) == ["english"], q
    [item] = search(api, data, "password")
    assert item["match"]["field"] == "input"
    assert item["match"]["span_id"] == data.runs["english"].span_id.hex()
    assert item["match"]["step_id"] == data.runs["english"].id
    assert highlighted(item) == ["password"]
    text = "".join(f["text"] for f in item["match"]["fragments"])
    assert text == "How do I reset my password?"
    assert search(api, data, "reset kitten") == []


def test_german_umlauts_and_compound_words(api: httpx.Client, data: Data) -> None:
    assert names(data, search(api, data, "dampfschiff")) == ["german"]
    assert names(data, search(api, data, "größe")) == ["german"]
    assert names(data, search(api, data, "GRÖSSE")) == []  # ß is not folded to ss
    assert names(data, search(api, data, "ÜBERMÄSSIG")) == []
    assert names(data, search(api, data, "ÜBERMÄßIG")) == ["german"]
    [item] = search(api, data, "MÜNCHEN")
    assert item["match"]["name"] == "stadtsuche"
    assert item["match"]["field"] == "input"
    assert highlighted(item) == ["München"]
    assert item["match"]["step_id"] != data.runs["german"].id


def test_chinese(api: httpx.Client, data: Data) -> None:
    assert names(data, search(api, data, "天气")) == ["chinese"]  # simplified 气
    assert names(data, search(api, data, "北京今天")) == ["chinese"]
    [item] = search(api, data, "二十五度")
    assert item["match"]["field"] == "output"
    assert highlighted(item) == ["二十五度"]


def test_japanese(api: httpx.Client, data: Data) -> None:
    assert names(data, search(api, data, "天気")) == ["japanese"]  # 気, not 气
    assert names(data, search(api, data, "晴れ")) == ["japanese"]
    [item] = search(api, data, "横浜")
    assert item["match"]["name"] == "weather_lookup"
    assert highlighted(item) == ["横浜"]


def test_error_messages_and_phrases(api: httpx.Client, data: Data) -> None:
    [item] = search(api, data, '"refused by upstream"')
    assert names(data, [item]) == ["failed"]
    assert item["match"]["field"] == "error"
    assert search(api, data, '"upstream by refused"') == []


def test_whole_words_rank_above_words_inside_others(api: httpx.Client, data: Data) -> None:
    items = search(api, data, "deploy")
    assert names(data, items) == ["whole", "inside"]
    assert items[0]["match"]["score"] > 0
    assert items[1]["match"]["score"] == 0
    assert highlighted(items[1]) == ["deploy"]


def test_relevance_pages_with_cursors(api: httpx.Client, data: Data) -> None:
    seen = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        response = api.get("/v1/runs", params={"agent": data.agent, "q": "deploy", **params})
        assert response.status_code == 200, response.text
        body = response.json()
        seen += names(data, body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["whole", "inside"]


def test_other_orders_with_q(api: httpx.Client, data: Data) -> None:
    items = search(api, data, "done", sort="start")
    assert names(data, items) == ["inside", "whole"]
    assert all(item["match"]["score"] is None for item in items)
    assert highlighted(items[0]) == ["done"]


def test_without_q_there_is_no_match(api: httpx.Client, data: Data) -> None:
    response = api.get("/v1/runs", params={"agent": data.agent})
    assert all(item["match"] is None for item in response.json()["items"])


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": " ".join(f"w{i}" for i in range(9))}, "q"),
        ({"sort": "relevance"}, "sort"),
        ({"q": "a\x00b"}, "q"),
    ],
)
def test_bad_queries(api: httpx.Client, params: dict[str, str], name: str) -> None:
    response = api.get("/v1/runs", params=params)
    assert response.status_code == 422, response.text
    assert f'"{name}"' in response.text
