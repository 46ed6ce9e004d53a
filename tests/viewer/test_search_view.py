"""The runs page's search in headless Chromium: the words box with highlighted matches, and
attribute filters as removable chips that live in the URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.builders import HOUR_NS, T0, AgentRun, Tool, unique
from tests.otlp_helpers import attr, make_request, post_protobuf
from tests.support import RunningServer, wait_derived
from tests.viewer.browser import save_screenshot

expect = pytest.importorskip(
    "playwright.sync_api", reason="viewer browser tests skipped: Playwright is not installed"
).expect


@pytest.fixture(scope="module")
def searched(agentguide_server: RunningServer) -> dict[str, AgentRun]:
    agent = unique("viewer-search")
    runs = {
        "german": AgentRun(
            agent, T0, 1000, input="Wer leitet die Donaudampfschifffahrtsgesellschaft?",
            tools=[Tool("lookup", 10, 20, arguments='{"stadt": "München"}')],
        ),
        "japanese": AgentRun(agent, T0 + HOUR_NS, 1000, input="東京の天気を教えてください"),
        "plain": AgentRun(agent, T0 + 2 * HOUR_NS, 1000, input="nothing to see"),
    }  # fmt: skip
    spans = []
    for name, run in runs.items():
        built = run.spans()
        built[0].attributes.append(attr("app.tier", "gold" if name != "plain" else "free"))
        spans += built
    response = post_protobuf(agentguide_server.http_url, make_request(spans))
    assert response.status_code == 200, response.text
    wait_derived(agentguide_server.database_url)
    return runs


def query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).fragment.partition("?")[2])


def run_ids(page: Any) -> list[str]:
    ids: list[str] = page.locator("tr.run-row").evaluate_all(
        "rows => rows.map(row => row.dataset.runId)"
    )
    return ids


def test_search_highlights_the_words_and_names_the_step(
    page: Any, agentguide_server: RunningServer, searched: dict[str, AgentRun]
) -> None:
    agent = searched["german"].agent
    page.goto(f"{agentguide_server.http_url}/#/runs?agent={agent}")
    expect(page.locator("tr.run-row")).to_have_count(3)
    box = page.get_by_label("Search", exact=True)
    box.fill("donaudampf")
    box.press("Enter")
    expect(page.locator("tr.run-row")).to_have_count(1)
    assert query(page)["q"] == ["donaudampf"]
    assert run_ids(page) == [searched["german"].id]
    expect(page.locator(".run-match mark")).to_have_text(["Donaudampfschifffahrtsgesellschaft"])
    expect(page.get_by_label("Order", exact=True).locator("option").first).to_have_text(
        "Best match first"
    )

    box.fill("MÜNCHEN")
    box.press("Enter")
    expect(page.locator(".run-match mark")).to_have_text(["München"])
    expect(page.locator(".run-match .match-where")).to_have_text("lookup · input")
    page.get_by_label("Attribute", exact=True).fill("app.tier")
    page.get_by_label("Condition", exact=True).fill("gold")
    page.get_by_role("button", name="Add filter").click()
    expect(page.locator(".attribute-chip")).to_have_count(1)
    expect(page.locator(".run-match mark")).to_have_text(["München"])
    save_screenshot(page, "runs-search")

    box.fill("天気")
    box.press("Enter")
    expect(page.locator(".run-match mark")).to_have_text(["天気"])
    assert run_ids(page) == [searched["japanese"].id]


def test_attribute_chips_live_in_the_url(
    page: Any, agentguide_server: RunningServer, searched: dict[str, AgentRun]
) -> None:
    agent = searched["german"].agent
    page.goto(f"{agentguide_server.http_url}/#/runs?agent={agent}")
    expect(page.locator("tr.run-row")).to_have_count(3)
    page.get_by_label("Attribute", exact=True).fill("app.tier")
    page.get_by_label("Condition", exact=True).fill("gold")
    page.get_by_role("button", name="Add filter").click()
    expect(page.locator("tr.run-row")).to_have_count(2)
    assert query(page)["attr.app.tier"] == ["gold"]
    chip = page.locator(".attribute-chip")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("app.tier")
    expect(chip).to_contain_text("= gold")

    # the link alone brings the chip back, and a search combines with it
    page.goto(f"{agentguide_server.http_url}/#/runs?agent={agent}&attr.app.tier=free")
    expect(page.locator(".attribute-chip")).to_contain_text("= free")
    expect(page.locator("tr.run-row")).to_have_count(1)
    assert run_ids(page) == [searched["plain"].id]

    page.get_by_role("button", name="Remove the filter app.tier = free").click()
    expect(page.locator(".attribute-chip")).to_have_count(0)
    expect(page.locator("tr.run-row")).to_have_count(3)
    assert "attr.app.tier" not in query(page)

    page.goto(f"{agentguide_server.http_url}/#/runs?agent={agent}&attr.app.tier=*&q=東京")
    expect(page.locator(".attribute-chip")).to_contain_text("exists")
    expect(page.locator("tr.run-row")).to_have_count(1)
    expect(page.locator(".run-match mark")).to_have_text(["東京"])
