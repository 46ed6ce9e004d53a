"""Cost in the viewer: the runs table (and its most-expensive-first order), the run header,
each LLM step, the agents page and the dashboard show what the API says."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.builders import AgentRun, Llm, send_runs
from tests.support import wait_derived
from tests.viewer.browser import save_screenshot
from tests.viewer.conftest import ViewerSite

expect = pytest.importorskip(
    "playwright.sync_api", reason="viewer browser tests skipped: Playwright is not installed"
).expect

PRICING_AGENT = "pricing-agent"
HOUSE_MODEL = "house-model-v1"  # in no price table


@dataclass
class CostRun:
    id: str
    detail: dict[str, Any]


@pytest.fixture(scope="module")
def cost_run(viewer_site: ViewerSite) -> CostRun:
    """A run of two LLM calls: gpt-4o-mini with cache reads (priced) and a house model (not)."""
    run = AgentRun(
        PRICING_AGENT,
        time.time_ns() - 120 * 10**9,
        4000,
        llms=[
            Llm("gpt-4o-mini", 100, 900, 12_000, 800, {
                "gen_ai.provider.name": "openai",
                "gen_ai.usage.cache_read.input_tokens": 10_000,
            }),
            Llm(HOUSE_MODEL, 1500, 600, 3_000, 200),
        ],
    )  # fmt: skip
    send_runs(viewer_site.url, [run])
    wait_derived(viewer_site.database_url)
    return CostRun(run.id, viewer_site.api(f"/v1/runs/{run.id}"))


def open_view(page: Any, site: ViewerSite, route: str) -> None:
    page.goto(f"{site.url}/#{route}")


def cost_of(element: Any) -> float | None:
    value = element.get_attribute("data-cost")
    return None if value in (None, "") else float(value)


def test_the_runs_table_shows_each_runs_cost(
    page: Any, viewer_site: ViewerSite, cost_run: CostRun
) -> None:
    open_view(page, viewer_site, f"/runs?agent={PRICING_AGENT}")
    cell = page.locator(f'tr.run-row[data-run-id="{cost_run.id}"] td.cost-cell')
    expect(cell).to_be_visible()
    assert cost_run.detail["cost"] > 0
    assert cost_of(cell) == cost_run.detail["cost"]
    expect(cell).to_contain_text("$")
    expect(cell.locator(".unpriced")).to_have_text("+1 unpriced")

    open_view(page, viewer_site, "/runs")
    expected = viewer_site.api("/v1/runs", limit=50)["items"]
    cells = page.locator("tr.run-row td.cost-cell")
    expect(cells).to_have_count(len(expected))
    shown = cells.evaluate_all("cells => cells.map(cell => cell.dataset.cost)")
    assert [float(value) if value else None for value in shown] == [r["cost"] for r in expected]
    for run, text in zip(expected, cells.all_inner_texts(), strict=True):
        if run["cost"] is None:
            assert text == ("unpriced" if run["unpriced_llm_calls"] else "–")
        else:
            assert text.startswith("$")


def test_the_runs_can_be_listed_most_expensive_first(page: Any, viewer_site: ViewerSite) -> None:
    open_view(page, viewer_site, "/runs")
    expect(page.locator("tr.run-row").first).to_be_visible()
    page.get_by_label("Order", exact=True).select_option("cost")
    expect(page).to_have_url(f"{viewer_site.url}/#/runs?sort=cost")
    first = viewer_site.api("/v1/runs", sort="cost", limit=50)
    rows = page.locator("tr.run-row")
    expect(rows.first).to_have_attribute("data-run-id", first["items"][0]["id"])
    assert rows.evaluate_all("rows => rows.map(row => row.dataset.runId)") == [
        run["id"] for run in first["items"]
    ]
    costs = [run["cost"] for run in first["items"]]
    assert (
        costs[0] is not None and costs == sorted(costs, key=lambda c: -1 if c is None else c)[::-1]
    )
    save_screenshot(page, "runs-by-cost")
    second = viewer_site.api("/v1/runs", sort="cost", limit=50, cursor=first["next_cursor"])
    page.get_by_role("button", name="Next →").click()
    expect(rows.first).to_have_attribute("data-run-id", second["items"][0]["id"])


def test_the_run_and_its_llm_steps_show_their_cost(
    page: Any, viewer_site: ViewerSite, cost_run: CostRun
) -> None:
    detail = cost_run.detail
    priced, unpriced = sorted(
        (step for step in detail["steps"] if step["kind"] == "llm"),
        key=lambda step: step["cost"] is None,
    )
    open_view(page, viewer_site, f"/runs/{cost_run.id}?step={priced['index']}")
    header_cost = page.locator(".run-header .run-cost")
    expect(header_cost).to_contain_text("$")
    assert cost_of(header_cost) == detail["cost"]
    expect(page.locator(".run-header")).to_contain_text("1 LLM call unpriced")

    step_cost = page.locator(".detail-panel .step-cost")
    expect(step_cost).to_have_attribute("data-cost-source", "computed")
    assert cost_of(step_cost) == priced["cost"]
    panel = page.locator(".detail-panel")
    expect(panel).to_contain_text(f"computed from the tokens, {priced['price_version']}")
    expect(panel).to_contain_text("10,000 read from cache")
    expect(waterfall_label(page, cost_run.id, priced["index"])).to_contain_text("$")
    save_screenshot(page, "run-cost")

    open_view(page, viewer_site, f"/runs/{cost_run.id}?step={unpriced['index']}")
    expect(page.locator(".detail-panel .detail")).to_have_attribute(
        "data-step-index", str(unpriced["index"])
    )
    expect(page.locator(".detail-panel .step-cost")).to_have_text("unpriced")
    expect(page.locator(".detail-panel")).to_contain_text("(unknown model)")
    expect(waterfall_label(page, cost_run.id, unpriced["index"])).to_contain_text("unpriced")


def waterfall_label(page: Any, run_id: str, index: int) -> Any:
    """The duration (and cost) label of a step's row in the waterfall."""
    return page.locator(f'.wf-row[data-key="{run_id}:{index}"] .wf-duration')


