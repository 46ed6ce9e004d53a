"""GET /v1/runs?q=...: words found in inputs, outputs, errors and tool arguments, in English,
German, Chinese and Japanese, as whole words or prefixes, ranked, with the snippet and the step
they came from; hostile q text is a 422 or a search, never a 500."""

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
        "prefix": AgentRun(
            agent, T0 + 7 * HOUR_NS, 1000, input="the deployment finished", output="done"
        ),
        "inside": AgentRun(
            agent, T0 + 8 * HOUR_NS, 1000, input="the redeployed thing", output="finished"
        ),
        "tokens": AgentRun(
            agent, T0 + 9 * HOUR_NS, 1000,
            input="Ticket order-12345: send an e-mail to user@example.com about foo.bar",
            output="log written to /var/log/app.log by the WeatherBot",
        ),
        "chinese2": AgentRun(
            agent, T0 + 10 * HOUR_NS, 1000,
            input="请帮我查一下上海明天的天气预报", output="上海明天多云",
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


def test_prefixes(api: httpx.Client, data: Data) -> None:
    assert names(data, search(api, data, "passw")) == ["english"]
    [item] = search(api, data, "weatherb")
    assert names(data, [item]) == ["tokens"]
    assert highlighted(item) == ["WeatherBot"]
    assert names(data, search(api, data, "deploy")) == ["whole", "prefix"]  # not "redeployed"
    assert search(api, data, "word") == []  # no word of the runs starts so


def test_words_the_parser_splits(api: httpx.Client, data: Data) -> None:
    for q in ("order-12345", "12345", "ORDER", "e-mail", "mail", "user@example.com",
              "example.com", "foo.bar", "/var/log/app.log", "app.log", "var/log",
              '"order-12345 e-mail"'):  # fmt: skip
        assert names(data, search(api, data, q)) == ["tokens"], q
    [item] = search(api, data, "user@example.com")
    assert highlighted(item) == ["user@example.com"]
    [item] = search(api, data, "order-12345")
    assert highlighted(item) == ["order-12345"]
    assert search(api, data, "order-99999") == []
    assert search(api, data, "bar.foo") == []


def test_german_umlauts_and_compound_words(api: httpx.Client, data: Data) -> None:
    assert names(data, search(api, data, "donaudampf")) == ["german"]  # the start of a word
    assert search(api, data, "dampfschiff") == []  # a part inside a word is not found
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
    assert names(data, search(api, data, "天气")) == ["chinese2", "chinese"]  # simplified 气
    assert names(data, search(api, data, "北京今天")) == ["chinese"]
    assert names(data, search(api, data, "天气预报")) == ["chinese2"]
    assert names(data, search(api, data, "上海 多云")) == ["chinese2"]
    assert search(api, data, "北京上海") == []  # every bigram must occur
    [item] = search(api, data, "明天的天气")
    assert names(data, [item]) == ["chinese2"]
    assert highlighted(item) == ["明天的天气"]
    [item] = search(api, data, "二十五度")
    assert item["match"]["field"] == "output"
    assert highlighted(item) == ["二十五度"]


def test_japanese(api: httpx.Client, data: Data) -> None:
    assert names(data, search(api, data, "天気")) == ["japanese"]  # 気, not 气
    assert names(data, search(api, data, "晴れ")) == ["japanese"]
    assert names(data, search(api, data, "教えて")) == ["japanese"]
    assert names(data, search(api, data, "東京 天気")) == ["japanese"]
    [item] = search(api, data, "横浜")
    assert item["match"]["name"] == "weather_lookup"
    assert highlighted(item) == ["横浜"]


def test_error_messages_and_phrases(api: httpx.Client, data: Data) -> None:
    [item] = search(api, data, '"refused by upstream"')
    assert names(data, [item]) == ["failed"]
    assert item["match"]["field"] == "error"
    assert highlighted(item) == ["refused by upstream"]
    # a phrase's words must all occur, not side by side (no positions are kept)
    [item] = search(api, data, '"upstream by refused"')
    assert names(data, [item]) == ["failed"]
    assert highlighted(item) == ["refused", "by", "upstream"]
    assert search(api, data, '"refused by kitten"') == []


def test_whole_words_rank_above_prefixes(api: httpx.Client, data: Data) -> None:
    items = search(api, data, "deploy")
    assert names(data, items) == ["whole", "prefix"]
    assert items[0]["match"]["score"] > 0
    assert items[1]["match"]["score"] == 0
    assert highlighted(items[1]) == ["deployment"]


@pytest.mark.parametrize(
    "q",
    [
        "'", "''", "\\", "a'b", "it's", "\\'; DROP TABLE runs; --", "a & b", "a | b", "!a",
        "(a", "a)", "a:*", "a:A", "<->", "a <-> b", "'a':*", "pass\\word", "password'",
        '"pass word', "%", "_", "%_", "x\ty", "²", "½", "٣", "e\u0301", "\u200b", "雨",
    ],
)  # fmt: skip
def test_hostile_words_are_searched_or_refused(api: httpx.Client, data: Data, q: str) -> None:
    response = api.get("/v1/runs", params={"agent": data.agent, "q": q})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert '"q"' in response.text


@pytest.mark.parametrize("q", ["&|!():*", "'", "\\", "<->", "%_", "' ' ' ( )"])
def test_only_punctuation_is_a_422(api: httpx.Client, data: Data, q: str) -> None:
    response = api.get("/v1/runs", params={"agent": data.agent, "q": q})
    assert response.status_code == 422, response.text
    assert "letters or digits" in response.text


def test_hostile_punctuation_around_a_word_still_finds_it(api: httpx.Client, data: Data) -> None:
    for q in ("password'", "'password", "password:*", "!password", "(password)", "password\\",
              "pass&word", "password|kitten"):  # fmt: skip
        found = names(data, search(api, data, q))
        assert found == (["english"] if q not in ("pass&word", "password|kitten") else []), q


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
    assert seen == ["whole", "prefix"]


def test_other_orders_with_q(api: httpx.Client, data: Data) -> None:
    items = search(api, data, "done", sort="start")
    assert names(data, items) == ["prefix", "whole"]
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
