"""A search reads its runs window by window of start time, newest first (time_windows): runs
spread from minutes to months ago are found in order, paged without loss or repeat, within a
since/until window, by attribute and by word, newest first and by relevance."""

from __future__ import annotations

import itertools
import time

import httpx
import pytest

from storage.search_queries import WINDOW_HOURS, time_windows
from tests.api.builders import HOUR_NS, AgentRun, send_runs, unique
from tests.support import RunningServer, wait_derived

AGES_H = (0.2, 2, 10, 72, 480, 1440)  # one run in each window and one beyond the widest


def test_windows_cover_every_time_once() -> None:
    newest = 10_000 * HOUR_NS
    windows = time_windows(newest, None)
    assert windows[0] == (newest - WINDOW_HOURS[0] * HOUR_NS, None)
    assert windows[-1][0] is None
    for (lower, _), (_, upper) in itertools.pairwise(windows):
        assert lower == upper
    since = newest - 20 * HOUR_NS
    bounded = time_windows(newest, since)
    assert [w[0] for w in bounded] == [newest - h * HOUR_NS for h in (1, 4, 16)] + [None]


@pytest.fixture(scope="module")
def spread(agentguide_server: RunningServer) -> tuple[str, list[AgentRun]]:
    word = unique("farflung").replace("-", "")
    agent = unique("window-agent")
    now = time.time_ns()
    runs = [
        AgentRun(agent, now - int(age * HOUR_NS), 100, input=f"{word} {i}")
        for i, age in enumerate(AGES_H)
    ]
    send_runs(agentguide_server.http_url, runs)
    wait_derived(agentguide_server.database_url)
    return word, runs


def _pages(api: httpx.Client, params: dict[str, str | int]) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = api.get("/v1/runs", params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [run["id"] for run in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize("by", ["attribute", "word", "word by start"])
def test_newest_first_across_windows(
    agentguide_server: RunningServer, spread: tuple[str, list[AgentRun]], by: str
) -> None:
    word, runs = spread
    params: dict[str, str | int] = {"limit": 2}
    if by == "attribute":
        params["attr.gen_ai.agent.name"] = runs[0].agent
    else:
        params["q"] = word
        if by == "word by start":
            params["sort"] = "start"
    with httpx.Client(base_url=agentguide_server.http_url) as api:
        expected = [run.id for run in runs]  # by relevance every run scores the same
        assert _pages(api, params) == expected
        skipped = api.get("/v1/runs", params={**params, "limit": 10, "offset": 3}).json()
        assert [run["id"] for run in skipped["items"]] == expected[3:]


def test_since_and_until_across_windows(
    agentguide_server: RunningServer, spread: tuple[str, list[AgentRun]]
) -> None:
    word, runs = spread
    now = time.time_ns()
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((now - 100 * HOUR_NS) // 10**9))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((now - 5 * HOUR_NS) // 10**9))
    with httpx.Client(base_url=agentguide_server.http_url) as api:
        for params in ({"q": word}, {"attr.gen_ai.agent.name": runs[0].agent}):
            found = _pages(api, {**params, "limit": 1, "since": since, "until": until})
            assert found == [runs[2].id, runs[3].id]