def test_the_agents_page_shows_each_agents_cost(
    page: Any, viewer_site: ViewerSite, cost_run: CostRun
) -> None:
    open_view(page, viewer_site, "/agents")
    agents = viewer_site.api("/v1/agents")["items"]
    cells = page.locator('.agents-table tbody td[data-label="Cost"]')
    expect(cells).to_have_count(len(agents))
    shown = cells.evaluate_all("cells => cells.map(cell => cell.dataset.cost)")
    assert [float(value) if value else None for value in shown] == [a["cost"] for a in agents]


def test_the_dashboard_shows_cost_over_time_and_by_model(
    page: Any, viewer_site: ViewerSite, cost_run: CostRun
) -> None:
    open_view(page, viewer_site, "/dashboard?range=24h")
    card = page.locator('[data-kpi="cost"]')
    expect(card).to_have_attribute("data-value", re.compile(r"^\d"))
    root = page.locator(".page-dashboard")
    summary = viewer_site.api(
        "/v1/metrics/summary", since=root.get_attribute("data-since"),
        until=root.get_attribute("data-until"),
    )["cost"]  # fmt: skip
    assert summary["total"] > 0 and summary["unpriced_llm_calls"] > 0
    assert float(card.get_attribute("data-value") or "nan") == summary["total"]
    assert float(card.get_attribute("data-unpriced-share") or "nan") == summary["unpriced_share"]
    expect(card.locator(".kpi-value")).to_contain_text("$")
    expect(card.locator(".kpi-sub")).to_contain_text(
        f"{summary['unpriced_share'] * 100:.1f}% of {summary['llm_calls']:,} LLM calls unpriced"
    )
    # Runs, failures and cost; a scores chart joins them when other tests left scores.
    expect(page.locator(".chart-svg:not(.score-means .chart-svg)")).to_have_count(3)
    assert page.locator(".chart-svg .line-cost.dot").count() > 0
    models = page.locator(".models-by-cost .hbar")
    expect(models).to_have_count(len(summary["by_model"]))
    expect(models.first.locator(".hbar-name")).to_have_text(summary["by_model"][0]["model"])
    expect(page.locator(".models-by-cost")).to_contain_text(HOUSE_MODEL)
    page.locator(".models-by-cost").scroll_into_view_if_needed()
    save_screenshot(page, "dashboard-cost")
