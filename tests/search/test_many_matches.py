"""Words found in more runs than a search ranks (RANKED_CANDIDATES, made 3 here): the runs are
read newest first; relevance ranks the newest ones only; both orders page without loss."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from storage import search_queries
from storage.queries import Queries
from storage.query_records import RunFilters, RunKey
from storage.store import DEFAULT_PROJECT_ID, Store
from tests.api.builders import HOUR_NS, T0, AgentRun, send_runs, unique
from tests.support import RunningServer, wait_derived

T = TypeVar("T")


def _run(database_url: str, work: Callable[[Queries], Awaitable[T]]) -> T:
    async def main() -> T:
        store = await Store.open(database_url, max_size=2)
        try:
            return await work(Queries(store.pool, DEFAULT_PROJECT_ID))
        finally:
            await store.close()

    # in a thread of its own: another test module's browser may own this thread's loop
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


@pytest.fixture(scope="module")
def word_runs(agentguide_server: RunningServer) -> tuple[str, list[AgentRun]]:
    word = unique("plentiful").replace("-", "")
    agent = unique("many-agent")
    inputs = [f"{word} here", f"{word}ness", f"{word} again", f"{word}y", f"{word}", f"{word}!"]
    runs = [AgentRun(agent, T0 + i * HOUR_NS, 100, input=text) for i, text in enumerate(inputs)]
    send_runs(agentguide_server.http_url, runs)
    wait_derived(agentguide_server.database_url)
    return word, runs


def test_newest_first_pages_every_run(
    agentguide_server: RunningServer,
    word_runs: tuple[str, list[AgentRun]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search_queries, "RANKED_CANDIDATES", 3)
    word, runs = word_runs
    filters = RunFilters(words=(word,))

    async def pages(queries: Queries) -> list[str]:
        seen: list[str] = []
        after: RunKey | None = None
        while True:
            page = await queries.list_runs(filters, after=after, limit=2)
            seen += [run.id for run in page.runs]
            if page.next_key is None:
                return seen
            after = page.next_key

    assert _run(agentguide_server.database_url, pages) == [run.id for run in reversed(runs)]


def test_relevance_ranks_the_newest_candidates(
    agentguide_server: RunningServer,
    word_runs: tuple[str, list[AgentRun]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(search_queries, "RANKED_CANDIDATES", 3)
    word, runs = word_runs
    filters = RunFilters(words=(word,))

    async def pages(queries: Queries) -> list[tuple[str, float | None]]:
        seen: list[tuple[str, float | None]] = []
        after: RunKey | None = None
        while True:
            page = await queries.search_runs(filters, after=after, limit=1)
            seen += [(run.id, page.hits[run.id].score) for run in page.runs]
            if page.next_key is None:
                return seen
            after = page.next_key

    found = _run(agentguide_server.database_url, pages)
    # the 3 newest: runs 5 ("word!", a whole word), 4 ("word", whole), 3 ("wordy", a prefix)
    assert [run_id for run_id, _ in found] == [runs[5].id, runs[4].id, runs[3].id]
    scores = [score for _, score in found]
    assert scores[0] is not None and scores[0] > 0
    assert scores[2] == 0
